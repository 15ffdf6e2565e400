// OCI seccomp (linux.seccomp) -> libseccomp filter; the notify listener hand-off;
// the default agent filter.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mxc/oci/spec.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::seccomp {

// A filter as the kernel takes it, with the flags its load needs: what
// Filter::load() loads, made where the filter is compiled and loaded by
// another process.  (A container's runtime compiles it while the container
// sets itself up, sandbox::spawn_container: ≈ 0.7 ms off every start.)
struct Program {
    std::string bpf;         // struct sock_filter[]
    unsigned int flags = 0;  // SECCOMP_FILTER_FLAG_*
    bool no_new_privs = false;

    // Over a process boundary: the program in a sealed memfd, the flags and
    // no_new_privs beside it.  from_memfd checks what it reads.
    UniqueFd to_memfd() const;
    static Program from_memfd(int fd, unsigned int flags, bool no_new_privs);
};

// Load into the calling process; the notify listener fd (O_CLOEXEC) when
// the flags ask for one, else an empty fd.
UniqueFd load(const Program &p);

// A compiled but not yet loaded filter.
class Filter {
public:
    Filter();
    ~Filter();
    Filter(Filter &&) noexcept;
    Filter &operator=(Filter &&) noexcept;

    // Load into the calling process (all threads when the spec asked for
    // SECCOMP_FILTER_FLAG_TSYNC).  The filter does not set no_new_privs: the
    // caller sets it first when process.noNewPrivileges asks, otherwise the
    // caller needs CAP_SYS_ADMIN.  Returns the notify listener fd (O_CLOEXEC)
    // when the filter has a SCMP_ACT_NOTIFY rule, else an empty fd.
    UniqueFd load();
    // The same filter exported for another process to load(Program).
    Program program() const;
    bool has_notify() const;
    // Size of the BPF program in instructions (for tests).
    size_t bpf_instructions() const;

    struct Impl;
    std::unique_ptr<Impl> impl;
};

// Build from the OCI form.  Errors name the field:
// "config.json: .linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_FOO\"".
// Like runc: syscall names unknown to libseccomp are skipped (debug log); a
// rule whose action equals the default action is skipped; conditions that
// repeat an argument index are split into one rule per condition (OR).
// SCMP_ACT_NOTIFY as the default action is refused.  Checking that
// listenerPath is set when NOTIFY is used is left to oci::validate.
Filter compile(const oci::Seccomp &spec, const std::string &source_name = "config.json");

// What the runtime knows when it hands the listener over.
struct ListenerState {
    std::string oci_version;   // runtime-spec version of this runtime
    pid_t pid = 0;             // the container process (the one that loaded the filter)
    std::string metadata;      // linux.seccomp.listenerMetadata (omitted when empty)
    nlohmann::json state;      // the container state: {ociVersion,id,status,pid,bundle,annotations}
};

// The containerProcessState document of the runtime-spec:
// {"ociVersion","fds":["seccompFd"],"pid","metadata"?,"state"}.
nlohmann::json listener_payload(const ListenerState &st);

// Connect a SOCK_STREAM unix socket to listener_path and send one message with
// notify_fd as SCM_RIGHTS and listener_payload(st) as the payload.  Paths
// longer than sun_path are reached through /proc/self/fd of their directory.
void send_listener_fd(const std::string &listener_path, int notify_fd, const ListenerState &st);

// Whether the host kernel + libseccomp support user notification.
bool notify_supported();

// The "linux.seccomp" object of the runtime-spec features document:
// {enabled, actions, operators, archs, knownFlags, supportedFlags}.
nlohmann::json features();

// The default agent filter: allow by default, EPERM for the syscalls that
// escape the sandbox or bypass path-based auditing (bpf, io_uring_*, keyctl,
// kexec, modules, mount and the new mount API, setns, open_by_handle_at, ...),
// personality() limited to the values docker allows, and only the native
// architecture listed so that other ABIs (x86 int 0x80, x32) hit the
// bad-architecture action (kill the process).
oci::Seccomp default_agent_profile();

} // namespace mxc::seccomp
