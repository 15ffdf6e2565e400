#include "mxc/net/http.hpp"

#include <algorithm>
#include <charconv>

#include "mxc/net/address.hpp"
#include "mxc/util/error.hpp"

namespace mxc::net {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

bool is_token(std::string_view s) {
    if (s.empty())
        return false;
    for (unsigned char c : s)
        if (c <= 0x20 || c >= 0x7f || std::string_view("()<>@,;:\\\"/[]?={}").find(c) != std::string_view::npos)
            return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Hop-by-hop headers (RFC 9110 7.6.1) and the proxy's own.
bool hop_by_hop(std::string_view name) {
    for (std::string_view h : {"connection", "proxy-connection", "keep-alive", "proxy-authorization",
                               "proxy-authenticate", "te", "trailer", "upgrade"})
        if (iequals(name, h))
            return true;
    return false;
}

} // namespace

std::pair<std::string, uint16_t> parse_authority(std::string_view s,
                                                 std::optional<uint16_t> default_port) {
    std::string_view host = s, port_s;
    bool has_port = false;
    if (s.starts_with("[")) {
        auto close = s.find(']');
        if (close == std::string_view::npos)
            throw_error("bad authority \"{}\": missing ']'", s);
        host = s.substr(1, close - 1);
        auto rest = s.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':')
                throw_error("bad authority \"{}\"", s);
            port_s = rest.substr(1);
            has_port = true;
        }
        if (!parse_ip(host) || host.find(':') == std::string_view::npos)
            throw_error("bad authority \"{}\": not an IPv6 address in brackets", s);
    } else {
        auto c = s.find(':');
        if (c != std::string_view::npos) {
            if (s.find(':', c + 1) != std::string_view::npos)
                throw_error("bad authority \"{}\": IPv6 addresses need brackets", s);
            host = s.substr(0, c);
            port_s = s.substr(c + 1);
            has_port = true;
        }
    }
    if (host.empty())
        throw_error("bad authority \"{}\": empty host", s);
    for (unsigned char ch : host)
        if (ch <= 0x20 || ch >= 0x7f || ch == '@' || ch == '/' || ch == '\\' || ch == '%')
            throw_error("bad authority \"{}\": invalid character in host", s);
    uint16_t port = 0;
    if (has_port) {
        unsigned v = 0;
        auto [end, ec] = std::from_chars(port_s.data(), port_s.data() + port_s.size(), v);
        if (port_s.empty() || ec != std::errc() || end != port_s.data() + port_s.size() || v == 0 || v > 65535)
            throw_error("bad port in \"{}\"", s);
        port = static_cast<uint16_t>(v);
    } else if (default_port) {
        port = *default_port;
    } else {
        throw_error("bad authority \"{}\": port required", s);
    }
    return {std::string(host), port};
}

RequestHead parse_request_head(std::string_view head) {
    RequestHead r;
    std::vector<std::string_view> lines;
    size_t pos = 0;
    while (pos < head.size()) {
        size_t nl = head.find('\n', pos);
        auto line = head.substr(pos, nl == std::string_view::npos ? head.npos : nl - pos);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        lines.push_back(line);
        if (nl == std::string_view::npos)
            break;
        pos = nl + 1;
    }
    while (!lines.empty() && lines.back().empty())
        lines.pop_back();
    if (lines.empty())
        throw_error("empty request");

    auto rl = lines[0];
    auto sp1 = rl.find(' ');
    auto sp2 = sp1 == rl.npos ? rl.npos : rl.find(' ', sp1 + 1);
    if (sp2 == rl.npos || rl.find(' ', sp2 + 1) != rl.npos)
        throw_error("malformed request line");
    r.method = rl.substr(0, sp1);
    r.target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
    r.version = rl.substr(sp2 + 1);
    if (!is_token(r.method))
        throw_error("malformed method");
    if (r.version != "HTTP/1.1" && r.version != "HTTP/1.0")
        throw_error("unsupported version \"{}\"", r.version.substr(0, 16));
    if (r.target.empty())
        throw_error("empty request target");
    for (unsigned char c : r.target)
        if (c <= 0x20 || c >= 0x7f)
            throw_error("invalid character in request target");

    for (size_t i = 1; i < lines.size(); ++i) {
        auto l = lines[i];
        if (l.front() == ' ' || l.front() == '\t')
            throw_error("obsolete header line folding");
        auto colon = l.find(':');
        if (colon == l.npos || !is_token(l.substr(0, colon)))
            throw_error("malformed header line");
        auto value = trim(l.substr(colon + 1));
        for (unsigned char c : value)
            if ((c < 0x20 && c != '\t') || c == 0x7f)
                throw_error("invalid character in header value");
        r.headers.emplace_back(std::string(l.substr(0, colon)), std::string(value));
    }

    if (r.method == "CONNECT") {
        std::tie(r.host, r.port) = parse_authority(r.target, std::nullopt);
        return r;
    }
    constexpr std::string_view scheme = "http://";
    if (r.target.size() < scheme.size() || !iequals(std::string_view(r.target).substr(0, scheme.size()), scheme)) {
        if (r.target.starts_with("/"))
            throw_error("not a proxy request (origin-form target; use an absolute http:// URI)");
        throw_error("only http:// URIs are proxied (use CONNECT for https)");
    }
    auto rest = std::string_view(r.target).substr(scheme.size());
    auto slash = rest.find_first_of("/?#");
    auto authority = rest.substr(0, slash);
    if (authority.find('@') != std::string_view::npos)
        throw_error("credentials in the URI are not allowed");
    std::tie(r.host, r.port) = parse_authority(authority, 80);
    r.path = slash == rest.npos ? "/" : std::string(rest.substr(slash));
    if (auto hash = r.path.find('#'); hash != std::string::npos)
        r.path.erase(hash);
    if (r.path.empty() || r.path.front() != '/')
        r.path.insert(0, "/");
    return r;
}

std::string origin_request(const RequestHead &req) {
    // RFC 9112 3.2.2: a proxy replaces Host with the authority of the URI,
    // so the upstream sees the host the policy was checked against.
    bool v6 = req.host.find(':') != std::string::npos;
    std::string h = v6 ? "[" + req.host + "]" : req.host;
    std::string out = fmt::format("{} {} {}\r\n", req.method, req.path, req.version);
    out += req.port == 80 ? fmt::format("Host: {}\r\n", h) : fmt::format("Host: {}:{}\r\n", h, req.port);
    for (const auto &[name, value] : req.headers) {
        if (hop_by_hop(name) || iequals(name, "host"))
            continue;
        out += fmt::format("{}: {}\r\n", name, value);
    }
    out += "Connection: close\r\n\r\n";
    return out;
}

} // namespace mxc::net
