#include "mxc/net/netns.hpp"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cstring>

#include <fmt/format.h>

#include "mxc/util/error.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::net {

void bring_up_loopback() {
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s)
        throw_errno("bring up lo: socket");
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0)
        throw_errno("bring up lo: SIOCGIFFLAGS");
    if (ifr.ifr_flags & IFF_UP)
        return;
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0)
        throw_errno("bring up lo: SIOCSIFFLAGS");
}

std::vector<std::string> proxy_env(uint16_t port) {
    std::string url = fmt::format("http://127.0.0.1:{}", port);
    // Tools disagree on which case they read (curl ignores HTTP_PROXY for
    // CGI reasons, Go and Python read both): set both.
    std::vector<std::string> env;
    for (const char *k : {"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"}) {
        std::string lower(k);
        for (auto &c : lower)
            if (c >= 'A' && c <= 'Z')
                c = static_cast<char>(c - 'A' + 'a');
        env.push_back(fmt::format("{}={}", k, url));
        env.push_back(fmt::format("{}={}", lower, url));
    }
    env.push_back("NO_PROXY=localhost,127.0.0.1,::1");
    env.push_back("no_proxy=localhost,127.0.0.1,::1");
    return env;
}

} // namespace mxc::net
