// Root filesystem setup: option parsing (no privilege), path resolution
// inside a root (no privilege), and prepare_rootfs/finish_rootfs for real (root
// only).  Everything that mounts runs in a forked child that first unshares
// its mount namespace and makes "/" rprivate, so the host never sees a mount;
// the child reports a failure as text over a pipe.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <linux/magic.h>

#include "mxc/oci/spec.hpp"
#include "mxc/sandbox/rootfs.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/fd.hpp"
#include "mxc/util/file.hpp"

namespace {

using mxc::UniqueFd;
namespace sb = mxc::sandbox;

#define CHILD_CHECK(cond)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            throw std::runtime_error(fmt::format("line {}: check failed: {} (errno {})", __LINE__, \
                                                 #cond, std::strerror(errno)));                    \
    } while (0)

// rc must be -1 with errno == err.
void expect_errno(int rc, int err, const char *what) {
    if (rc != -1 || errno != err)
        throw std::runtime_error(fmt::format("{}: rc {} errno {} ({}), want {}", what, rc, errno,
                                             std::strerror(errno), std::strerror(err)));
}

// Runs fn in a child with a private mount namespace.  Returns "" on success,
// otherwise what went wrong.
std::string in_mount_ns(const std::function<void()> &fn) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return "pipe failed";
    pid_t pid = fork();
    if (pid < 0)
        return "fork failed";
    if (pid == 0) {
        close(p[0]);
        std::string err;
        try {
            if (unshare(CLONE_NEWNS) < 0)
                throw std::runtime_error("unshare(CLONE_NEWNS) failed");
            if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
                throw std::runtime_error("make / rprivate failed");
            fn();
        } catch (const std::exception &e) {
            err = e.what();
            if (err.empty())
                err = "unknown failure";
        }
        if (!err.empty())
            (void)!write(p[1], err.data(), err.size());
        _exit(err.empty() ? 0 : 1);
    }
    close(p[1]);
    std::string msg;
    char buf[512];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0)
        msg.append(buf, static_cast<size_t>(n));
    close(p[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (msg.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        msg = fmt::format("child ended with status {:#x}", status);
    return msg;
}

std::string read_all(const std::string &path) {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw std::runtime_error("open " + path + ": " + std::strerror(errno));
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = read(fd.get(), buf, sizeof buf)) > 0)
        out.append(buf, static_cast<size_t>(n));
    return out;
}

std::string read_fd(int fd) {
    std::string out;
    char buf[256];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        out.append(buf, static_cast<size_t>(n));
    return out;
}

