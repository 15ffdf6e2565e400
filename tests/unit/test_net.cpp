#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <mutex>
#include <iostream>
#include <thread>

#include "mxc/net/address.hpp"
#include "mxc/net/allowlist.hpp"
#include "mxc/net/http.hpp"
#include "mxc/net/netns.hpp"
#include "mxc/net/proxy.hpp"
#include "mxc/util/error.hpp"

using namespace mxc;
using namespace mxc::net;

namespace {

IpAddr ip(const char *s) {
    auto a = parse_ip(s);
    EXPECT_TRUE(a) << s;
    return a.value_or(IpAddr{});
}

std::string entry_error(const std::string &e) {
    try {
        AllowList l({e});
    } catch (const Error &err) {
        return err.what();
    }
    return "";
}

} // namespace

// ---- addresses ----

TEST(NetAddress, ParsesStrictly) {
    EXPECT_TRUE(parse_ip("192.0.2.1"));
    EXPECT_TRUE(parse_ip("2001:db8::1"));
    EXPECT_TRUE(parse_ip("[::1]"));
    // Short and hex forms that inet_aton would take are not addresses.
    EXPECT_FALSE(parse_ip("127.1"));
    EXPECT_FALSE(parse_ip("0x7f.0.0.1"));
    EXPECT_FALSE(parse_ip("1.2.3.4.5"));
    EXPECT_FALSE(parse_ip("example.com"));
    EXPECT_FALSE(parse_ip(""));
    // Mapped addresses fold into IPv4.
    EXPECT_EQ(ip("::ffff:10.1.2.3"), ip("10.1.2.3"));
    EXPECT_EQ(to_string(ip("::ffff:10.1.2.3")), "10.1.2.3");
}

TEST(NetAddress, Cidr) {
    auto c = parse_cidr("10.0.0.0/8");
    EXPECT_TRUE(c.contains(ip("10.255.0.1")));
    EXPECT_FALSE(c.contains(ip("11.0.0.1")));
    EXPECT_FALSE(c.contains(ip("::1")));
    auto c6 = parse_cidr("fd00::/8");
    EXPECT_TRUE(c6.contains(ip("fd12:3456::1")));
    EXPECT_FALSE(c6.contains(ip("fc00::1")));
    EXPECT_TRUE(parse_cidr("172.16.0.0/12").contains(ip("172.31.255.255")));
    EXPECT_FALSE(parse_cidr("172.16.0.0/12").contains(ip("172.32.0.0")));
    EXPECT_TRUE(parse_cidr("0.0.0.0/0").contains(ip("8.8.8.8")));
    EXPECT_EQ(parse_cidr("192.168.1.5").prefix, 32);
    EXPECT_EQ(to_string(parse_cidr("::ffff:10.0.0.0/104")), "10.0.0.0/8");
    EXPECT_THROW(parse_cidr("10.0.0.1/8"), Error);
    EXPECT_THROW(parse_cidr("10.0.0.0/33"), Error);
    EXPECT_THROW(parse_cidr("10.0.0.0/"), Error);
    EXPECT_THROW(parse_cidr("fd00::/129"), Error);
}

TEST(NetAddress, SpecialRanges) {
    struct {
        const char *addr;
        const char *kind;
    } table[] = {
        {"127.0.0.1", "loopback"}, {"127.255.1.1", "loopback"}, {"10.1.1.1", "private"},
        {"172.20.0.1", "private"}, {"192.168.0.1", "private"}, {"169.254.169.254", "link-local"},
        {"100.64.0.1", "shared (CGNAT)"}, {"100.127.255.255", "shared (CGNAT)"},
        {"0.0.0.0", "unspecified"}, {"224.0.0.1", "multicast"}, {"255.255.255.255", "reserved"},
        {"::", "unspecified"}, {"::1", "loopback"}, {"fc00::1", "private"}, {"fd12::1", "private"},
        {"fe80::1", "link-local"}, {"ff02::1", "multicast"}, {"::ffff:192.168.1.1", "private"},
        {"::ffff:127.0.0.1", "loopback"}, {"64:ff9b::a00:1", "reserved"},
    };
    for (const auto &t : table) {
        auto k = special_range(ip(t.addr));
        ASSERT_TRUE(k) << t.addr;
        EXPECT_EQ(*k, t.kind) << t.addr;
    }
    for (const char *pub : {"93.184.216.34", "8.8.8.8", "100.128.0.1", "172.32.0.1", "2606:4700::1111"})
        EXPECT_FALSE(special_range(ip(pub))) << pub;
}

// ---- allow-list ----

