// The `allow` network mode: an HTTP/HTTPS (CONNECT) proxy run by mxc outside
// the sandbox.  Its listening socket is made inside the sandbox's network
// namespace (so the sandbox reaches it at 127.0.0.1:PORT, and has no other
// way out) and is served from our namespace, which has the real routes.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mxc/net/address.hpp"
#include "mxc/net/allowlist.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::net {

struct ProxyOptions {
    std::chrono::milliseconds header_timeout{30'000};  // whole request head
    std::chrono::milliseconds connect_timeout{10'000}; // per address tried
    std::chrono::milliseconds idle_timeout{900'000};   // relay with no traffic either way
    std::size_t max_header_bytes = 16 * 1024;
    std::size_t max_connections = 128;                 // one thread each
    // Name -> addresses; default getaddrinfo.  Throws mxc::Error on failure.
    // A seam for tests; IP literals never reach it.
    std::function<std::vector<IpAddr>(const std::string &host)> resolve;
};

// Called from connection threads, possibly concurrently.
using DecisionLog = std::function<void(const Decision &)>;

class Proxy {
public:
    Proxy(AllowList allow, DecisionLog log, UniqueFd listen_fd, ProxyOptions opts = {});
    // Several listening sockets (e.g. 127.0.0.1 and [::1]).
    Proxy(AllowList allow, DecisionLog log, std::vector<UniqueFd> listen_fds,
          ProxyOptions opts = {});
    Proxy(const Proxy &) = delete;
    Proxy &operator=(const Proxy &) = delete;
    ~Proxy();

    // A TCP socket listening on 127.0.0.1:port inside the network namespace
    // of pid (port 0: the kernel picks).  A forked child joins the namespace
    // (and first pid's user namespace when it differs from ours and we are
    // not root), makes the socket and passes it back over SCM_RIGHTS.
    static UniqueFd listen_in_netns(pid_t pid_in_target_netns, uint16_t port);
    // The same, plus [::1] on the same port when the namespace has IPv6
    // loopback; the IPv4 socket comes first.
    static std::vector<UniqueFd> listen_all_in_netns(pid_t pid_in_target_netns, uint16_t port);

    // Accept and serve until stop_fd is readable; then ends every connection
    // and returns.  Connections beyond max_connections get a 503.
    void serve(int stop_fd);

    // Port of the first listening socket.
    uint16_t port() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Local port a socket is bound to.
uint16_t local_port(int fd);

} // namespace mxc::net
