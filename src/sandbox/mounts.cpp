// prepare_rootfs / finish_rootfs: the mount side of container setup, run in
// the container's mount namespace before exec.  Order follows runc and the
// runtime-spec: propagation of "/", rootfs bind, spec.mounts in order, devices;
// then (after createContainer hooks) pivot_root, maskedPaths, readonlyPaths,
// root.readonly, rootfsPropagation.
//
// Every destination is resolved inside the rootfs (mkdir_in_root /
// open_in_root) into an O_PATH fd and the mount targets /proc/self/fd/N, so a
// symlink planted in the image cannot send a mount to the host.  Bind mounts
// use the new mount API (open_tree clone -> mount_setattr -> move_mount): the
// attributes are set on the detached copy, which keeps every flag the kernel
// locked on the source (user namespaces) without a statvfs dance, and is the
// only way to idmap a mount.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"
#include "rootfs_internal.hpp"

namespace mxc::sandbox {

using detail::fd_path;

namespace {

struct Ctx {
    const oci::Spec &spec;
    const RootfsOptions &opts;
    UniqueFd rootfs; // O_PATH of the rootfs mount
};

std::string real_path(const std::string &p) {
    char buf[PATH_MAX];
    if (!::realpath(p.c_str(), buf))
        throw_errno("realpath {}", p);
    return buf;
}

const std::string &root_propagation(const oci::Spec &spec) {
    static const std::string none;
    return spec.linux_ ? spec.linux_->rootfs_propagation : none;
}

// rootfsPropagation -> MS_* (always recursive: the value describes the whole
// tree the container sees).  runtime-spec lists shared/slave/private/
// unbindable; runc also takes the r-forms, so do we.
unsigned long propagation_flag(const std::string &value) {
    const std::string &v = value;
    if (v == "shared" || v == "rshared")
        return MS_SHARED | MS_REC;
    if (v == "slave" || v == "rslave")
        return MS_SLAVE | MS_REC;
    if (v == "private" || v == "rprivate")
        return MS_PRIVATE | MS_REC;
    if (v == "unbindable" || v == "runbindable")
        return MS_UNBINDABLE | MS_REC;
    throw_error("linux.rootfsPropagation: unknown value \"{}\"", value);
}

// The mount point under which `path` lives, from /proc/self/mountinfo.
std::string mount_point_of(const std::string &path) {
    std::string info = read_file("/proc/self/mountinfo");
    std::string best = "/";
    size_t pos = 0;
    while (pos < info.size()) {
        size_t eol = info.find('\n', pos);
        if (eol == std::string::npos)
            eol = info.size();
        std::string line = info.substr(pos, eol - pos);
        pos = eol + 1;
        // id parent major:minor root mountpoint ...
        size_t f = 0;
        for (int i = 0; i < 4 && f != std::string::npos; ++i)
            f = line.find(' ', f + 1);
        if (f == std::string::npos)
            continue;
        size_t e = line.find(' ', f + 1);
        std::string raw = line.substr(f + 1, e - f - 1), mp;
        for (size_t i = 0; i < raw.size(); ++i) { // undo \040-style escapes
            if (raw[i] == '\\' && i + 3 < raw.size()) {
                mp += static_cast<char>(std::strtol(raw.substr(i + 1, 3).c_str(), nullptr, 8));
                i += 3;
            } else {
                mp += raw[i];
            }
        }
        bool under = path == mp || (path.compare(0, mp.size(), mp) == 0 &&
                                    (mp == "/" || (path.size() > mp.size() && path[mp.size()] == '/')));
        if (under && mp.size() >= best.size())
            best = mp;
    }
    return best;
}

void set_attr(int fd, unsigned flags, struct mount_attr attr, const std::string &what) {
    if (attr.attr_set == 0 && attr.attr_clr == 0 && attr.propagation == 0)
        return;
    if (detail::sys_mount_setattr(fd, "", flags | AT_EMPTY_PATH, &attr) == 0)
        return;
    if (errno != EPERM || attr.attr_clr == 0)
        throw_errno("mount_setattr {}", what);
    // In a user namespace the kernel locks the flags the source mount had
    // (nosuid, nodev, noexec, ro, atime): keep them instead of failing.
    struct statvfs sv {};
    if (::fstatvfs(fd, &sv) < 0)
        throw_errno("statvfs {}", what);
    const struct {
        unsigned long st;
        uint64_t attr;
    } locked[] = {{ST_RDONLY, MOUNT_ATTR_RDONLY},
                  {ST_NOSUID, MOUNT_ATTR_NOSUID},
                  {ST_NODEV, MOUNT_ATTR_NODEV},
                  {ST_NOEXEC, MOUNT_ATTR_NOEXEC},
                  {ST_NODIRATIME, MOUNT_ATTR_NODIRATIME}};
    for (const auto &l : locked)
        if (sv.f_flag & l.st)
            attr.attr_clr &= ~l.attr;
    if (attr.attr_clr & MOUNT_ATTR__ATIME) {
        attr.attr_clr &= ~static_cast<uint64_t>(MOUNT_ATTR__ATIME);
        attr.attr_set &= ~static_cast<uint64_t>(MOUNT_ATTR__ATIME);
    }
    log::debug("mount_setattr {}: EPERM, keeping the source's locked flags", what);
    if (detail::sys_mount_setattr(fd, "", flags | AT_EMPTY_PATH, &attr) < 0)
        throw_errno("mount_setattr {}", what);
}

void apply_propagation(const std::string &target, const std::vector<unsigned long> &props) {
    for (unsigned long p : props)
        if (::mount(nullptr, target.c_str(), nullptr, p, nullptr) < 0)
            throw_errno("set propagation");
}

UniqueFd idmap_userns(const Ctx &c, const oci::Mount &m) {
    if (!m.uid_mappings.empty() || !m.gid_mappings.empty())
        return detail::make_idmap_userns(m.uid_mappings, m.gid_mappings);
    // runtime-spec: idmap without mappings uses the container's user namespace.
    if (!c.opts.new_user_ns)
        throw_error("not supported: idmap without uidMappings/gidMappings when the container has no user namespace");
    UniqueFd ns(::open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC));
    if (!ns)
        throw_errno("open /proc/self/ns/user");
    return ns;
}

void mount_bind(const Ctx &c, const oci::Mount &m, const std::string &source, const MountFlags &f) {
    struct stat st {};
    if (::stat(source.c_str(), &st) < 0)
        throw_errno("stat bind source {}", source);
    UniqueFd dest(mkdir_in_root(c.rootfs.get(), m.destination, S_ISDIR(st.st_mode)));
    UniqueFd tree(detail::sys_open_tree(AT_FDCWD, source.c_str(),
                                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (f.is_recursive_bind() ? AT_RECURSIVE : 0)));
    if (!tree)
        throw_errno("open_tree {}", source);
    if (f.idmap || !m.uid_mappings.empty() || !m.gid_mappings.empty()) {
        UniqueFd ns = idmap_userns(c, m);
        struct mount_attr a {};
        a.attr_set = MOUNT_ATTR_IDMAP;
        a.userns_fd = static_cast<uint64_t>(ns.get());
        if (detail::sys_mount_setattr(tree.get(), "", AT_EMPTY_PATH | (f.recursive_idmap ? AT_RECURSIVE : 0), &a) < 0)
            throw_errno("idmap {}", source);
    }
    // ro/nosuid/... act on the top mount only, as a classic bind remount does.
    struct mount_attr top {};
    detail::ms_to_mount_attr(f.flags, f.cleared, top);
    set_attr(tree.get(), 0, top, source);
    struct mount_attr rec {};
    rec.attr_set = f.attr_set;
    rec.attr_clr = f.attr_clr;
    set_attr(tree.get(), AT_RECURSIVE, rec, source);
    if (detail::sys_move_mount(tree.get(), "", dest.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        throw_errno("move_mount {}", source);
    // After move_mount the tree fd names the attached mount itself.
    apply_propagation(fd_path(tree.get()), f.propagation);
}

// Plain mount(2) of a filesystem.  The fd of the destination names the
// directory below the new mount; recursive attributes and propagation need
// the mount itself, so the destination is resolved again (still inside root).
void mount_fs(const Ctx &c, const oci::Mount &m, const std::string &type, const std::string &source,
              const MountFlags &f) {
    if (f.idmap || !m.uid_mappings.empty())
        throw_error("not supported: idmap on a {} mount (only bind mounts can be idmapped)", type);
    UniqueFd dest((f.flags & MS_REMOUNT) ? open_in_root(c.rootfs.get(), m.destination, O_PATH)
                                         : mkdir_in_root(c.rootfs.get(), m.destination, true));
    const char *src = source.empty() ? type.c_str() : source.c_str();
    if (::mount(src, fd_path(dest.get()).c_str(), type.c_str(), f.flags, f.data.empty() ? nullptr : f.data.c_str()) < 0)
        throw_errno("mount {}", type);
    if (f.propagation.empty() && f.attr_set == 0 && f.attr_clr == 0)
        return;
    UniqueFd top(open_in_root(c.rootfs.get(), m.destination, O_PATH));
    struct mount_attr rec {};
    rec.attr_set = f.attr_set;
    rec.attr_clr = f.attr_clr;
    set_attr(top.get(), AT_RECURSIVE, rec, m.destination);
    apply_propagation(fd_path(top.get()), f.propagation);
}

bool is_fs_type(const char *path, long magic) {
    struct statfs sf {};
    return ::statfs(path, &sf) == 0 && static_cast<long>(sf.f_type) == magic;
}

// Binds a host directory in place of a filesystem the kernel will not let us
// mount here (sysfs without a network namespace in a user namespace, ...).
void bind_host_instead(const Ctx &c, const oci::Mount &m, const std::string &host, MountFlags f, const char *why) {
    log::debug("{}: {}; bind-mounting host {} instead", m.destination, why, host);
    f.flags |= MS_BIND | MS_REC;
    f.data.clear();
    mount_bind(c, m, host, f);
}

// cgroup mounts.  Unified host: cgroup2 at the destination (the cgroup
// namespace, when there is one, makes it show the container's subtree).
// Hybrid host (v1 controllers + cgroup2 at /sys/fs/cgroup/unified): a tmpfs
// at the destination with cgroup2 at <dest>/unified, which is where programs
// look on such hosts; v1 controllers are not exposed (the container's limits
// are managed from outside).  v1-only host, or a kernel that refuses the
// mount (user namespace without cgroup namespace): rbind of the host's
// /sys/fs/cgroup.  ro and the other flags apply in every case.
void mount_cgroup(const Ctx &c, const oci::Mount &m, const MountFlags &f) {
    const bool unified = is_fs_type("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC);
    const bool hybrid = !unified && is_fs_type("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC);
    MountFlags cg = f;
    cg.data.clear(); // v1 controller names mean nothing to cgroup2
    try {
        if (unified) {
            mount_fs(c, m, "cgroup2", "cgroup2", cg);
            return;
        }
        if (hybrid) {
            MountFlags tmp = f;
            tmp.flags &= ~MS_RDONLY;
            tmp.data = "mode=755";
            tmp.propagation.clear();
            mount_fs(c, m, "tmpfs", "cgroup", tmp);
            oci::Mount uni = m;
            uni.destination = m.destination + "/unified";
            mount_fs(c, uni, "cgroup2", "cgroup2", cg);
            if (f.flags & MS_RDONLY) {
                UniqueFd top(open_in_root(c.rootfs.get(), m.destination, O_PATH));
                struct mount_attr ro {};
                ro.attr_set = MOUNT_ATTR_RDONLY;
                set_attr(top.get(), 0, ro, m.destination);
            }
            apply_propagation(fd_path(UniqueFd(open_in_root(c.rootfs.get(), m.destination, O_PATH)).get()),
                              f.propagation);
            return;
        }
    } catch (const Error &e) {
        if (e.code() != EPERM)
            throw;
        return bind_host_instead(c, m, "/sys/fs/cgroup", f, "cgroup2 mount not permitted");
    }
    bind_host_instead(c, m, "/sys/fs/cgroup", f, "host has cgroup v1 only");
}

void mount_one(const Ctx &c, const oci::Mount &m) {
    MountFlags f = parse_mount_options(m.options);
    std::string type = m.type;
    if (type == "bind" || f.is_bind()) {
        f.flags |= MS_BIND;
        return mount_bind(c, m, m.source, f);
    }
    if (type.empty() || type == "none")
        throw_error("no type and no bind option");
    if (type == "cgroup" || type == "cgroup2")
        return mount_cgroup(c, m, f);
    try {
        mount_fs(c, m, type, m.source, f);
    } catch (const Error &e) {
        const bool in_userns = c.opts.new_user_ns || c.opts.rootless;
        if (e.code() == EPERM && in_userns && type == "sysfs") {
            MountFlags ro = f;
            ro.flags |= MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
            return bind_host_instead(c, m, "/sys", ro, "sysfs mount not permitted (no network namespace?)");
        }
        if (e.code() == EPERM && in_userns && type == "mqueue")
            return bind_host_instead(c, m, "/dev/mqueue", f, "mqueue mount not permitted (no IPC namespace?)");
        throw;
    }
}

void pivot_into(const std::string &rootfs) {
    UniqueFd oldroot(::open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    if (!oldroot)
        throw_errno("open /");
    UniqueFd newroot(::open(rootfs.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    if (!newroot)
        throw_errno("open {}", rootfs);
    if (::fchdir(newroot.get()) < 0)
        throw_errno("chdir {}", rootfs);
    // pivot_root(".", ".") stacks the old root on top of the new one; no
    // put_old directory is needed inside the image.
    if (::syscall(SYS_pivot_root, ".", ".") < 0)
        throw_errno("pivot_root {}", rootfs);
    if (::fchdir(oldroot.get()) < 0)
        throw_errno("chdir old root");
    // Make the old root a slave first so the detach below cannot propagate
    // an unmount to the host through a shared peer group.
    if (::mount(nullptr, ".", nullptr, MS_SLAVE | MS_REC, nullptr) < 0)
        throw_errno("make old root rslave");
    if (::umount2(".", MNT_DETACH) < 0)
        throw_errno("detach old root");
    if (::chdir("/") < 0)
        throw_errno("chdir /");
}

void move_and_chroot(const std::string &rootfs) {
    if (::chdir(rootfs.c_str()) < 0)
        throw_errno("chdir {}", rootfs);
    if (::mount(rootfs.c_str(), "/", nullptr, MS_MOVE, nullptr) < 0)
        throw_errno("move {} to /", rootfs);
    if (::chroot(".") < 0)
        throw_errno("chroot {}", rootfs);
    if (::chdir("/") < 0)
        throw_errno("chdir /");
}

// Without /proc in the container, /proc/self/fd/N does not exist; then the
// path (already checked to resolve inside the root) is used as is.
std::string target_of(int fd, const std::string &path) {
    static const bool have_proc = ::access("/proc/self/fd", X_OK) == 0;
    return have_proc ? fd_path(fd) : path;
}

bool open_optional(int root, const std::string &path, UniqueFd &out) {
    int fd = try_open_in_root(root, path, O_PATH);
    if (fd == -ENOENT || fd == -ENOTDIR)
        return false;
    if (fd < 0)
        throw Error(-fd, fmt::format("open {} in rootfs", path));
    out.reset(fd);
    return true;
}

void mask_path(int root, const std::string &path) {
    UniqueFd fd;
    if (!open_optional(root, path, fd))
        return;
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0)
        throw_errno("stat");
    const std::string target = target_of(fd.get(), path);
    if (S_ISDIR(st.st_mode)) {
        if (::mount("tmpfs", target.c_str(), "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0)
            throw_errno("mount read-only tmpfs");
    } else if (::mount("/dev/null", target.c_str(), nullptr, MS_BIND, nullptr) < 0) {
        throw_errno("bind /dev/null");
    }
}

void readonly_path(int root, const std::string &path) {
    UniqueFd fd;
    if (!open_optional(root, path, fd))
        return;
    UniqueFd tree(detail::sys_open_tree(fd.get(), "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH));
    if (!tree)
        throw_errno("open_tree");
    struct mount_attr ro {};
    ro.attr_set = MOUNT_ATTR_RDONLY;
    set_attr(tree.get(), AT_RECURSIVE, ro, path);
    if (detail::sys_move_mount(tree.get(), "", fd.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        throw_errno("move_mount");
}

} // namespace

void prepare_rootfs(const oci::Spec &spec, const RootfsOptions &opts) {
    const std::string rootfs = with_context("rootfs", [&] { return real_path(opts.rootfs); });
    const std::string &prop = root_propagation(spec);
    unsigned long flag = prop.empty() ? (MS_SLAVE | MS_REC) : propagation_flag(prop);
    // Unbindable is applied after pivot_root: an unbindable rootfs could not be bound below.
    if (flag & MS_UNBINDABLE)
        flag = MS_SLAVE | MS_REC;
    if (::mount(nullptr, "/", nullptr, flag, nullptr) < 0)
        throw_errno("set propagation of /");
    // pivot_root refuses a new root whose parent mount is shared.
    if (flag & MS_SHARED) {
        std::string parent = mount_point_of(rootfs);
        if (::mount(nullptr, parent.c_str(), nullptr, MS_PRIVATE, nullptr) < 0)
            throw_errno("make {} private", parent);
    }
    const std::string &source = opts.rootfs_source.empty() ? rootfs : opts.rootfs_source;
    if (::mount(source.c_str(), rootfs.c_str(), nullptr, MS_BIND | MS_REC, nullptr) < 0)
        throw_errno("bind rootfs {} from {}", rootfs, source);
    Ctx c{spec, opts, UniqueFd(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC))};
    if (!c.rootfs)
        throw_errno("open rootfs {}", rootfs);
    if (opts.recursive_readonly) {
        struct mount_attr ro {};
        ro.attr_set = MOUNT_ATTR_RDONLY;
        with_context("read-only root", [&] { set_attr(c.rootfs.get(), AT_RECURSIVE, ro, rootfs); });
    }
    for (size_t i = 0; i < spec.mounts.size(); ++i) {
        const auto &m = spec.mounts[i];
        with_context(fmt::format("mounts[{}] {}", i, m.destination), [&] { mount_one(c, m); });
    }
    with_context("devices", [&] { detail::setup_devices(c.rootfs.get(), spec, opts); });
}

void finish_rootfs(const oci::Spec &spec, const RootfsOptions &opts) {
    const std::string rootfs = with_context("rootfs", [&] { return real_path(opts.rootfs); });
    const std::string &prop = root_propagation(spec);
    if (opts.no_pivot) {
        move_and_chroot(rootfs);
    } else {
        // pivot_root(".", ".") needs the new root itself not shared.
        if (!prop.empty() && (propagation_flag(prop) & MS_SHARED) &&
            ::mount(nullptr, rootfs.c_str(), nullptr, MS_PRIVATE, nullptr) < 0)
            throw_errno("make rootfs private");
        pivot_into(rootfs);
    }
    UniqueFd root(::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root)
        throw_errno("open new root");
    if (spec.linux_) {
        for (size_t i = 0; i < spec.linux_->masked_paths.size(); ++i) {
            const auto &p = spec.linux_->masked_paths[i];
            with_context(fmt::format("linux.maskedPaths[{}] {}", i, p), [&] { mask_path(root.get(), p); });
        }
        for (size_t i = 0; i < spec.linux_->readonly_paths.size(); ++i) {
            const auto &p = spec.linux_->readonly_paths[i];
            with_context(fmt::format("linux.readonlyPaths[{}] {}", i, p), [&] { readonly_path(root.get(), p); });
        }
    }
    if (spec.root && spec.root->readonly) {
        struct mount_attr ro {};
        ro.attr_set = MOUNT_ATTR_RDONLY;
        with_context("root.readonly", [&] { set_attr(root.get(), 0, ro, "/"); });
    }
    if (!prop.empty() && ::mount(nullptr, "/", nullptr, propagation_flag(prop), nullptr) < 0)
        throw_errno("linux.rootfsPropagation {}: set propagation of /", prop);
}

} // namespace mxc::sandbox
