#include "net_names.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

namespace mxc::audit::detail {

const char *family_name(int family) {
    switch (family) {
    case AF_INET: return "inet";
    case AF_INET6: return "inet6";
    case AF_UNIX: return "unix";
    case AF_NETLINK: return "netlink";
    case AF_PACKET: return "packet";
    default: return "";
    }
}

const char *proto_name(int family, int type, int protocol) {
    if (family == AF_UNIX) {
        switch (type) {
        case SOCK_STREAM: return "unix-stream";
        case SOCK_DGRAM: return "unix-dgram";
        case SOCK_SEQPACKET: return "unix-seqpacket";
        default: return "unix";
        }
    }
    switch (protocol) {
    case IPPROTO_TCP: return "tcp";
    case IPPROTO_UDP: return "udp";
    case IPPROTO_ICMP: return "icmp";
    case IPPROTO_ICMPV6: return "icmpv6";
    case IPPROTO_SCTP: return "sctp";
    case IPPROTO_UDPLITE: return "udplite";
    default: break;
    }
    if (type == SOCK_RAW)
        return "raw";
    if (type == SOCK_STREAM)
        return "tcp";
    if (type == SOCK_DGRAM)
        return "udp";
    return "";
}

} // namespace mxc::audit::detail
