// Root filesystem setup inside the container's mount namespace: mounts in
// order, rootfsPropagation, devices, /dev symlinks, pivot_root (or chroot with
// --no-pivot), maskedPaths, readonlyPaths, root.readonly.  Every destination is
// resolved inside the rootfs without following symlinks out of it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mxc/oci/spec.hpp"

namespace mxc::sandbox {

struct RootfsOptions {
    std::string rootfs;         // absolute host path of spec.root.path
    bool no_pivot = false;
    bool rootless = false;      // in a user namespace without host root: bind devices instead of mknod
    bool new_user_ns = false;
    bool new_cgroup_ns = false;
    // Bind this host directory (recursively) onto rootfs instead of binding
    // rootfs onto itself: the agent sandbox uses "/" so the host tree is its
    // root.  A mount stacked on the process's own "/" would be invisible to
    // path lookups, hence a separate, empty rootfs directory.
    std::string rootfs_source;
    // Make the whole rootfs tree read-only (every submount, mount_setattr
    // AT_RECURSIVE) before the spec's mounts, which may then grant rw below.
    bool recursive_readonly = false;
};

// spec.mounts[i].options turned into what the kernel wants.  Pure: unit-tested
// without privilege.  Unknown words go to `data` (as runc does).
struct MountFlags {
    unsigned long flags = 0;               // MS_* set by the options (MS_BIND, MS_RDONLY, ...)
    unsigned long cleared = 0;             // MS_* explicitly cleared ("rw", "suid", "dev", ...)
    std::vector<unsigned long> propagation; // MS_SHARED|MS_REC ..., applied after the mount, in order
    uint64_t attr_set = 0;                 // MOUNT_ATTR_* for mount_setattr(AT_RECURSIVE) ("rro", ...)
    uint64_t attr_clr = 0;
    bool idmap = false;                    // "idmap" or "ridmap"
    bool recursive_idmap = false;          // "ridmap"
    std::string data;                      // "mode=755,size=65536k"
    bool is_bind() const;
    bool is_recursive_bind() const;
};
MountFlags parse_mount_options(const std::vector<std::string> &options);

// Phase 1, before hooks.createContainer: make / private (or rootfsPropagation),
// bind rootfs onto itself, do every mount of spec.mounts, create devices.
void prepare_rootfs(const oci::Spec &spec, const RootfsOptions &opts);
// Phase 2: pivot_root/chroot, masked and readonly paths, root.readonly,
// rootfsPropagation on the new root.  After it, "/" is the container's root.
void finish_rootfs(const oci::Spec &spec, const RootfsOptions &opts);

// Open `path` (relative to rootfs_fd) with RESOLVE_IN_ROOT semantics: symlinks
// and ".." stay inside.  flags are openat flags (O_PATH, O_DIRECTORY...).
int open_in_root(int rootfs_fd, const std::string &path, int flags);
// The same without throwing: the fd, or -errno.  For paths that may well be
// absent (masked paths): the child's setup would otherwise throw and unwind
// once per absent path.
int try_open_in_root(int rootfs_fd, const std::string &path, int flags);
// mkdir -p inside the root (symlinks resolved inside), then return an O_PATH fd
// of the final component, created as a directory or an empty file (is_dir false).
int mkdir_in_root(int rootfs_fd, const std::string &path, bool is_dir);

} // namespace mxc::sandbox
