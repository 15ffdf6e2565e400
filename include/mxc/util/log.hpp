// Runtime log: `--log FILE --log-format text|json --debug`, like runc's.
// Warnings also go to stderr so a person sees them once.
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace mxc::log {

enum class Level { debug, info, warn, error };

struct Options {
    std::string file;          // empty: stderr only for warn/error
    bool json = false;         // --log-format json
    bool debug = false;        // --debug
};

// Now, as RFC 3339 UTC with nanoseconds (log lines, container `created`).
std::string now_rfc3339();

void configure(const Options &opts);
// In a child that closes inherited fds: forget the log fd without closing it,
// so a later write cannot land in whatever reuses its number.
void detach();
// Closes and opens the log file again (after it was rotated away).
void reopen();
void write(Level level, std::string_view msg);

template <typename... Args> void debug(fmt::format_string<Args...> f, Args &&...a) {
    write(Level::debug, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args> void info(fmt::format_string<Args...> f, Args &&...a) {
    write(Level::info, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args> void warn(fmt::format_string<Args...> f, Args &&...a) {
    write(Level::warn, fmt::format(f, std::forward<Args>(a)...));
}
template <typename... Args> void error(fmt::format_string<Args...> f, Args &&...a) {
    write(Level::error, fmt::format(f, std::forward<Args>(a)...));
}

} // namespace mxc::log
