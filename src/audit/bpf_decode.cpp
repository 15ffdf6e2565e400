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

// The same into an existing string (its capacity is reused), from a field at
// offset `at` of a record of `size` bytes: "" for a field the record was cut
// before.
void assign_field(std::string &out, const void *data, size_t size, size_t at, size_t len) {
    if (at >= size) {
        out.clear();
        return;
    }
    const char *p = static_cast<const char *>(data) + at;
    out.assign(p, strnlen(p, std::min(len, size - at)));
}

// Back to a default Event, keeping the strings' buffers.
void reset(Event &e) {
    for (std::string *str : {&e.comm, &e.path, &e.path2, &e.dir, &e.addr, &e.proto})
        str->clear();
    e.args.clear();
    e.kind = Kind::file;
    e.op = Op::none;
    e.identity = 0;
    e.boot_ns = 0;
    e.realtime_ns = 0;
    e.pid = e.tid = e.ppid = e.uid = e.gid = 0;
    e.cgroup_id = 0;
    e.dirfd = e.dirfd2 = Event::kAtFdcwd;
    e.dir_truncated = false;
    e.argc = 0;
    e.flags = 0;
    e.mode = 0;
    e.owner_uid = e.owner_gid = UINT32_MAX;
    e.length = 0;
    e.result = 0;
    e.fd = -1;
    e.family = 0;
    e.port = 0;
    e.path_truncated = e.args_truncated = e.path_fault = false;
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
    e.comm.assign(h.comm, strnlen(h.comm, sizeof h.comm));
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
    Event e;
    if (!decode_event(data, size, e))
        return std::nullopt;
    return e;
}

bool decode_event(const void *data, size_t size, Event &e) {
    if (size < sizeof(mxc_event_hdr))
        return false;
    mxc_event_hdr h;
    std::memcpy(&h, data, sizeof(h));
    if (h.abi != MXC_ABI_VERSION)
        return false;

    reset(e);
    switch (h.rec) {
    case MXC_REC_EXEC: {
        if (size < sizeof(mxc_exec_event))
            return false;
        auto r = std::make_unique<mxc_exec_event>();
        std::memcpy(r.get(), data, sizeof(*r));
        decode_hdr(r->hdr, e);
        e.path = cstr(r->filename);
        e.argc = r->argc;
        for (uint32_t i = 0; i < r->nargs && i < MXC_ARGS_MAX; ++i)
            e.args.push_back(cstr(r->args[i]));
        return true;
    }
    case MXC_REC_FILE: {
        // Cut right after path's NUL, or after path2, when the rest is
        // unused (see events.h); never inside path.  The common record:
        // read in place, not copied whole.
        constexpr size_t path_at = offsetof(mxc_file_event, path);
        if (size <= path_at)
            return false;
        if (size < offsetof(mxc_file_event, path2) &&
            !std::memchr(static_cast<const char *>(data) + path_at, '\0', size - path_at))
            return false;
        if ((h.flags & MXC_F_DIR_SET) && size < sizeof(mxc_file_event))
            return false; // says it carries dir, and does not
        constexpr size_t fixed = offsetof(mxc_file_event, path);
        mxc_file_event head;
        std::memcpy(&head, data, fixed);
        decode_hdr(h, e);
        e.dirfd = head.dirfd;
        e.dirfd2 = head.dirfd2;
        e.flags = head.flags;
        e.mode = head.mode;
        e.owner_uid = head.owner_uid;
        e.owner_gid = head.owner_gid;
        e.length = head.length;
        assign_field(e.path, data, size, offsetof(mxc_file_event, path), MXC_PATH_LEN);
        assign_field(e.path2, data, size, offsetof(mxc_file_event, path2), MXC_PATH_LEN);
        if (h.flags & MXC_F_DIR_SET)
            assign_field(e.dir, data, size, offsetof(mxc_file_event, dir), MXC_PATH_LEN);
        e.dir_truncated = h.flags & MXC_F_DIR_TRUNC;
        return true;
    }
    case MXC_REC_NET: {
        if (size < sizeof(mxc_net_event))
            return false;
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
        return true;
    }
    case MXC_REC_PROC: {
        if (size < sizeof(mxc_proc_event))
            return false;
        mxc_proc_event r;
        std::memcpy(&r, data, sizeof(r));
        decode_hdr(r.hdr, e);
        return true;
    }
    default:
        return false;
    }
}

} // namespace mxc::audit
