// Ring-buffer records (ebpf/events.h) -> mxc::audit::Event.  Kept apart from
// the loader so that it can be tested without a kernel.
#include "mxc/audit/bpf.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "mxc/util/error.hpp"

#include "events.h"
#include "net_names.hpp"

namespace mxc::audit {

using detail::proto_name;

static_assert(static_cast<int>(Op::connect) == MXC_OP_CONNECT, "Op mirrors enum mxc_op");
static_assert(static_cast<int>(Op::fchownat) == MXC_OP_FCHOWNAT, "Op mirrors enum mxc_op");
static_assert(static_cast<int>(Op::sendmsg) == MXC_OP_SENDMSG, "Op mirrors enum mxc_op");
static_assert(static_cast<int>(Op::execveat) == MXC_OP_EXECVEAT, "Op mirrors enum mxc_op");
static_assert(static_cast<int>(Kind::process) == MXC_KIND_PROCESS, "Kind mirrors enum mxc_kind");
static_assert(Event::kAtFdcwd == MXC_AT_FDCWD);

const char *kind_name(Kind k) noexcept {
    switch (k) {
    case Kind::exec: return "exec";
    case Kind::file: return "file";
    case Kind::net: return "net";
    case Kind::process: return "process";
    }
    return "unknown";
}

const char *op_name(Op op) noexcept {
    switch (op) {
    case Op::none: return "none";
    case Op::exec: return "exec";
    case Op::fork: return "fork";
    case Op::exit: return "exit";
    case Op::execve: return "execve";
    case Op::execveat: return "execveat";
    case Op::open: return "open";
    case Op::openat: return "openat";
    case Op::openat2: return "openat2";
    case Op::creat: return "creat";
    case Op::truncate: return "truncate";
    case Op::unlink: return "unlink";
    case Op::unlinkat: return "unlinkat";
    case Op::rename: return "rename";
    case Op::renameat: return "renameat";
    case Op::renameat2: return "renameat2";
    case Op::mkdir: return "mkdir";
    case Op::mkdirat: return "mkdirat";
    case Op::rmdir: return "rmdir";
    case Op::link: return "link";
    case Op::linkat: return "linkat";
    case Op::symlink: return "symlink";
    case Op::symlinkat: return "symlinkat";
    case Op::chmod: return "chmod";
    case Op::fchmodat: return "fchmodat";
    case Op::fchmodat2: return "fchmodat2";
    case Op::chown: return "chown";
    case Op::lchown: return "lchown";
    case Op::fchownat: return "fchownat";
    case Op::connect: return "connect";
    case Op::bind: return "bind";
    case Op::listen: return "listen";
    case Op::accept: return "accept";
    case Op::accept4: return "accept4";
    case Op::sendto: return "sendto";
    case Op::sendmsg: return "sendmsg";
    }
    return "unknown";
}

std::string result_errno_name(const Event &e) {
    if (e.result >= 0 || e.kind == Kind::process)
        return {};
    return errno_name(static_cast<int>(-e.result));
}

namespace {

// A fixed-size kernel char array: up to the first NUL or the end.
template <size_t N>
std::string cstr(const char (&a)[N]) {
    return std::string(a, strnlen(a, N));
}

void decode_hdr(const mxc_event_hdr &h, Event &e) {
    e.kind = static_cast<Kind>(h.kind);
    e.op = static_cast<Op>(h.op);
    e.identity = h.identity;
    e.boot_ns = h.boot_ns;
    e.cgroup_id = h.cgroup_id;
    e.pid = h.pid;
    e.tid = h.tid;
    e.ppid = h.ppid;
    e.uid = h.uid;
    e.gid = h.gid;
    e.result = h.result;
    e.comm = cstr(h.comm);
    e.path_truncated = h.flags & (MXC_F_PATH_TRUNC | MXC_F_PATH2_TRUNC);
    e.args_truncated = h.flags & MXC_F_ARGS_TRUNC;
    e.path_fault = h.flags & MXC_F_PATH_FAULT;
}

// The raw sockaddr as the task passed it (or as synthesized from the socket).
void decode_sockaddr(const mxc_net_event &n, Event &e) {
    size_t len = n.addrlen < sizeof(n.sockaddr) ? n.addrlen : sizeof(n.sockaddr);
    if (len < sizeof(sa_family_t))
        return;
    sa_family_t family;
    std::memcpy(&family, n.sockaddr, sizeof(family));
    e.family = family;
    char buf[INET6_ADDRSTRLEN] = {};
    if (family == AF_INET && len >= sizeof(sockaddr_in)) {
        sockaddr_in sin;
        std::memcpy(&sin, n.sockaddr, sizeof(sin));
        inet_ntop(AF_INET, &sin.sin_addr, buf, sizeof(buf));
        e.addr = buf;
        e.port = ntohs(sin.sin_port);
    } else if (family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        sockaddr_in6 sin6;
        std::memcpy(&sin6, n.sockaddr, sizeof(sin6));
        inet_ntop(AF_INET6, &sin6.sin6_addr, buf, sizeof(buf));
        e.addr = buf;
        e.port = ntohs(sin6.sin6_port);
    } else if (family == AF_UNIX) {
        const char *p = reinterpret_cast<const char *>(n.sockaddr) + offsetof(sockaddr_un, sun_path);
        size_t plen = len - offsetof(sockaddr_un, sun_path);
        if (plen > 0 && p[0] == '\0') // abstract: the name is every byte of addrlen
            e.addr = "@" + std::string(p + 1, plen - 1);
        else
            e.addr = std::string(p, strnlen(p, plen));
    }
}

} // namespace

std::optional<Event> decode_event(const void *data, size_t size) {
    if (size < sizeof(mxc_event_hdr))
        return std::nullopt;
    mxc_event_hdr h;
    std::memcpy(&h, data, sizeof(h));
    if (h.abi != MXC_ABI_VERSION)
        return std::nullopt;

    Event e;
    switch (h.rec) {
    case MXC_REC_EXEC: {
        if (size < sizeof(mxc_exec_event))
            return std::nullopt;
        auto r = std::make_unique<mxc_exec_event>();
        std::memcpy(r.get(), data, sizeof(*r));
        decode_hdr(r->hdr, e);
        e.path = cstr(r->filename);
        e.argc = r->argc;
        for (uint32_t i = 0; i < r->nargs && i < MXC_ARGS_MAX; ++i)
            e.args.push_back(cstr(r->args[i]));
        return e;
    }
    case MXC_REC_FILE: {
        // Cut after path or path2 when the rest is unused (see events.h).
        if (size < offsetof(mxc_file_event, path2))
            return std::nullopt;
        const auto *hdr = static_cast<const mxc_event_hdr *>(data);
        if ((hdr->flags & MXC_F_DIR_SET) && size < sizeof(mxc_file_event))
            return std::nullopt; // says it carries dir, and does not
        auto r = std::make_unique<mxc_file_event>();
        std::memcpy(r.get(), data, std::min(size, sizeof(*r)));
        decode_hdr(r->hdr, e);
        e.dirfd = r->dirfd;
        e.dirfd2 = r->dirfd2;
        e.flags = r->flags;
        e.mode = r->mode;
        e.owner_uid = r->owner_uid;
        e.owner_gid = r->owner_gid;
        e.length = r->length;
        e.path = cstr(r->path);
        e.path2 = cstr(r->path2);
        if (r->hdr.flags & MXC_F_DIR_SET)
            e.dir = cstr(r->dir);
        e.dir_truncated = r->hdr.flags & MXC_F_DIR_TRUNC;
        return e;
    }
    case MXC_REC_NET: {
        if (size < sizeof(mxc_net_event))
            return std::nullopt;
        mxc_net_event r;
        std::memcpy(&r, data, sizeof(r));
        decode_hdr(r.hdr, e);
        e.fd = r.fd;
        e.flags = r.arg;
        e.length = static_cast<int64_t>(r.len);
        decode_sockaddr(r, e);
        int family = e.family;
        if (family == 0 && r.sock_type == 0)
            e.proto = "";
        else
            e.proto = proto_name(family, r.sock_type, r.protocol);
        return e;
    }
    case MXC_REC_PROC: {
        if (size < sizeof(mxc_proc_event))
            return std::nullopt;
        mxc_proc_event r;
        std::memcpy(&r, data, sizeof(r));
        decode_hdr(r.hdr, e);
        return e;
    }
    default:
        return std::nullopt;
    }
}

} // namespace mxc::audit
