#include "mxc/net/allowlist.hpp"

#include <algorithm>
#include <charconv>

#include "mxc/util/error.hpp"

namespace mxc::net {

namespace {

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

uint16_t parse_port(std::string_view p) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (p.empty() || ec != std::errc() || end != p.data() + p.size() || v == 0 || v > 65535)
        throw_error("bad port \"{}\" (1-65535)", p);
    return static_cast<uint16_t>(v);
}

// RFC 1123 labels, plus '_' (seen in real service names).
void validate_hostname(std::string_view h) {
    if (h.empty())
        throw_error("empty host name");
    if (h.size() > 253)
        throw_error("host name longer than 253 characters");
    size_t start = 0;
    while (start <= h.size()) {
        size_t dot = h.find('.', start);
        auto label = h.substr(start, dot == std::string_view::npos ? h.npos : dot - start);
        if (label.empty())
            throw_error("empty label in host name");
        if (label.size() > 63)
            throw_error("label \"{}\" longer than 63 characters", label);
        for (char c : label)
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
                throw_error("invalid character '{}' in host name", c);
        if (label.front() == '-' || label.back() == '-')
            throw_error("label \"{}\" starts or ends with '-'", label);
        if (dot == std::string_view::npos)
            break;
        start = dot + 1;
    }
}

bool port_ok(const std::optional<uint16_t> &rule, uint16_t port) {
    return rule ? *rule == port : (port == 80 || port == 443);
}

std::string port_text(const std::optional<uint16_t> &p) {
    return p ? fmt::format(":{}", *p) : std::string();
}

} // namespace

std::string normalize_host(std::string_view host) {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    while (!host.empty() && host.back() == '.')
        host.remove_suffix(1);
    std::string out(host);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

AllowList::AllowList(const std::vector<std::string> &entries) {
    for (const auto &e : entries)
        add(e);
}

void AllowList::add(std::string_view entry) {
    with_context(fmt::format("allow-list entry \"{}\"", entry), [&] {
        std::string_view addr = entry;
        std::optional<uint16_t> port;
        if (entry.empty())
            throw_error("empty entry");
        if (entry.front() == '[') {
            auto close = entry.find(']');
            if (close == std::string_view::npos)
                throw_error("missing ']'");
            addr = entry.substr(1, close - 1);
            auto rest = entry.substr(close + 1);
            if (!rest.empty()) {
                if (rest.front() != ':')
                    throw_error("expected ':PORT' after ']'");
                port = parse_port(rest.substr(1));
            }
            if (addr.find(':') == std::string_view::npos)
                throw_error("brackets are for IPv6 addresses");
            ranges_.push_back({parse_cidr(addr), port});
            return;
        }
        size_t colons = std::count(entry.begin(), entry.end(), ':');
        if (colons == 1) {
            auto c = entry.rfind(':');
            addr = entry.substr(0, c);
            port = parse_port(entry.substr(c + 1));
        } else if (colons > 1) {
            // A bare IPv6 address or range; a port needs the [..]:PORT form.
            ranges_.push_back({parse_cidr(entry), std::nullopt});
            return;
        }
        if (addr.find('/') != std::string_view::npos || parse_ip(addr)) {
            ranges_.push_back({parse_cidr(addr), port});
            return;
        }
        std::string name = normalize_host(addr);
        bool wildcard = false;
        if (name.rfind("*.", 0) == 0) {
            wildcard = true;
            name.erase(0, 2);
        }
        if (name.find('*') != std::string::npos)
            throw_error("'*' is allowed only as a whole first label (\"*.example.com\")");
        validate_hostname(name);
        // A name made only of digits and dots would be read by some
        // resolvers as a (short-form) address: refuse the ambiguity.
        if (name.find_first_not_of("0123456789.") == std::string::npos)
            throw_error("not a valid IPv4 address or host name");
        hosts_.push_back({std::move(name), wildcard, port});
    });
}

const AllowList::AddrRule *AllowList::covering(const IpAddr &a, uint16_t port) const {
    for (const auto &r : ranges_)
        if (r.range.contains(a) && (!r.port || *r.port == port))
            return &r;
    return nullptr;
}

Decision AllowList::check(std::string_view host_in, uint16_t port,
                          const std::vector<IpAddr> &resolved) const {
    Decision d;
    d.host = normalize_host(host_in);
    d.port = port;
    if (port == 0) {
        d.reason = "port 0";
        return d;
    }

    std::string matched;
    if (auto literal = parse_ip(d.host)) {
        const AddrRule *r = covering(*literal, port);
        if (r == nullptr) {
            d.reason = fmt::format("address {} port {} is not in the allow-list", to_string(*literal), port);
            return d;
        }
        // The literal is all the proxy may connect to, whatever was resolved.
        d.allowed = true;
        d.addresses = {*literal};
        d.reason = fmt::format("allowed by \"{}{}\"", to_string(r->range), port_text(r->port));
        return d;
    }

    bool name_matched = false;
    for (const auto &h : hosts_) {
        bool name_ok = h.wildcard ? (d.host.size() > h.name.size() + 1 &&
                                     d.host.ends_with(h.name) &&
                                     d.host[d.host.size() - h.name.size() - 1] == '.')
                                  : d.host == h.name;
        if (!name_ok)
            continue;
        name_matched = true;
        if (port_ok(h.port, port)) {
            matched = fmt::format("{}{}{}", h.wildcard ? "*." : "", h.name, port_text(h.port));
            break;
        }
    }
    if (matched.empty()) {
        d.reason = name_matched ? fmt::format("port {} is not allowed for host {}", port, d.host)
                                : fmt::format("host {} is not in the allow-list", d.host);
        return d;
    }
    if (resolved.empty()) {
        d.allowed = true;
        d.reason = fmt::format("allowed by \"{}\"", matched);
        return d;
    }

    std::string refused;
    for (const auto &a : resolved) {
        auto special = special_range(a);
        if (special && covering(a, port) == nullptr) {
            if (refused.empty())
                refused = fmt::format("{} address {}", *special, to_string(a));
            continue;
        }
        if (std::find(d.addresses.begin(), d.addresses.end(), a) == d.addresses.end())
            d.addresses.push_back(a);
    }
    if (d.addresses.empty()) {
        d.reason = fmt::format("host {} resolves to a {} that is not listed explicitly "
                               "(DNS rebinding defence)", d.host, refused);
        return d;
    }
    d.allowed = true;
    d.reason = fmt::format("allowed by \"{}\"", matched);
    if (!refused.empty())
        d.reason += fmt::format(" (skipped {})", refused);
    return d;
}

} // namespace mxc::net
