// IP addresses and CIDR ranges for the network allow-list.  IPv4-mapped IPv6
// addresses (::ffff:a.b.c.d) are folded into IPv4 when parsed, so a mapped
// private address is classified and matched exactly like its IPv4 form.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mxc::net {

struct IpAddr {
    int family = 0;                    // AF_INET or AF_INET6
    std::array<uint8_t, 16> bytes{};   // network order; IPv4 uses the first 4

    bool is_v4() const noexcept { return family == AF_INET; }
    int bits() const noexcept { return is_v4() ? 32 : 128; }
    bool operator==(const IpAddr &) const = default;
};

// A literal address: "192.0.2.1", "2001:db8::1", "[2001:db8::1]" (brackets
// allowed).  nullopt when s is not an address (e.g. a host name).
std::optional<IpAddr> parse_ip(std::string_view s);
// From a sockaddr_in / sockaddr_in6 (mapped addresses folded to IPv4).
std::optional<IpAddr> ip_from_sockaddr(const sockaddr *sa);
// "192.0.2.1", "2001:db8::1" (no brackets).
std::string to_string(const IpAddr &a);

struct Cidr {
    IpAddr base;
    int prefix = 0;

    bool contains(const IpAddr &a) const noexcept;
};

// "10.0.0.0/8", "fd00::/8", or a bare address (a /32 or /128).  Throws
// mxc::Error when s is malformed or has bits set beyond the prefix.
Cidr parse_cidr(std::string_view s);
std::string to_string(const Cidr &c);

// Why an address must not be reached through the proxy unless it is listed
// explicitly: "loopback", "private", "link-local", "shared (CGNAT)",
// "unspecified", "multicast", "reserved", or nullopt for a public address.
std::optional<std::string> special_range(const IpAddr &a);

} // namespace mxc::net
