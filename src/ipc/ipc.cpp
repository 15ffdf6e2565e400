#include "mxc/ipc/ipc.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

namespace mxc::ipc {

namespace {

sockaddr_un unix_address(const std::string &path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof(addr.sun_path))
        throw Error(ENAMETOOLONG, fmt::format("socket path too long: {}", path));
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return addr;
}

constexpr size_t kMaxLine = 1 << 20;

} // namespace

std::string default_socket() {
    const char *env = std::getenv("MXC_MXCD_SOCKET");
    return env && *env ? env : "/run/mxc/mxcd.sock";
}

Peer peer_credentials(int fd) {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        throw_errno("SO_PEERCRED");
    return {cred.pid, cred.uid, cred.gid};
}

UniqueFd listen_unix(const std::string &path, mode_t mode) {
    auto slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0)
        mkdir_p(path.substr(0, slash), 0755);
    sockaddr_un addr = unix_address(path);
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!s)
        throw_errno("socket(AF_UNIX)");
    // A socket file left by a daemon that died: nobody answers on it.
    if (struct stat st; ::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            throw_error("{}: exists and is not a socket", path);
        if (Client::connect(path))
            throw Error(EADDRINUSE, fmt::format("{}: another process is listening there", path));
        ::unlink(path.c_str());
    }
    if (::bind(s.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0)
        throw_errno("bind {}", path);
    if (::chmod(path.c_str(), mode) < 0)
        throw_errno("chmod {}", path);
    if (::listen(s.get(), 64) < 0)
        throw_errno("listen {}", path);
    return s;
}

std::optional<nlohmann::json> Channel::read_ready(bool *eof) {
    *eof = false;
    for (;;) {
        if (auto nl = buf_.find('\n'); nl != std::string::npos) {
            std::string line = buf_.substr(0, nl);
            buf_.erase(0, nl + 1);
            try {
                return nlohmann::json::parse(line);
            } catch (const nlohmann::json::exception &e) {
                throw_error("bad message: {}", e.what());
            }
        }
        if (buf_.size() > kMaxLine)
            throw_error("message longer than {} bytes", kMaxLine);
        char tmp[65536];
        ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return std::nullopt;
        if (n < 0)
            throw_errno("read from socket");
        if (n == 0) {
            *eof = true;
            return std::nullopt;
        }
        buf_.append(tmp, static_cast<size_t>(n));
    }
}

std::optional<nlohmann::json> Channel::read(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        bool eof = false;
        if (auto msg = read_ready(&eof))
            return msg;
        if (eof)
            return std::nullopt;
        int wait = -1;
        if (timeout.count() >= 0) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0)
                throw Error(ETIMEDOUT, "no answer");
            wait = static_cast<int>(left.count());
        }
        pollfd p{fd_.get(), POLLIN, 0};
        if (::poll(&p, 1, wait) < 0 && errno != EINTR)
            throw_errno("poll");
    }
}

void Channel::write(const nlohmann::json &msg) {
    std::string line = msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    size_t off = 0;
    while (off < line.size()) {
        ssize_t n = ::send(fd_.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd_.get(), POLLOUT, 0};
            if (::poll(&p, 1, 5000) <= 0)
                throw Error(ETIMEDOUT, "peer does not read");
            continue;
        }
        if (n < 0)
            throw_errno("write to socket");
        off += static_cast<size_t>(n);
    }
}

bool Channel::try_write(const nlohmann::json &msg) {
    std::string line = msg.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    ssize_t n;
    do
        n = ::send(fd_.get(), line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n == static_cast<ssize_t>(line.size());
}

std::optional<Client> Client::connect(const std::string &path) {
    UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s)
        throw_errno("socket(AF_UNIX)");
    sockaddr_un addr = unix_address(path);
    int rc;
    do
        rc = ::connect(s.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        if (errno == ENOENT || errno == ECONNREFUSED || errno == ENOTDIR)
            return std::nullopt;
        throw_errno("connect to mxcd at {}", path);
    }
    return Client(std::move(s));
}

nlohmann::json Client::call(const nlohmann::json &req, std::chrono::milliseconds timeout) {
    std::string op = req.value("op", "?");
    ch_.write(req);
    std::optional<nlohmann::json> resp;
    try {
        resp = ch_.read(timeout);
    } catch (const Error &e) {
        throw Error(e.code(), fmt::format("mxcd: {}: {}", op, e.what()));
    }
    if (!resp)
        throw_error("mxcd: {}: the daemon closed the connection", op);
    if (!resp->value("ok", false))
        throw Error(resp->value("errno", 0) ? resp->value("errno", 0) : EPERM,
                    fmt::format("mxcd: {}: {}", op, resp->value("error", std::string("refused"))));
    return *resp;
}

} // namespace mxc::ipc
