// Security at creation (issue 2): what the container must not reach on the
// host — fds, a cwd or mount outside its root, the runtime binary — and the
// bad-input contract: one line naming the field, nothing left behind.
// Every check is made from inside by the probe or from the host on its files.
#include "fixture.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>
#include <thread>

using namespace mxc::testing;

namespace {

class Security : public IntegrationTest {
protected:
    void SetUp() override
    {
        IntegrationTest::SetUp();
        if (IsSkipped())
            return;
        MXC_REQUIRE_ROOT();
    }

    // `run` in the foreground; the probe's answer, or null (with a failure).
    Json run_probe(Bundle& b, const std::vector<std::string>& extra = {},
                   const std::string& prefix = "sec")
    {
        b.write();
        std::string id = new_id(prefix);
        std::vector<std::string> args{"run"};
        args.insert(args.end(), extra.begin(), extra.end());
        args.insert(args.end(), {"--bundle", b.dir().string(), id});
        RunResult r = run_mxc(args);
        EXPECT_EQ(r.status, 0) << r.describe();
        if (r.status != 0)
            return Json();
        return probe_json(r.out);
    }

    int start_sleeping(Bundle& b, const std::string& id)
    {
        b.set_args({"/probe", "sleep", "60"});
        b.write();
        create_and_start(id, b);
        if (::testing::Test::HasFatalFailure())
            return 0;
        return state(id).value("pid", 0);
    }
};

bool contains(const std::string& hay, const std::string& needle)
{
    return hay.find(needle) != std::string::npos;
}

std::vector<std::string> keys_of(const Json& obj)
{
    std::vector<std::string> k;
    if (obj.is_object())
        for (const auto& [key, v] : obj.items())
            k.push_back(key);
    std::sort(k.begin(), k.end());
    return k;
}

std::vector<std::string> dir_entries(const fs::path& dir)
{
    std::vector<std::string> names;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        names.push_back(it->path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

// Host mount points (this process's mount namespace).
std::vector<std::string> host_mount_targets()
{
    std::vector<std::string> t;
    std::istringstream in(read_file("/proc/self/mountinfo"));
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, parent, devno, root, target;
        if (f >> id >> parent >> devno >> root >> target)
            t.push_back(target);
    }
    return t;
}

// Non-empty lines of a text.
std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> v;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty())
            v.push_back(line);
    return v;
}

// Places fds opened WITHOUT O_CLOEXEC at chosen numbers in this (the test)
// process, so that the runtime inherits them, as it would from a careless
// caller; restores whatever held those numbers on destruction.
class InheritedFds {
public:
    InheritedFds() = default;
    InheritedFds(const InheritedFds&) = delete;
    InheritedFds& operator=(const InheritedFds&) = delete;
    ~InheritedFds()
    {
        for (auto it = slots_.rbegin(); it != slots_.rend(); ++it) {
            if (it->saved >= 0) {
                dup2(it->saved, it->target);
                fcntl(it->target, F_SETFD, it->saved_flags);
                close(it->saved);
            } else {
                close(it->target);
            }
        }
    }

    // Returns false (and records a failure) when the file cannot be opened.
    bool place(int target, const fs::path& path, int flags = O_RDONLY)
    {
        int fd = open(path.c_str(), flags);  // no O_CLOEXEC: inheritable
        if (fd < 0) {
            ADD_FAILURE() << "open " << path << ": " << std::strerror(errno);
            return false;
        }
        Slot s{target, -1, 0};
        int fl = fcntl(target, F_GETFD);
        if (fl >= 0 && fd != target) {
            s.saved = fcntl(target, F_DUPFD_CLOEXEC, 300);
            s.saved_flags = fl;
        }
        if (fd != target) {
            dup2(fd, target);  // the copy has FD_CLOEXEC clear
            close(fd);
        }
        slots_.push_back(s);
        return true;
    }

private:
    struct Slot {
        int target, saved, saved_flags;
    };
    std::vector<Slot> slots_;
};

// =========================================================================
// (a) No host fd reaches the container (CVE-2024-21626 class).
// =========================================================================

// Host directories and files held open (inheritable) by the caller of mxc.
void place_host_fds(InheritedFds& fds, const fs::path& tmp)
{
    fs::create_directories(tmp / "host-secret-dir");
    write_file(tmp / "host-secret-file", "secret\n");
    fds.place(3, "/");
    fds.place(4, tmp / "host-secret-dir", O_RDONLY | O_DIRECTORY);
    fds.place(5, tmp / "host-secret-file");
    fds.place(9, "/etc", O_RDONLY | O_DIRECTORY);
    fds.place(42, tmp / "host-secret-file", O_RDWR);
}

TEST_F(Security, InheritedHostFdsDoNotReachARunContainer)
{
    Bundle& b = new_bundle();
    InheritedFds fds;
    place_host_fds(fds, tmp());
    Json p = run_probe(b, {}, "fd-run");
    ASSERT_TRUE(p.is_object());
    EXPECT_EQ(keys_of(p["fds"]), (std::vector<std::string>{"0", "1", "2"})) << p["fds"].dump();
}

