#include "mxc/util/log.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace mxc::log {
namespace {
// The CLI configures logging once at start-up, before any thread exists.
Options g_opts;
int g_fd = -1;

const char *level_name(Level l) {
    switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warning";
    case Level::error: return "error";
    }
    return "info";
}

} // namespace

std::string now_rfc3339() {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    // Not strftime: glibc's calls tzset, which reads /etc/localtime (a UTC
    // time needs no zone).
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09d}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

void configure(const Options &opts) {
    g_opts = opts;
    if (g_fd >= 0) {
        ::close(g_fd);
        g_fd = -1;
    }
    if (!opts.file.empty())
        g_fd = ::open(opts.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

void detach() { g_fd = -1; }

void reopen() {
    Options o = g_opts;
    configure(o);
}

void write(Level level, std::string_view msg) {
    if (level == Level::debug && !g_opts.debug)
        return;
    std::string line;
    if (g_opts.json) {
        nlohmann::json j = {{"level", level_name(level)}, {"msg", msg}, {"time", now_rfc3339()}};
        line = j.dump() + "\n";
    } else {
        line = fmt::format("time=\"{}\" level={} msg=\"{}\"\n", now_rfc3339(), level_name(level), msg);
    }
    if (g_fd >= 0)
        (void)!::write(g_fd, line.data(), line.size());
    if (level >= Level::warn || (g_fd < 0 && g_opts.debug)) {
        std::string human = fmt::format("mxc: {}{}\n", level == Level::warn ? "warning: " : "", msg);
        (void)!::write(STDERR_FILENO, human.data(), human.size());
    }
}

} // namespace mxc::log
