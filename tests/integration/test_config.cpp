// One test per config.json feature, each checked through what the probe sees
// inside the container (or, for cgroups and hooks, what the host sees).
#include "fixture.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <sstream>

using namespace mxc::testing;

namespace {

class Config : public IntegrationTest {
protected:
    void SetUp() override
    {
        IntegrationTest::SetUp();
        if (IsSkipped())
            return;
        MXC_REQUIRE_ROOT();
    }

    // `run` the bundle in the foreground and parse the probe's report.
    Json run_probe(Bundle& b, const std::string& prefix = "cfg")
    {
        b.write();
        std::string id = new_id(prefix);
        RunResult r = run_mxc({"run", "--bundle", b.dir().string(), id});
        EXPECT_EQ(r.status, 0) << r.describe();
        if (r.status != 0)
            return Json();
        return probe_json(r.out);
    }

    // Runs `/probe ARGS...` as the container process and parses its answer.
    Json run_probe_cmd(Bundle& b, std::vector<std::string> args, const std::string& prefix = "cfg")
    {
        args.insert(args.begin(), "/probe");
        b.set_args(std::move(args));
        return run_probe(b, prefix);
    }

    // The container's init pid while it sleeps (create + start).
    int start_sleeping(Bundle& b, const std::string& id)
    {
        b.set_args({"/probe", "sleep", "60"});
        b.write();
        create_and_start(id, b);
        Json s = state(id);
        return s.value("pid", 0);
    }
};

std::vector<std::string> strings(const Json& j)
{
    return j.is_array() ? j.get<std::vector<std::string>>() : std::vector<std::string>{};
}

bool has(const std::vector<std::string>& v, const std::string& x)
{
    return std::find(v.begin(), v.end(), x) != v.end();
}

const Json* find_mount(const Json& report, const std::string& target)
{
    const Json* found = nullptr;
    for (const auto& m : report["mounts"])
        if (m["target"] == target)
            found = &m;  // the last one is the visible one
    return found;
}

std::string trim(std::string s)
{
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}

// ---- identity and environment -------------------------------------------------

TEST_F(Config, Hostname)
{
    Bundle& b = new_bundle();
    b.json()["hostname"] = "cfg-hostname";
    Json p = run_probe(b);
    EXPECT_EQ(p["hostname"], "cfg-hostname");
}

TEST_F(Config, Domainname)
{
    // runc 1.1.5 ignores "domainname" (it is set from runc 1.2 on): fails under it.
    Bundle& b = new_bundle();
    b.json()["domainname"] = "example.test";
    Json p = run_probe(b);
    EXPECT_EQ(p["domainname"], "example.test");
}

TEST_F(Config, Env)
{
    Bundle& b = new_bundle();
    b.add_env("MXC_TEST_VAR=hello world");
    b.add_env("EMPTY=");
    Json p = run_probe(b);
    auto env = strings(p["env"]);
    EXPECT_TRUE(has(env, "MXC_TEST_VAR=hello world")) << p["env"].dump();
    EXPECT_TRUE(has(env, "EMPTY=")) << p["env"].dump();
    EXPECT_TRUE(has(env, "TERM=xterm")) << p["env"].dump();
    // Nothing of the caller's environment leaks in.
    for (const auto& e : env)
        EXPECT_NE(e.rfind("MXC_BIN=", 0), 0u) << e;
}

TEST_F(Config, Cwd)
{
    Bundle& b = new_bundle();
    b.json()["process"]["cwd"] = "/tmp";
    Json p = run_probe(b);
    EXPECT_EQ(p["cwd"], "/tmp");
}

TEST_F(Config, CwdIsCreatedWhenMissing)
{
    Bundle& b = new_bundle();
    b.set_readonly_root(false);
    b.json()["process"]["cwd"] = "/work/dir";
    Json p = run_probe(b);
    EXPECT_EQ(p["cwd"], "/work/dir");
}

TEST_F(Config, UserUidGidAdditionalGidsUmask)
{
    Bundle& b = new_bundle();
    b.json()["process"]["user"] = {
        {"uid", 1000}, {"gid", 1001}, {"additionalGids", {10, 20}}, {"umask", 077}};
    Json p = run_probe(b);
    ASSERT_TRUE(p.is_object());
    EXPECT_EQ(p["uid"], 1000);
    EXPECT_EQ(p["euid"], 1000);
    EXPECT_EQ(p["gid"], 1001);
    EXPECT_EQ(p["egid"], 1001);
    auto groups = p["groups"].get<std::vector<int>>();
    EXPECT_NE(std::find(groups.begin(), groups.end(), 10), groups.end()) << p["groups"].dump();
    EXPECT_NE(std::find(groups.begin(), groups.end(), 20), groups.end()) << p["groups"].dump();
    EXPECT_EQ(std::find(groups.begin(), groups.end(), 0), groups.end())
        << "root's groups leak in: " << p["groups"].dump();
    EXPECT_EQ(p["umask"], 077);
}

TEST_F(Config, Capabilities)
{
    Bundle& b = new_bundle();
    // CAP_CHOWN (0) and CAP_KILL (5) everywhere but ambient; inheritable
    // only CAP_KILL: each set has its own value.
    const std::vector<std::string> both{"CAP_CHOWN", "CAP_KILL"};
    b.json()["process"]["capabilities"] = {{"bounding", both},
                                            {"effective", both},
                                            {"permitted", both},
                                            {"inheritable", {"CAP_KILL"}},
                                            {"ambient", Json::array()}};
    Json p = run_probe(b);
    EXPECT_EQ(p["caps"]["CapBnd"], "0000000000000021");
    EXPECT_EQ(p["caps"]["CapPrm"], "0000000000000021");
    EXPECT_EQ(p["caps"]["CapEff"], "0000000000000021");
    EXPECT_EQ(p["caps"]["CapInh"], "0000000000000020");
    EXPECT_EQ(p["caps"]["CapAmb"], "0000000000000000");
}

TEST_F(Config, AmbientCapabilitiesForNonRootUser)
{
    Bundle& b = new_bundle();
    const std::vector<std::string> kill{"CAP_KILL"};
    b.json()["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
    b.json()["process"]["capabilities"] = {{"bounding", kill},
                                            {"effective", kill},
                                            {"permitted", kill},
                                            {"inheritable", kill},
                                            {"ambient", kill}};
    Json p = run_probe(b);
    EXPECT_EQ(p["uid"], 1000);
    EXPECT_EQ(p["caps"]["CapAmb"], "0000000000000020");
    EXPECT_EQ(p["caps"]["CapEff"], "0000000000000020");
}

TEST_F(Config, NoCapabilities)
{
    Bundle& b = new_bundle();
    b.json()["process"].erase("capabilities");
    Json p = run_probe(b);
    for (const char* set : {"CapBnd", "CapPrm", "CapEff", "CapInh", "CapAmb"})
        EXPECT_EQ(p["caps"][set], "0000000000000000") << set;
}

TEST_F(Config, NoNewPrivilegesTrue)
{
    Bundle& b = new_bundle();
    b.json()["process"]["noNewPrivileges"] = true;
    Json p = run_probe(b);
    EXPECT_EQ(p["no_new_privs"], 1);
}

TEST_F(Config, NoNewPrivilegesFalse)
{
    Bundle& b = new_bundle();
    b.json()["process"]["noNewPrivileges"] = false;
    Json p = run_probe(b);
    EXPECT_EQ(p["no_new_privs"], 0);
}

TEST_F(Config, RlimitsLowerNofile)
{
    Bundle& b = new_bundle();
    b.json()["process"]["rlimits"] = {
        {{"type", "RLIMIT_NOFILE"}, {"soft", 100}, {"hard", 200}},
        {{"type", "RLIMIT_CORE"}, {"soft", 0}, {"hard", 0}},
    };
    Json p = run_probe(b);
    EXPECT_EQ(p["rlimits"]["RLIMIT_NOFILE"]["soft"], 100);
    EXPECT_EQ(p["rlimits"]["RLIMIT_NOFILE"]["hard"], 200);
    EXPECT_EQ(p["rlimits"]["RLIMIT_CORE"]["hard"], 0);
}

TEST_F(Config, OomScoreAdj)
{
    Bundle& b = new_bundle();
    b.json()["process"]["oomScoreAdj"] = 500;
    Json p = run_probe(b);
    EXPECT_EQ(p["oom_score_adj"], 500);
}

TEST_F(Config, ArgsReachTheProcess)
{
    Bundle& b = new_bundle();
    b.set_args({"/bin/sh", "-c", "echo \"$0|$1\"", "a b", "c\"d"});
    b.write();
    std::string id = new_id("args");
    RunResult r = run_mxc({"run", "--bundle", b.dir().string(), id});
    EXPECT_EQ(r.status, 0) << r.describe();
    EXPECT_EQ(r.out, "a b|c\"d\n");
}

// ---- mounts and the filesystem ----------------------------------------------------

TEST_F(Config, TmpfsMountWithOptions)
{
    Bundle& b = new_bundle();
    b.add_mount("/scratch", "tmpfs", "tmpfs", {"nosuid", "nodev", "size=1m", "mode=0700"});
    Json p = run_probe(b);
    const Json* m = find_mount(p, "/scratch");
    ASSERT_NE(m, nullptr) << p["mounts"].dump();
    EXPECT_EQ((*m)["fstype"], "tmpfs");
    std::string super = (*m)["super_options"];
    EXPECT_NE(super.find("size=1024k"), std::string::npos) << super;
    EXPECT_NE(super.find("mode=700"), std::string::npos) << super;
    std::string opts = (*m)["options"];
    EXPECT_NE(opts.find("nosuid"), std::string::npos) << opts;
    EXPECT_NE(opts.find("nodev"), std::string::npos) << opts;
}

TEST_F(Config, TmpfsMountIsWritableUnderReadonlyRoot)
{
    Bundle& b = new_bundle();
    b.add_mount("/scratch", "tmpfs", "tmpfs", {"size=1m"});
    Json p = run_probe_cmd(b, {"write", "/scratch/file"});
    EXPECT_EQ(p["ok"], true) << p.dump();
}

TEST_F(Config, BindMountReadOnly)
{
    Bundle& b = new_bundle();
    fs::path host = b.dir() / "ro-src";
    fs::create_directories(host);
    write_file(host / "existing", "from host\n");
    b.add_mount("/data", "bind", host.string(), {"rbind", "ro"});
    Json w = run_probe_cmd(b, {"write", "/data/new"}, "bind-ro");
    EXPECT_EQ(w["ok"], false);
    EXPECT_EQ(w["errno"], "EROFS") << w.dump();
    EXPECT_FALSE(fs::exists(host / "new"));
    Json r = run_probe_cmd(b, {"read", "/data/existing"}, "bind-ro");
    EXPECT_EQ(r["content"], "from host\n") << r.dump();
}

TEST_F(Config, BindMountReadWrite)
{
    Bundle& b = new_bundle();
    fs::path host = b.add_host_dir("rw-src", "/data");
    Json w = run_probe_cmd(b, {"write", "/data/new", "written inside\n"});
    EXPECT_EQ(w["ok"], true) << w.dump();
    EXPECT_EQ(read_file(host / "new"), "written inside\n");
}

TEST_F(Config, MaskedPaths)
{
    Bundle& b = new_bundle();
    fs::create_directories(b.rootfs() / "secret-dir");
    write_file(b.rootfs() / "secret-dir/key", "dir secret\n");
    write_file(b.rootfs() / "secret-file", "file secret\n");
    b.json()["linux"]["maskedPaths"].push_back("/secret-dir");
    b.json()["linux"]["maskedPaths"].push_back("/secret-file");
    b.json()["linux"]["maskedPaths"].push_back("/does/not/exist");
    Json ls = run_probe_cmd(b, {"ls", "/secret-dir"}, "mask");
    EXPECT_EQ(ls["entries"], Json::array()) << ls.dump();
    Json rd = run_probe_cmd(b, {"read", "/secret-file"}, "mask");
    EXPECT_EQ(rd["ok"], true) << rd.dump();
    EXPECT_EQ(rd["content"], "") << rd.dump();
    // A default masked /proc file (which ones exist depends on the kernel
    // config): masked files are /dev/null bind mounts.
    for (const char* f : {"/proc/keys", "/proc/timer_list", "/proc/kcore"}) {
        if (!fs::exists(f))
            continue;
        Json st = run_probe_cmd(b, {"stat", f}, "mask");
        EXPECT_EQ(st["type"], "char") << f << ": " << st.dump();
        EXPECT_EQ(st["rdev_major"], 1) << f;
        EXPECT_EQ(st["rdev_minor"], 3) << f;
    }
}

TEST_F(Config, ReadonlyPaths)
{
    Bundle& b = new_bundle();
    b.set_readonly_root(false);
    fs::create_directories(b.rootfs() / "frozen");
    b.json()["linux"]["readonlyPaths"].push_back("/frozen");
    Json w = run_probe_cmd(b, {"write", "/frozen/x"}, "ro-path");
    EXPECT_EQ(w["errno"], "EROFS") << w.dump();
    Json other = run_probe_cmd(b, {"write", "/elsewhere"}, "ro-path");
    EXPECT_EQ(other["ok"], true) << "only the listed path is read-only: " << other.dump();
    Json sys = run_probe_cmd(b, {"write", "/proc/sys/kernel/hostname", "x"}, "ro-path");
    EXPECT_EQ(sys["errno"], "EROFS") << sys.dump();
}

TEST_F(Config, RootReadonly)
{
    Bundle& b = new_bundle();
    b.set_readonly_root(true);
    Json w = run_probe_cmd(b, {"write", "/newfile"});
    EXPECT_EQ(w["ok"], false);
    EXPECT_EQ(w["errno"], "EROFS") << w.dump();
}

TEST_F(Config, RootWritable)
{
    Bundle& b = new_bundle();
    b.set_readonly_root(false);
    Json w = run_probe_cmd(b, {"write", "/newfile", "rootfs\n"});
    EXPECT_EQ(w["ok"], true) << w.dump();
    EXPECT_EQ(read_file(b.rootfs() / "newfile"), "rootfs\n");
}

TEST_F(Config, ExtraDevice)
{
    Bundle& b = new_bundle();
    // A /dev/full twin (char 1:7): writes fail with ENOSPC once the device
    // cgroup lets it be opened, so it proves both the node and the rule.
    b.json()["linux"]["devices"] = {{{"path", "/dev/mydev"},
                                     {"type", "c"},
                                     {"major", 1},
                                     {"minor", 7},
                                     {"fileMode", 0666},
                                     {"uid", 0},
                                     {"gid", 0}}};
    b.json()["linux"]["resources"]["devices"].push_back(
        {{"allow", true}, {"type", "c"}, {"major", 1}, {"minor", 7}, {"access", "rw"}});
    Json st = run_probe_cmd(b, {"stat", "/dev/mydev"}, "dev");
    EXPECT_EQ(st["type"], "char") << st.dump();
    EXPECT_EQ(st["rdev_major"], 1);
    EXPECT_EQ(st["rdev_minor"], 7);
    EXPECT_EQ(st["mode_octal"], "0666");
    Json w = run_probe_cmd(b, {"write", "/dev/mydev"}, "dev");
    EXPECT_EQ(w["errno"], "ENOSPC") << w.dump();
}

TEST_F(Config, DefaultDevicesPresent)
{
    struct Dev {
        const char* path;
        int major, minor;
    };
    const Dev devs[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                        {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};
    for (const auto& d : devs) {
        Bundle& b = new_bundle();
        Json st = run_probe_cmd(b, {"stat", d.path}, "defdev");
        EXPECT_EQ(st["type"], "char") << d.path << ": " << st.dump();
        EXPECT_EQ(st["rdev_major"], d.major) << d.path;
        EXPECT_EQ(st["rdev_minor"], d.minor) << d.path;
    }
    Bundle& b = new_bundle();
    Json ls = run_probe_cmd(b, {"ls", "/dev"}, "defdev");
    auto entries = strings(ls["entries"]);
    for (const char* name : {"null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts",
                             "shm", "fd", "stdin", "stdout", "stderr"})
        EXPECT_TRUE(has(entries, name)) << "/dev/" << name << " missing: " << ls.dump();
    Json w = run_probe_cmd(b, {"write", "/dev/null"}, "defdev");
    EXPECT_EQ(w["ok"], true) << "default device rules allow /dev/null: " << w.dump();
}

TEST_F(Config, SysctlNetWithNetworkNamespace)
{
    Bundle& b = new_bundle();
    ASSERT_TRUE(b.has_namespace("network"));
    b.json()["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    Json p = run_probe_cmd(b, {"sysctl", "net.ipv4.ip_forward"});
    EXPECT_EQ(p["value"], "1") << p.dump();
}

TEST_F(Config, SysctlKernelShmWithIpcNamespace)
{
    Bundle& b = new_bundle();
    ASSERT_TRUE(b.has_namespace("ipc"));
    b.json()["linux"]["sysctl"] = {{"kernel.shmmax", "65536"}};
    Json p = run_probe_cmd(b, {"sysctl", "kernel.shmmax"});
    EXPECT_EQ(p["value"], "65536") << p.dump();
}

TEST_F(Config, SysctlNetWithoutNetworkNamespaceIsRejected)
{
    // Setting it would change the host.
    Bundle& b = new_bundle();
    b.remove_namespace("network");
    b.json()["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    b.write();
    std::string id = new_id("sysctl-host");
    std::string before = read_file("/proc/sys/net/ipv4/ip_forward");
    RunResult r = run_mxc({"run", "--bundle", b.dir().string(), id});
    EXPECT_NE(r.status, 0) << r.describe();
    EXPECT_EQ(read_file("/proc/sys/net/ipv4/ip_forward"), before);
}

TEST_F(Config, SeccompErrnoRule)
{
    Bundle& b = new_bundle();
    b.json()["linux"]["seccomp"] = {
        {"defaultAction", "SCMP_ACT_ALLOW"},
        {"syscalls",
         {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", 1}}}}};
    Json p = run_probe_cmd(b, {"syscall", "mkdir", "/dev/shm/probe-dir"}, "seccomp");
    EXPECT_EQ(p["ok"], false) << p.dump();
    EXPECT_EQ(p["errno"], "EPERM") << p.dump();
    Json ok = run_probe_cmd(b, {"syscall", "getpid"}, "seccomp");
    EXPECT_EQ(ok["ok"], true) << "other syscalls are allowed: " << ok.dump();
    Json rep = run_probe_cmd(b, {}, "seccomp");
    EXPECT_EQ(rep["seccomp"], 2) << "SECCOMP_MODE_FILTER";
}

TEST_F(Config, SeccompMkdirWorksWithoutFilter)
{
    // The control for SeccompErrnoRule: the same call succeeds unfiltered.
    Bundle& b = new_bundle();
    Json p = run_probe_cmd(b, {"syscall", "mkdir", "/dev/shm/probe-dir"});
    EXPECT_EQ(p["ok"], true) << p.dump();
}

// ---- namespaces -----------------------------------------------------------------

TEST_F(Config, NamespacesAreNew)
{
    Bundle& b = new_bundle();
    Json p = run_probe(b);
    for (const char* ns : {"pid", "net", "ipc", "uts", "mnt"})
        EXPECT_NE(p["namespaces"][ns].get<unsigned long long>(), host_ns_inode(ns)) << ns;
}

TEST_F(Config, NoNetworkNamespaceSharesTheHosts)
{
    Bundle& b = new_bundle();
    b.remove_namespace("network");
    Json p = run_probe(b);
    EXPECT_EQ(p["namespaces"]["net"].get<unsigned long long>(), host_ns_inode("net"));
    EXPECT_NE(p["namespaces"]["pid"].get<unsigned long long>(), host_ns_inode("pid"));
}

TEST_F(Config, JoinNamespaceByPath)
{
    // A second container joins the first one's network namespace.
    Bundle& first = new_bundle();
    std::string id = new_id("ns-owner");
    int pid = start_sleeping(first, id);
    ASSERT_GT(pid, 0);
    std::string ns_path = "/proc/" + std::to_string(pid) + "/ns/net";
    struct stat st{};
    ASSERT_EQ(stat(ns_path.c_str(), &st), 0);
    Bundle& second = new_bundle();
    second.add_namespace("network", ns_path);
    Json p = run_probe(second, "ns-join");
    EXPECT_EQ(p["namespaces"]["net"].get<unsigned long long>(), st.st_ino);
}

// ---- cgroups ----------------------------------------------------------------------

TEST_F(Config, CgroupMemoryLimit)
{
    Bundle& b = new_bundle();
    const long long limit = 64ll << 20;
    b.json()["linux"]["resources"]["memory"] = {{"limit", limit}};
    std::string id = new_id("mem");
    int pid = start_sleeping(b, id);
    ASSERT_GT(pid, 0);
    fs::path dir = cgroup_dir_of(pid, "memory");
    ASSERT_FALSE(dir.empty()) << "no memory cgroup for pid " << pid;
    // v1 hierarchies (hybrid hosts) name the knob differently from v2.
    fs::path knob = fs::exists(dir / "memory.limit_in_bytes") ? dir / "memory.limit_in_bytes"
                                                              : dir / "memory.max";
    EXPECT_EQ(trim(read_file(knob)), std::to_string(limit)) << knob;
}

TEST_F(Config, CgroupPidsLimit)
{
    Bundle& b = new_bundle();
    b.json()["linux"]["resources"]["pids"] = {{"limit", 42}};
    std::string id = new_id("pids");
    int pid = start_sleeping(b, id);
    ASSERT_GT(pid, 0);
    fs::path dir = cgroup_dir_of(pid, "pids");
    ASSERT_FALSE(dir.empty()) << "no pids cgroup for pid " << pid;
    EXPECT_EQ(trim(read_file(dir / "pids.max")), "42") << dir;
}

TEST_F(Config, CgroupsPathIsHonoured)
{
    Bundle& b = new_bundle();
    std::string id = new_id("cgpath");
    std::string leaf = "mxc-itest-" + id;
    b.json()["linux"]["cgroupsPath"] = "/" + leaf;
    int pid = start_sleeping(b, id);
    ASSERT_GT(pid, 0);
    fs::path dir = cgroup_dir_of(pid, "pids");
    EXPECT_EQ(dir.filename(), leaf) << dir;
    ASSERT_EQ(run_mxc({"delete", "--force", id}).status, 0);
    EXPECT_TRUE(wait_for([&] { return cgroup_dirs_named(leaf).empty(); }, 5s))
        << "cgroup left behind: " << ::testing::PrintToString(cgroup_dirs_named(leaf));
}

// ---- hooks ------------------------------------------------------------------------

TEST_F(Config, HooksRunInOrderWithState)
{
    Bundle& b = new_bundle();
    fs::path out = b.dir() / "hooks";
    fs::create_directories(out);
    auto hook = [&](const std::string& name) {
        // Runtime-namespace hooks run on the host with the state on stdin.
        std::string script = "echo " + name + " >> " + (out / "order").string() + "; cat > " +
                             (out / (name + ".json")).string();
        return Json{{"path", "/bin/sh"},
                    {"args", {"sh", "-c", script}},
                    {"env", {"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}}};
    };
    b.json()["hooks"] = {{"prestart", {hook("prestart")}},
                         {"createRuntime", {hook("createRuntime")}},
                         {"poststart", {hook("poststart")}},
                         {"poststop", {hook("poststop")}}};
    std::string id = new_id("hooks");
    int pid = start_sleeping(b, id);
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(wait_for([&] { return fs::exists(out / "poststart.json"); }, 5s));
    ASSERT_EQ(run_mxc({"kill", id, "KILL"}).status, 0);
    ASSERT_TRUE(wait_status(id, "stopped"));
    RunResult d = run_mxc({"delete", id});
    ASSERT_EQ(d.status, 0) << d.describe();

    EXPECT_EQ(read_file(out / "order"), "prestart\ncreateRuntime\npoststart\npoststop\n");
    for (const char* name : {"prestart", "createRuntime", "poststart"}) {
        Json s = Json::parse(read_file(out / (std::string(name) + ".json")), nullptr, false);
        ASSERT_TRUE(s.is_object()) << name;
        EXPECT_EQ(s["id"], id) << name;
        EXPECT_EQ(s.value("pid", 0), pid) << name;
        EXPECT_EQ(fs::weakly_canonical(s.value("bundle", "")), fs::weakly_canonical(b.dir())) << name;
    }
    Json stop = Json::parse(read_file(out / "poststop.json"), nullptr, false);
    ASSERT_TRUE(stop.is_object());
    EXPECT_EQ(stop["id"], id);
}

TEST_F(Config, FailingCreateRuntimeHookFailsCreate)
{
    Bundle& b = new_bundle();
    b.json()["hooks"] = {{"createRuntime", {{{"path", "/bin/false"}}}}};
    b.set_args({"/probe", "sleep", "60"});
    b.write();
    std::string id = new_id("hook-fail");
    RunResult c = run_mxc({"create", "--bundle", b.dir().string(), id});
    EXPECT_NE(c.status, 0) << c.describe();
    run_mxc({"delete", "--force", id});
    EXPECT_TRUE(wait_for([&] { return leftovers(id, b).empty(); }, 5s))
        << ::testing::PrintToString(leftovers(id, b));
}

// ---- personality ------------------------------------------------------------------

TEST_F(Config, PersonalityLinux32)
{
    // runc 1.1.5 ignores linux.personality (added in runc 1.2), so this
    // fails under it; it is part of our contract.
    Bundle& b = new_bundle();
    b.json()["linux"]["personality"] = {{"domain", "LINUX32"}};
    b.set_args({"/bin/busybox", "uname", "-m"});
    b.write();
    std::string id = new_id("pers");
    RunResult r = run_mxc({"run", "--bundle", b.dir().string(), id});
    EXPECT_EQ(r.status, 0) << r.describe();
    EXPECT_EQ(r.out, "i686\n") << r.describe();
}

}  // namespace
