// Sizes, durations and network allow-list entries as profiles and the command
// line write them.
#include <arpa/inet.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string_view>

#include "mxc/policy/profile.hpp"
#include "mxc/util/error.hpp"

namespace mxc::policy {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char &c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Leading decimal number of s (digits with at most one '.'), consumed.
std::optional<double> take_number(std::string_view &s) {
    size_t i = 0;
    bool dot = false;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || (s[i] == '.' && !dot))) {
        dot = dot || s[i] == '.';
        ++i;
    }
    if (i == 0 || (i == 1 && s[0] == '.'))
        return std::nullopt;
    double v = std::strtod(std::string(s.substr(0, i)).c_str(), nullptr);
    s.remove_prefix(i);
    return v;
}

bool valid_hostname(std::string_view h) {
    if (h.empty() || h.size() > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < h.size(); ++i) {
        char c = h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
            return false;
        if (label == 0 && c == '-')
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0;
}

void check_port(std::string_view port, const std::string &entry) {
    if (port.empty() || port.size() > 5)
        throw_error("\"{}\": bad port", entry);
    int v = 0;
    for (char c : port) {
        if (!std::isdigit(static_cast<unsigned char>(c)))
            throw_error("\"{}\": bad port \"{}\"", entry, port);
        v = v * 10 + (c - '0');
    }
    if (v < 1 || v > 65535)
        throw_error("\"{}\": port {} out of range (1..65535)", entry, v);
}

bool is_ipv4(const std::string &s) {
    in_addr a {};
    return inet_pton(AF_INET, s.c_str(), &a) == 1;
}
bool is_ipv6(const std::string &s) {
    in6_addr a {};
    return inet_pton(AF_INET6, s.c_str(), &a) == 1;
}

} // namespace

uint64_t parse_size(const std::string &text) {
    std::string_view s = text;
    auto num = take_number(s);
    if (!num)
        throw_error("bad size \"{}\" (examples: 512M, 2G, 1048576)", text);
    std::string unit = lower(s);
    double mult = 0;
    if (unit.empty() || unit == "b")
        mult = 1;
    else if (unit == "k" || unit == "kb" || unit == "kib")
        mult = 1024.0;
    else if (unit == "m" || unit == "mb" || unit == "mib")
        mult = 1024.0 * 1024;
    else if (unit == "g" || unit == "gb" || unit == "gib")
        mult = 1024.0 * 1024 * 1024;
    else if (unit == "t" || unit == "tb" || unit == "tib")
        mult = 1024.0 * 1024 * 1024 * 1024;
    else
        throw_error("bad size \"{}\": unknown unit \"{}\" (use K, M, G or T)", text, std::string(s));
    double bytes = std::floor(*num * mult);
    if (bytes > 9.0e18)
        throw_error("size \"{}\" too large", text);
    return static_cast<uint64_t>(bytes);
}

uint64_t parse_duration_ms(const std::string &text) {
    std::string_view s = text;
    if (s.empty())
        throw_error("bad duration \"\" (examples: 30m, 90s, 1h30m)");
    double total = 0;
    while (!s.empty()) {
        auto num = take_number(s);
        if (!num)
            throw_error("bad duration \"{}\" (examples: 30m, 90s, 1h30m)", text);
        size_t i = 0;
        while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i])))
            ++i;
        std::string unit = lower(s.substr(0, i));
        s.remove_prefix(i);
        double mult = 0;
        if (unit == "ms")
            mult = 1;
        else if (unit.empty() || unit == "s")
            mult = 1000;
        else if (unit == "m")
            mult = 60'000;
        else if (unit == "h")
            mult = 3'600'000;
        else if (unit == "d")
            mult = 86'400'000;
        else
            throw_error("bad duration \"{}\": unknown unit \"{}\" (use ms, s, m, h, d)", text, unit);
        if (unit.empty() && !s.empty())
            throw_error("bad duration \"{}\" (examples: 30m, 90s, 1h30m)", text);
        total += *num * mult;
    }
    if (total > 9.0e15)
        throw_error("duration \"{}\" too large", text);
    return static_cast<uint64_t>(total);
}

void check_allow_entry(const std::string &entry) {
    if (entry.empty())
        throw_error("empty allow entry");
    // CIDR: 10.0.0.0/8, fd00::/8
    if (size_t slash = entry.find('/'); slash != std::string::npos) {
        std::string addr = entry.substr(0, slash), bits = entry.substr(slash + 1);
        int max = is_ipv4(addr) ? 32 : is_ipv6(addr) ? 128 : -1;
        if (max < 0)
            throw_error("\"{}\": \"{}\" is not an IPv4 or IPv6 address", entry, addr);
        if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos ||
            std::stoi(bits) > max)
            throw_error("\"{}\": prefix length must be 0..{}", entry, max);
        return;
    }
    // [::1]:443 or [::1]
    if (entry.front() == '[') {
        size_t close = entry.find(']');
        if (close == std::string::npos || !is_ipv6(entry.substr(1, close - 1)))
            throw_error("\"{}\": expected [IPv6]:PORT", entry);
        if (close + 1 == entry.size())
            return;
        if (entry[close + 1] != ':')
            throw_error("\"{}\": expected [IPv6]:PORT", entry);
        check_port(std::string_view(entry).substr(close + 2), entry);
        return;
    }
    // Bare IPv6 (more than one colon): no port possible without brackets.
    if (entry.find(':') != entry.rfind(':')) {
        if (!is_ipv6(entry))
            throw_error("\"{}\": not an IPv6 address (write [ADDR]:PORT for a port)", entry);
        return;
    }
    std::string host = entry;
    if (size_t colon = entry.find(':'); colon != std::string::npos) {
        host = entry.substr(0, colon);
        check_port(std::string_view(entry).substr(colon + 1), entry);
    }
    if (host.rfind("*.", 0) == 0) {
        if (!valid_hostname(host.substr(2)))
            throw_error("\"{}\": \"{}\" is not a domain suffix", entry, host.substr(2));
        return;
    }
    if (host.find('*') != std::string::npos)
        throw_error("\"{}\": a wildcard is allowed only as a leading \"*.\"", entry);
    if (!is_ipv4(host) && !valid_hostname(host))
        throw_error("\"{}\": \"{}\" is not a host name or IPv4 address", entry, host);
}

} // namespace mxc::policy