// A temp directory with base/rootfs (a busybox image), base/host (bind
// sources) and base/outside (what an escaping symlink points at).
class RootfsDir : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/mxc-test-rootfs-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        base = tmpl;
        rootfs = base + "/rootfs";
        host = base + "/host";
        outside = base + "/outside";
        for (const char *d : {"/bin", "/etc/maskdir", "/etc/rodir", "/proc", "/dev", "/tmp"})
            mxc::mkdir_p(rootfs + d);
        mxc::mkdir_p(host);
        mxc::mkdir_p(outside);
        mxc::write_file(rootfs + "/etc/passwd", "inside\n");
        mxc::write_file(rootfs + "/etc/secret", "s3cret\n");
        mxc::write_file(rootfs + "/etc/maskdir/a", "a\n");
        mxc::write_file(rootfs + "/etc/rodir/b", "b\n");
        mxc::write_file(host + "/hello", "hi\n");
        mxc::write_file(host + "/single", "file\n");
        if (access("/bin/busybox", X_OK) == 0) {
            mxc::write_file(rootfs + "/bin/busybox", mxc::read_file("/bin/busybox"), 0, 0755);
            (void)!symlink("busybox", (rootfs + "/bin/sh").c_str());
        }
        root_fd.reset(open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        ASSERT_TRUE(root_fd);
    }
    void TearDown() override {
        root_fd.reset();
        if (!base.empty())
            mxc::remove_tree(base);
    }

    static bool is_root() { return geteuid() == 0; }

    static mxc::oci::Mount mnt(std::string dest, std::string type, std::string src,
                               std::vector<std::string> opts) {
        mxc::oci::Mount m;
        m.destination = std::move(dest);
        m.type = std::move(type);
        m.source = std::move(src);
        m.options = std::move(opts);
        return m;
    }

    // The spec most tests run: proc, a /dev tmpfs with devpts, /tmp tmpfs, a
    // read-only bind, a bind of a single file, a bind through a symlink that
    // points out of the rootfs, masked and read-only paths, root read-only.
    mxc::oci::Spec full_spec() {
        mxc::oci::Spec s;
        s.root = mxc::oci::Root{rootfs, true};
        s.mounts = {
            mnt("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}),
            mnt("/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}),
            mnt("/dev/pts", "devpts", "devpts", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}),
            mnt("/scratch", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=1777"}),
            mnt("/data", "bind", host, {"rbind", "ro", "nosuid"}),
            mnt("/etc/single", "bind", host + "/single", {"bind"}),
            mnt("/escape/m", "none", host, {"bind"}),
        };
        s.linux_ = mxc::oci::Linux{};
        s.linux_->masked_paths = {"/etc/secret", "/etc/maskdir", "/does/not/exist"};
        s.linux_->readonly_paths = {"/etc/rodir", "/missing/too"};
        // An absolute symlink to a host path: resolved inside the rootfs, it
        // must become rootfs/<outside>, never the host's <outside>.
        EXPECT_EQ(symlink(outside.c_str(), (rootfs + "/escape").c_str()), 0);
        return s;
    }

    // What a container with full_spec() must look like from inside.
    void check_full(bool root_readonly) {
        struct stat st {};
        CHILD_CHECK(stat("/proc/self", &st) == 0);
        CHILD_CHECK(stat("/bin/busybox", &st) == 0);
        CHILD_CHECK(read_all("/etc/passwd") == "inside\n");
        // ro bind
        CHILD_CHECK(read_all("/data/hello") == "hi\n");
        expect_errno(open("/data/new", O_CREAT | O_WRONLY | O_CLOEXEC, 0644), EROFS, "create in ro bind");
        CHILD_CHECK(read_all("/etc/single") == "file\n");
        // masked file reads empty, masked dir is an empty read-only tmpfs
        CHILD_CHECK(read_all("/etc/secret").empty());
        expect_errno(access("/etc/maskdir/a", F_OK), ENOENT, "masked dir content");
        expect_errno(open("/etc/maskdir/new", O_CREAT | O_WRONLY | O_CLOEXEC, 0644), EROFS, "create in masked dir");
        // readonly path
        CHILD_CHECK(read_all("/etc/rodir/b") == "b\n");
        expect_errno(open("/etc/rodir/new", O_CREAT | O_WRONLY | O_CLOEXEC, 0644), EROFS, "create in readonlyPath");
        // devices and /dev symlinks
        CHILD_CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3));
        CHILD_CHECK(stat("/dev/urandom", &st) == 0 && S_ISCHR(st.st_mode));
        CHILD_CHECK((st.st_mode & 0777) == 0666);
        {
            UniqueFd z(open("/dev/zero", O_RDONLY | O_CLOEXEC));
            char c = 1;
            CHILD_CHECK(z && read(z.get(), &c, 1) == 1 && c == 0);
        }
        char link[PATH_MAX] = {};
        CHILD_CHECK(readlink("/dev/fd", link, sizeof link - 1) > 0 && std::string(link) == "/proc/self/fd");
        std::memset(link, 0, sizeof link);
        CHILD_CHECK(readlink("/dev/ptmx", link, sizeof link - 1) > 0 && std::string(link) == "pts/ptmx");
        CHILD_CHECK(stat("/dev/pts/ptmx", &st) == 0 && S_ISCHR(st.st_mode));
        // a tmpfs stays writable even with a read-only root
        mxc::write_file("/scratch/x", "y");
        // the escaping symlink's mount landed inside the rootfs
        CHILD_CHECK(read_all(outside + "/m/hello") == "hi\n");
        if (root_readonly) {
            expect_errno(mkdir("/newdir", 0755), EROFS, "mkdir on read-only root");
        } else {
            CHILD_CHECK(mkdir("/newdir", 0755) == 0);
        }
        // the host is gone from view
        CHILD_CHECK(access((rootfs + "/etc/passwd").c_str(), F_OK) != 0);
    }

    std::string base, rootfs, host, outside;
    UniqueFd root_fd;
};

