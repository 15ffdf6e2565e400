// OCI hooks (runtime-spec config.md "POSIX-platform Hooks", runtime.md
// "Lifecycle"): each hook is executed with the container state on stdin,
// exactly its own env, and an optional timeout in seconds.
#include "mxc/sandbox/hooks.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <optional>

#include "mxc/util/error.hpp"
#include "mxc/util/fd.hpp"
#include "mxc/util/log.hpp"
#include "mxc/util/proc.hpp"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

namespace mxc::sandbox {
namespace {

using Clock = std::chrono::steady_clock;

// A NULL-terminated char* array over strings that outlive it; built before
// fork because the child may only make async-signal-safe calls.
struct CArgv {
    explicit CArgv(const std::vector<std::string> &v) {
        for (const auto &s : v)
            ptrs.push_back(const_cast<char *>(s.c_str()));
        ptrs.push_back(nullptr);
    }
    char **get() { return ptrs.data(); }
    std::vector<char *> ptrs;
};

// Writing to a pipe whose reader is gone raises SIGPIPE, which would kill the
// runtime.  A hook need not read its stdin, so block SIGPIPE in this thread
// while writing, and swallow the one our write caused (if none was pending
// already, so that a SIGPIPE meant for someone else is not lost).
class SigpipeGuard {
public:
    SigpipeGuard() {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        sigset_t pending;
        sigpending(&pending);
        was_pending_ = sigismember(&pending, SIGPIPE) == 1;
        pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    }
    ~SigpipeGuard() {
        if (raised_ && !was_pending_) {
            struct timespec zero{0, 0};
            while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
            }
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    void raised() { raised_ = true; }

private:
    sigset_t pipe_, old_;
    bool was_pending_ = false;
    bool raised_ = false;
};

// Child side of fork: only async-signal-safe calls from here to execve.
[[noreturn]] void exec_hook(const char *path, char **argv, char **envp, int stdin_fd, int err_fd, int max_fd) {
    if (::dup2(stdin_fd, STDIN_FILENO) < 0)
        goto fail;
    // Nothing of the runtime (state dir, console, sync sockets) may reach the
    // hook.  CLOEXEC rather than close so that err_fd still reports a failed
    // execve; at execve the effect is that of close_range(3, ~0U, 0).
    if (::syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3; fd < max_fd; ++fd)
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    {
        // The runtime may block signals (to forward them) or ignore SIGPIPE;
        // a hook starts with the defaults.
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        struct sigaction dfl{};
        dfl.sa_handler = SIG_DFL;
        ::sigaction(SIGPIPE, &dfl, nullptr);
    }
    ::execve(path, argv, envp);
fail:
    int e = errno;
    [[maybe_unused]] ssize_t n = ::write(err_fd, &e, sizeof e);
    ::_exit(127);
}

std::string describe_status(int status) {
    if (WIFEXITED(status))
        return fmt::format("exited with status {}", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return fmt::format("killed by {}", signal_name(WTERMSIG(status)));
    return fmt::format("ended with wait status {:#x}", status);
}

void run_hook(const oci::Hook &hook, const std::string &label, const std::string &state) {
    if (hook.timeout && *hook.timeout <= 0)
        throw_error("{}: timeout must be greater than zero, got {}", label, *hook.timeout);

    std::vector<std::string> args = hook.args;
    if (args.empty())
        args.push_back(hook.path);
    CArgv argv(args), envp(hook.env);

    int in[2], err[2];
    if (::pipe2(in, O_CLOEXEC) != 0)
        throw_errno("{}: pipe", label);
    UniqueFd in_r(in[0]), in_w(in[1]);
    if (::pipe2(err, O_CLOEXEC) != 0)
        throw_errno("{}: pipe", label);
    UniqueFd err_r(err[0]), err_w(err[1]);

    struct rlimit nofile{};
    ::getrlimit(RLIMIT_NOFILE, &nofile);
    int max_fd = nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur > 65536 ? 65536
                                                                             : static_cast<int>(nofile.rlim_cur);

    auto deadline = hook.timeout ? std::optional(Clock::now() + std::chrono::seconds(*hook.timeout)) : std::nullopt;
    pid_t pid = ::fork();
    if (pid < 0)
        throw_errno("{}: fork", label);
    if (pid == 0)
        exec_hook(hook.path.c_str(), argv.get(), envp.get(), in_r.get(), err_w.get(), max_fd);

    // From here the child is ours: whatever goes wrong, it is killed and reaped.
    bool reaped = false;
    int status = 0;
    auto reap = [&] {
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        reaped = true;
    };
    ScopeExit cleanup([&] {
        if (!reaped) {
            ::kill(pid, SIGKILL);
            reap();
        }
    });
    in_r.reset();
    err_w.reset();

    // pid cannot be reused before we reap it, so pidfd_open after fork is safe.
    UniqueFd pidfd = pidfd_open(pid);

    // Only the write end is non-blocking: the hook's stdin stays blocking.
    if (::fcntl(in_w.get(), F_SETFL, O_NONBLOCK) != 0)
        throw_errno("{}: fcntl O_NONBLOCK", label);
    size_t written = 0;
    if (state.empty())
        in_w.reset();

    // Feed stdin and wait for the exit in one loop, so that a hook that never
    // reads a large state still meets its timeout.
    SigpipeGuard sigpipe;
    for (;;) {
        struct pollfd fds[2] = {{pidfd.get(), POLLIN, 0}, {in_w.get(), POLLOUT, 0}};
        nfds_t nfds = in_w ? 2 : 1;
        int wait_ms = -1;
        if (deadline) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
            wait_ms = left > 0 ? static_cast<int>(left) : 0;
        }
        int r = ::poll(fds, nfds, wait_ms);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("{}: poll", label);
        }
        if (r == 0) {
            pidfd_send_signal(pidfd.get(), SIGKILL);
            reap();
            throw_error("{}: timed out after {}s", label, *hook.timeout);
        }
        if (nfds == 2 && fds[1].revents) {
            ssize_t n = ::write(in_w.get(), state.data() + written, state.size() - written);
            if (n > 0) {
                written += static_cast<size_t>(n);
                if (written == state.size())
                    in_w.reset(); // EOF for the hook
            } else if (n < 0 && errno == EPIPE) {
                // The hook closed its stdin without reading it all: its business.
                sigpipe.raised();
                in_w.reset();
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                throw_errno("{}: write state to stdin", label);
            }
        }
        if (fds[0].revents & POLLIN)
            break;
    }
    reap();