TEST(NetAllowList, ParsesEntries) {
    AllowList l({"example.com", "*.example.org", "Api.Test.:8443", "10.0.0.0/8", "192.168.1.5",
                 "[::1]:8080", "fd00::/8", "10.0.0.0/8:5432", "[fd00::/8]:443"});
    ASSERT_EQ(l.hosts().size(), 3u);
    EXPECT_EQ(l.hosts()[1].name, "example.org");
    EXPECT_TRUE(l.hosts()[1].wildcard);
    EXPECT_EQ(l.hosts()[2].name, "api.test");
    EXPECT_EQ(l.hosts()[2].port, 8443);
    ASSERT_EQ(l.ranges().size(), 6u);
    EXPECT_EQ(l.ranges()[2].port, 8080);
    EXPECT_EQ(to_string(l.ranges()[3].range), "fd00::/8");
    EXPECT_EQ(l.ranges()[4].port, 5432);
    EXPECT_EQ(l.ranges()[5].port, 443);
}

TEST(NetAllowList, ErrorsNameTheEntry) {
    for (const char *bad : {"", "exa mple.com", "*.", "*", "foo.*.com", "*example.com", "host:0",
                            "host:70000", "host:", "[::1", "[1.2.3.4]:80", "[::1]x", "10.0.0.1/8",
                            "10.0.0.0/33", "1.2.3", "-bad.com", "a..b", "http://x.com"}) {
        std::string err = entry_error(bad);
        EXPECT_NE(err, "") << "accepted: " << bad;
        EXPECT_NE(err.find(fmt::format("allow-list entry \"{}\"", bad)), std::string::npos) << err;
    }
}

TEST(NetAllowList, MatchingTable) {
    AllowList l({"example.com", "*.example.org", "api.test:8443", "10.0.0.0/8", "192.168.1.5",
                 "[::1]:8080", "fd00::/8"});
    struct {
        const char *host;
        uint16_t port;
        bool allowed;
    } table[] = {
        {"example.com", 443, true},       {"example.com", 80, true},
        {"example.com", 8080, false},     {"EXAMPLE.com.", 443, true},
        {"www.example.com", 443, false},  {"a.example.org", 443, true},
        {"x.y.example.org", 80, true},    {"example.org", 443, false},
        {"evilexample.org", 443, false},  {"example.org.evil.com", 443, false},
        {"api.test", 8443, true},         {"api.test", 443, false},
        {"10.1.2.3", 22, true},           {"11.0.0.1", 443, false},
        {"192.168.1.5", 5000, true},      {"192.168.1.6", 443, false},
        {"::1", 8080, true},              {"[::1]", 8080, true},
        {"::1", 8081, false},             {"fd12::1", 443, true},
        {"fc00::1", 443, false},          {"::ffff:10.1.2.3", 443, true},
        {"127.0.0.1", 8080, false},       {"example.com", 0, false},
    };
    for (const auto &t : table) {
        auto d = l.check(t.host, t.port, {});
        EXPECT_EQ(d.allowed, t.allowed) << t.host << ":" << t.port << " -> " << d.reason;
        EXPECT_FALSE(d.reason.empty());
    }
    EXPECT_NE(l.check("example.com", 8080, {}).reason.find("port 8080"), std::string::npos);
    EXPECT_NE(l.check("other.com", 443, {}).reason.find("not in the allow-list"), std::string::npos);
    // An address rule never makes a host name allowed.
    EXPECT_FALSE(l.check("internal.corp", 443, {ip("10.0.0.5")}).allowed);
}

TEST(NetAllowList, RefusesPrivateTargetsUnlessListed) {
    AllowList l({"example.com", "localhost", "10.0.0.0/8", "fd00::/8", "db.test:5432", "127.0.0.1:5432"});
    auto check = [&](const char *host, uint16_t port, std::vector<const char *> addrs) {
        std::vector<IpAddr> v;
        for (auto *a : addrs)
            v.push_back(ip(a));
        return l.check(host, port, v);
    };
    for (const char *bad : {"127.0.0.1", "192.168.1.9", "172.16.0.1", "169.254.169.254", "100.64.1.1",
                            "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:192.168.0.1",
                            "::"}) {
        auto d = check("example.com", 443, {bad});
        EXPECT_FALSE(d.allowed) << bad;
        EXPECT_NE(d.reason.find("rebinding"), std::string::npos) << d.reason;
    }
    EXPECT_NE(check("example.com", 443, {"127.0.0.1"}).reason.find("loopback"), std::string::npos);
    // Explicitly listed private ranges are fine.
    EXPECT_TRUE(check("example.com", 443, {"10.2.3.4"}).allowed);
    EXPECT_TRUE(check("example.com", 443, {"fd00::5"}).allowed);
    // The name rule matches, but loopback needs an address entry with that port.
    EXPECT_FALSE(check("localhost", 443, {"127.0.0.1", "::1"}).allowed);
    EXPECT_FALSE(check("db.test", 5433, {"127.0.0.1"}).allowed);
    auto ok = check("db.test", 5432, {"127.0.0.1", "::1"});
    EXPECT_TRUE(ok.allowed) << ok.reason;
    ASSERT_EQ(ok.addresses.size(), 1u);
    EXPECT_EQ(to_string(ok.addresses[0]), "127.0.0.1");
    // Mixed answers: the special addresses are dropped, the public kept.
    auto mixed = check("example.com", 443, {"127.0.0.1", "93.184.216.34", "93.184.216.34"});
    EXPECT_TRUE(mixed.allowed);
    ASSERT_EQ(mixed.addresses.size(), 1u);
    EXPECT_EQ(to_string(mixed.addresses[0]), "93.184.216.34");
    EXPECT_NE(mixed.reason.find("skipped"), std::string::npos);
    // Public addresses pass; an IP-literal host ignores what was "resolved".
    EXPECT_TRUE(check("example.com", 443, {"2606:4700::1111"}).allowed);
    auto lit = check("10.9.9.9", 443, {"127.0.0.1"});
    ASSERT_TRUE(lit.allowed);
    EXPECT_EQ(to_string(lit.addresses.at(0)), "10.9.9.9");
}

