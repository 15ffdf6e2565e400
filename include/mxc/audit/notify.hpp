// The rootless audit fallback: a seccomp user-notification supervisor.  Where
// the eBPF probes cannot load (no root, no BPF LSM), the sandbox's filter sends
// the audited syscalls to a listener; the supervisor reads their arguments out
// of the task, turns them into audit records and lets every syscall continue
// (SECCOMP_USER_NOTIF_FLAG_CONTINUE).  It observes, it never decides: a path
// it read may have changed by the time the kernel reads it (seccomp_unotify(2)),
// and the result of the syscall is not known.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mxc/audit/record.hpp"
#include "mxc/oci/spec.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::audit {

// The syscalls the fallback audits: execve, execveat, open, openat, openat2, creat, unlink, unlinkat,
// rename, renameat, renameat2, mkdir, mkdirat, rmdir, link, linkat, symlink, symlinkat, connect, bind.
const std::vector<std::string> &notify_audited_syscalls();

// Adds one SCMP_ACT_NOTIFY rule per audited syscall to an OCI seccomp spec; a syscall the spec
// already gives a non-allow action (EPERM/KILL/...) keeps that action.  The details, so that
// the filter permits and denies exactly what it did before:
//  - any rule naming the syscall with an action other than ALLOW/LOG/NOTIFY (conditional or
//    not): the syscall is left alone (libseccomp would let an unconditional rule override it);
//  - ALLOW/LOG rules naming it lose that name; an unconditional one becomes the NOTIFY rule, a
//    conditional one becomes a NOTIFY rule with the same conditions;
//  - a syscall that only the default action covers gets the NOTIFY rule when the default
//    permits (ALLOW/LOG) and stays denied otherwise;
//  - a syscall that already has a NOTIFY rule is left as it is.
void add_notify_rules(oci::Seccomp &s);

struct NotifyOptions {
    // Answer but do not record what happens before the first execve/execveat: that is the
    // runtime's own setup between loading the filter and starting the process.
    bool skip_until_exec = true;
    size_t max_args = 64;         // execve argv entries recorded
    size_t max_arg_bytes = 4096;  // bytes per argv entry
};

// Records: kind "exec" (execve/execveat: path, args), "file" (path, extra.path2 for the
// destination of rename/link and the linkpath of symlink, whose path is the target as
// given; flags/mode as the syscall got them) or "net" (connect/bind: family, addr, port,
// proto).  op is the syscall name; pid/ppid/uid/comm/time describe the task when it made
// the call; result/outcome stay empty and extra.result_known is false.  Relative paths
// are made absolute against the dirfd or the cwd, in the task's view of the filesystem.
class NotifySupervisor {
public:
    using Sink = std::function<void(Record)>;
    NotifySupervisor(UniqueFd listener, Sink sink, NotifyOptions opts = {});
    NotifySupervisor(const NotifySupervisor &) = delete;
    NotifySupervisor &operator=(const NotifySupervisor &) = delete;

    // Handles notifications until stop_fd (an eventfd) is readable or the listener reports POLLHUP
    // (no task uses the filter any more). Every notification is answered with
    // SECCOMP_USER_NOTIF_FLAG_CONTINUE, including when reading arguments fails.  Throws
    // mxc::Error when the listener itself fails; an exception of the sink propagates too,
    // after the notification it was given was answered.
    void serve(int stop_fd);
    uint64_t notifications() const;  // all notifications answered
    uint64_t recorded() const;       // records handed to sink

private:
    UniqueFd listener_;
    Sink sink_;
    NotifyOptions opts_;
    bool seen_exec_ = false;
    std::atomic<uint64_t> notifications_{0};
    std::atomic<uint64_t> recorded_{0};
};

} // namespace mxc::audit
