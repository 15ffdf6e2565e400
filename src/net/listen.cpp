// Proxy::listen_in_netns: a listening socket made inside another network
// namespace.  A socket stays in the namespace it was created in, whoever
// holds it later, so a short-lived child joins the namespace, makes it, and
// hands it back over SCM_RIGHTS.  A child (not a thread) because setns()
// into a user namespace refuses a multithreaded caller.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "mxc/net/proxy.hpp"
#include "mxc/util/error.hpp"

namespace mxc::net {

namespace {

enum Step : int { step_ok, step_userns, step_netns, step_socket, step_bind, step_listen, step_name };

struct Report {
    int step;
    int err;
    uint16_t port;
};

const char *step_text(int s) {
    switch (s) {
    case step_userns: return "join user namespace";
    case step_netns: return "join network namespace";
    case step_socket: return "socket";
    case step_bind: return "bind 127.0.0.1";
    case step_listen: return "listen";
    case step_name: return "getsockname";
    default: return "?";
    }
}

// Runs in the forked child: syscalls only, no allocation (the parent may
// have other threads holding the malloc lock).
[[noreturn]] void child_main(int chan, int userns, int netns, uint16_t port, bool want_v6) {
    Report rep{step_ok, 0, 0};
    int fds[2] = {-1, -1};
    int nfds = 0;
    auto fail = [&](int step) {
        rep.step = step;
        rep.err = errno;
    };
    do {
        if (userns >= 0 && ::setns(userns, CLONE_NEWUSER) < 0) {
            fail(step_userns);
            break;
        }
        if (::setns(netns, CLONE_NEWNET) < 0) {
            fail(step_netns);
            break;
        }
        int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0) {
            fail(step_socket);
            break;
        }
        int one = 1;
        ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a4{};
        a4.sin_family = AF_INET;
        a4.sin_port = htons(port);
        a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(s, reinterpret_cast<sockaddr *>(&a4), sizeof a4) < 0) {
            fail(step_bind);
            break;
        }
        if (::listen(s, 128) < 0) {
            fail(step_listen);
            break;
        }
        socklen_t len = sizeof a4;
        if (::getsockname(s, reinterpret_cast<sockaddr *>(&a4), &len) < 0) {
            fail(step_name);
            break;
        }
        rep.port = ntohs(a4.sin_port);
        fds[nfds++] = s;
        // IPv6 is best effort: the namespace may have it disabled.
        int s6 = want_v6 ? ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
        if (s6 >= 0) {
            ::setsockopt(s6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
            ::setsockopt(s6, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            sockaddr_in6 a6{};
            a6.sin6_family = AF_INET6;
            a6.sin6_port = htons(rep.port);
            a6.sin6_addr = in6addr_loopback;
            if (::bind(s6, reinterpret_cast<sockaddr *>(&a6), sizeof a6) == 0 && ::listen(s6, 128) == 0)
                fds[nfds++] = s6;
        }
    } while (false);

    iovec iov{&rep, sizeof rep};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof fds)] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0) {
        msg.msg_control = cbuf;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        std::memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    ::_exit(::sendmsg(chan, &msg, MSG_NOSIGNAL) < 0 ? 1 : 0);
}

bool same_ns(const std::string &a, const std::string &b) {
    struct stat sa{}, sb{};
    if (::stat(a.c_str(), &sa) < 0)
        throw_errno("stat {}", a);
    if (::stat(b.c_str(), &sb) < 0)
        throw_errno("stat {}", b);
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::vector<UniqueFd> listen_impl(pid_t pid, uint16_t port, bool want_v6) {
    return with_context(fmt::format("proxy socket in the network namespace of pid {}", pid), [&] {
        if (pid <= 0)
            throw_error("invalid pid");
        std::string net_path = fmt::format("/proc/{}/ns/net", pid);
        std::string user_path = fmt::format("/proc/{}/ns/user", pid);
        // Open the namespaces before forking: they stay pinned even if pid exits.
        UniqueFd netns(::open(net_path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!netns)
            throw_errno("open {}", net_path);
        UniqueFd userns;
        // Root (in our namespace) already has CAP_SYS_ADMIN over the target
        // netns; rootless needs the sandbox's user namespace that owns it.
        if (::geteuid() != 0 && !same_ns("/proc/self/ns/user", user_path)) {
            userns.reset(::open(user_path.c_str(), O_RDONLY | O_CLOEXEC));
            if (!userns)
                throw_errno("open {}", user_path);
        }

        int sp[2];
        if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
            throw_errno("socketpair");
        UniqueFd ours(sp[0]), theirs(sp[1]);
        pid_t child = ::fork();
        if (child < 0)
            throw_errno("fork");
        if (child == 0)
            child_main(theirs.get(), userns.get(), netns.get(), port, want_v6);
        theirs.reset();

        Report rep{};
        alignas(cmsghdr) char cbuf[CMSG_SPACE(2 * sizeof(int))] = {};
        iovec iov{&rep, sizeof rep};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof cbuf;
        ssize_t n;
        do
            n = ::recvmsg(ours.get(), &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        int saved = errno;
        int status = 0;
        while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
        }

        std::vector<UniqueFd> fds;
        for (cmsghdr *c = CMSG_FIRSTHDR(&msg); n > 0 && c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; ++i) {
                int fd;
                std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                fds.emplace_back(fd);
            }
        }
        if (n < 0)
            throw Error(saved, "receive socket from helper process");
        if (n != static_cast<ssize_t>(sizeof rep))
            throw_error("helper process exited without reply (status {:#x})", status);
        if (rep.step != step_ok)
            throw Error(rep.err, fmt::format("{}{}", step_text(rep.step),
                                             rep.step == step_bind ? fmt::format(":{}", port) : ""));
        if (fds.empty() || (msg.msg_flags & MSG_CTRUNC))
            throw_error("helper process sent no socket");
        return fds;
    });
}

} // namespace

UniqueFd Proxy::listen_in_netns(pid_t pid, uint16_t port) {
    auto fds = listen_impl(pid, port, false);
    return std::move(fds.front());
}

std::vector<UniqueFd> Proxy::listen_all_in_netns(pid_t pid, uint16_t port) {
    return listen_impl(pid, port, true);
}

uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr *>(&ss), &len) < 0)
        throw_errno("getsockname");
    if (ss.ss_family == AF_INET)
        return ntohs(reinterpret_cast<sockaddr_in *>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port);
    throw_error("getsockname: not an IP socket");
}

} // namespace mxc::net