// ---- HTTP ----

TEST(NetHttp, ParsesProxyRequests) {
    auto c = parse_request_head("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
    EXPECT_EQ(c.method, "CONNECT");
    EXPECT_EQ(c.host, "example.com");
    EXPECT_EQ(c.port, 443);
    auto c6 = parse_request_head("CONNECT [2001:db8::1]:8443 HTTP/1.1\n\n");
    EXPECT_EQ(c6.host, "2001:db8::1");
    EXPECT_EQ(c6.port, 8443);
    auto g = parse_request_head("GET http://Example.com:8080/a/b?q=1 HTTP/1.1\r\nHost: x\r\n"
                                "Proxy-Connection: keep-alive\r\nAccept: */*\r\n\r\n");
    EXPECT_EQ(g.host, "Example.com");
    EXPECT_EQ(g.port, 8080);
    EXPECT_EQ(g.path, "/a/b?q=1");
    auto up = origin_request(g);
    EXPECT_EQ(up.rfind("GET /a/b?q=1 HTTP/1.1\r\nHost: Example.com:8080\r\n", 0), 0u) << up;
    EXPECT_NE(up.find("Accept: */*\r\n"), std::string::npos);
    EXPECT_NE(up.find("Connection: close\r\n\r\n"), std::string::npos);
    EXPECT_EQ(up.find("Proxy-Connection"), std::string::npos);
    EXPECT_EQ(up.find("Host: x"), std::string::npos);
    auto bare = parse_request_head("GET http://h HTTP/1.0\r\n\r\n");
    EXPECT_EQ(bare.port, 80);
    EXPECT_EQ(bare.path, "/");
    EXPECT_NE(origin_request(bare).find("Host: h\r\n"), std::string::npos);
    auto q = parse_request_head("GET http://h?x=1 HTTP/1.1\r\n\r\n");
    EXPECT_EQ(q.path, "/?x=1");
}

TEST(NetHttp, RejectsGarbage) {
    for (const char *bad : {"", "GARBAGE", "GET / HTTP/1.1\r\n\r\n", "GET https://h/ HTTP/1.1\r\n\r\n",
                            "CONNECT example.com HTTP/1.1\r\n\r\n", "CONNECT h:99999 HTTP/1.1\r\n\r\n",
                            "CONNECT ::1:443 HTTP/1.1\r\n\r\n", "GET http://u:p@h/ HTTP/1.1\r\n\r\n",
                            "GET http://h/ HTTP/2.0\r\n\r\n", "GET  http://h/ HTTP/1.1\r\n\r\n",
                            "GET http://h/ HTTP/1.1\r\nno colon\r\n\r\n",
                            "GET http://h/ HTTP/1.1\r\n folded: x\r\n\r\n", "\x01\x02\x03 x y",
                            "CONNECT :443 HTTP/1.1\r\n\r\n"})
        EXPECT_THROW(parse_request_head(bad), Error) << bad;
}

TEST(NetEnv, ProxyEnv) {
    auto env = proxy_env(3128);
    for (const char *want : {"HTTP_PROXY=http://127.0.0.1:3128", "http_proxy=http://127.0.0.1:3128",
                             "HTTPS_PROXY=http://127.0.0.1:3128", "https_proxy=http://127.0.0.1:3128",
                             "ALL_PROXY=http://127.0.0.1:3128", "all_proxy=http://127.0.0.1:3128",
                             "NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1"})
        EXPECT_NE(std::find(env.begin(), env.end(), want), env.end()) << want;
    EXPECT_EQ(env.size(), 8u);
}

// ---- live proxy ----

namespace {

UniqueFd listen_tcp(const char *addr, uint16_t port = 0) {
    auto a = parse_ip(addr);
    UniqueFd s(::socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_storage ss{};
    socklen_t len;
    if (a->is_v4()) {
        auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        std::memcpy(&s4->sin_addr, a->bytes.data(), 4);
        len = sizeof *s4;
    } else {
        auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        std::memcpy(&s6->sin6_addr, a->bytes.data(), 16);
        len = sizeof *s6;
    }
    if (::bind(s.get(), reinterpret_cast<sockaddr *>(&ss), len) < 0 || ::listen(s.get(), 16) < 0)
        throw_errno("listen {}", addr);
    return s;
}

// Connected socket, or -errno.
int connect_tcp(const char *addr, uint16_t port) {
    auto a = parse_ip(addr);
    int s = ::socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    sockaddr_storage ss{};
    socklen_t len;
    if (a->is_v4()) {
        auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        std::memcpy(&s4->sin_addr, a->bytes.data(), 4);
        len = sizeof *s4;
    } else {
        auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        std::memcpy(&s6->sin6_addr, a->bytes.data(), 16);
        len = sizeof *s6;
    }
    timeval tv{5, 0};
    ::setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(s, reinterpret_cast<sockaddr *>(&ss), len) < 0) {
        int e = errno;
        ::close(s);
        return -e;
    }
    return s;
}

void send_str(int fd, std::string_view s) {
    while (!s.empty()) {
        ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
        if (n <= 0)
            return;
        s.remove_prefix(static_cast<size_t>(n));
    }
}

// Read until the peer closes (or the 5 s receive timeout).
std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
        out.append(buf, static_cast<size_t>(n));
    return out;
}

std::string read_head(int fd) {
    std::string out;
    char c;
    while (out.find("\r\n\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1)
        out += c;
    return out;
}

// CONNECT through the proxy, then one GET through the tunnel.  Returns the
// proxy's reply head, and the tunnelled response in *body.
std::string via_connect(const char *proxy_addr, uint16_t proxy_port, const std::string &target,
                        std::string *body = nullptr) {
    int fd = connect_tcp(proxy_addr, proxy_port);
    if (fd < 0)
        return fmt::format("connect to proxy failed: {}", std::strerror(-fd));
    UniqueFd owner(fd);
    send_str(fd, fmt::format("CONNECT {} HTTP/1.1\r\nHost: {}\r\n\r\n", target, target));
    std::string head = read_head(fd);
    if (head.rfind("HTTP/1.1 200", 0) == 0) {
        send_str(fd, "GET /tunnel HTTP/1.1\r\nHost: x\r\n\r\n");
        std::string r = read_all(fd);
        if (body)
            *body = r;
    } else if (body) {
        *body = read_all(fd);
    }
    return head;
}

std::string raw_request(const char *proxy_addr, uint16_t proxy_port, std::string_view req) {
    int fd = connect_tcp(proxy_addr, proxy_port);
    if (fd < 0)
        return fmt::format("connect to proxy failed: {}", std::strerror(-fd));
    UniqueFd owner(fd);
    send_str(fd, req);
    return read_all(fd);
}

// An origin server on loopback: answers each request with a fixed body and
// remembers the request heads.
class OriginServer {
public:
    OriginServer() : fd_(listen_tcp("127.0.0.1")), port_(local_port(fd_.get())) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0)
            throw_errno("pipe");
        stop_r_.reset(p[0]);
        stop_w_.reset(p[1]);
        thread_ = std::thread([this] { run(); });
    }
    ~OriginServer() {
        stop_w_.reset();
        thread_.join();
    }
    uint16_t port() const { return port_; }
    std::vector<std::string> heads() {
        std::lock_guard l(mu_);
        return heads_;
    }

private:
    void run() {
        for (;;) {
            pollfd p[2] = {{fd_.get(), POLLIN, 0}, {stop_r_.get(), POLLIN, 0}};
            if (::poll(p, 2, -1) < 0 || p[1].revents)
                return;
            UniqueFd c(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!c)
                continue;
            timeval tv{5, 0};
            ::setsockopt(c.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            std::string head = read_head(c.get());
            {
                std::lock_guard l(mu_);
                heads_.push_back(head);
            }
            send_str(c.get(), "HTTP/1.1 200 OK\r\nContent-Length: 15\r\nConnection: close\r\n\r\n"
                              "hello from host");
        }
    }

    UniqueFd fd_;
    uint16_t port_;
    UniqueFd stop_r_, stop_w_;
    std::mutex mu_;
    std::vector<std::string> heads_;
    std::thread thread_;
};

// Runs a Proxy in a thread; collects its decisions.
class ProxyRunner {
public:
    ProxyRunner(AllowList allow, std::vector<UniqueFd> fds, ProxyOptions opts = {}) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0)
            throw_errno("pipe");
        stop_r_.reset(p[0]);
        stop_w_.reset(p[1]);
        proxy_ = std::make_unique<Proxy>(
            std::move(allow),
            [this](const Decision &d) {
                std::lock_guard l(mu_);
                decisions_.push_back(d);
            },
            std::move(fds), std::move(opts));
        thread_ = std::thread([this] { proxy_->serve(stop_r_.get()); });
    }
    ~ProxyRunner() {
        stop_w_.reset();
        thread_.join();
    }
    uint16_t port() const { return proxy_->port(); }
    std::vector<Decision> decisions() {
        std::lock_guard l(mu_);
        return decisions_;
    }
    // The last decision about host:port.
    std::optional<Decision> find(const std::string &host, uint16_t port) {
        std::lock_guard l(mu_);
        for (auto it = decisions_.rbegin(); it != decisions_.rend(); ++it)
            if (it->host == host && it->port == port)
                return *it;
        return std::nullopt;
    }

private:
    UniqueFd stop_r_, stop_w_;
    std::unique_ptr<Proxy> proxy_;
    std::mutex mu_;
    std::vector<Decision> decisions_;
    std::thread thread_;
};

