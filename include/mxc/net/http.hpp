// The little HTTP/1.x the proxy needs: parse a request head (request line
// and headers) and rewrite a proxy request into origin form.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mxc::net {

struct RequestHead {
    std::string method;
    std::string target;              // as sent
    std::string version;             // "HTTP/1.1"
    std::vector<std::pair<std::string, std::string>> headers;
    // From the target: CONNECT host:port, or http://host[:port]/path.
    std::string host;                // without brackets
    uint16_t port = 0;
    std::string path;                // origin form ("/" when empty); unused for CONNECT
};

// head is everything before the blank line (CRLF or LF line ends).  Throws
// mxc::Error with a one-line reason when the request is malformed or is not a
// proxy request (CONNECT authority, or an absolute http:// URI).
RequestHead parse_request_head(std::string_view head);

// "host:port" / "[v6]:port"; port required when default_port is nullopt.
std::pair<std::string, uint16_t> parse_authority(std::string_view s,
                                                 std::optional<uint16_t> default_port);

// The request to send upstream for a plain-HTTP proxy request: origin-form
// request line, hop-by-hop and proxy headers dropped, a Host header,
// "Connection: close"; ends with the blank line.
std::string origin_request(const RequestHead &req);

} // namespace mxc::net
