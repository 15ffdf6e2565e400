// The proxy's allow-list: which host names, ports and address ranges an
// agent may reach.  Pure: no I/O, no DNS (the caller resolves and passes the
// addresses in).
//
// Entries:
//   example.com          that host exactly, ports 80 and 443
//   *.example.com        any subdomain (not example.com itself), ports 80/443
//   example.com:8443     that host, that port only
//   192.168.1.5          that address, any port
//   10.0.0.0/8           any address in the range, any port
//   10.0.0.0/8:5432      ... on that port only
//   [::1]:8080, fd00::/8, [fd00::/8]:443
// Host names compare case-insensitively, a trailing dot ignored.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mxc/net/address.hpp"

namespace mxc::net {

// One allow/deny decision.  AllowList::check fills host, port, allowed,
// reason and addresses; the proxy adds time, client, method and resolved.
struct Decision {
    std::chrono::system_clock::time_point time{};
    std::string client;              // "127.0.0.1:41234" (the sandbox side)
    std::string method;              // "CONNECT", "GET", ...
    std::string host;                // as requested (normalised: lower case, no trailing dot)
    uint16_t port = 0;
    std::vector<IpAddr> addresses;   // resolved addresses the policy permits
    std::string resolved;            // the address actually connected to, "" if none
    bool allowed = false;
    std::string reason;
};

class AllowList {
public:
    struct HostRule {
        std::string name;            // lower case, no trailing dot, no "*."
        bool wildcard = false;       // "*.name": subdomains only
        std::optional<uint16_t> port;
    };
    struct AddrRule {
        Cidr range;
        std::optional<uint16_t> port;  // nullopt: any port
    };

    AllowList() = default;
    // Throws mxc::Error naming the first bad entry.
    explicit AllowList(const std::vector<std::string> &entries);

    // Throws mxc::Error: allow-list entry "x": why.
    void add(std::string_view entry);

    // With no addresses: is this host:port allowed by name (the check done
    // before resolving).  With addresses: additionally drop each address in a
    // special range (loopback, private, link-local, CGNAT, ...) that no
    // address rule covers explicitly -- the DNS-rebinding defence -- and deny
    // when none is left.  An IP-literal host is allowed only by an address
    // rule.
    Decision check(std::string_view host, uint16_t port,
                   const std::vector<IpAddr> &resolved) const;

    const std::vector<HostRule> &hosts() const noexcept { return hosts_; }
    const std::vector<AddrRule> &ranges() const noexcept { return ranges_; }
    bool empty() const noexcept { return hosts_.empty() && ranges_.empty(); }

private:
    const AddrRule *covering(const IpAddr &a, uint16_t port) const;

    std::vector<HostRule> hosts_;
    std::vector<AddrRule> ranges_;
};

// Lower case, trailing dot and IPv6 brackets removed.
std::string normalize_host(std::string_view host);

} // namespace mxc::net
