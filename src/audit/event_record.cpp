// A decoded probe event as a stream record: kind/op names, absolute paths
// (relative ones resolved against the task's dirfd or cwd while it still
// exists), socket addresses, and the outcome of the syscall.
#include "mxc/audit/bpf.hpp"
#include "mxc/audit/record.hpp"

#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "net_names.hpp"

namespace mxc::audit {

using detail::family_name;

namespace {

std::string read_link(const std::string &path) {
    char buf[4096];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// The path as the task meant it: absolute ones as they are; relative ones
// joined to the directory of dirfd (or the cwd) when /proc still shows it.
// The probe spells out the directory of the first relative path (of the link,
// for symlinks); other bases come from /proc while the task still exists.
std::string absolute_path(const Event &e, const std::string &path, int dirfd) {
    if (path.empty() || path[0] == '/')
        return path;
    bool symlink = e.op == Op::symlink || e.op == Op::symlinkat;
    int probe_dirfd = symlink ? e.dirfd2 : e.dirfd;
    std::string base;
    if (!e.dir.empty() && dirfd == probe_dirfd)
        base = e.dir;
    else
        base = dirfd == Event::kAtFdcwd ? read_link(fmt::format("/proc/{}/cwd", e.tid ? e.tid : e.pid))
                                        : read_link(fmt::format("/proc/{}/fd/{}", e.pid, dirfd));
    if (base.empty() || base[0] != '/')
        return path;
    if (path == ".")
        return base;
    return base == "/" ? "/" + path : base + "/" + path;
}

} // namespace

std::string outcome_of(int64_t result) {
    if (result >= 0)
        return "allowed";
    int err = static_cast<int>(-result);
    return err == EACCES || err == EPERM || err == EROFS ? "denied" : "failed";
}

namespace {

// Back to a default Record, keeping the buffers of its strings and args.
void reset(Record &r) {
    for (std::string *str : {&r.time, &r.identity, &r.sandbox, &r.kind, &r.op, &r.comm, &r.exe, &r.path, &r.family,
                             &r.addr, &r.proto, &r.domain, &r.result, &r.outcome, &r.probe, &r.prev, &r.hash})
        str->clear();
    r.args.clear();
    r.seq = 0;
    r.pid.reset(), r.ppid.reset(), r.exit_code.reset();
    r.uid.reset(), r.mode.reset(), r.port.reset();
    r.flags.reset(), r.lost.reset();
    if (!r.extra.is_null())
        r.extra = nullptr;
    static_assert(sizeof(Record) == 17 * sizeof(std::string) + sizeof(std::vector<std::string>) + 3 * sizeof(std::optional<int64_t>) +
                                        3 * sizeof(std::optional<uint32_t>) + 2 * sizeof(std::optional<uint64_t>) +
                                        sizeof(uint64_t) + sizeof(nlohmann::json),
                  "a member of Record is not reset here");
}

} // namespace

Record record_from_event(const Event &e, const std::string &identity, const std::string &sandbox) {
    Record r;
    record_from_event(e, identity, sandbox, r);
    return r;
}

void record_from_event(const Event &e, const std::string &identity, const std::string &sandbox, Record &r) {
    reset(r);
    r.identity = identity;
    r.sandbox = sandbox;
    format_time(e.realtime_ns, r.time);
    r.kind = kind_name(e.kind);
    r.op = op_name(e.op);
    r.pid = e.pid;
    if (e.ppid)
        r.ppid = e.ppid;
    r.uid = e.uid;
    r.comm = e.comm;
    switch (e.kind) {
    case Kind::exec:
        r.exe = e.path;
        r.path = e.path;
        r.args = e.args;
        r.outcome = "allowed";
        if (e.args_truncated || e.argc > e.args.size())
            r.extra["argc"] = e.argc;
        break;
    case Kind::process:
        if (e.op == Op::exit) {
            int st = static_cast<int>(e.result);
            r.exit_code = WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
        } else if (e.op == Op::fork) {
            r.extra["child"] = e.result;
        }
        break;
    case Kind::file:
        // A symlink's target is text stored in the link, not a path the
        // task opened: kept as given (as the seccomp-notify backend does).
        r.path = e.op == Op::symlink || e.op == Op::symlinkat ? e.path : absolute_path(e, e.path, e.dirfd);
        if (!e.path2.empty())
            r.extra["path2"] = absolute_path(e, e.path2, e.dirfd2);
        if (e.op != Op::unlink && e.op != Op::unlinkat && e.op != Op::rmdir && e.op != Op::rename)
            r.flags = e.flags;
        if (e.mode)
            r.mode = e.mode;
        if (e.owner_uid != UINT32_MAX)
            r.extra["owner"] = e.owner_uid;
        if (e.owner_gid != UINT32_MAX)
            r.extra["group"] = e.owner_gid;
        if (e.op == Op::truncate)
            r.extra["length"] = e.length;
        r.result = result_errno_name(e);
        r.outcome = outcome_of(e.result);
        break;
    case Kind::net:
        r.family = family_name(e.family);
        r.addr = e.addr;
        if (e.port)
            r.port = e.port;
        r.proto = e.proto;
        if (e.op == Op::sendto || e.op == Op::sendmsg)
            r.extra["bytes"] = e.length;
        r.result = result_errno_name(e);
        r.outcome = outcome_of(e.result);
        break;
    }
    if (e.path_truncated)
        r.extra["path_truncated"] = true;
    if (e.path_fault)
        r.extra["path_unreadable"] = true;
    if (e.kind == Kind::file && e.dir.empty() && !r.path.empty() && r.path[0] != '/' && !(e.op == Op::symlink || e.op == Op::symlinkat))
        r.extra["dir_unknown"] = true;
}

} // namespace mxc::audit
