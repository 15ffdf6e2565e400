// Small pieces of the sandbox side of networking.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mxc::net {

// Set IFF_UP on "lo" in the calling thread's network namespace (a new netns
// starts with it down).  Throws mxc::Error.
void bring_up_loopback();

// HTTP_PROXY, HTTPS_PROXY, ALL_PROXY (http://127.0.0.1:PORT) and NO_PROXY
// (localhost,127.0.0.1,::1), each in upper and lower case, as "K=V".
std::vector<std::string> proxy_env(uint16_t port);

} // namespace mxc::net
