// Creating the container's first process, and exec'ing extra processes into
// a running container.  The runtime layer (src/runtime) owns state; this layer
// owns the kernel work and the child side.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mxc/cgroup/cgroup.hpp"
#include "mxc/oci/spec.hpp"
#include "mxc/sandbox/landlock.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::sandbox {

struct SpawnConfig {
    const oci::Spec *spec = nullptr;
    std::string rootfs;          // absolute
    std::string fifo_path;       // exec fifo; empty: exec as soon as ready (run)
    bool rootless = false;
    bool no_pivot = false;
    bool no_new_keyring = false;
    int preserve_fds = 0;
    cgroup::Manager *cgroup = nullptr;     // null: no cgroup
    bool apply_limits = true;
    // Rootless with a cgroup delegated by mxcd: the kernel lets only mxcd move
    // a process into it (cgroup v2's common-ancestor rule), so this replaces
    // cgroup->add_pid and CLONE_INTO_CGROUP.
    std::function<void(pid_t)> attach_pid;
    // Called in the runtime after the namespaces exist, before pivot_root, with
    // the container pid: the runtime runs prestart + createRuntime hooks.
    std::function<void(pid_t)> on_runtime_hooks;
    // State JSON for hooks that run inside the container (createContainer,
    // startContainer); built by the runtime once the pid is known.
    std::function<std::string(pid_t)> state_json;
    // Called in the runtime once the child is on its way (after `go`), before
    // its setup is awaited: the runtime's own work that needs neither the
    // child's messages nor its readiness runs while the child sets up.  A
    // throw fails the create (the child is killed).
    std::function<void(pid_t)> while_setting_up;
    std::string container_id;

    // Agent sandbox extras (unused by plain OCI containers).
    std::string rootfs_source;           // see RootfsOptions
    bool recursive_readonly = false;
    bool loopback_up = false;            // bring up lo in a new network namespace
    bool die_with_parent = false;        // keep PDEATHSIG=SIGKILL after exec
    uint16_t proxy_port = 0;             // make loopback listeners for the proxy
    bool init = false;                   // stay PID 1 as a minimal init; the command is our child
    // With init: once the command has exited, the init kills and reaps
    // everything else in the pid namespace and then writes the command's
    // exit status (a 4-byte int) here, before it exits itself.  Its exit
    // waits for the kernel to take the namespaces down (≈ 2 ms here); the
    // runtime can close the audit stream meanwhile: nothing is left that
    // could add to it; and, the init having moved itself back into the
    // runtime's own v1 cgroups first (where it can), remove the sandbox's v1
    // cgroup directories.  -1: no report.  Close-on-exec; only the init has it.
    int exit_report_fd = -1;
    std::vector<LandlockRule> landlock;  // empty: no Landlock
    // The seccomp-notify audit reads the arguments of the first execve from
    // /proc/<pid>/mem, which needs a dumpable task: set just before exec.
    bool dumpable_before_exec = false;
};

struct Spawned {
    pid_t pid = -1;
    UniqueFd pidfd;
    UniqueFd pty_master;   // when process.terminal
    UniqueFd seccomp_fd;   // when the filter has NOTIFY actions
    std::vector<UniqueFd> listen_fds; // proxy listeners inside the sandbox netns
};

// Clone the container process in its namespaces and cgroup, set it up, and
// return once it is blocked on the exec fifo (or, with no fifo, about to exec).
// On any failure the child is killed and reaped before the error is thrown.
Spawned spawn_container(const SpawnConfig &cfg);
// linux.resources plus the device rules every container gets (runc's defaults).
oci::Resources effective_resources(const oci::Linux &lin);

struct ExecConfig {
    pid_t target_pid = -1;       // the container's init
    const oci::Spec *spec = nullptr;   // the container's config
    oci::Process process;        // the process to run
    cgroup::Manager *cgroup = nullptr;
    std::function<void(pid_t)> attach_pid;  // see SpawnConfig
    int preserve_fds = 0;
    std::vector<LandlockRule> landlock;  // the sandbox's rules (agent sandboxes)
    // The listener of the process's seccomp filter when it has NOTIFY rules:
    // called as it arrives, and it must hand it to a supervisor before it
    // returns (the process waits in its next notified syscall until then; a
    // dropped listener fails those syscalls with ENOSYS).  Unset: exec fails.
    std::function<void(UniqueFd)> on_seccomp_fd;
    bool dumpable_before_exec = false;   // see SpawnConfig
};

// Join the namespaces of target_pid and exec the process there.  Returns the
// host pid of the exec'd process and an owner for waiting: `waiter` is the
// intermediate process whose exit status mirrors the exec'd process.
struct ExecSpawned {
    pid_t pid = -1;          // the process running the command
    pid_t waiter = -1;       // our direct child; its status mirrors pid's
    UniqueFd pty_master;
};
ExecSpawned spawn_exec(const ExecConfig &cfg);

// The sandbox setup that runs inside the child (namespaces exist).  Used by
// spawn_container; exposed for tests.  v1_tasks: the child moves itself into
// those cgroups first (cgroup::join_self).  leave_tasks: with cfg.init and an
// exit report, the init moves itself into those before it reports
// (cgroup::leave_self).
[[noreturn]] void child_main(const SpawnConfig &cfg, int sync_fd, int fifo_fd,
                             const std::vector<cgroup::TaskFile> &v1_tasks = {},
                             const std::vector<cgroup::TaskFile> &leave_tasks = {});

} // namespace mxc::sandbox
