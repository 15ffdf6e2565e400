// Foreground waiting for `run` and `exec`: forward signals to the container
// process, relay its terminal, return its wait status.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>

#include "mxc/util/fd.hpp"

namespace mxc::runtime {

class SignalForwarder {
public:
    // Blocks the forwarded signals (INT TERM HUP QUIT USR1 USR2 WINCH) so that
    // none is lost between now and wait().
    SignalForwarder();
    ~SignalForwarder();
    SignalForwarder(const SignalForwarder &) = delete;
    SignalForwarder &operator=(const SignalForwarder &) = delete;

    // Wait for our child `waitpid_target` (pidfd given); signals go to
    // `signal_target` (the same process for run; the exec'd process for exec).
    // With timeout_ms >= 0 the process is killed (SIGKILL to kill_on_timeout,
    // or signal_target) when the time is up, and timed_out() says so.
    int wait(pid_t waitpid_target, int pidfd, UniqueFd pty_master, pid_t signal_target = -1, int64_t timeout_ms = -1,
             std::function<void()> kill_on_timeout = {});
    bool timed_out() const { return timed_out_; }
    // While wait() waits: when fd becomes readable (or hangs up), call fn
    // once, then stop watching it.
    void also_watch(int fd, std::function<void()> fn) {
        watch_fd_ = fd;
        on_watch_ = std::move(fn);
    }

private:
    sigset_t old_;
    bool timed_out_ = false;
    UniqueFd sfd_;
    int watch_fd_ = -1;
    std::function<void()> on_watch_;
};

} // namespace mxc::runtime
