// The seccomp-notify audit of an agent sandbox covers processes that `mxc
// exec` starts in it: each one loads the sandbox's filter anew, with a
// listener of its own, which exec hands to the supervisor in the `mxc run`
// process over a unix socket in the sandbox's state directory.  Without it
// the listener was dropped, and every audited syscall of the exec'd process
// (open, execve, ...) failed with ENOSYS: the kernel's answer when a filter's
// listener is gone.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "internal.hpp"
#include "mxc/ipc/ipc.hpp"
#include "mxc/sandbox/sync.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

namespace mxc::runtime {

namespace {

constexpr char kAck = 'k';
constexpr int kAckTimeoutMs = 10000;

sockaddr_un socket_address(const std::string &path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path)
        throw Error(ENAMETOOLONG, fmt::format("unix socket path {} is longer than {} bytes", path, sizeof a.sun_path - 1));
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

std::string ns_of(pid_t pid) {
    char buf[64];
    ssize_t n = ::readlink(fmt::format("/proc/{}/ns/mnt", pid).c_str(), buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

} // namespace

std::string exec_notify_socket(const Store &store, const std::string &id) { return store.dir(id) + "/notify.sock"; }

UniqueFd listen_exec_notify(const std::string &path) { return ipc::listen_unix(path, 0600); }

std::optional<ExecListener> accept_exec_notify(int listen_fd, int stop_fd) {
    UniqueFd c(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (!c) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
            return std::nullopt;
        throw_errno("accept");
    }
    ipc::Peer cr = ipc::peer_credentials(c.get());
    std::string peer = fmt::format("pid {} uid {}", cr.pid, cr.uid);
    // Only a runtime of ours, outside the sandbox: same uid, same mount
    // namespace as this process (a sandbox process has one of its own).
    if (cr.uid != ::geteuid() || ns_of(cr.pid).empty() || ns_of(cr.pid) != ns_of(::getpid()))
        throw Error(EPERM, fmt::format("refused a seccomp listener from {}: not an mxc exec of this user on this host", peer));
    // A peer that connects and says nothing holds this up to the timeout,
    // but not the end of the sandbox (stop_fd).
    pollfd p[2] = {{c.get(), POLLIN, 0}, {stop_fd, POLLIN, 0}};
    if (::poll(p, stop_fd >= 0 ? 2 : 1, kAckTimeoutMs) <= 0)
        throw Error(ETIMEDOUT, fmt::format("no seccomp listener from {}", peer));
    if (!(p[0].revents & (POLLIN | POLLHUP)))
        return std::nullopt; // stopping
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    msghdr mh{};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    if (::recvmsg(c.get(), &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) <= 0)
        throw_errno("receive the seccomp listener from {}", peer);
    UniqueFd fd;
    for (cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS) {
            int got;
            std::memcpy(&got, CMSG_DATA(h), sizeof got);
            fd.reset(got);
        }
    if (!fd)
        throw Error(EPROTO, fmt::format("{} sent no seccomp listener", peer));
    // The connection goes back with the listener: ack_exec_notify answers
    // once a supervisor serves it.
    return ExecListener{std::move(c), std::move(fd), std::move(peer)};
}

void ack_exec_notify(const ExecListener &l) {
    if (::send(l.conn.get(), &kAck, 1, MSG_NOSIGNAL) != 1)
        throw_errno("acknowledge the seccomp listener of {}", l.peer);
}

void send_exec_notify(const std::string &path, int notify_fd) {
    with_context(fmt::format("hand the exec'd process's seccomp listener to the sandbox's audit supervisor ({})", path),
                 [&] {
                     sockaddr_un a = socket_address(path);
                     UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
                     if (!s)
                         throw_errno("socket");
                     if (::connect(s.get(), reinterpret_cast<sockaddr *>(&a), sizeof a) < 0)
                         throw_errno("connect (is the sandbox's `mxc run` still running?)");
                     sandbox::send_fd(s.get(), notify_fd, "");
                     pollfd p{s.get(), POLLIN, 0};
                     int n;
                     do {
                         n = ::poll(&p, 1, kAckTimeoutMs);
                     } while (n < 0 && errno == EINTR);
                     char byte = 0;
                     if (n == 0)
                         throw Error(ETIMEDOUT, "no answer");
                     if (n < 0 || ::recv(s.get(), &byte, 1, 0) != 1 || byte != kAck)
                         throw Error(EPROTO, "the supervisor refused it or went away (see the log of `mxc run`)");
                 });
}

} // namespace mxc::runtime
