// Helpers shared by the rootfs files (mounts.cpp, mount_options.cpp,
// rootfs_paths.cpp, devices.cpp).  Not a public interface.
#pragma once

#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "mxc/oci/spec.hpp"
#include "mxc/sandbox/rootfs.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::sandbox::detail {

// glibc 2.36 declares these but older libcs do not; call the syscalls
// directly so the code builds on every distribution we target.
inline int sys_open_tree(int dfd, const char *path, unsigned flags) {
    return static_cast<int>(::syscall(SYS_open_tree, dfd, path, flags));
}
inline int sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags) {
    return static_cast<int>(::syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags));
}
inline int sys_mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *attr) {
    return static_cast<int>(::syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof(*attr)));
}

// "/proc/self/fd/N": mounting on it targets exactly the object the fd holds,
// so a symlink swapped in after resolution cannot redirect the mount.
std::string fd_path(int fd);

// MS_RDONLY|MS_NOSUID... -> MOUNT_ATTR_* (for one mount, not recursive).
void ms_to_mount_attr(unsigned long set, unsigned long cleared, struct mount_attr &attr);

// A user namespace fd carrying the given mappings (for MOUNT_ATTR_IDMAP).
UniqueFd make_idmap_userns(const std::vector<oci::IdMapping> &uid, const std::vector<oci::IdMapping> &gid);

// Default devices + linux.devices + /dev symlinks under rootfs_fd.
void setup_devices(int rootfs_fd, const oci::Spec &spec, const RootfsOptions &opts);

} // namespace mxc::sandbox::detail
