#include "mxc/net/proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <list>
#include <mutex>
#include <thread>

#include "mxc/net/http.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/log.hpp"

namespace mxc::net {

namespace {

using Clock = std::chrono::steady_clock;

// A reply the proxy sends instead of a tunnel; thrown inside a connection.
struct Reply {
    int status;
    std::string reason;
};

// A connection ended for a reason that needs no reply (peer gone, stop).
struct Hangup {};

const char *status_text(int s) {
    switch (s) {
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Error";
    }
}

std::string reply_text(int status, std::string_view reason) {
    std::string body = fmt::format("mxc proxy: {}\n", reason);
    return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\n"
                       "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                       status, status_text(status), body.size(), body);
}

int ms_until(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

enum class Ready { yes, timeout, stop };

// Wait for events on fd, giving up at the deadline or when stop_fd is readable.
Ready wait_for(int fd, short events, Clock::time_point deadline, int stop_fd) {
    for (;;) {
        pollfd p[2] = {{fd, events, 0}, {stop_fd, POLLIN, 0}};
        int n = ::poll(p, 2, ms_until(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("poll");
        if (p[1].revents)
            return Ready::stop;
        if (n == 0)
            return Ready::timeout;
        return Ready::yes;
    }
}

void send_all(int fd, std::string_view data, Clock::time_point deadline, int stop_fd) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_for(fd, POLLOUT, deadline, stop_fd) != Ready::yes)
                throw Hangup{};
            continue;
        }
        throw Hangup{};
    }
}

std::string peer_name(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd, reinterpret_cast<sockaddr *>(&ss), &len) < 0)
        return "?";
    auto ip = ip_from_sockaddr(reinterpret_cast<sockaddr *>(&ss));
    if (!ip)
        return "?";
    uint16_t port = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in *>(&ss)->sin_port)
                                            : ntohs(reinterpret_cast<sockaddr_in6 *>(&ss)->sin6_port);
    return ip->is_v4() ? fmt::format("{}:{}", to_string(*ip), port)
                       : fmt::format("[{}]:{}", to_string(*ip), port);
}

std::vector<IpAddr> getaddrinfo_resolve(const std::string &host) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo *res = nullptr;
    int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0)
        throw_error("cannot resolve {}: {}", host, rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc));
    std::vector<IpAddr> out;
    for (auto *ai = res; ai != nullptr; ai = ai->ai_next)
        if (auto ip = ip_from_sockaddr(ai->ai_addr))
            out.push_back(*ip);
    ::freeaddrinfo(res);
    return out;
}

// Connect with a timeout; -errno on failure.
UniqueFd connect_to(const IpAddr &a, uint16_t port, std::chrono::milliseconds timeout, int stop_fd, int &err) {
    sockaddr_storage ss{};
    socklen_t len;
    if (a.is_v4()) {
        auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        std::memcpy(&s4->sin_addr, a.bytes.data(), 4);
        len = sizeof *s4;
    } else {
        auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        std::memcpy(&s6->sin6_addr, a.bytes.data(), 16);
        len = sizeof *s6;
    }
    UniqueFd s(::socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!s) {
        err = errno;
        return {};
    }
    if (::connect(s.get(), reinterpret_cast<sockaddr *>(&ss), len) == 0)
        return s;
    if (errno != EINPROGRESS) {
        err = errno;
        return {};
    }
    switch (wait_for(s.get(), POLLOUT, Clock::now() + timeout, stop_fd)) {
    case Ready::stop:
        throw Hangup{};
    case Ready::timeout:
        err = ETIMEDOUT;
        return {};
    case Ready::yes:
        break;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (::getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
    if (soerr != 0) {
        err = soerr;
        return {};
    }
    return s;
}

// Copy both ways until both directions have ended (each EOF passed on as a
// half-close), an error, the idle timeout, or stop.  Non-blocking with a
// buffer per direction, so a peer that does not read cannot wedge the other
// direction.
void relay(int client, int upstream, std::string to_upstream, std::chrono::milliseconds idle, int stop_fd) {
    struct Dir {
        int from, to;
        std::string buf;
        size_t off = 0;
        bool eof = false, shut = false;
        bool pending() const { return off < buf.size(); }
        bool done() const { return eof && !pending(); }
    };
    Dir dirs[2] = {{client, upstream, std::move(to_upstream)}, {upstream, client, {}}};
    char chunk[64 * 1024];
    while (!(dirs[0].done() && dirs[1].done())) {
        // p[0] is the client, p[1] upstream: dirs[i] reads p[i] and writes p[1-i].
        pollfd p[3] = {{client, 0, 0}, {upstream, 0, 0}, {stop_fd, POLLIN, 0}};
        for (int i = 0; i < 2; ++i) {
            if (!dirs[i].eof && !dirs[i].pending())
                p[i].events |= POLLIN;
            if (dirs[i].pending())
                p[1 - i].events |= POLLOUT;
        }
        for (int i = 0; i < 2; ++i)
            if (p[i].events == 0)
                p[i].fd = -1;  // else POLLHUP on a closed peer spins
        int n = ::poll(p, 3, static_cast<int>(idle.count()));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || p[2].revents)
            return;
        for (int i = 0; i < 2; ++i) {
            Dir &d = dirs[i];
            if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) && !d.eof && !d.pending()) {
                ssize_t r = ::recv(d.from, chunk, sizeof chunk, 0);
                if (r > 0) {
                    d.buf.assign(chunk, static_cast<size_t>(r));
                    d.off = 0;
                } else if (r == 0) {
                    d.eof = true;
                } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    return;
                }
            }
            if (d.pending() && (p[1 - i].revents & (POLLOUT | POLLERR | POLLHUP))) {
                ssize_t w = ::send(d.to, d.buf.data() + d.off, d.buf.size() - d.off, MSG_NOSIGNAL);
                if (w > 0)
                    d.off += static_cast<size_t>(w);
                else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                    return;
            }
            if (d.done() && !d.shut) {
                ::shutdown(d.to, SHUT_WR);
                d.shut = true;
            }
        }
    }
}

} // namespace

