#include "mxc/util/proc.hpp"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

namespace mxc {

static std::optional<std::string> stat_after_comm(pid_t pid) {
    std::string s;
    try {
        s = read_file(fmt::format("/proc/{}/stat", pid));
    } catch (const Error &) {
        return std::nullopt;
    }
    // comm may contain spaces and parentheses: fields start after the last ')'.
    auto p = s.rfind(')');
    if (p == std::string::npos || p + 2 > s.size())
        return std::nullopt;
    return s.substr(p + 2);
}

std::optional<uint64_t> process_start_time(pid_t pid) {
    auto rest = stat_after_comm(pid);
    if (!rest)
        return std::nullopt;
    // rest starts at field 3 (state); starttime is field 22.
    size_t pos = 0;
    for (int field = 3; field < 22; ++field) {
        pos = rest->find(' ', pos);
        if (pos == std::string::npos)
            return std::nullopt;
        ++pos;
    }
    return std::stoull(rest->substr(pos));
}

char process_state(pid_t pid) {
    auto rest = stat_after_comm(pid);
    if (!rest || rest->empty())
        return 0;
    return (*rest)[0];
}

UniqueFd pidfd_open(pid_t pid) {
    int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0)
        throw_errno("pidfd_open {}", pid);
    return UniqueFd(fd);
}

int pidfd_send_signal(int pidfd, int sig) {
    return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

int parse_signal(const std::string &in) {
    if (in.empty())
        throw_error("empty signal");
    if (std::isdigit(static_cast<unsigned char>(in[0]))) {
        int n = std::stoi(in);
        if (n <= 0 || n >= NSIG)
            throw_error("invalid signal number {}", in);
        return n;
    }
    std::string name = in;
    for (auto &c : name)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (name.rfind("SIG", 0) == 0)
        name = name.substr(3);
    if (name.rfind("RTMIN", 0) == 0 || name.rfind("RTMAX", 0) == 0) {
        bool min = name[2] == 'M' && name[3] == 'I';
        int base = min ? SIGRTMIN : SIGRTMAX;
        std::string off = name.substr(5);
        int o = off.empty() ? 0 : std::stoi(off);
        return base + o;
    }
    for (int s = 1; s < SIGRTMIN; ++s) {
        const char *abbrev = sigabbrev_np(s);
        if (abbrev && name == abbrev)
            return s;
    }
    throw_error("unknown signal \"{}\"", in);
}

std::string signal_name(int sig) {
    if (const char *a = sigabbrev_np(sig))
        return std::string("SIG") + a;
    return fmt::format("SIG{}", sig);
}

int exit_code_from_status(int status) {
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 255;
}

} // namespace mxc
