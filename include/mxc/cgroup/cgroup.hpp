// cgroup manager.  v2 is the model; on a hybrid host (v1 controllers plus a
// cgroup2 "unified" mount) every container still gets its own v2 cgroup (its
// id keys the audit) and resource limits go to the v1 controllers.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mxc/oci/spec.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::cgroup {

enum class Mode { unified, hybrid, legacy, none };

// What the host offers, read from a cgroupfs root (normally /sys/fs/cgroup; a
// fixture directory in tests).
struct Layout {
    Mode mode = Mode::none;
    std::string root;                              // /sys/fs/cgroup
    std::string v2_mount;                          // /sys/fs/cgroup or /sys/fs/cgroup/unified; empty when none
    std::map<std::string, std::string> v1_mounts;  // controller -> mount dir (cpu,cpuacct may share)
    std::vector<std::string> v2_controllers;       // from cgroup.controllers at the v2 root
    // Mount dir -> the hierarchy path mounted there (mountinfo field 4; "/" unless
    // a cgroup namespace or a bind mount shows a sub-tree).
    std::map<std::string, std::string> mount_roots;
    // Where a relative cgroupsPath is resolved from (overridable for tests).
    std::string self_cgroup = "/proc/self/cgroup";
};

// Detect from /proc/self/mountinfo (mountinfo_path and root overridable for tests).
Layout detect(const std::string &mountinfo_path = "/proc/self/mountinfo");
// detect() of this process's mount namespace, read on the first call only
// (≈ 0.2 ms each, and a run needs it three times).  For the short-lived mxc
// commands; a daemon that outlives mount changes calls detect().
const Layout &detect_once();
const char *mode_name(Mode m);

// A v1 `tasks` file open for writing, and its path for error messages.
struct TaskFile {
    UniqueFd fd;
    std::string path;
};

// Moves the calling thread into each cgroup of `files` (writes "0").  For a
// single-threaded process that is the whole process.  The kernel moves a
// thread that moves itself without taking cgroup_threadgroup_rwsem for
// writing, which add_pid (a pid written to cgroup.procs) must take: on a host
// where no migration ran in the last RCU grace period that waits for one,
// 10-20 ms.
void join_self(const std::vector<TaskFile> &files);
// The same for a process on its way out, into the cgroups of Manager::
// open_own_v1_tasks (fds): no errors (it stays where it is, and its cgroups
// are removed once it has exited).
void leave_self(const std::vector<int> &fds) noexcept;

// One container's cgroups.  create() makes the directories; apply() writes
// limits; add_pid() moves a process in; destroy() kills nothing and removes the
// (empty) directories.  All paths are relative to the mounts in Layout.
class Manager {
public:
    // path: the OCI cgroupsPath, e.g. "/mxc/c1"; a relative path is put under
    // the calling process's own cgroup as runc does.
    Manager(Layout layout, std::string path);

    const std::string &path() const { return path_; }
    const Layout &layout() const { return layout_; }
    // Absolute directory of the v2 cgroup ("" when the host has no cgroup2).
    std::string v2_dir() const;
    // Absolute directories of the v1 controllers in use (controller -> dir).
    std::map<std::string, std::string> v1_dirs() const;

    // Create every directory; on failure removes what it created and throws.
    void create();
    // O_RDONLY|O_DIRECTORY fd of the v2 cgroup, for clone3(CLONE_INTO_CGROUP); -1 fd when none.
    UniqueFd open_v2_dir() const;
    // The inode number of the v2 cgroup directory (what bpf_get_current_cgroup_id returns).
    uint64_t v2_id() const;
    // in_v2_already: the process was cloned into the v2 cgroup
    // (CLONE_INTO_CGROUP); moving it again costs an RCU grace period.
    void add_pid(pid_t pid, bool in_v2_already = false);
    // The `tasks` file of each v1 hierarchy in use, opened for writing by the
    // caller (the kernel checks the opener's credentials, as for add_pid), for
    // a process to move itself with join_self().  Empty without v1 hierarchies.
    std::vector<TaskFile> open_v1_tasks() const;
    // The `tasks` files of the calling process's own cgroups in the same v1
    // hierarchies, opened for writing.  A container's init that is done (its
    // command and everything else gone) moves itself back into them
    // (leave_self), so that the container's v1 directories can be removed
    // while the kernel still takes its namespaces down.  Empty when any of
    // them cannot be opened (a rootless caller, usually): nothing leaves then.
    std::vector<TaskFile> open_own_v1_tasks() const;
    // One rmdir of each v1 directory, now: no listing, no retry, errors
    // ignored (destroy() comes after it, and reports).
    void remove_v1_dirs_now() const noexcept;
    // Write the limits.  Throws "not supported: .linux.resources.X" when the host lacks the controller.
    void apply(const oci::Resources &res);
    // Freezer: v2 cgroup.freeze when a v2 cgroup exists, else the v1 freezer.
    void freeze(bool frozen);
    bool frozen() const;
    // Pids of every process in the cgroup (v2 cgroup.procs, or the v1 pids/freezer one), recursive.
    std::vector<pid_t> pids() const;
    // Stats for `events --stats` in runc's JSON shape (cpu, memory, pids, blkio, hugetlb).
    nlohmann::json stats() const;
    // Kill every process (SIGKILL) in the cgroup, e.g. for delete --force / kill --all.
    void kill_all(int sig);
    // rmdir all directories (after the processes are gone); retries briefly on EBUSY.
    void destroy();

    // Test seam: called after every successful write with (file, value).
    using WriteObserver = std::function<void(const std::string &file, const std::string &value)>;
    void set_write_observer(WriteObserver obs) { observer_ = std::move(obs); }

private:
    friend struct Applier; // src/cgroup/apply.cpp
    void write(const std::string &file, const std::string &value) const;
    // Writes "+controller" into cgroup.subtree_control of every v2 ancestor lacking it.
    void enable_v2_controller(const std::string &controller) const;
    // Where the container's process list is read from.
    std::string procs_dir() const;

    Layout layout_;
    std::string path_;
    std::string v2_dir_;
    std::map<std::string, std::string> v1_dirs_;
    WriteObserver observer_;
};

// Whether the caller can create cgroups (root, or a writable delegated v2 subtree).
bool can_manage(const Layout &layout);

} // namespace mxc::cgroup