struct Proxy::Impl {
    AllowList allow;
    DecisionLog log;
    std::vector<UniqueFd> listeners;
    ProxyOptions opts;
    std::mutex log_mu;

    void emit(const Decision &d) {
        if (!log)
            return;
        std::lock_guard lock(log_mu);
        try {
            log(d);
        } catch (const std::exception &e) {
            log::warn("proxy: decision log failed: {}", e.what());
        }
    }

    // Read the request head; returns its length (through the blank line).
    size_t read_head(int fd, std::string &buf, int stop_fd) {
        auto deadline = Clock::now() + opts.header_timeout;
        char chunk[4096];
        for (;;) {
            // Search from a few bytes back: the terminator may span reads.
            size_t crlf = buf.find("\r\n\r\n"), lf = buf.find("\n\n");
            size_t end = std::min(crlf == std::string::npos ? crlf : crlf + 4,
                                  lf == std::string::npos ? lf : lf + 2);
            if (end != std::string::npos && end <= opts.max_header_bytes)
                return end;
            if (buf.size() >= opts.max_header_bytes)
                throw Reply{431, fmt::format("request head larger than {} bytes", opts.max_header_bytes)};
            ssize_t n = ::recv(fd, chunk, std::min(sizeof chunk, opts.max_header_bytes + 4 - buf.size()), 0);
            if (n > 0) {
                buf.append(chunk, static_cast<size_t>(n));
                continue;
            }
            if (n == 0)
                throw Hangup{};
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                throw Hangup{};
            switch (wait_for(fd, POLLIN, deadline, stop_fd)) {
            case Ready::yes:
                break;
            case Ready::stop:
                throw Hangup{};
            case Ready::timeout:
                if (buf.empty())
                    throw Hangup{};
                throw Reply{408, "timed out reading the request"};
            }
        }
    }

    void handle(UniqueFd client, int stop_fd) {
        Decision d;
        d.client = peer_name(client.get());
        try {
            std::string buf;
            size_t head_len = read_head(client.get(), buf, stop_fd);
            RequestHead req;
            try {
                req = parse_request_head(std::string_view(buf).substr(0, head_len));
            } catch (const Error &e) {
                throw Reply{400, e.what()};
            }
            std::string leftover = buf.substr(head_len);
            serve_request(client.get(), req, std::move(leftover), d, stop_fd);
        } catch (const Reply &r) {
            if (d.time == std::chrono::system_clock::time_point{}) {
                // Refused before any policy decision (malformed, too big,
                // slow): still an event the audit wants to see.
                d.time = std::chrono::system_clock::now();
                d.allowed = false;
                d.reason = r.reason;
                emit(d);
            }
            try {
                send_all(client.get(), reply_text(r.status, r.reason), Clock::now() + std::chrono::seconds(5), stop_fd);
            } catch (const Hangup &) {
            }
        } catch (const Hangup &) {
        } catch (const std::exception &e) {
            log::warn("proxy: connection from {}: {}", d.client, e.what());
        }
    }