// ---------------------------------------------------------------- options

TEST(MountOptions, FlagsClearsAndData) {
    auto f = sb::parse_mount_options({"nosuid", "ro", "rw", "nodev", "dev", "noexec", "strictatime", "mode=755",
                                      "size=65536k"});
    EXPECT_EQ(f.flags & MS_RDONLY, 0u);
    EXPECT_TRUE(f.cleared & MS_RDONLY);
    EXPECT_TRUE(f.flags & MS_NOSUID);
    EXPECT_EQ(f.flags & MS_NODEV, 0u);
    EXPECT_TRUE(f.flags & MS_NOEXEC);
    EXPECT_TRUE(f.flags & MS_STRICTATIME);
    EXPECT_EQ(f.data, "mode=755,size=65536k");
    EXPECT_FALSE(f.is_bind());
}

TEST(MountOptions, BindPropagationRecursiveAttrs) {
    auto f = sb::parse_mount_options({"rbind", "rslave", "private", "rro", "rnosuid", "rnoatime", "ridmap"});
    EXPECT_TRUE(f.is_bind());
    EXPECT_TRUE(f.is_recursive_bind());
    ASSERT_EQ(f.propagation.size(), 2u);
    EXPECT_EQ(f.propagation[0], static_cast<unsigned long>(MS_SLAVE | MS_REC));
    EXPECT_EQ(f.propagation[1], static_cast<unsigned long>(MS_PRIVATE));
    EXPECT_TRUE(f.attr_set & MOUNT_ATTR_RDONLY);
    EXPECT_TRUE(f.attr_set & MOUNT_ATTR_NOSUID);
    EXPECT_TRUE(f.attr_set & MOUNT_ATTR_NOATIME);
    EXPECT_TRUE(f.attr_clr & MOUNT_ATTR__ATIME);
    EXPECT_TRUE(f.idmap);
    EXPECT_TRUE(f.recursive_idmap);
    EXPECT_TRUE(f.data.empty());

    auto b = sb::parse_mount_options({"bind", "idmap", "rrw"});
    EXPECT_TRUE(b.is_bind());
    EXPECT_FALSE(b.is_recursive_bind());
    EXPECT_TRUE(b.idmap);
    EXPECT_FALSE(b.recursive_idmap);
    EXPECT_TRUE(b.attr_clr & MOUNT_ATTR_RDONLY);
}

// ---------------------------------------------------------------- paths

TEST_F(RootfsDir, OpenInRootKeepsDotDotInside) {
    for (const char *p : {"../../etc/passwd", "/etc/passwd", "/../../../etc/../etc/passwd"}) {
        UniqueFd fd(sb::open_in_root(root_fd.get(), p, O_RDONLY));
        EXPECT_EQ(read_fd(fd.get()), "inside\n") << p;
    }
}

