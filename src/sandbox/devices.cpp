// Device nodes and /dev symlinks: the runtime-spec "default devices"
// (config-linux.md) plus linux.devices.  mknod when we may; in a user
// namespace the kernel refuses mknod, so the host node is bind-mounted onto an
// empty file instead (what runc and crun do for rootless containers).
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>

#include "mxc/util/error.hpp"
#include "mxc/util/log.hpp"
#include "rootfs_internal.hpp"

namespace mxc::sandbox::detail {

namespace {

std::pair<std::string, std::string> split_parent(const std::string &path) {
    auto pos = path.find_last_of('/');
    if (pos == std::string::npos)
        return {"/", path};
    return {pos == 0 ? "/" : path.substr(0, pos), path.substr(pos + 1)};
}

mode_t device_type_bits(const std::string &type) {
    if (type == "c" || type == "u")
        return S_IFCHR;
    if (type == "b")
        return S_IFBLK;
    if (type == "p")
        return S_IFIFO;
    throw_error("unknown device type \"{}\"", type);
}

void bind_host_device(int rootfs_fd, const oci::DeviceNode &dev) {
    UniqueFd target(mkdir_in_root(rootfs_fd, dev.path, false));
    struct stat st {};
    if (::fstat(target.get(), &st) == 0 && !S_ISREG(st.st_mode) && (st.st_mode & S_IFMT) != device_type_bits(dev.type))
        throw_error("{} exists and is not a regular file", dev.path);
    if (::mount(dev.path.c_str(), fd_path(target.get()).c_str(), nullptr, MS_BIND, nullptr) < 0)
        throw_errno("bind host {}", dev.path);
}

void make_node(int rootfs_fd, const oci::DeviceNode &dev, bool rootless) {
    if (rootless)
        return bind_host_device(rootfs_fd, dev);
    auto [parent, name] = split_parent(dev.path);
    UniqueFd dir(mkdir_in_root(rootfs_fd, parent, true));
    // O_PATH fds cannot be used with mknodat on every kernel; open the directory for real.
    UniqueFd dfd(::openat(dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd)
        throw_errno("open {}", parent);
    const mode_t type = device_type_bits(dev.type);
    const dev_t rdev = makedev(static_cast<unsigned>(dev.major), static_cast<unsigned>(dev.minor));
    const mode_t perm = dev.file_mode.value_or(0666) & 07777;
    struct stat st {};
    bool present = false;
    if (::fstatat(dfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        // Already right: a bind-mounted /dev, or a second run.
        present = (st.st_mode & S_IFMT) == type && st.st_rdev == rdev;
        if (!present && ::unlinkat(dfd.get(), name.c_str(), S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
            throw_errno("replace {}", dev.path);
    }
    if (!present && ::mknodat(dfd.get(), name.c_str(), type | perm, type == S_IFIFO ? 0 : rdev) < 0) {
        if (errno == EPERM) {
            log::debug("mknod {}: EPERM, bind-mounting the host node instead", dev.path);
            return bind_host_device(rootfs_fd, dev);
        }
        throw_errno("mknod {}", dev.path);
    }
    // mknod is subject to the umask; set the mode exactly.
    if (::fchmodat(dfd.get(), name.c_str(), perm, 0) < 0)
        throw_errno("chmod {}", dev.path);
    if (::fchownat(dfd.get(), name.c_str(), dev.uid.value_or(0), dev.gid.value_or(0), AT_SYMLINK_NOFOLLOW) < 0)
        throw_errno("chown {}", dev.path);
}

void make_symlink(int rootfs_fd, const std::string &target, const std::string &link, bool replace) {
    auto [parent, name] = split_parent(link);
    UniqueFd dir(mkdir_in_root(rootfs_fd, parent, true));
    UniqueFd dfd(::openat(dir.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd)
        throw_errno("open {}", parent);
    if (replace)
        ::unlinkat(dfd.get(), name.c_str(), 0);
    if (::symlinkat(target.c_str(), dfd.get(), name.c_str()) < 0 && errno != EEXIST)
        throw_errno("symlink {} -> {}", link, target);
}

bool has_mount(const oci::Spec &spec, const std::string &dest, const char *type = nullptr) {
    for (const auto &m : spec.mounts) {
        std::string d = m.destination;
        while (d.size() > 1 && d.back() == '/')
            d.pop_back();
        if (d == dest && (type == nullptr || m.type == type))
            return true;
    }
    return false;
}

bool dev_is_bind(const oci::Spec &spec) {
    for (const auto &m : spec.mounts)
        if ((m.destination == "/dev" || m.destination == "/dev/") && (m.type == "bind" || parse_mount_options(m.options).is_bind()))
            return true;
    return false;
}

oci::DeviceNode default_dev(const char *path, int64_t major, int64_t minor) {
    oci::DeviceNode d;
    d.path = path;
    d.type = "c";
    d.major = major;
    d.minor = minor;
    d.file_mode = 0666;
    d.uid = 0;
    d.gid = 0;
    return d;
}

} // namespace

void setup_devices(int rootfs_fd, const oci::Spec &spec, const RootfsOptions &opts) {
    const std::vector<oci::DeviceNode> *extra = spec.linux_ ? &spec.linux_->devices : nullptr;
    // A /dev bind-mounted from the host already has its nodes: then only the
    // devices the spec asks for are made, and no symlinks are added.
    const bool setup_dev = !dev_is_bind(spec);
    if (setup_dev) {
        const oci::DeviceNode defaults[] = {
            default_dev("/dev/null", 1, 3),    default_dev("/dev/zero", 1, 5),
            default_dev("/dev/full", 1, 7),    default_dev("/dev/random", 1, 8),
            default_dev("/dev/urandom", 1, 9), default_dev("/dev/tty", 5, 0),
        };
        for (const auto &d : defaults) {
            bool overridden = false;
            if (extra)
                for (const auto &e : *extra)
                    overridden = overridden || e.path == d.path;
            if (!overridden)
                with_context("device " + d.path, [&] { make_node(rootfs_fd, d, opts.rootless); });
        }
    }
    if (extra)
        for (size_t i = 0; i < extra->size(); ++i)
            with_context(fmt::format("linux.devices[{}] {}", i, (*extra)[i].path),
                         [&] { make_node(rootfs_fd, (*extra)[i], opts.rootless); });
    if (!setup_dev)
        return;
    make_symlink(rootfs_fd, "/proc/self/fd", "/dev/fd", false);
    make_symlink(rootfs_fd, "/proc/self/fd/0", "/dev/stdin", false);
    make_symlink(rootfs_fd, "/proc/self/fd/1", "/dev/stdout", false);
    make_symlink(rootfs_fd, "/proc/self/fd/2", "/dev/stderr", false);
    if (::access("/proc/kcore", F_OK) == 0)
        make_symlink(rootfs_fd, "/proc/kcore", "/dev/core", false);
    // With a private devpts instance, /dev/ptmx must be its ptmx, not the host's.
    if (has_mount(spec, "/dev/pts", "devpts"))
        make_symlink(rootfs_fd, "pts/ptmx", "/dev/ptmx", true);
}

} // namespace mxc::sandbox::detail