std::vector<UniqueFd> one(UniqueFd fd) {
    std::vector<UniqueFd> v;
    v.push_back(std::move(fd));
    return v;
}

// A port with nothing listening on 127.0.0.1 (bound and released).
uint16_t free_port() {
    auto s = listen_tcp("127.0.0.1");
    return local_port(s.get());
}

} // namespace

// The proxy mechanics on the test's own loopback: no privilege needed.
TEST(NetProxy, ServesOnLoopback) {
    OriginServer origin;
    uint16_t closed = free_port();
    ProxyOptions opts;
    opts.header_timeout = std::chrono::milliseconds(300);
    opts.resolve = [&](const std::string &host) -> std::vector<IpAddr> {
        if (host == "good.test")
            return {*parse_ip("127.0.0.1")};
        throw_error("cannot resolve {}: no such host", host);
    };
    // good.test resolves to 127.0.0.1, which is listed for that port.
    AllowList allow({fmt::format("127.0.0.1:{}", origin.port()), fmt::format("127.0.0.1:{}", closed),
                     fmt::format("good.test:{}", origin.port()), fmt::format("nx.test:{}", origin.port())});
    ProxyRunner proxy(std::move(allow), one(listen_tcp("127.0.0.1")), opts);
    uint16_t pp = proxy.port();

    std::string body;
    auto head = via_connect("127.0.0.1", pp, fmt::format("127.0.0.1:{}", origin.port()), &body);
    EXPECT_EQ(head.rfind("HTTP/1.1 200 Connection established\r\n", 0), 0u) << head;
    EXPECT_NE(body.find("hello from host"), std::string::npos) << body;

    auto plain = raw_request("127.0.0.1", pp,
                             fmt::format("GET http://127.0.0.1:{}/p?x=1 HTTP/1.1\r\nHost: h\r\n"
                                         "Proxy-Connection: keep-alive\r\n\r\n", origin.port()));
    EXPECT_EQ(plain.rfind("HTTP/1.1 200 OK", 0), 0u) << plain;
    EXPECT_NE(plain.find("hello from host"), std::string::npos);
    auto heads = origin.heads();
    ASSERT_EQ(heads.size(), 2u);
    EXPECT_EQ(heads[1].rfind("GET /p?x=1 HTTP/1.1\r\n", 0), 0u) << heads[1];
    EXPECT_NE(heads[1].find("Connection: close"), std::string::npos);
    EXPECT_EQ(heads[1].find("Proxy-Connection"), std::string::npos);

    auto good = via_connect("127.0.0.1", pp, fmt::format("good.test:{}", origin.port()), &body);
    EXPECT_EQ(good.rfind("HTTP/1.1 200", 0), 0u) << good;

    auto denied = via_connect("127.0.0.1", pp, "127.0.0.1:1", &body);
    EXPECT_EQ(denied.rfind("HTTP/1.1 403", 0), 0u) << denied;
    EXPECT_NE(body.find("not in the allow-list"), std::string::npos) << body;

    auto refused = via_connect("127.0.0.1", pp, fmt::format("127.0.0.1:{}", closed), &body);
    EXPECT_EQ(refused.rfind("HTTP/1.1 502", 0), 0u) << refused;

    auto nx = via_connect("127.0.0.1", pp, fmt::format("nx.test:{}", origin.port()), &body);
    EXPECT_EQ(nx.rfind("HTTP/1.1 502", 0), 0u) << nx;

    EXPECT_EQ(raw_request("127.0.0.1", pp, "GARBAGE\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
    EXPECT_EQ(raw_request("127.0.0.1", pp, "GET /local HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
    std::string huge = "GET http://127.0.0.1/ HTTP/1.1\r\nX: " + std::string(40000, 'a') + "\r\n\r\n";
    EXPECT_EQ(raw_request("127.0.0.1", pp, huge).rfind("HTTP/1.1 431", 0), 0u);
    std::string bin(5000, '\0');
    for (size_t i = 0; i < bin.size(); ++i)
        bin[i] = static_cast<char>(i * 7919);
    auto g = raw_request("127.0.0.1", pp, bin);
    EXPECT_TRUE(g.empty() || g.rfind("HTTP/1.1 4", 0) == 0) << g.substr(0, 40);
    // A client that never finishes its head is cut off.
    EXPECT_EQ(raw_request("127.0.0.1", pp, "CONNECT 127.0.0.1:1 HT").rfind("HTTP/1.1 408", 0), 0u);

    auto d = proxy.find("127.0.0.1", origin.port());
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->allowed);
    EXPECT_EQ(d->method, "GET");
    EXPECT_EQ(d->resolved, "127.0.0.1");
    EXPECT_EQ(d->client.rfind("127.0.0.1:", 0), 0u) << d->client;
    auto dd = proxy.find("127.0.0.1", 1);
    ASSERT_TRUE(dd);
    EXPECT_FALSE(dd->allowed);
    EXPECT_EQ(dd->method, "CONNECT");
    auto dc = proxy.find("127.0.0.1", closed);
    ASSERT_TRUE(dc);
    EXPECT_NE(dc->reason.find("ECONNREFUSED"), std::string::npos) << dc->reason;
    auto dn = proxy.find("nx.test", origin.port());
    ASSERT_TRUE(dn);
    EXPECT_FALSE(dn->allowed);
}

TEST(NetProxy, RebindingRefusedOverTheWire) {
    OriginServer origin;
    ProxyOptions opts;
    opts.resolve = [](const std::string &) { return std::vector<IpAddr>{*parse_ip("127.0.0.1")}; };
    ProxyRunner proxy(AllowList({fmt::format("evil.test:{}", origin.port())}), one(listen_tcp("127.0.0.1")), opts);
    std::string body;
    auto head = via_connect("127.0.0.1", proxy.port(), fmt::format("evil.test:{}", origin.port()), &body);
    EXPECT_EQ(head.rfind("HTTP/1.1 403", 0), 0u) << head;
    EXPECT_NE(body.find("loopback"), std::string::npos) << body;
    EXPECT_TRUE(origin.heads().empty());
    auto d = proxy.find("evil.test", origin.port());
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->allowed);
}

TEST(NetProxy, TooManyConnectionsGet503) {
    ProxyOptions opts;
    opts.max_connections = 1;
    ProxyRunner proxy(AllowList(), one(listen_tcp("127.0.0.1")), opts);
    int first = connect_tcp("127.0.0.1", proxy.port());
    ASSERT_GE(first, 0);
    UniqueFd hold(first);
    // Let the proxy accept the first one before the second arrives.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(raw_request("127.0.0.1", proxy.port(), "").rfind("HTTP/1.1 503", 0), 0u);
}

// Big transfers both ways at once, and the half-close passed through: the
// echo server sees EOF only after the client shuts down its sending side.
TEST(NetProxy, RelaysBothWaysAndStopsPromptly) {
    auto echo_fd = listen_tcp("127.0.0.1");
    uint16_t echo_port = local_port(echo_fd.get());
    std::thread echo([&] {
        for (int i = 0; i < 2; ++i) {
            UniqueFd c(::accept4(echo_fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
            if (!c)
                return;
            if (i == 1)
                return;  // the idle tunnel: just accept it
            char buf[65536];
            ssize_t n;
            while ((n = ::recv(c.get(), buf, sizeof buf, 0)) > 0)
                send_str(c.get(), std::string_view(buf, static_cast<size_t>(n)));
            send_str(c.get(), "<eof>");
        }
    });
    auto proxy = std::make_unique<ProxyRunner>(AllowList({fmt::format("127.0.0.1:{}", echo_port)}),
                                               one(listen_tcp("127.0.0.1")));
    int fd = connect_tcp("127.0.0.1", proxy->port());
    ASSERT_GE(fd, 0);
    UniqueFd c(fd);
    send_str(fd, fmt::format("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", echo_port));
    ASSERT_EQ(read_head(fd).rfind("HTTP/1.1 200", 0), 0u);
    const size_t size = 8 << 20;
    std::thread writer([&] {
        std::string chunk(65536, 'z');
        for (size_t sent = 0; sent < size; sent += chunk.size())
            send_str(fd, chunk);
        ::shutdown(fd, SHUT_WR);
    });
    std::string got = read_all(fd);
    writer.join();
    EXPECT_EQ(got.size(), size + 5);
    EXPECT_TRUE(got.ends_with("<eof>"));

    // An idle tunnel does not keep the proxy from stopping.
    int idle = connect_tcp("127.0.0.1", proxy->port());
    ASSERT_GE(idle, 0);
    UniqueFd idle_owner(idle);
    send_str(idle, fmt::format("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", echo_port));
    ASSERT_EQ(read_head(idle).rfind("HTTP/1.1 200", 0), 0u);
    auto t0 = std::chrono::steady_clock::now();
    proxy.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    echo.join();
}

TEST(NetProxy, ListenInNetnsOfMissingPid) {
    try {
        Proxy::listen_in_netns(0x3ffffff0, 0);
        FAIL() << "no error";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("pid"), std::string::npos) << e.what();
    }
}

// ---- the sandbox case: a new network namespace ----

namespace {

// A child holding a new network namespace with lo up (the "sandbox").
class NetnsHolder {
public:
    NetnsHolder() {
        int ready[2], hold[2];
        if (::pipe2(ready, O_CLOEXEC) < 0 || ::pipe2(hold, O_CLOEXEC) < 0)
            throw_errno("pipe");
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::close(ready[0]);
            ::close(hold[1]);
            char status = 'x';
            if (::unshare(CLONE_NEWNET) == 0) {
                try {
                    bring_up_loopback();
                    status = 'k';
                } catch (...) {
                    status = 'l';
                }
            }
            (void)!::write(ready[1], &status, 1);
            char c;
            (void)!::read(hold[0], &c, 1);
            ::_exit(0);
        }
        ::close(ready[1]);
        ::close(hold[0]);
        hold_.reset(hold[1]);
        char status = 0;
        (void)!::read(ready[0], &status, 1);
        ::close(ready[0]);
        ok_ = status == 'k';
    }
    ~NetnsHolder() {
        hold_.reset();
        int st;
        ::waitpid(pid_, &st, 0);
    }
    bool ok() const { return ok_; }
    pid_t pid() const { return pid_; }

    // Run fn on a thread that joined the namespace (setns(CLONE_NEWNET) is
    // per thread, so the rest of the test process stays where it is).
    template <typename Fn> void run(Fn fn) {
        std::string err;
        std::thread t([&] {
            UniqueFd ns(::open(fmt::format("/proc/{}/ns/net", pid_).c_str(), O_RDONLY | O_CLOEXEC));
            if (!ns || ::setns(ns.get(), CLONE_NEWNET) < 0) {
                err = std::strerror(errno);
                return;
            }
            fn();
        });
        t.join();
        ASSERT_EQ(err, "");
    }

private:
    pid_t pid_ = -1;
    UniqueFd hold_;
    bool ok_ = false;
};

} // namespace

TEST(NetSandbox, ProxyIsTheOnlyWayOut) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root (network namespaces)";
    NetnsHolder sandbox;
    if (!sandbox.ok())
        GTEST_SKIP() << "cannot create a network namespace with lo up here";

    OriginServer origin;  // in the host (test's own) netns
    uint16_t other = free_port();
    uint16_t via_name = free_port();
    auto fds = Proxy::listen_all_in_netns(sandbox.pid(), 0);
    ASSERT_FALSE(fds.empty());
    bool have_v6 = fds.size() > 1;
    if (!have_v6)
        std::cerr << "note: no IPv6 loopback in the new netns; [::1] listener not tested\n";
    ProxyRunner proxy(AllowList({fmt::format("127.0.0.1:{}", origin.port()),
                                 fmt::format("localhost:{}", via_name)}),
                      std::move(fds));
    uint16_t pp = proxy.port();
    int sp = origin.port();

    std::string ok_head, ok_body, denied_head, denied_body, plain, v6_head, v6_body, name_head, name_body;
    int direct = 0, outside4 = 0, outside6 = 0;
    sandbox.run([&] {
        ok_head = via_connect("127.0.0.1", pp, fmt::format("127.0.0.1:{}", sp), &ok_body);
        denied_head = via_connect("127.0.0.1", pp, fmt::format("127.0.0.1:{}", other), &denied_body);
        plain = raw_request("127.0.0.1", pp, fmt::format("GET http://127.0.0.1:{}/plain HTTP/1.1\r\n\r\n", sp));
        name_head = via_connect("127.0.0.1", pp, fmt::format("localhost:{}", via_name), &name_body);
        if (have_v6)
            v6_head = via_connect("::1", pp, fmt::format("127.0.0.1:{}", sp), &v6_body);
        // Bypassing the proxy: the host's loopback is another namespace's,
        // and there is no route anywhere else.
        int fd = connect_tcp("127.0.0.1", sp);
        direct = fd < 0 ? -fd : 0;
        fd = connect_tcp("192.0.2.1", 80);
        outside4 = fd < 0 ? -fd : 0;
        fd = connect_tcp("2001:db8::1", 80);
        outside6 = fd < 0 ? -fd : 0;
    });

    EXPECT_EQ(ok_head.rfind("HTTP/1.1 200 Connection established", 0), 0u) << ok_head;
    EXPECT_NE(ok_body.find("hello from host"), std::string::npos) << ok_body;
    EXPECT_EQ(denied_head.rfind("HTTP/1.1 403", 0), 0u) << denied_head;
    EXPECT_EQ(plain.rfind("HTTP/1.1 200 OK", 0), 0u) << plain;
    EXPECT_NE(plain.find("hello from host"), std::string::npos);
    EXPECT_EQ(name_head.rfind("HTTP/1.1 403", 0), 0u) << name_head;
    EXPECT_NE(name_body.find("loopback"), std::string::npos) << name_body;
    if (have_v6) {
        EXPECT_EQ(v6_head.rfind("HTTP/1.1 200", 0), 0u) << v6_head;
        EXPECT_NE(v6_body.find("hello from host"), std::string::npos);
    }
    EXPECT_EQ(direct, ECONNREFUSED) << std::strerror(direct);
    EXPECT_EQ(outside4, ENETUNREACH) << std::strerror(outside4);
    EXPECT_TRUE(outside6 == ENETUNREACH || outside6 == EAFNOSUPPORT || outside6 == EADDRNOTAVAIL)
        << std::strerror(outside6);

    auto heads = origin.heads();
    ASSERT_GE(heads.size(), 2u);
    EXPECT_TRUE(std::any_of(heads.begin(), heads.end(),
                            [](const std::string &h) { return h.rfind("GET /plain HTTP/1.1\r\n", 0) == 0; }));

    auto allowed = proxy.find("127.0.0.1", origin.port());
    ASSERT_TRUE(allowed);
    EXPECT_TRUE(allowed->allowed);
    EXPECT_EQ(allowed->resolved, "127.0.0.1");
    auto denied = proxy.find("127.0.0.1", other);
    ASSERT_TRUE(denied);
    EXPECT_FALSE(denied->allowed);
    EXPECT_EQ(denied->method, "CONNECT");
    EXPECT_FALSE(denied->reason.empty());
    auto named = proxy.find("localhost", via_name);
    ASSERT_TRUE(named);
    EXPECT_FALSE(named->allowed);
    EXPECT_NE(named->reason.find("rebinding"), std::string::npos) << named->reason;
}

TEST(NetSandbox, ListenInNetnsSingleSocket) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root (network namespaces)";
    NetnsHolder sandbox;
    if (!sandbox.ok())
        GTEST_SKIP() << "cannot create a network namespace with lo up here";
    auto fd = Proxy::listen_in_netns(sandbox.pid(), 0);
    uint16_t port = local_port(fd.get());
    EXPECT_NE(port, 0);
    // Not reachable from the host namespace (unless by chance something of
    // ours listens there), reachable inside.
    int inside = -1;
    sandbox.run([&] {
        int c = connect_tcp("127.0.0.1", port);
        inside = c;
        if (c >= 0)
            ::close(c);
    });
    EXPECT_GE(inside, 0) << std::strerror(-inside);
    // A fixed port that is taken fails with the step and errno named.
    try {
        Proxy::listen_in_netns(sandbox.pid(), port);
        FAIL() << "bound twice";
    } catch (const Error &e) {
        EXPECT_EQ(e.code(), EADDRINUSE) << e.what();
        EXPECT_NE(std::string(e.what()).find("bind"), std::string::npos) << e.what();
    }
}