TEST_F(RootfsDir, OpenInRootKeepsSymlinksInside) {
    ASSERT_EQ(symlink("/", (rootfs + "/to-root").c_str()), 0);
    ASSERT_EQ(symlink("../../../../..", (rootfs + "/up").c_str()), 0);
    ASSERT_EQ(symlink("/etc", (rootfs + "/etc-link").c_str()), 0);
    ASSERT_EQ(symlink("/etc/passwd", (rootfs + "/etc/pw").c_str()), 0);
    for (const char *p : {"to-root/etc/passwd", "up/etc/passwd", "etc-link/passwd", "/etc/pw"}) {
        UniqueFd fd(sb::open_in_root(root_fd.get(), p, O_RDONLY));
        EXPECT_EQ(read_fd(fd.get()), "inside\n") << p;
    }
    try {
        sb::open_in_root(root_fd.get(), "/no/such/file", O_RDONLY);
        ADD_FAILURE() << "opened a missing file";
    } catch (const mxc::Error &e) {
        EXPECT_EQ(e.code(), ENOENT);
    }
}

TEST_F(RootfsDir, MkdirInRootThroughMaliciousSymlinks) {
    // Absolute link to a host directory and a relative one climbing out.
    ASSERT_EQ(symlink(outside.c_str(), (rootfs + "/abs").c_str()), 0);
    std::string climb = "../../../../../../../.." + outside;
    ASSERT_EQ(symlink(climb.c_str(), (rootfs + "/rel").c_str()), 0);

    UniqueFd d(sb::mkdir_in_root(root_fd.get(), "/abs/x/y", true));
    UniqueFd f(sb::mkdir_in_root(root_fd.get(), "rel/sub/file", false));

    EXPECT_FALSE(mxc::path_exists(outside + "/x"));
    EXPECT_FALSE(mxc::path_exists(outside + "/sub"));
    struct stat in {}, got {};
    ASSERT_EQ(stat((rootfs + outside + "/x/y").c_str(), &in), 0);
    ASSERT_EQ(fstat(d.get(), &got), 0);
    EXPECT_EQ(in.st_ino, got.st_ino);
    EXPECT_TRUE(S_ISDIR(got.st_mode));
    ASSERT_EQ(stat((rootfs + outside + "/sub/file").c_str(), &in), 0);
    ASSERT_EQ(fstat(f.get(), &got), 0);
    EXPECT_EQ(in.st_ino, got.st_ino);
    EXPECT_TRUE(S_ISREG(got.st_mode));
    // Existing paths come back without being recreated.
    UniqueFd again(sb::mkdir_in_root(root_fd.get(), "/etc/passwd", false));
    ASSERT_EQ(fstat(again.get(), &got), 0);
    EXPECT_TRUE(S_ISREG(got.st_mode));
    EXPECT_EQ(mxc::read_file(rootfs + "/etc/passwd"), "inside\n");
}

TEST_F(RootfsDir, MkdirInRootSymlinkLoop) {
    ASSERT_EQ(symlink("b", (rootfs + "/a").c_str()), 0);
    ASSERT_EQ(symlink("a", (rootfs + "/b").c_str()), 0);
    try {
        sb::mkdir_in_root(root_fd.get(), "/a/x", true);
        ADD_FAILURE() << "resolved a symlink loop";
    } catch (const mxc::Error &e) {
        EXPECT_EQ(e.code(), ELOOP);
    }
}

// ---------------------------------------------------------------- mounts (root)

TEST_F(RootfsDir, PrepareAndFinishWithPivotRoot) {
    if (!is_root())
        GTEST_SKIP() << "needs root (mount namespaces, mknod)";
    auto spec = full_spec();
    sb::RootfsOptions opts;
    opts.rootfs = rootfs;
    std::string err = in_mount_ns([&] {
        sb::prepare_rootfs(spec, opts);
        sb::finish_rootfs(spec, opts);
        check_full(true);
    });
    EXPECT_EQ(err, "");
    // Nothing was created through the escaping symlink on the host side.
    EXPECT_FALSE(mxc::path_exists(outside + "/m"));
    EXPECT_TRUE(mxc::path_exists(rootfs + outside + "/m"));
}

