#include "mxc/net/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

#include "mxc/util/error.hpp"

namespace mxc::net {

namespace {

IpAddr v4(const void *p) {
    IpAddr a;
    a.family = AF_INET;
    std::memcpy(a.bytes.data(), p, 4);
    return a;
}

// ::ffff:a.b.c.d is the same host as a.b.c.d for every purpose here.
IpAddr from_v6(const uint8_t *b) {
    static constexpr uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(b, mapped, 12) == 0)
        return v4(b + 12);
    IpAddr a;
    a.family = AF_INET6;
    std::memcpy(a.bytes.data(), b, 16);
    return a;
}

bool in(const IpAddr &a, std::string_view cidr) {
    // Only called with the constant tables below, which parse.
    return parse_cidr(cidr).contains(a);
}

} // namespace

std::optional<IpAddr> parse_ip(std::string_view s) {
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']')
        s = s.substr(1, s.size() - 2);
    if (s.empty() || s.size() >= INET6_ADDRSTRLEN)
        return std::nullopt;
    std::string str(s);
    unsigned char buf[16];
    // inet_pton(AF_INET) accepts only dotted quads, never "10" or "0x7f.1":
    // the looser inet_aton forms are a classic allow-list bypass.
    if (inet_pton(AF_INET, str.c_str(), buf) == 1)
        return v4(buf);
    if (inet_pton(AF_INET6, str.c_str(), buf) == 1)
        return from_v6(buf);
    return std::nullopt;
}

std::optional<IpAddr> ip_from_sockaddr(const sockaddr *sa) {
    if (sa == nullptr)
        return std::nullopt;
    if (sa->sa_family == AF_INET)
        return v4(&reinterpret_cast<const sockaddr_in *>(sa)->sin_addr);
    if (sa->sa_family == AF_INET6)
        return from_v6(reinterpret_cast<const sockaddr_in6 *>(sa)->sin6_addr.s6_addr);
    return std::nullopt;
}

std::string to_string(const IpAddr &a) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (inet_ntop(a.family, a.bytes.data(), buf, sizeof buf) == nullptr)
        return "?";
    return buf;
}

bool Cidr::contains(const IpAddr &a) const noexcept {
    if (a.family != base.family)
        return false;
    int full = prefix / 8, rest = prefix % 8;
    if (std::memcmp(a.bytes.data(), base.bytes.data(), full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
    return (a.bytes[full] & mask) == (base.bytes[full] & mask);
}

Cidr parse_cidr(std::string_view s) {
    Cidr c;
    auto slash = s.find('/');
    auto addr = parse_ip(s.substr(0, slash));
    if (!addr)
        throw_error("not an IP address: \"{}\"", s.substr(0, slash));
    c.base = *addr;
    c.prefix = c.base.bits();
    if (slash != std::string_view::npos) {
        auto p = s.substr(slash + 1);
        int v = -1;
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
        if (p.empty() || ec != std::errc() || end != p.data() + p.size() || v < 0)
            throw_error("bad prefix length \"{}\"", p);
        // "::ffff:10.0.0.0/104" was folded to IPv4: shift its prefix too.
        bool folded = c.base.is_v4() && s.substr(0, slash).find(':') != std::string_view::npos;
        if (folded)
            v -= 96;
        if (v < 0 || v > c.base.bits())
            throw_error("prefix length {} out of range for {}", p, c.base.is_v4() ? "IPv4" : "IPv6");
        c.prefix = v;
        Cidr exact{c.base, c.base.bits()};
        IpAddr masked = c.base;
        for (int bit = v; bit < c.base.bits(); ++bit)
            masked.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
        if (!exact.contains(masked))
            throw_error("address has bits set beyond /{} (did you mean {}/{}?)", v,
                        to_string(masked), v);
    }
    return c;
}

std::string to_string(const Cidr &c) {
    return fmt::format("{}/{}", to_string(c.base), c.prefix);
}

std::optional<std::string> special_range(const IpAddr &a) {
    if (a.is_v4()) {
        if (in(a, "0.0.0.0/8"))
            return "unspecified";
        if (in(a, "127.0.0.0/8"))
            return "loopback";
        if (in(a, "10.0.0.0/8") || in(a, "172.16.0.0/12") || in(a, "192.168.0.0/16"))
            return "private";
        if (in(a, "169.254.0.0/16"))
            return "link-local";
        if (in(a, "100.64.0.0/10"))
            return "shared (CGNAT)";
        if (in(a, "224.0.0.0/4"))
            return "multicast";
        // IETF protocol assignments, benchmarking, future use + broadcast.
        if (in(a, "192.0.0.0/24") || in(a, "198.18.0.0/15") || in(a, "240.0.0.0/4"))
            return "reserved";
        return std::nullopt;
    }
    if (in(a, "::/128"))
        return "unspecified";
    if (in(a, "::1/128"))
        return "loopback";
    if (in(a, "fc00::/7"))
        return "private";
    if (in(a, "fe80::/10"))
        return "link-local";
    if (in(a, "ff00::/8"))
        return "multicast";
    // Deprecated site-local, IPv4-compatible (::a.b.c.d) and the NAT64
    // prefixes can all lead back to internal IPv4 hosts.
    if (in(a, "fec0::/10") || in(a, "::/96") || in(a, "64:ff9b::/96") || in(a, "64:ff9b:1::/48"))
        return "reserved";
    return std::nullopt;
}

} // namespace mxc::net