// Rootless: the caller is not root and the sandbox's netns belongs to a user
// namespace the caller owns; the helper must join that user namespace first.
TEST(NetSandbox, ListenInNetnsRootless) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to switch to an unprivileged uid for the test";
    int rep[2];
    ASSERT_EQ(::pipe2(rep, O_CLOEXEC), 0);
    pid_t b = ::fork();
    ASSERT_GE(b, 0);
    if (b == 0) {
        ::close(rep[0]);
        auto out = [&](int code, const std::string &msg) {
            (void)!::write(rep[1], msg.data(), msg.size());
            ::_exit(code);
        };
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::setgroups(0, nullptr) < 0 || ::setresgid(65534, 65534, 65534) < 0 ||
            ::setresuid(65534, 65534, 65534) < 0)
            out(1, "drop to uid 65534 failed");
        // Changing uid made us non-dumpable, which would make /proc/PID/ns
        // of our own children root-only; an ordinary user process is dumpable.
        ::prctl(PR_SET_DUMPABLE, 1);
        int ready[2], hold[2];
        if (::pipe2(ready, O_CLOEXEC) < 0 || ::pipe2(hold, O_CLOEXEC) < 0)
            out(1, "pipe");
        pid_t c = ::fork();
        if (c == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            char st = 'x';
            if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0) {
                try {
                    bring_up_loopback();
                    st = 'k';
                } catch (...) {
                    st = 'l';
                }
            }
            (void)!::write(ready[1], &st, 1);
            char x;
            ::close(hold[1]);
            (void)!::read(hold[0], &x, 1);
            ::_exit(0);
        }
        ::close(hold[0]);
        char st = 0;
        ::close(ready[1]);
        (void)!::read(ready[0], &st, 1);
        if (st != 'k')
            out(77, "unprivileged user namespaces are not available here");
        try {
            auto fd = Proxy::listen_in_netns(c, 0);
            uint16_t port = local_port(fd.get());
            // Our own loopback has nothing on that port: the socket is in c's netns.
            int conn = connect_tcp("127.0.0.1", port);
            if (conn != -ECONNREFUSED)
                out(1, fmt::format("connect from outside: {}", conn >= 0 ? "succeeded" : std::strerror(-conn)));
        } catch (const std::exception &e) {
            out(1, e.what());
        }
        ::close(hold[1]);
        ::waitpid(c, nullptr, 0);
        out(0, "");
    }
    ::close(rep[1]);
    std::string msg;
    char buf[512];
    ssize_t n;
    while ((n = ::read(rep[0], buf, sizeof buf)) > 0)
        msg.append(buf, static_cast<size_t>(n));
    ::close(rep[0]);
    int status = 0;
    ::waitpid(b, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    if (WEXITSTATUS(status) == 77)
        GTEST_SKIP() << msg;
    EXPECT_EQ(WEXITSTATUS(status), 0) << msg;
}