TEST_F(RootfsDir, PrepareAndFinishWithoutPivot) {
    if (!is_root())
        GTEST_SKIP() << "needs root (mount namespaces, mknod)";
    auto spec = full_spec();
    spec.root->readonly = false;
    spec.linux_->rootfs_propagation = "private";
    sb::RootfsOptions opts;
    opts.rootfs = rootfs;
    opts.no_pivot = true;
    std::string err = in_mount_ns([&] {
        sb::prepare_rootfs(spec, opts);
        sb::finish_rootfs(spec, opts);
        check_full(false);
    });
    EXPECT_EQ(err, "");
    EXPECT_FALSE(mxc::path_exists(outside + "/m"));
    EXPECT_TRUE(mxc::path_exists(rootfs + outside + "/m"));
}

TEST_F(RootfsDir, DefaultDevicesWithoutDevMount) {
    if (!is_root())
        GTEST_SKIP() << "needs root (mount namespaces, mknod)";
    mxc::oci::Spec spec;
    spec.root = mxc::oci::Root{rootfs, false};
    spec.linux_ = mxc::oci::Linux{};
    mxc::oci::DeviceNode fuse;
    fuse.path = "/dev/custom/mine";
    fuse.type = "c";
    fuse.major = 1;
    fuse.minor = 7;
    fuse.file_mode = 0600;
    fuse.uid = 12;
    fuse.gid = 34;
    spec.linux_->devices = {fuse};
    sb::RootfsOptions opts;
    opts.rootfs = rootfs;
    std::string err = in_mount_ns([&] {
        sb::prepare_rootfs(spec, opts);
        struct stat st {};
        CHILD_CHECK(lstat((rootfs + "/dev/null").c_str(), &st) == 0 && S_ISCHR(st.st_mode));
        CHILD_CHECK(lstat((rootfs + "/dev/tty").c_str(), &st) == 0 && st.st_rdev == makedev(5, 0));
        CHILD_CHECK(lstat((rootfs + "/dev/custom/mine").c_str(), &st) == 0 && S_ISCHR(st.st_mode));
        CHILD_CHECK((st.st_mode & 07777) == 0600 && st.st_uid == 12 && st.st_gid == 34);
        CHILD_CHECK(lstat((rootfs + "/dev/stdin").c_str(), &st) == 0 && S_ISLNK(st.st_mode));
        // no devpts in the spec: /dev/ptmx is left alone
        CHILD_CHECK(lstat((rootfs + "/dev/ptmx").c_str(), &st) != 0);
    });
    EXPECT_EQ(err, "");
}

TEST_F(RootfsDir, BadMountTypeNamesTheMount) {
    if (!is_root())
        GTEST_SKIP() << "needs root (mount namespaces)";
    mxc::oci::Spec spec;
    spec.root = mxc::oci::Root{rootfs, false};
    spec.mounts = {mnt("/proc", "proc", "proc", {}), mnt("/weird", "nosuchfs", "x", {})};
    sb::RootfsOptions opts;
    opts.rootfs = rootfs;
    std::string err = in_mount_ns([&] {
        try {
            sb::prepare_rootfs(spec, opts);
        } catch (const mxc::Error &e) {
            throw std::runtime_error(fmt::format("code={} {}", e.code(), e.what()));
        }
    });
    EXPECT_NE(err.find("mounts[1] /weird: mount nosuchfs: "), std::string::npos) << err;
    EXPECT_NE(err.find(fmt::format("code={}", ENODEV)), std::string::npos) << err;
}