    int exec_errno = 0;
    if (::read(err_r.get(), &exec_errno, sizeof exec_errno) == sizeof exec_errno)
        throw Error(exec_errno, fmt::format("{}: exec", label));
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        throw_error("{}: {}", label, describe_status(status));
}

std::string label_of(const std::string &phase, size_t i, const oci::Hook &hook) {
    return fmt::format("hooks.{}[{}] {}", phase, i, hook.path);
}

} // namespace

void run_hooks(const std::vector<oci::Hook> &hooks, const std::string &phase, const nlohmann::json &state) {
    if (hooks.empty())
        return;
    const std::string text = state.dump();
    for (size_t i = 0; i < hooks.size(); ++i)
        run_hook(hooks[i], label_of(phase, i, hooks[i]), text);
}

void run_hooks_warn(const std::vector<oci::Hook> &hooks, const std::string &phase, const nlohmann::json &state) {
    if (hooks.empty())
        return;
    const std::string text = state.dump();
    // Per runtime.md, a failing poststart/poststop hook is logged and the
    // remaining hooks still run.
    for (size_t i = 0; i < hooks.size(); ++i) {
        try {
            run_hook(hooks[i], label_of(phase, i, hooks[i]), text);
        } catch (const Error &e) {
            log::warn("{}", e.what());
        }
    }
}

} // namespace mxc::sandbox
