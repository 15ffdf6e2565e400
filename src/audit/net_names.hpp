// Socket family and protocol names as the audit stream writes them ("inet",
// "tcp", "unix-stream", ...): one table for both backends.
#pragma once

namespace mxc::audit::detail {

// "inet", "inet6", "unix", "netlink", "packet"; "" for others.
const char *family_name(int family);
// "tcp", "udp", "icmp", "icmpv6", "sctp", "udplite", "raw", "unix-stream",
// "unix-dgram", "unix-seqpacket", "unix"; by socket type when the protocol
// is 0; "" when unknown.
const char *proto_name(int family, int type, int protocol);

} // namespace mxc::audit::detail