TEST_F(RootfsDir, MissingBindSourceNamesTheMount) {
    if (!is_root())
        GTEST_SKIP() << "needs root (mount namespaces)";
    mxc::oci::Spec spec;
    spec.root = mxc::oci::Root{rootfs, false};
    spec.mounts = {mnt("/data", "bind", base + "/nope", {"rbind"})};
    sb::RootfsOptions opts;
    opts.rootfs = rootfs;
    std::string err = in_mount_ns([&] { sb::prepare_rootfs(spec, opts); });
    EXPECT_NE(err.find("mounts[0] /data: stat bind source"), std::string::npos) << err;
    EXPECT_NE(err.find("ENOENT"), std::string::npos) << err;
}

TEST_F(RootfsDir, IdmappedBindMount) {
    if (!is_root())
        GTEST_SKIP() << "needs root (mount namespaces, user namespaces)";
    ASSERT_EQ(chown((host + "/hello").c_str(), 0, 0), 0);
    mxc::oci::Spec spec;
    spec.root = mxc::oci::Root{rootfs, false};
    auto m = mnt("/idm", "bind", host, {"bind", "idmap"});
    m.uid_mappings = {{0, 1000, 1}};
    m.gid_mappings = {{0, 2000, 1}};
    // /tmp may be a filesystem without idmap support; the test host's is.
    spec.mounts = {m};
    sb::RootfsOptions opts;
    opts.rootfs = rootfs;
    std::string err = in_mount_ns([&] {
        sb::prepare_rootfs(spec, opts);
        struct stat st {};
        CHILD_CHECK(stat((rootfs + "/idm/hello").c_str(), &st) == 0);
        CHILD_CHECK(st.st_uid == 1000 && st.st_gid == 2000);
    });
    if (err.find("idmap") != std::string::npos && err.find("EINVAL") != std::string::npos)
        GTEST_SKIP() << "filesystem of /tmp does not support idmapped mounts: " << err;
    EXPECT_EQ(err, "");
}

TEST_F(RootfsDir, RootlessBindsHostDevices) {
    if (!is_root())
        GTEST_SKIP() << "needs root (mount namespaces)";
    mxc::oci::Spec spec;
    spec.root = mxc::oci::Root{rootfs, false};
    spec.mounts = {mnt("/dev", "tmpfs", "tmpfs", {"nosuid", "mode=755"})};
    sb::RootfsOptions opts;
    opts.rootfs = rootfs;
    opts.rootless = true; // no mknod: every node is a bind of the host's
    std::string err = in_mount_ns([&] {
        sb::prepare_rootfs(spec, opts);
        struct stat st {};
        CHILD_CHECK(stat((rootfs + "/dev/null").c_str(), &st) == 0 && S_ISCHR(st.st_mode));
        CHILD_CHECK(st.st_rdev == makedev(1, 3));
        mxc::write_file(rootfs + "/dev/null", "discarded");
    });
    EXPECT_EQ(err, "");
}

TEST_F(RootfsDir, CgroupMountFollowsHostLayout) {
    if (!is_root())
        GTEST_SKIP() << "needs root (mount namespaces)";
    struct statfs sf {};
    const bool unified = statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
    const bool hybrid = !unified && statfs("/sys/fs/cgroup/unified", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
    if (!unified && !hybrid)
        GTEST_SKIP() << "host has no cgroup2 mount";
    mxc::oci::Spec spec;
    spec.root = mxc::oci::Root{rootfs, false};
    spec.mounts = {mnt("/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"})};
    sb::RootfsOptions opts;
    opts.rootfs = rootfs;
    std::string err = in_mount_ns([&] {
        sb::prepare_rootfs(spec, opts);
        const std::string v2 = rootfs + (unified ? "/sys/fs/cgroup" : "/sys/fs/cgroup/unified");
        struct statfs s {};
        CHILD_CHECK(statfs(v2.c_str(), &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC);
        CHILD_CHECK(mxc::path_exists(v2 + "/cgroup.procs"));
        expect_errno(mkdir((rootfs + "/sys/fs/cgroup/x").c_str(), 0755), EROFS, "mkdir in ro cgroup mount");
    });
    EXPECT_EQ(err, "");
}

} // namespace