TEST_F(Security, InheritedHostFdsDoNotReachACreatedContainerOrExec)
{
    Bundle& b = new_bundle();
    fs::path out = b.add_host_dir("out", "/out");
    // Not `probe report`: its own output file would show as an fd.
    b.set_args({"/bin/sh", "-c",
                "/probe > /out/init.tmp; mv /out/init.tmp /out/init.json; exec /probe sleep 60"});
    b.write();
    std::string id = new_id("fd-create");
    InheritedFds fds;
    place_host_fds(fds, tmp());
    ASSERT_NO_FATAL_FAILURE(create_and_start(id, b));
    ASSERT_TRUE(wait_for([&] { return fs::exists(out / "init.json"); }, 10s));
    Json init = probe_json(read_file(out / "init.json"));
    // The init's 0 and 2 are what `create` had (our capture files), 1 the
    // report file: nothing else.
    EXPECT_EQ(keys_of(init["fds"]), (std::vector<std::string>{"0", "1", "2"})) << init["fds"].dump();

    RunResult e = run_mxc({"exec", id, "/probe"});
    ASSERT_EQ(e.status, 0) << e.describe();
    Json p = probe_json(e.out);
    EXPECT_EQ(keys_of(p["fds"]), (std::vector<std::string>{"0", "1", "2"})) << p["fds"].dump();
}

TEST_F(Security, PreserveFdsPassesExactlyTheFirstN)
{
    Bundle& b = new_bundle();
    write_file(tmp() / "preserved-a", "a\n");
    write_file(tmp() / "preserved-b", "b\n");
    write_file(tmp() / "not-preserved", "c\n");
    InheritedFds fds;
    ASSERT_TRUE(fds.place(3, tmp() / "preserved-a"));
    ASSERT_TRUE(fds.place(4, tmp() / "preserved-b"));
    ASSERT_TRUE(fds.place(5, tmp() / "not-preserved"));
    ASSERT_TRUE(fds.place(6, "/", O_RDONLY | O_DIRECTORY));
    Json p = run_probe(b, {"--preserve-fds", "2"}, "fd-keep");
    ASSERT_TRUE(p.is_object());
    EXPECT_EQ(keys_of(p["fds"]), (std::vector<std::string>{"0", "1", "2", "3", "4"}))
        << p["fds"].dump();
    auto ends_with = [](const std::string& s, const std::string& tail) {
        return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
    };
    EXPECT_TRUE(ends_with(p["fds"].value("3", ""), "preserved-a")) << p["fds"].dump();
    EXPECT_TRUE(ends_with(p["fds"].value("4", ""), "preserved-b")) << p["fds"].dump();
}

TEST_F(Security, PreserveFdsReachTheProcessReadable)
{
    // The preserved fd is usable, not only present: the process reads it.
    Bundle& b = new_bundle();
    write_file(tmp() / "preserved-data", "through fd 3\n");
    InheritedFds fds;
    ASSERT_TRUE(fds.place(3, tmp() / "preserved-data"));
    b.set_args({"/bin/cat", "/proc/self/fd/3"});
    b.write();
    std::string id = new_id("fd-read");
    RunResult r = run_mxc({"run", "--preserve-fds", "1", "--bundle", b.dir().string(), id});
    EXPECT_EQ(r.status, 0) << r.describe();
    EXPECT_EQ(r.out, "through fd 3\n") << r.describe();
}

// =========================================================================
// (b) process.cwd is resolved inside the root.
// =========================================================================

struct CwdCase {
    const char* name;
    // Prepares the rootfs (given the bundle and a host dir outside the
    // rootfs) and returns process.cwd.
    std::string (*prepare)(Bundle& b, const fs::path& host_dir);
    bool no_pivot;
};

void PrintTo(const CwdCase& c, std::ostream* os) { *os << c.name; }

std::string cwd_dotdot(Bundle&, const fs::path&) { return "/../../../../tmp"; }

std::string cwd_abs_symlink(Bundle& b, const fs::path& host)
{
    fs::create_symlink(host, b.rootfs() / "hostlink");
    return "/hostlink";
}

std::string cwd_rel_symlink(Bundle& b, const fs::path& host)
{
    // Enough ".." to climb out of any rootfs path on the host, then the host dir.
    fs::create_symlink("../../../../../../../../../../.." + host.string(), b.rootfs() / "uplink");
    return "/uplink";
}

std::string cwd_proc_fd(Bundle&, const fs::path&) { return "/proc/self/fd/4"; }

class SecurityCwd : public Security, public ::testing::WithParamInterface<CwdCase> {};

