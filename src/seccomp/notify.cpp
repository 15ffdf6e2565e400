// Seccomp user notification: handing the listener to linux.seccomp.listenerPath,
// and whether the host supports it at all.
#include "mxc/seccomp/seccomp.hpp"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <fcntl.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <unistd.h>

#include <cstring>

#include "mxc/util/error.hpp"

namespace mxc::seccomp {

nlohmann::json listener_payload(const ListenerState &st) {
    nlohmann::json j = {
        {"ociVersion", st.oci_version},
        {"fds", nlohmann::json::array({"seccompFd"})},
        {"pid", st.pid},
    };
    if (!st.metadata.empty())
        j["metadata"] = st.metadata;
    j["state"] = st.state.is_null() ? nlohmann::json::object() : st.state;
    return j;
}

namespace {

// Connect to a unix socket path.  sun_path holds 107 bytes; a longer path is
// reached through the /proc/self/fd link of its directory, which is short.
UniqueFd connect_unix(const std::string &path) {
    UniqueFd sock(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!sock)
        throw_errno("socket(AF_UNIX)");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string target = path;
    UniqueFd dir;
    if (target.size() >= sizeof(addr.sun_path)) {
        auto slash = path.rfind('/');
        std::string d = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
        std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
        dir.reset(open(d.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        if (!dir)
            throw_errno("open {}", d);
        target = fmt::format("/proc/self/fd/{}/{}", dir.get(), base);
        if (target.size() >= sizeof(addr.sun_path))
            throw Error(ENAMETOOLONG, fmt::format("socket name too long: {}", base));
    }
    std::memcpy(addr.sun_path, target.c_str(), target.size() + 1);
    int rc;
    do
        rc = connect(sock.get(), reinterpret_cast<sockaddr *>(&addr), sizeof(addr));
    while (rc < 0 && errno == EINTR);
    if (rc < 0)
        throw_errno("connect");
    return sock;
}

} // namespace

void send_listener_fd(const std::string &listener_path, int notify_fd, const ListenerState &st) {
    with_context(fmt::format("seccomp: send the notify fd to {}", listener_path), [&] {
        UniqueFd sock = connect_unix(listener_path);
        std::string payload = listener_payload(st).dump();

        iovec iov{payload.data(), payload.size()};
        alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof(cbuf);
        cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(cm), &notify_fd, sizeof(int));

        ssize_t n;
        do
            n = sendmsg(sock.get(), &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            throw_errno("sendmsg");
        // A stream socket may take part of a large payload; the fd went with
        // the first byte, the rest follows as plain data.
        size_t sent = static_cast<size_t>(n);
        while (sent < payload.size()) {
            n = send(sock.get(), payload.data() + sent, payload.size() - sent, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                throw_errno("send");
            sent += static_cast<size_t>(n);
        }
    });
}

bool notify_supported() {
    seccomp_notif_sizes sizes{};
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0)
        return false;
    // API level 5: SCMP_ACT_NOTIFY and the seccomp_notify_* calls.
    return seccomp_api_get() >= 5;
}

} // namespace mxc::seccomp
