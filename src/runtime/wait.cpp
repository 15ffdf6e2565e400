#include "mxc/runtime/wait.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "mxc/sandbox/console.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/proc.hpp"

namespace mxc::runtime {

namespace {
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
}

SignalForwarder::SignalForwarder() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : kForwarded)
        sigaddset(&set, s);
    if (::sigprocmask(SIG_BLOCK, &set, &old_) < 0)
        throw_errno("sigprocmask");
    sfd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sfd_)
        throw_errno("signalfd");
}

SignalForwarder::~SignalForwarder() { ::sigprocmask(SIG_SETMASK, &old_, nullptr); }

int SignalForwarder::wait(pid_t child, int pidfd, UniqueFd pty_master, pid_t signal_target, int64_t timeout_ms,
                          std::function<void()> kill_on_timeout) {
    if (signal_target <= 0)
        signal_target = child;
    UniqueFd stop(::eventfd(0, EFD_CLOEXEC));
    std::thread relay;
    if (pty_master) {
        int m = pty_master.get();
        relay = std::thread([m, s = stop.get()] { sandbox::relay_console(m, s); });
    }
    int status = 0;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        struct pollfd p[3] = {{sfd_.get(), POLLIN, 0}, {pidfd, POLLIN, 0}, {watch_fd_, POLLIN, 0}};
        int wait_ms = -1;
        if (timeout_ms >= 0 && !timed_out_) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
        }
        int n = ::poll(p, watch_fd_ >= 0 ? 3 : 2, wait_ms);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("poll");
        }
        if (n == 0) {
            timed_out_ = true;
            if (kill_on_timeout)
                kill_on_timeout();
            else
                ::kill(signal_target, SIGKILL);
            continue;
        }
        if (p[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (::read(sfd_.get(), &si, sizeof si) == sizeof si) {
                int sig = static_cast<int>(si.ssi_signo);
                if (sig == SIGWINCH && pty_master) {
                    struct winsize ws;
                    if (::ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
                        ::ioctl(pty_master.get(), TIOCSWINSZ, &ws);
                    continue;
                }
                ::kill(signal_target, sig);
            }
        }
        if (watch_fd_ >= 0 && p[2].revents) {
            watch_fd_ = -1;
            on_watch_();
        }
        if (p[1].revents & POLLIN) {
            while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
    }
    if (relay.joinable()) {
        uint64_t one = 1;
        (void)!::write(stop.get(), &one, sizeof one);
        relay.join();
    }
    return status;
}

} // namespace mxc::runtime