    void serve_request(int client, const RequestHead &req, std::string leftover, Decision &d, int stop_fd) {
        auto stamp = [&](Decision x) {
            x.time = std::chrono::system_clock::now();
            x.client = d.client;
            x.method = req.method;
            d = std::move(x);
        };
        stamp(allow.check(req.host, req.port, {}));
        if (!d.allowed) {
            emit(d);
            throw Reply{403, "denied: " + d.reason};
        }
        std::vector<IpAddr> addrs;
        if (auto literal = parse_ip(req.host)) {
            addrs.push_back(*literal);
        } else {
            try {
                addrs = opts.resolve ? opts.resolve(d.host) : getaddrinfo_resolve(d.host);
            } catch (const Error &e) {
                d.allowed = false;
                d.reason = e.what();
                emit(d);
                throw Reply{502, e.what()};
            }
            if (addrs.empty()) {
                d.allowed = false;
                d.reason = fmt::format("{} has no addresses", d.host);
                emit(d);
                throw Reply{502, d.reason};
            }
        }
        stamp(allow.check(req.host, req.port, addrs));
        if (!d.allowed) {
            emit(d);
            throw Reply{403, "denied: " + d.reason};
        }

        UniqueFd upstream;
        int err = 0;
        for (const auto &a : d.addresses) {
            upstream = connect_to(a, req.port, opts.connect_timeout, stop_fd, err);
            if (upstream) {
                d.resolved = to_string(a);
                break;
            }
        }
        if (!upstream) {
            d.reason += fmt::format("; connect failed: {} ({})", std::strerror(err), errno_name(err));
            emit(d);
            throw Reply{err == ETIMEDOUT ? 504 : 502,
                        fmt::format("cannot connect to {} port {}: {}", d.host, req.port, std::strerror(err))};
        }
        emit(d);

        auto deadline = Clock::now() + opts.header_timeout;
        std::string to_upstream;
        if (req.method == "CONNECT") {
            send_all(client, "HTTP/1.1 200 Connection established\r\n\r\n", deadline, stop_fd);
            to_upstream = std::move(leftover);
        } else {
            // Anything the client sends after this head (a body, or further
            // pipelined requests) goes to the same checked host:port only.
            to_upstream = origin_request(req) + leftover;
        }
        relay(client, upstream.get(), std::move(to_upstream), opts.idle_timeout, stop_fd);
    }
};

Proxy::Proxy(AllowList allow, DecisionLog log, UniqueFd listen_fd, ProxyOptions opts)
    : Proxy(std::move(allow), std::move(log),
            [&] {
                std::vector<UniqueFd> v;
                v.push_back(std::move(listen_fd));
                return v;
            }(),
            std::move(opts)) {}

Proxy::Proxy(AllowList allow, DecisionLog log, std::vector<UniqueFd> listen_fds, ProxyOptions opts)
    : impl_(std::make_unique<Impl>()) {
    if (listen_fds.empty())
        throw_error("proxy: no listening socket");
    for (const auto &fd : listen_fds)
        if (!fd)
            throw_error("proxy: invalid listening socket");
    impl_->allow = std::move(allow);
    impl_->log = std::move(log);
    impl_->listeners = std::move(listen_fds);
    impl_->opts = std::move(opts);
}

Proxy::~Proxy() = default;

uint16_t Proxy::port() const {
    return local_port(impl_->listeners.front().get());
}

void Proxy::serve(int stop_fd) {
    struct Conn {
        std::thread thread;
        std::shared_ptr<std::atomic<bool>> done;
    };
    std::list<Conn> conns;
    auto reap = [&](bool all) {
        for (auto it = conns.begin(); it != conns.end();) {
            if (all || it->done->load()) {
                it->thread.join();
                it = conns.erase(it);
            } else {
                ++it;
            }
        }
    };
    ScopeExit join_all([&] { reap(true); });

    for (auto &l : impl_->listeners) {
        int fl = ::fcntl(l.get(), F_GETFL);
        if (fl < 0 || ::fcntl(l.get(), F_SETFL, fl | O_NONBLOCK) < 0)
            throw_errno("proxy: make listening socket non-blocking");
    }
    std::vector<pollfd> pfds;
    for (auto &l : impl_->listeners)
        pfds.push_back({l.get(), POLLIN, 0});
    pfds.push_back({stop_fd, POLLIN, 0});

    for (;;) {
        // Wake now and then to join finished connection threads.
        int n = ::poll(pfds.data(), pfds.size(), conns.empty() ? -1 : 1000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("proxy: poll");
        if (pfds.back().revents)
            return;
        reap(false);
        for (size_t i = 0; i + 1 < pfds.size(); ++i) {
            if (!pfds[i].revents)
                continue;
            UniqueFd c(::accept4(pfds[i].fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (!c) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                    log::warn("proxy: accept: {}", std::strerror(errno));
                // EMFILE & co.: do not spin on a queue we cannot drain.
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                    ::poll(nullptr, 0, 100);
                continue;
            }
            if (conns.size() >= impl_->opts.max_connections) {
                auto text = reply_text(503, "too many connections");
                (void)!::send(c.get(), text.data(), text.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
                continue;
            }
            auto done = std::make_shared<std::atomic<bool>>(false);
            try {
                int raw = c.get();
                std::thread t([this, raw, stop_fd, done] {
                    impl_->handle(UniqueFd(raw), stop_fd);
                    done->store(true);
                });
                c.release();  // the thread owns it now
                conns.push_back({std::move(t), done});
            } catch (const std::system_error &e) {
                log::warn("proxy: cannot start a connection thread: {}", e.what());
            }
        }
    }
}

} // namespace mxc::net