TEST_P(SecurityCwd, StaysInsideTheRoot)
{
    Bundle& b = new_bundle();
    b.set_readonly_root(false);  // a missing cwd may be created (inside)
    fs::path host = tmp() / "host-cwd-target";
    fs::create_directories(host);
    write_file(host / "host-marker", "host\n");
    struct stat host_st{};
    ASSERT_EQ(stat(host.c_str(), &host_st), 0);
    // The caller holds a host directory open (CVE-2024-21626 used a leaked
    // fd with cwd "/proc/self/fd/N").
    InheritedFds fds;
    ASSERT_TRUE(fds.place(4, host, O_RDONLY | O_DIRECTORY));
    ASSERT_TRUE(fds.place(3, "/", O_RDONLY | O_DIRECTORY));

    b.json()["process"]["cwd"] = GetParam().prepare(b, host);
    b.set_args({"/bin/sh", "-c", "/probe cwd; /probe ls ."});
    b.write();
    std::string id = new_id("cwd");
    std::vector<std::string> args{"run"};
    if (GetParam().no_pivot)
        args.push_back("--no-pivot");
    args.insert(args.end(), {"--bundle", b.dir().string(), id});
    RunResult r = run_mxc(args);
    if (r.status != 0) {
        // Refusing is safe; it must say why and leave nothing.
        EXPECT_TRUE(contains(r.err, "cwd")) << r.describe();
        run_mxc({"delete", "--force", id});
        EXPECT_TRUE(wait_for([&] { return leftovers(id).empty(); }, 5s))
            << ::testing::PrintToString(leftovers(id));
        return;
    }
    std::vector<Json> out = json_lines(r.out);
    ASSERT_EQ(out.size(), 2u) << r.describe();
    const Json& cwd = out[0];
    const Json& ls = out[1];
    EXPECT_EQ(cwd["under_root"], true) << "cwd outside the container's root: " << cwd.dump();
    EXPECT_FALSE(contains(cwd.value("getcwd", "(null)"), "unreachable")) << cwd.dump();
    EXPECT_FALSE(cwd.value("ino", 0ull) == host_st.st_ino &&
                 cwd.value("dev_major", -1) == static_cast<int>(major(host_st.st_dev)) &&
                 cwd.value("dev_minor", -1) == static_cast<int>(minor(host_st.st_dev)))
        << "cwd is the host directory: " << cwd.dump();
    auto entries = ls["entries"].is_array() ? ls["entries"].get<std::vector<std::string>>()
                                            : std::vector<std::string>{};
    EXPECT_EQ(std::find(entries.begin(), entries.end(), "host-marker"), entries.end())
        << "the container lists the host directory: " << ls.dump();
    EXPECT_EQ(dir_entries(host), std::vector<std::string>{"host-marker"});
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SecurityCwd,
    ::testing::Values(CwdCase{"dotdot", cwd_dotdot, false},
                      CwdCase{"abs_symlink", cwd_abs_symlink, false},
                      CwdCase{"rel_symlink", cwd_rel_symlink, false},
                      CwdCase{"proc_self_fd", cwd_proc_fd, false},
                      CwdCase{"dotdot_nopivot", cwd_dotdot, true},
                      CwdCase{"abs_symlink_nopivot", cwd_abs_symlink, true},
                      CwdCase{"rel_symlink_nopivot", cwd_rel_symlink, true},
                      CwdCase{"proc_self_fd_nopivot", cwd_proc_fd, true}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(Security, CwdDotDotIsClampedToTheRoot)
{
    for (bool no_pivot : {false, true}) {
        SCOPED_TRACE(no_pivot ? "--no-pivot" : "pivot_root");
        Bundle& b = new_bundle();
        struct stat st{};
        ASSERT_EQ(stat((b.rootfs() / "tmp").c_str(), &st), 0);
        b.json()["process"]["cwd"] = "/../../../../tmp";
        b.set_args({"/probe", "cwd"});
        Json p = run_probe(b, no_pivot ? std::vector<std::string>{"--no-pivot"}
                                       : std::vector<std::string>{},
                           "cwd-tmp");
        ASSERT_TRUE(p.is_object());
        EXPECT_EQ(p["getcwd"], "/tmp") << p.dump();
        EXPECT_EQ(p["under_root"], true) << p.dump();
        EXPECT_EQ(p.value("ino", 0ull), static_cast<unsigned long long>(st.st_ino))
            << "cwd is not the rootfs's /tmp: " << p.dump();
    }
}

TEST_F(Security, CwdThroughAnyProcSelfFdStaysInside)
{
    // Whatever the runtime itself holds open while it sets up (state dir,
    // cgroup, bundle), none of it is a way out through /proc/self/fd/N.
    for (int n = 3; n <= 12; n++) {
        Bundle& b = new_bundle();
        b.json()["process"]["cwd"] = "/proc/self/fd/" + std::to_string(n);
        b.set_args({"/probe", "cwd"});
        b.write();
        std::string id = new_id("cwd-fd");
        RunResult r = run_mxc({"run", "--bundle", b.dir().string(), id});
        if (r.status != 0) {
            EXPECT_TRUE(contains(r.err, "cwd")) << "fd " << n << ": " << r.describe();
            continue;
        }
        Json p = probe_json(r.out);
        EXPECT_EQ(p["under_root"], true) << "fd " << n << " leads outside: " << p.dump();
    }
}

// =========================================================================
// (c) A mount destination through a symlink lands inside the rootfs.
// =========================================================================

struct MountCase {
    const char* name;
    // Makes rootfs/<link> point at the host dir; returns the destination.
    std::string (*prepare)(Bundle& b, const fs::path& host_dir);
};

void PrintTo(const MountCase& c, std::ostream* os) { *os << c.name; }

std::string mnt_abs_symlink(Bundle& b, const fs::path& host)
{
    fs::create_symlink(host, b.rootfs() / "evil");
    return "/evil";
}

std::string mnt_rel_symlink(Bundle& b, const fs::path& host)
{
    fs::create_symlink("../../../../../../../../../../.." + host.string(), b.rootfs() / "evil");
    return "/evil";
}

std::string mnt_nested_symlink(Bundle& b, const fs::path& host)
{
    // A symlinked parent: /evil -> host's parent, destination /evil/<name>.
    fs::create_symlink(host.parent_path(), b.rootfs() / "evil");
    return "/evil/" + host.filename().string();
}

std::string mnt_dotdot(Bundle&, const fs::path& host) { return "/../../../../.." + host.string(); }

class SecurityMount : public Security, public ::testing::WithParamInterface<MountCase> {};

TEST_P(SecurityMount, TmpfsLandsInsideTheRootfs)
{
    Bundle& b = new_bundle();
    fs::path host = tmp() / "host-mnt-target";
    fs::create_directories(host);
    write_file(host / "host-marker", "host\n");
    const auto mounts_before = host_mount_targets();
    std::string dest = GetParam().prepare(b, host);
    b.add_mount(dest, "tmpfs", "tmpfs", {"size=1m"});
    b.set_args({"/bin/sh", "-c",
                "/probe write " + dest + "/from-container; /probe ls " + dest + "; /probe"});
    b.write();
    std::string id = new_id("mnt");
    RunResult r = run_mxc({"run", "--bundle", b.dir().string(), id});

    // Whatever happened inside, the host directory is untouched and no
    // mount appeared on it.
    EXPECT_EQ(dir_entries(host), std::vector<std::string>{"host-marker"});
    const auto mounts_after = host_mount_targets();
    EXPECT_EQ(std::count(mounts_after.begin(), mounts_after.end(), host.string()), 0);
    EXPECT_EQ(mounts_after.size(), mounts_before.size());

    ASSERT_EQ(r.status, 0) << r.describe();
    std::vector<Json> out = json_lines(r.out);
    ASSERT_EQ(out.size(), 3u) << r.describe();
    EXPECT_EQ(out[0]["ok"], true) << "write into the tmpfs: " << out[0].dump();
    EXPECT_EQ(out[1]["entries"], Json::array({"from-container"})) << out[1].dump();
    // The tmpfs is in the container's mount table at the destination
    // resolved inside the root: the host path, taken as a rootfs path.
    bool found = false;
    for (const auto& m : out[2]["mounts"])
        if (m["fstype"] == "tmpfs" && (m["target"] == host.string() || m["target"] == dest))
            found = true;
    EXPECT_TRUE(found) << "no tmpfs at " << host << " inside: " << out[2]["mounts"].dump();
    // The file went to the tmpfs, not through to the rootfs on disk.
    EXPECT_FALSE(fs::exists(b.rootfs() / host.relative_path() / "from-container"));
}

INSTANTIATE_TEST_SUITE_P(Cases, SecurityMount,
                         ::testing::Values(MountCase{"abs_symlink", mnt_abs_symlink},
                                           MountCase{"rel_symlink", mnt_rel_symlink},
                                           MountCase{"nested_symlink", mnt_nested_symlink},
                                           MountCase{"dotdot", mnt_dotdot}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(Security, BindMountSourceIsNotResolvedInTheRootfs)
{
    // The control case: a bind source is a host path (the spec says so), and
    // its destination still lands inside through the symlink.
    Bundle& b = new_bundle();
    fs::path src = tmp() / "bind-src";
    fs::create_directories(src);
    write_file(src / "from-host", "x\n");
    fs::path decoy = tmp() / "bind-decoy";
    fs::create_directories(decoy);
    fs::create_symlink(decoy, b.rootfs() / "evil");
    b.add_mount("/evil", "bind", src.string(), {"rbind", "ro"});
    b.set_args({"/probe", "ls", "/evil"});
    Json p = run_probe(b, {}, "mnt-bind");
    EXPECT_EQ(p["entries"], Json::array({"from-host"})) << p.dump();
    EXPECT_TRUE(dir_entries(decoy).empty());
}

// =========================================================================
// (d) The runtime binary is not writable from the container (CVE-2019-5736).
// =========================================================================

// Copies the dynamic loader and the libraries `bin` needs into the rootfs,
// so that the host binary can actually run inside (as the attack needs).
void copy_shared_libs(const fs::path& bin, const fs::path& rootfs)
{
    RunResult l = run_program({"/usr/bin/ldd", bin.string()}, "", 10s);
    std::istringstream in(l.out);
    for (std::string line; std::getline(in, line);) {
        std::string path;
        auto arrow = line.find("=> ");
        if (arrow != std::string::npos)
            path = line.substr(arrow + 3);
        else {
            auto slash = line.find('/');
            if (slash != std::string::npos)
                path = line.substr(slash);
        }
        auto sp = path.find(' ');
        if (sp != std::string::npos)
            path.resize(sp);
        if (path.empty() || path[0] != '/')
            continue;
        fs::path dst = rootfs / fs::path(path).relative_path();
        std::error_code ec;
        fs::create_directories(dst.parent_path(), ec);
        fs::copy_file(path, dst, fs::copy_options::overwrite_existing, ec);
    }
}

TEST_F(Security, RuntimeBinaryIsNotWritableFromTheContainer)
{
    const fs::path bin = fs::canonical(mxc_bin());
    struct stat bin_st{};
    ASSERT_EQ(stat(bin.c_str(), &bin_st), 0);
    const std::string before = read_file(bin);
    ASSERT_FALSE(before.empty());

    Bundle& b = new_bundle();
    fs::path out = b.add_host_dir("out", "/out");
    copy_shared_libs(bin, b.rootfs());
    // The 2019 exploit: a program whose interpreter is /proc/self/exe makes
    // the runtime's exec process re-execute the runtime binary inside the
    // container, where its /proc/PID/exe is then open to the container.
    write_file(b.rootfs() / "evil", "#!/proc/self/exe\n", fs::perms(0755));
    // The hunter is the init: it tries every process's exe until told to stop.
    b.set_args({"/probe", "exe-hunt", "/out/stop", "/out/hunt.json"});
    b.write();
    std::string id = new_id("exe");
    ASSERT_NO_FATAL_FAILURE(create_and_start(id, b));
    std::this_thread::sleep_for(200ms);

    std::string evil_err;
    for (int i = 0; i < 10; i++) {
        RunResult e = run_mxc({"exec", id, "/evil"});
        if (evil_err.empty())
            evil_err = e.err;
        RunResult p = run_mxc({"exec", id, "/probe", "exit", "0"});
        // The hunter itself holds /probe open for writing now and then
        // (that is what it tries on every exe it sees): execve then fails
        // with ETXTBSY, which mxc reports.
        if (p.status == 127 && p.err.find("ETXTBSY") != std::string::npos)
            continue;
        EXPECT_EQ(p.status, 0) << "exec " << i << ": " << p.describe();
    }
    // Only once no runtime process runs does a held fd reopen for writing
    // (before that: ETXTBSY); give the hunter time to try.
    std::this_thread::sleep_for(500ms);
    write_file(out / "stop", "");
    ASSERT_TRUE(wait_for([&] { return fs::exists(out / "hunt.json"); }, 15s));
    Json h = probe_json(read_file(out / "hunt.json"));
    ASSERT_TRUE(h.is_object());

    auto is_runtime = [&](const Json& e) {
        return e.value("ino", 0ull) == bin_st.st_ino &&
               e.value("dev_major", -1) == static_cast<int>(major(bin_st.st_dev)) &&
               e.value("dev_minor", -1) == static_cast<int>(minor(bin_st.st_dev));
    };
    int reached_runtime = 0;
    for (const auto& e : h["reached"])
        reached_runtime += is_runtime(e);
    // What a container can reach through /proc/PID/exe of the runtime is
    // either the binary through a private read-only bind (mxc as root
    // re-executes itself from one: reopening fails with EROFS) or a sealed
    // in-memory copy (a memfd on the kernel's shmem mount, device 0:1:
    // opening succeeds, writing fails with F_SEAL_WRITE).  Any other
    // executable opened for writing, above all the runtime binary, is the
    // vulnerability.
    for (const auto& e : h["writable"]) {
        EXPECT_FALSE(is_runtime(e)) << "the container opened the runtime binary for writing: " << e.dump();
        EXPECT_TRUE(e.value("dev_major", -1) == 0 && e.value("dev_minor", -1) == 1)
            << "the container opened a host executable for writing: " << e.dump()
            << "\nfirst /evil exec stderr: " << evil_err;
    }
    // Diagnostics: whether the attack got as far as an O_PATH fd on the
    // runtime binary (the precondition of the overwrite).
    RecordProperty("reached_runtime_binary", reached_runtime);
    RecordProperty("hunter_scans", h.value("scans", 0));
    EXPECT_GT(h.value("scans", 0), 10) << h.dump();

    EXPECT_TRUE(read_file(bin) == before) << "the runtime binary changed";
    RunResult d = run_mxc({"delete", "--force", id});
    EXPECT_EQ(d.status, 0) << d.describe();
}

TEST_F(Security, RuntimeBinaryIsOnlyReachableReadOnlyThroughProcExe)
{
    // Stricter than the above: during `exec`, a process in the container
    // that exposes the host's runtime binary through /proc/PID/exe exposes
    // it only through a read-only mount (every reopen for writing: EROFS).
    const fs::path bin = fs::canonical(mxc_bin());
    struct stat bin_st{};
    ASSERT_EQ(stat(bin.c_str(), &bin_st), 0);
    Bundle& b = new_bundle();
    fs::path out = b.add_host_dir("out", "/out");
    copy_shared_libs(bin, b.rootfs());
    write_file(b.rootfs() / "evil", "#!/proc/self/exe\n", fs::perms(0755));
    b.set_args({"/probe", "exe-hunt", "/out/stop", "/out/hunt.json"});
    b.write();
    std::string id = new_id("exe-reach");
    ASSERT_NO_FATAL_FAILURE(create_and_start(id, b));
    std::this_thread::sleep_for(200ms);
    for (int i = 0; i < 10; i++) {
        run_mxc({"exec", id, "/evil"});
        run_mxc({"exec", id, "/probe", "exit", "0"});
    }
    write_file(out / "stop", "");
    ASSERT_TRUE(wait_for([&] { return fs::exists(out / "hunt.json"); }, 15s));
    Json h = probe_json(read_file(out / "hunt.json"));
    ASSERT_TRUE(h.is_object());
    for (const auto& e : h["reached"]) {
        bool runtime = e.value("ino", 0ull) == bin_st.st_ino &&
                       e.value("dev_major", -1) == static_cast<int>(major(bin_st.st_dev)) &&
                       e.value("dev_minor", -1) == static_cast<int>(minor(bin_st.st_dev));
        if (runtime) {
            EXPECT_EQ(e.value("last_errno", ""), "EROFS")
                << "container process " << e.dump() << " reached the host runtime binary " << bin
                << " other than through a read-only mount";
        }
    }
    EXPECT_TRUE(h["writable"].empty()) << h["writable"].dump();
}

// =========================================================================
// (e) pivot_root is used; --no-pivot still works.
// =========================================================================

struct MountEntry {
    std::string root, target, fstype, source;
};

MountEntry host_root_mount()
{
    MountEntry found;
    std::istringstream in(read_file("/proc/self/mountinfo"));
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, parent, devno, root, target, opts, tok;
        if (!(f >> id >> parent >> devno >> root >> target >> opts))
            continue;
        while (f >> tok && tok != "-") {
        }
        std::string fstype, source;
        f >> fstype >> source;
        if (target == "/")
            found = {root, target, fstype, source};
    }
    return found;
}

TEST_F(Security, PivotRootLeavesNoHostRootMount)
{
    Bundle& b = new_bundle();
    Json p = run_probe(b, {}, "pivot");
    ASSERT_TRUE(p.is_object());
    const MountEntry host = host_root_mount();
    ASSERT_FALSE(host.source.empty());
    int roots = 0;
    for (const auto& m : p["mounts"]) {
        if (m["target"] == "/") {
            roots++;
            std::string r = m["root"];
            EXPECT_TRUE(r.size() >= 7 && r.compare(r.size() - 7, 7, "/rootfs") == 0)
                << "the container's / is not the bundle's rootfs: " << m.dump();
        }
        EXPECT_FALSE(m["root"] == host.root && m["fstype"] == host.fstype &&
                     m["source"] == host.source)
            << "the host's root filesystem is mounted in the container: " << m.dump();
        std::string t = m["target"];
        EXPECT_FALSE(contains(t, tmp().string())) << "a host path: " << m.dump();
    }
    EXPECT_EQ(roots, 1) << p["mounts"].dump();
}

TEST_F(Security, NoPivotStillRuns)
{
    Bundle& b = new_bundle();
    write_file(b.rootfs() / "etc/nopivot-marker", "inside\n");
    b.set_args({"/bin/sh", "-c", "/probe read /etc/nopivot-marker; /probe"});
    b.write();
    std::string id = new_id("nopivot");
    RunResult r = run_mxc({"run", "--no-pivot", "--bundle", b.dir().string(), id});
    ASSERT_EQ(r.status, 0) << r.describe();
    std::vector<Json> out = json_lines(r.out);
    ASSERT_EQ(out.size(), 2u) << r.describe();
    EXPECT_EQ(out[0]["content"], "inside\n") << out[0].dump();
    EXPECT_EQ(out[1]["cwd"], "/");
    EXPECT_EQ(out[1]["pid"], 1);
    EXPECT_TRUE(leftovers(id, b).empty()) << ::testing::PrintToString(leftovers(id, b));
}

TEST_F(Security, NoPivotCreateStartDelete)
{
    Bundle& b = new_bundle();
    b.set_args({"/probe", "sleep", "60"});
    b.write();
    std::string id = new_id("nopivot-cs");
    RunResult c = run_mxc({"create", "--no-pivot", "--bundle", b.dir().string(), id});
    ASSERT_EQ(c.status, 0) << c.describe();
    ASSERT_EQ(run_mxc({"start", id}).status, 0);
    EXPECT_EQ(status_of(id), "running");
    RunResult e = run_mxc({"exec", id, "/probe", "cwd"});
    ASSERT_EQ(e.status, 0) << e.describe();
    EXPECT_EQ(probe_json(e.out)["under_root"], true) << e.out;
    EXPECT_EQ(run_mxc({"delete", "--force", id}).status, 0);
    EXPECT_TRUE(wait_for([&] { return leftovers(id, b).empty(); }, 5s))
        << ::testing::PrintToString(leftovers(id, b));
}

// =========================================================================
// (f) Bad input: one line naming the field; nothing left behind.
// =========================================================================

struct BadCase {
    const char* name;
    void (*mutate)(Bundle& b);
    std::vector<std::string> expect_in_err;
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.name; }

class SecurityBadInput : public Security, public ::testing::WithParamInterface<BadCase> {};

void bad_json(Bundle& b) { write_file(b.config_path(), "{\"ociVersion\": \"1.0.2\", \"process\": {\n"); }
void unknown_field(Bundle& b)
{
    b.json()["process"]["bogusField"] = true;
    b.write();
}
void bad_mount_type(Bundle& b)
{
    b.add_mount("/badmnt", "nosuchfs", "none");
    b.write();
}
void missing_rootfs(Bundle& b)
{
    b.json()["root"]["path"] = "no-such-rootfs";
    b.write();
}
void program_not_in_path(Bundle& b)
{
    b.set_args({"no-such-program-xyz"});
    b.write();
}
void failing_create_runtime_hook(Bundle& b)
{
    b.json()["hooks"] = {{"createRuntime", {{{"path", "/bin/false"}, {"args", {"false"}}}}}};
    b.write();
}
void uid_map_without_userns(Bundle& b)
{
    b.json()["linux"]["uidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    b.json()["linux"]["gidMappings"] = {{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}};
    b.write();
}
void host_sysctl(Bundle& b)
{
    b.json()["linux"]["sysctl"] = {{"kernel.sysrq", "0"}};
    b.write();
}

TEST_P(SecurityBadInput, OneLineErrorAndNoLeftovers)
{
    Bundle& b = new_bundle();
    b.set_args({"/probe", "sleep", "60"});
    b.write();
    const std::string sysrq_before = read_file("/proc/sys/kernel/sysrq");
    GetParam().mutate(b);
    std::string id = new_id("bad");
    RunResult c = run_mxc({"create", "--bundle", b.dir().string(), id});
    EXPECT_NE(c.status, 0) << c.describe();
    for (const auto& want : GetParam().expect_in_err)
        EXPECT_TRUE(contains(c.err, want)) << "want \"" << want << "\" in: " << c.describe();
    auto lines = lines_of(c.err);
    EXPECT_EQ(lines.size(), 1u) << "one line: " << c.describe();
    if (!lines.empty()) {
        EXPECT_EQ(lines[0].rfind("mxc: ", 0), 0u) << c.describe();
    }
    EXPECT_NE(run_mxc({"state", id}).status, 0) << "a failed create left a container";
    EXPECT_TRUE(wait_for([&] { return leftovers(id).empty(); }, 5s))
        << ::testing::PrintToString(leftovers(id));
    EXPECT_EQ(read_file("/proc/sys/kernel/sysrq"), sysrq_before);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SecurityBadInput,
    ::testing::Values(
        BadCase{"invalid_json", bad_json, {"config.json"}},
        BadCase{"unknown_field", unknown_field, {".process.bogusField", "not supported"}},
        BadCase{"bad_mount_type", bad_mount_type, {"nosuchfs", "/badmnt"}},
        BadCase{"missing_rootfs", missing_rootfs, {"no-such-rootfs"}},
        BadCase{"program_not_in_path", program_not_in_path, {"no-such-program-xyz"}},
        BadCase{"failing_create_runtime_hook", failing_create_runtime_hook, {"createRuntime"}},
        BadCase{"uid_map_without_userns", uid_map_without_userns, {"uidMappings"}},
        BadCase{"sysctl_not_namespaced", host_sysctl, {"kernel.sysrq"}}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(Security, InvalidContainerIdIsRejected)
{
    Bundle& b = new_bundle();
    b.set_args({"/probe", "sleep", "60"});
    b.write();
    fs::create_directories(root_dir());
    for (std::string bad : {"../x-escape", "a/b", "", ".", ".."}) {
        RunResult c = run_mxc({"create", "--bundle", b.dir().string(), bad});
        EXPECT_NE(c.status, 0) << "id \"" << bad << "\": " << c.describe();
        auto lines = lines_of(c.err);
        EXPECT_EQ(lines.size(), 1u) << "id \"" << bad << "\": " << c.describe();
        if (!bad.empty()) {
            EXPECT_TRUE(contains(c.err, bad)) << c.describe();
        }
    }
    // Nothing was made beside or below the root.
    EXPECT_FALSE(fs::exists(tmp() / "x-escape"));
    EXPECT_FALSE(fs::exists(root_dir() / "a"));
    EXPECT_TRUE(cgroup_dirs_named("x-escape").empty());
    EXPECT_TRUE(pids_with_cmdline(b.dir().string()).empty());
}

TEST_F(Security, DuplicateIdIsRejectedAndTheFirstSurvives)
{
    Bundle& b = new_bundle();
    Bundle& b2 = new_bundle();
    std::string id = new_id("dup");
    int pid = start_sleeping(b, id);
    ASSERT_GT(pid, 0);
    b2.set_args({"/probe", "sleep", "60"});
    b2.write();
    RunResult again = run_mxc({"create", "--bundle", b2.dir().string(), id});
    EXPECT_NE(again.status, 0) << again.describe();
    EXPECT_TRUE(contains(again.err, id)) << again.describe();
    EXPECT_TRUE(contains(again.err, "exist")) << again.describe();
    EXPECT_EQ(lines_of(again.err).size(), 1u) << again.describe();
    // The failed attempt neither disturbed the first container nor left its
    // own process (nothing runs from the second bundle).
    EXPECT_EQ(status_of(id), "running");
    EXPECT_EQ(kill(pid, 0), 0);
    EXPECT_TRUE(mxc::testing::leftovers(fs::path(), id + "-nope", b2.dir()).empty())
        << ::testing::PrintToString(mxc::testing::leftovers(fs::path(), id + "-nope", b2.dir()));
    EXPECT_EQ(run_mxc({"delete", "--force", id}).status, 0);
    EXPECT_TRUE(wait_for([&] { return leftovers(id).empty(); }, 5s))
        << ::testing::PrintToString(leftovers(id));
}

TEST_F(Security, ProgramNotInPathFailsAtCreateNotStart)
{
    Bundle& b = new_bundle();
    b.set_args({"no-such-program-xyz", "arg"});
    b.write();
    std::string id = new_id("nopath");
    RunResult c = run_mxc({"create", "--bundle", b.dir().string(), id});
    ASSERT_NE(c.status, 0) << "create succeeded: the error would come only at start. "
                           << c.describe();
    EXPECT_TRUE(contains(c.err, "no-such-program-xyz")) << c.describe();
    EXPECT_TRUE(contains(c.err, "PATH")) << c.describe();
}

// =========================================================================
// (g) A default-deny seccomp profile with an allow list (Docker's style).
// =========================================================================

Json allowlist_profile(const char* errno_ret)
{
    // What the probe, busybox's sh and the runtime's last steps before
    // execve need; mkdir/mkdirat are not on it.
    std::vector<std::string> allow{
        "access", "arch_prctl", "brk", "capget", "capset", "chdir", "clock_gettime",
        "clock_nanosleep", "close", "close_range", "dup", "dup2", "dup3", "execve", "execveat",
        "exit", "exit_group", "faccessat", "faccessat2", "fchdir", "fcntl", "fstat", "fstatfs",
        "futex", "getcwd", "getdents64", "getegid", "geteuid", "getgid", "getgroups", "getpgid",
        "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getrlimit", "getsid",
        "gettid", "getuid", "ioctl", "ioprio_get", "lseek", "lstat", "madvise", "mmap",
        "mprotect", "munmap", "nanosleep", "newfstatat", "open", "openat", "openat2",
        "personality", "pipe", "pipe2", "poll", "ppoll", "prctl", "pread64", "prlimit64",
        "read", "readlink", "readlinkat", "readv", "recvfrom", "recvmsg", "rseq",
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sched_getaffinity",
        "sched_getparam", "sched_getscheduler", "sched_yield", "sendmsg", "sendto",
        "set_robust_list", "set_tid_address", "setgid", "setgroups", "setresgid",
        "setresuid", "setuid", "sigaltstack", "stat", "statfs", "statx", "sysinfo", "tgkill",
        "umask", "uname", "wait4", "waitid", "write", "writev", "clone", "clone3", "fork",
        "vfork", "kill", "getuid", "rename", "renameat", "renameat2", "unlink", "unlinkat"};
    Json p{{"defaultAction", "SCMP_ACT_ERRNO"},
           {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
           {"syscalls", {{{"names", allow}, {"action", "SCMP_ACT_ALLOW"}}}}};
    if (errno_ret)
        p["defaultErrnoRet"] = std::atoi(errno_ret);
    return p;
}

TEST_F(Security, SeccompDefaultDenyWithAllowList)
{
    Bundle& b = new_bundle();
    b.json()["linux"]["seccomp"] = allowlist_profile(nullptr);
    b.set_args({"/bin/sh", "-c",
                "/probe syscall mkdir /dev/shm/denied; /probe syscall getpid; /probe"});
    b.write();
    std::string id = new_id("scmp-allow");
    RunResult r = run_mxc({"run", "--bundle", b.dir().string(), id});
    ASSERT_EQ(r.status, 0) << r.describe();
    std::vector<Json> out = json_lines(r.out);
    ASSERT_EQ(out.size(), 3u) << r.describe();
    EXPECT_EQ(out[0]["ok"], false) << out[0].dump();
    EXPECT_EQ(out[0]["errno"], "EPERM") << "the default action's errno: " << out[0].dump();
    EXPECT_EQ(out[1]["ok"], true) << out[1].dump();
    EXPECT_EQ(out[2]["seccomp"], 2) << "SECCOMP_MODE_FILTER";
    EXPECT_EQ(out[2]["uid"], 0);
}

TEST_F(Security, SeccompDefaultErrnoRet)
{
    Bundle& b = new_bundle();
    b.json()["linux"]["seccomp"] = allowlist_profile("38");  // ENOSYS
    b.set_args({"/probe", "syscall", "mkdir", "/dev/shm/denied"});
    Json p = run_probe(b, {}, "scmp-errno");
    EXPECT_EQ(p["ok"], false) << p.dump();
    EXPECT_EQ(p["errno"], "ENOSYS") << p.dump();
}

TEST_F(Security, SeccompAllowListWithoutNoNewPrivs)
{
    // Without no_new_privs the filter has to go in while the runtime still
    // holds CAP_SYS_ADMIN, i.e. before its own last syscalls.
    Bundle& b = new_bundle();
    b.json()["process"]["noNewPrivileges"] = false;
    b.json()["linux"]["seccomp"] = allowlist_profile(nullptr);
    b.set_args({"/probe", "syscall", "mkdir", "/dev/shm/denied"});
    Json p = run_probe(b, {}, "scmp-nnp");
    EXPECT_EQ(p["ok"], false) << p.dump();
    EXPECT_EQ(p["errno"], "EPERM") << p.dump();
}

// =========================================================================
// (h) "stopped" once the process is gone, with no mxc process alive.
// =========================================================================

TEST_F(Security, StateIsStoppedAfterOutsideSigkillWithNoRuntimeAlive)
{
    Bundle& b = new_bundle();
    std::string id = new_id("outside-kill");
    int pid = start_sleeping(b, id);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(status_of(id), "running");
    // No runtime process (monitor, shim) for this container.
    EXPECT_TRUE(pids_with_cmdline(mxc_bin()).empty())
        << ::testing::PrintToString(pids_with_cmdline(mxc_bin()));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    EXPECT_TRUE(wait_for([&] { return kill(pid, 0) != 0; }, 5s)) << "pid " << pid << " survived";
    EXPECT_TRUE(wait_status(id, "stopped")) << "status: " << status_of(id);
    Json s = state(id);
    EXPECT_EQ(s["status"], "stopped") << s.dump();
    RunResult d = run_mxc({"delete", id});
    EXPECT_EQ(d.status, 0) << d.describe();
    EXPECT_TRUE(wait_for([&] { return leftovers(id).empty(); }, 5s))
        << ::testing::PrintToString(leftovers(id));
}

TEST_F(Security, StateIsStoppedWhenThePidWasReused)
{
    // The recorded pid now belongs to another process: state must not take
    // it for the container (pid + start time, or a pidfd).
    Bundle& b = new_bundle();
    std::string id = new_id("pid-reuse");
    int pid = start_sleeping(b, id);
    ASSERT_GT(pid, 0);
    fs::path state_file = root_dir() / id / "state.json";
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    ASSERT_TRUE(wait_for([&] { return kill(pid, 0) != 0; }, 5s));
    // Point the record at a live process of ours, as a reused pid would be.
    Json st = Json::parse(read_file(state_file), nullptr, false);
    ASSERT_TRUE(!st.is_discarded() && st.contains("pid"))
        << "the test no longer knows the state file's layout (" << state_file << "): update it";
    const std::string original = read_file(state_file);
    st["pid"] = static_cast<int>(getpid());
    write_file(state_file, st.dump(), fs::perms(0600));
    EXPECT_EQ(status_of(id), "stopped");
    // Put the true record back before anything (TearDown) signals the pid.
    write_file(state_file, original, fs::perms(0600));
    EXPECT_EQ(run_mxc({"delete", id}).status, 0);
}

// =========================================================================
// (i) delete --force of a paused container.
// =========================================================================

TEST_F(Security, ForceDeleteOfPausedContainerWithExecProcess)
{
    Bundle& b = new_bundle();
    std::string id = new_id("pause-force");
    int pid = start_sleeping(b, id);
    ASSERT_GT(pid, 0);
    fs::path pidfile = tmp() / "exec.pid";
    RunResult e = run_mxc(
        {"exec", "--detach", "--pid-file", pidfile.string(), id, "/probe", "sleep", "60"});
    ASSERT_EQ(e.status, 0) << e.describe();
    int exec_pid = std::atoi(read_file(pidfile).c_str());
    ASSERT_GT(exec_pid, 0);
    ASSERT_EQ(run_mxc({"pause", id}).status, 0);
    ASSERT_EQ(status_of(id), "paused");
    RunResult d = run_mxc({"delete", "--force", id});
    EXPECT_EQ(d.status, 0) << d.describe();
    EXPECT_TRUE(wait_for([&] { return kill(pid, 0) != 0 && kill(exec_pid, 0) != 0; }, 5s))
        << "survivors: init " << pid << " alive=" << (kill(pid, 0) == 0) << ", exec "
        << exec_pid << " alive=" << (kill(exec_pid, 0) == 0);
    EXPECT_NE(run_mxc({"state", id}).status, 0);
    EXPECT_TRUE(wait_for([&] { return leftovers(id).empty(); }, 5s))
        << ::testing::PrintToString(leftovers(id));
}

}  // namespace
