// mxc doctor / mxc features.  WSL detection and the doctor's file-based checks
// run against fixture trees; the host checks assert consistency with what the
// test finds by itself, not what this particular machine has.
#include <gtest/gtest.h>

#include <linux/landlock.h>
#include <linux/magic.h>
#include <sys/capability.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "mxc/host/host.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

class Fixture {
public:
    Fixture() {
        std::string tmpl = (fs::temp_directory_path() / "mxc-host-test-XXXXXX").string();
        if (!::mkdtemp(tmpl.data()))
            throw std::runtime_error("mkdtemp");
        root_ = tmpl;
    }
    ~Fixture() {
        std::error_code ec;
        fs::remove_all(root_, ec);
    }
    const std::string &root() const { return root_; }
    void write(const std::string &rel, const std::string &data) {
        fs::path p = fs::path(root_) / rel.substr(1);
        fs::create_directories(p.parent_path());
        std::ofstream(p) << data;
    }
    void mkdir(const std::string &rel) { fs::create_directories(fs::path(root_) / rel.substr(1)); }

private:
    std::string root_;
};

const json *find_check(const json &report, const std::string &area, const std::string &name) {
    for (const auto &c : report.at("checks"))
        if (c.at("area") == area && c.at("name") == name)
            return &c;
    return nullptr;
}

bool check_ok(const json &report, const std::string &area, const std::string &name) {
    const json *c = find_check(report, area, name);
    return c && c->at("ok").get<bool>();
}

std::string check_detail(const json &report, const std::string &area, const std::string &name) {
    const json *c = find_check(report, area, name);
    return c ? c->at("detail").get<std::string>() : "<missing check " + area + "." + name + ">";
}

const char *const no_env[] = {nullptr};

bool contains(const std::vector<std::string> &v, const std::string &s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// One host doctor run shared by the host tests (it forks and loads BPF).
const json &host_report() {
    static const json report = mxc::host::doctor({});
    return report;
}

long fs_magic(const char *path) {
    struct statfs sf {};
    return ::statfs(path, &sf) == 0 ? static_cast<long>(sf.f_type) : -1;
}

} // namespace

// ---- detect_wsl -------------------------------------------------------------

TEST(DetectWsl, PlainLinuxTreeIsNotWsl) {
    Fixture f;
    f.write("/proc/sys/kernel/osrelease", "6.18.0-amd64\n");
    f.mkdir("/mnt/usb");
    f.mkdir("/mnt/d"); // an empty letter dir is not a Windows drive
    auto w = mxc::host::detect_wsl(f.root(), no_env);
    EXPECT_FALSE(w.detected);
    EXPECT_TRUE(w.reason.empty());
    EXPECT_FALSE(w.wslg);
    EXPECT_FALSE(w.interop);
    EXPECT_TRUE(w.windows_drives.empty());
}

TEST(DetectWsl, EmptyRootAndNullEnvironment) {
    Fixture f;
    auto w = mxc::host::detect_wsl(f.root(), nullptr);
    EXPECT_FALSE(w.detected);
}

TEST(DetectWsl, OsreleaseMicrosoftAnyCase) {
    for (const char *rel : {"5.15.153.1-microsoft-standard-WSL2", "4.4.0-19041-Microsoft", "6.6.36.3-wsl-custom"}) {
        Fixture f;
        f.write("/proc/sys/kernel/osrelease", std::string(rel) + "\n");
        auto w = mxc::host::detect_wsl(f.root(), no_env);
        EXPECT_TRUE(w.detected) << rel;
        EXPECT_NE(w.reason.find("osrelease"), std::string::npos) << w.reason;
        EXPECT_FALSE(w.interop);
    }
}

TEST(DetectWsl, DistroNameInEnvironment) {
    Fixture f;
    const char *env[] = {"HOME=/root", "WSL_DISTRO_NAME=Ubuntu-24.04", nullptr};
    auto w = mxc::host::detect_wsl(f.root(), env);
    EXPECT_TRUE(w.detected);
    EXPECT_EQ(w.distro, "Ubuntu-24.04");
    EXPECT_NE(w.reason.find("WSL_DISTRO_NAME"), std::string::npos);
    // A variable whose name only starts the same is not it.
    const char *env2[] = {"WSL_DISTRO_NAMEX=1", nullptr};
    EXPECT_FALSE(mxc::host::detect_wsl(f.root(), env2).detected);
}

TEST(DetectWsl, RunWslMeansDetectedAndInterop) {
    Fixture f;
    f.mkdir("/run/WSL");
    auto w = mxc::host::detect_wsl(f.root(), no_env);
    EXPECT_TRUE(w.detected);
    EXPECT_TRUE(w.interop);
    EXPECT_NE(w.reason.find("/run/WSL"), std::string::npos);
}

TEST(DetectWsl, InteropSocketVariableAloneIsInteropNotDetection) {
    Fixture f;
    const char *env[] = {"WSL_INTEROP=/run/WSL/1_interop", nullptr};
    auto w = mxc::host::detect_wsl(f.root(), env);
    EXPECT_FALSE(w.detected);
    EXPECT_TRUE(w.interop);
}

TEST(DetectWsl, AllSignalsAreListed) {
    Fixture f;
    f.write("/proc/sys/kernel/osrelease", "5.15.0-microsoft-standard-WSL2\n");
    f.mkdir("/run/WSL");
    const char *env[] = {"WSL_DISTRO_NAME=Debian", nullptr};
    auto w = mxc::host::detect_wsl(f.root(), env);
    EXPECT_NE(w.reason.find("osrelease"), std::string::npos);
    EXPECT_NE(w.reason.find("WSL_DISTRO_NAME=Debian"), std::string::npos);
    EXPECT_NE(w.reason.find("/run/WSL"), std::string::npos);
}

TEST(DetectWsl, WslgAndWindowsDrives) {
    Fixture f;
    f.write("/proc/sys/kernel/osrelease", "5.15.0-microsoft-standard-WSL2\n");
    f.mkdir("/mnt/wslg/runtime-dir");
    f.mkdir("/mnt/c/Windows/System32");       // Windows dirs
    f.mkdir("/mnt/d/Program Files");          // Windows dirs
    f.mkdir("/mnt/e");                        // drvfs in mountinfo, empty
    f.mkdir("/mnt/f");                        // nothing Windows about it
    f.mkdir("/mnt/g/Windows");                // Windows dir only
    f.write("/mnt/h/Windows", "not a dir\n"); // a file named Windows is not a Windows drive
    f.write("/proc/self/mountinfo",
            "22 1 8:1 / / rw,relatime - ext4 /dev/sdb rw\n"
            "80 22 0:50 / /mnt/e rw,noatime - 9p drvfs rw,dirsync,aname=drvfs;path=E:\\;uid=1000,trans=fd\n"
            "81 22 0:51 / /mnt/f rw,noatime - ext4 /dev/sdc rw\n");
    auto w = mxc::host::detect_wsl(f.root(), no_env);
    EXPECT_TRUE(w.detected);
    EXPECT_TRUE(w.wslg);
    EXPECT_EQ(w.windows_drives, (std::vector<std::string>{"/mnt/c", "/mnt/d", "/mnt/e", "/mnt/g"}));
}

TEST(DetectWsl, DrvfsFstype) {
    Fixture f;
    f.mkdir("/mnt/c");
    f.write("/proc/self/mountinfo", "90 22 0:60 / /mnt/c rw,noatime - drvfs C:\\134 rw\n");
    auto w = mxc::host::detect_wsl(f.root(), no_env);
    EXPECT_EQ(w.windows_drives, std::vector<std::string>{"/mnt/c"});
}

// ---- doctor on a fixture root ---------------------------------------------------

TEST(Doctor, FixtureRootReportsWsl) {
    Fixture f;
    f.write("/proc/sys/kernel/osrelease", "5.15.153.1-microsoft-standard-WSL2\n");
    f.mkdir("/run/WSL");
    f.mkdir("/mnt/wslg");
    f.mkdir("/tmp/.X11-unix");
    f.mkdir("/mnt/c/Windows");
    f.write("/proc/self/mountinfo", "31 23 0:28 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
    f.write("/sys/fs/cgroup/cgroup.controllers", "cpu memory pids\n");
    const char *env[] = {"WSL_DISTRO_NAME=Ubuntu", "WSL_INTEROP=/run/WSL/7_interop", "DISPLAY=:0", nullptr};
    mxc::host::DoctorOptions o;
    o.root = f.root();
    o.probe_bpf = false;
    o.envp = env;
    json r = mxc::host::doctor(o);

    const json &w = r.at("wsl");
    EXPECT_TRUE(w.at("detected").get<bool>());
    EXPECT_TRUE(w.at("interop").get<bool>());
    EXPECT_TRUE(w.at("wslg").get<bool>());
    EXPECT_EQ(w.at("distro"), "Ubuntu");
    EXPECT_EQ(w.at("windows_drives"), json::array({"/mnt/c"}));
    auto hidden = w.at("hidden").get<std::vector<std::string>>();
    for (const char *h : {"/run/WSL", "/mnt/wslg", "/tmp/.X11-unix", "/mnt/c", "$WSL_INTEROP", "$DISPLAY"}) {
        EXPECT_TRUE(contains(hidden, h)) << h;
    }
    EXPECT_FALSE(contains(hidden, "$WAYLAND_DISPLAY"));
    EXPECT_TRUE(check_ok(r, "wsl", "detected"));
    EXPECT_TRUE(check_ok(r, "wsl", "windows_drives"));
    EXPECT_EQ(r.at("kernel"), "5.15.153.1-microsoft-standard-WSL2");

    // File-based cgroup facts come from the fixture...
    EXPECT_EQ(r.at("cgroup").at("mode"), "unified");
    EXPECT_EQ(r.at("cgroup").at("v2_controllers"), json::array({"cpu", "memory", "pids"}));
    // ...but a fixture directory is not cgroupfs, so creating a cgroup there must not pass.
    EXPECT_FALSE(check_ok(r, "cgroup", "create_v2")) << check_detail(r, "cgroup", "create_v2");
    // probe_bpf=false: no program was loaded, and the report says so.
    EXPECT_FALSE(check_ok(r, "bpf", "prog.tracepoint"));
    EXPECT_NE(check_detail(r, "bpf", "prog.tracepoint").find("not probed"), std::string::npos);
    EXPECT_FALSE(r.at("bpf").at("probed").get<bool>());
}

TEST(Doctor, FixtureRootHybridAndNoWsl) {
    Fixture f;
    f.write("/proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");
    f.write("/proc/self/mountinfo",
            "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
            "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
            "33 31 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
            "34 31 0:31 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
            "35 31 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
            "36 23 0:33 / /sys/fs/bpf rw - bpf bpf rw\n");
    mxc::host::DoctorOptions o;
    o.root = f.root();
    o.probe_bpf = false;
    o.envp = no_env;
    json r = mxc::host::doctor(o);
    const json &cg = r.at("cgroup");
    EXPECT_EQ(cg.at("mode"), "hybrid");
    EXPECT_EQ(cg.at("v2_mount"), "/sys/fs/cgroup/unified");
    EXPECT_EQ(cg.at("v1_controllers").at("cpu"), "/sys/fs/cgroup/cpu,cpuacct");
    EXPECT_EQ(cg.at("v1_controllers").at("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct");
    EXPECT_EQ(cg.at("v1_controllers").at("pids"), "/sys/fs/cgroup/pids");
    EXPECT_FALSE(cg.at("v1_controllers").contains("name=systemd"));
    EXPECT_FALSE(cg.at("v1_controllers").contains("xattr"));
    EXPECT_TRUE(check_ok(r, "bpf", "bpffs"));
    EXPECT_FALSE(check_ok(r, "bpf", "tracefs"));
    EXPECT_FALSE(r.at("wsl").at("detected").get<bool>());
    EXPECT_TRUE(r.at("wsl").at("hidden").empty());
    EXPECT_FALSE(r.at("lsm").at("apparmor").get<bool>());
}

TEST(Doctor, FixtureLsmAndSysctls) {
    Fixture f;
    f.write("/sys/module/apparmor/parameters/enabled", "Y\n");
    f.write("/sys/fs/selinux/enforce", "0\n");
    f.write("/sys/kernel/security/lsm", "lockdown,capability,landlock,yama,apparmor\n");
    f.write("/proc/sys/user/max_user_namespaces", "0\n");
    mxc::host::DoctorOptions o;
    o.root = f.root();
    o.probe_bpf = false;
    o.envp = no_env;
    json r = mxc::host::doctor(o);
    EXPECT_TRUE(check_ok(r, "lsm", "apparmor"));
    EXPECT_TRUE(check_ok(r, "lsm", "selinux"));
    EXPECT_NE(check_detail(r, "lsm", "selinux").find("permissive"), std::string::npos);
    EXPECT_NE(check_detail(r, "lsm", "active").find("no bpf"), std::string::npos);
    EXPECT_FALSE(check_ok(r, "userns", "max_user_namespaces"));
    EXPECT_EQ(check_detail(r, "userns", "max_user_namespaces"), "0");
    // No PATH in the environment and no uidmap in the fixture.
    EXPECT_FALSE(check_ok(r, "userns", "newuidmap"));
}

TEST(Doctor, NewuidmapFoundThroughPath) {
    Fixture f;
    f.write("/opt/x/bin/newuidmap", "#!/bin/sh\n");
    const char *env[] = {"PATH=/nonexistent:/opt/x/bin", nullptr};
    mxc::host::DoctorOptions o;
    o.root = f.root();
    o.probe_bpf = false;
    o.envp = env;
    json r = mxc::host::doctor(o);
    // Found, but an ordinary file cannot map subordinate ids.
    EXPECT_FALSE(check_ok(r, "userns", "newuidmap"));
    EXPECT_NE(check_detail(r, "userns", "newuidmap").find("/opt/x/bin/newuidmap"), std::string::npos);
    EXPECT_NE(check_detail(r, "userns", "newuidmap").find("neither setuid"), std::string::npos);
    EXPECT_NE(check_detail(r, "userns", "newgidmap").find("not found"), std::string::npos);
}

// ---- doctor on this host ---------------------------------------------------------

TEST(DoctorHost, CgroupModeMatchesTheMounts) {
    const json &r = host_report();
    std::string mode = r.at("cgroup").at("mode");
    bool root_is_v2 = fs_magic("/sys/fs/cgroup") == CGROUP2_SUPER_MAGIC;
    bool unified_is_v2 = fs_magic("/sys/fs/cgroup/unified") == CGROUP2_SUPER_MAGIC;
    bool any_v1 = false;
    std::error_code ec;
    for (const auto &e : fs::directory_iterator("/sys/fs/cgroup", ec))
        if (fs_magic(e.path().c_str()) == CGROUP_SUPER_MAGIC)
            any_v1 = true;
    if (root_is_v2) {
        EXPECT_EQ(mode, "unified");
    } else if (unified_is_v2 && any_v1) {
        EXPECT_EQ(mode, "hybrid");
    } else if (any_v1) {
        EXPECT_EQ(mode, "legacy");
    }
    if (unified_is_v2) {
        EXPECT_EQ(r.at("cgroup").at("v2_mount"), "/sys/fs/cgroup/unified");
    }
    if (fs_magic("/sys/fs/cgroup/pids") == CGROUP_SUPER_MAGIC) {
        EXPECT_TRUE(r.at("cgroup").at("v1_controllers").contains("pids"));
    }
    // Root can always make a cgroup in a real cgroup2 mount.
    if (::geteuid() == 0 && (root_is_v2 || unified_is_v2)) {
        EXPECT_TRUE(check_ok(r, "cgroup", "create_v2")) << check_detail(r, "cgroup", "create_v2");
    }
    if (::geteuid() == 0 && any_v1) {
        EXPECT_TRUE(check_ok(r, "cgroup", "create_v1")) << check_detail(r, "cgroup", "create_v1");
    }
}

TEST(DoctorHost, LandlockAbiMatchesTheSyscall) {
    const json &r = host_report();
    long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    EXPECT_EQ(r.at("landlock").at("abi").get<long>(), abi > 0 ? abi : 0);
    EXPECT_EQ(check_ok(r, "landlock", "abi"), abi >= 1);
    std::ifstream lsm("/sys/kernel/security/lsm");
    std::string list;
    if (lsm >> list && list.find("landlock") != std::string::npos) {
        EXPECT_GE(r.at("landlock").at("abi").get<long>(), 1);
    }
}

TEST(DoctorHost, BpfResultsAreConsistent) {
    const json &r = host_report();
    const json &types = r.at("bpf").at("prog_types");
    for (const char *t : {"socket_filter", "tracepoint", "raw_tracepoint", "tp_btf", "cgroup_skb", "cgroup_connect4",
                          "cgroup_device", "lsm", "fentry", "kprobe"}) {
        ASSERT_TRUE(types.contains(t)) << t;
        const json *c = find_check(r, "bpf", std::string("prog.") + t);
        ASSERT_NE(c, nullptr) << t;
        EXPECT_EQ(c->at("ok"), types.at(t));
        if (!c->at("ok").get<bool>()) {
            // A refusal names its errno; the one other reason is a missing kprobe PMU.
            std::string d = c->at("detail");
            EXPECT_TRUE((d.find(" (") != std::string::npos && d[0] == 'E') || d.find("kprobe PMU") != std::string::npos)
                << t << ": " << d;
        }
    }
    if (::geteuid() == 0) {
        // Root loads the baseline types the design requires on any host mxc supports.
        EXPECT_TRUE(types.at("tracepoint").get<bool>()) << check_detail(r, "bpf", "prog.tracepoint");
        EXPECT_TRUE(types.at("raw_tracepoint").get<bool>()) << check_detail(r, "bpf", "prog.raw_tracepoint");
    } else if (!types.at("tracepoint").get<bool>()) {
        EXPECT_NE(check_detail(r, "bpf", "prog.tracepoint").find("EPERM"), std::string::npos);
    }
    // tp_btf, fentry and lsm all need vmlinux BTF.
    if (!r.at("bpf").at("btf").get<bool>()) {
        EXPECT_FALSE(types.at("tp_btf").get<bool>());
        EXPECT_FALSE(types.at("lsm").get<bool>());
    }
    // fentry and lsm both go through BPF trampolines: where root is refused
    // fentry, lsm is refused too.
    if (::geteuid() == 0 && !types.at("fentry").get<bool>() &&
        check_detail(r, "bpf", "prog.fentry").find("EPERM") != std::string::npos) {
        EXPECT_FALSE(types.at("lsm").get<bool>()) << check_detail(r, "bpf", "prog.lsm");
    }
    // BTF flag agrees with the file.
    EXPECT_EQ(r.at("bpf").at("btf").get<bool>(), ::access("/sys/kernel/btf/vmlinux", R_OK) == 0);
}

TEST(DoctorHost, SeccompAndNamespaces) {
    const json &r = host_report();
    EXPECT_TRUE(check_ok(r, "seccomp", "seccomp"));
    EXPECT_TRUE(check_ok(r, "seccomp", "action.allow"));
    EXPECT_TRUE(check_ok(r, "seccomp", "action.errno"));
    // User notification and its sizes go together.
    EXPECT_EQ(check_ok(r, "seccomp", "action.user_notif"), check_ok(r, "seccomp", "notif_sizes"));
    if (check_ok(r, "seccomp", "notif_sizes")) {
        EXPECT_GT(r.at("seccomp").at("notif_sizes").at("seccomp_data").get<int>(), 0);
    }
    // A working user namespace probe means the user namespace line says so too.
    if (check_ok(r, "userns", "unshare_and_map")) {
        EXPECT_TRUE(check_ok(r, "namespaces", "user"));
    }
    if (::geteuid() == 0)
        for (const char *ns : {"ipc", "mount", "network", "pid", "uts"}) {
            EXPECT_TRUE(check_ok(r, "namespaces", ns)) << ns << ": " << check_detail(r, "namespaces", ns);
        }
    EXPECT_EQ(check_ok(r, "namespaces", "time"), r.at("namespaces").at("time").get<bool>());
    EXPECT_EQ(check_ok(r, "syscalls", "pidfd_open"), r.at("syscalls").at("pidfd_open").get<bool>());
    EXPECT_EQ(r.at("mounts").at("idmap_probed").get<bool>(), ::geteuid() == 0);
}

TEST(DoctorHost, TextHasEveryCheck) {
    const json &r = host_report();
    std::string text = mxc::host::doctor_text(r);
    std::istringstream lines(text);
    std::string header;
    std::getline(lines, header);
    size_t ok_col = header.find("OK");
    ASSERT_NE(ok_col, std::string::npos);
    size_t n = 0;
    std::string line;
    while (std::getline(lines, line)) {
        const json &c = r.at("checks").at(n);
        // Columns are aligned: every status sits under the OK header.
        EXPECT_EQ(line.substr(ok_col, 2), c.at("ok").get<bool>() ? "ok" : "NO") << line;
        EXPECT_EQ(line.rfind(c.at("area").get<std::string>(), 0), 0u) << line;
        EXPECT_NE(line.find(" " + c.at("name").get<std::string>() + " "), std::string::npos) << line;
        ++n;
    }
    EXPECT_EQ(n, r.at("checks").size());
    for (const char *name : {"mode", "controllers", "create_v2", "unshare_and_map", "newuidmap", "abi",
                             "prog.tp_btf", "map.ringbuf", "btf_vmlinux", "idmap", "apparmor", "detected"})
        EXPECT_NE(text.find(name), std::string::npos) << name;
}

// ---- features --------------------------------------------------------------------

TEST(Features, RequiredKeysAndValues) {
    json f = mxc::host::features();
    EXPECT_EQ(f.at("ociVersionMin"), "1.0.0");
    EXPECT_EQ(f.at("ociVersionMax"), "1.2.0");
    EXPECT_EQ(f.at("hooks").size(), 6u);
    for (const char *h : {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}) {
        EXPECT_TRUE(contains(f.at("hooks").get<std::vector<std::string>>(), h)) << h;
    }
    auto opts = f.at("mountOptions").get<std::vector<std::string>>();
    for (const char *o : {"ro", "rbind", "rprivate", "rro", "rnosuid", "idmap", "ridmap", "nostrictatime"}) {
        EXPECT_TRUE(contains(opts, o)) << o;
    }
    EXPECT_FALSE(contains(opts, "tmpcopyup"));
    EXPECT_EQ(std::set<std::string>(opts.begin(), opts.end()).size(), opts.size()) << "duplicate mount option";

    const json &l = f.at("linux");
    EXPECT_EQ(l.at("namespaces").get<std::set<std::string>>(),
              (std::set<std::string>{"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}));
    for (const char *k : {"v1", "v2", "systemd", "systemdUser", "rdma"}) {
        EXPECT_TRUE(l.at("cgroup").at(k).is_boolean()) << k;
    }
    const json &sc = l.at("seccomp");
    EXPECT_TRUE(sc.at("enabled").get<bool>());
    EXPECT_TRUE(contains(sc.at("actions").get<std::vector<std::string>>(), "SCMP_ACT_NOTIFY"));
    EXPECT_EQ(sc.at("operators").size(), 7u);
#if defined(__x86_64__)
    EXPECT_TRUE(contains(sc.at("archs").get<std::vector<std::string>>(), "SCMP_ARCH_X86_64"));
    EXPECT_TRUE(contains(sc.at("archs").get<std::vector<std::string>>(), "SCMP_ARCH_X86"));
#endif
    auto known = sc.at("knownFlags").get<std::vector<std::string>>();
    for (const auto &s : sc.at("supportedFlags").get<std::vector<std::string>>()) {
        EXPECT_TRUE(contains(known, s)) << s << " supported but not known";
    }
    for (const char *k : {"apparmor", "selinux", "intelRdt"}) {
        EXPECT_TRUE(l.at(k).at("enabled").is_boolean()) << k;
    }
    EXPECT_TRUE(l.at("mountExtensions").at("idmap").at("enabled").is_boolean());
    EXPECT_EQ(l.at("apparmor").at("enabled").get<bool>(), host_report().at("lsm").at("apparmor").get<bool>());
    EXPECT_EQ(l.at("mountExtensions").at("idmap").at("enabled").get<bool>(),
              host_report().at("mounts").at("idmap").get<bool>());
    EXPECT_TRUE(f.at("annotations").at("org.mxc.version").is_string());
}

TEST(Features, EveryCapabilityParses) {
    json f = mxc::host::features();
    auto caps = f.at("linux").at("capabilities").get<std::vector<std::string>>();
    ASSERT_FALSE(caps.empty());
    std::set<cap_value_t> seen;
    for (const auto &c : caps) {
        EXPECT_EQ(c.rfind("CAP_", 0), 0u) << c;
        std::string lower = c;
        for (auto &ch : lower)
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        cap_value_t v;
        ASSERT_EQ(cap_from_name(lower.c_str(), &v), 0) << c;
        EXPECT_TRUE(seen.insert(v).second) << "duplicate " << c;
    }
    EXPECT_TRUE(contains(caps, "CAP_SYS_ADMIN"));
    EXPECT_TRUE(contains(caps, "CAP_CHOWN"));
    // Every capability this kernel has and libcap can name is listed.
    int last = -1;
    std::ifstream("/proc/sys/kernel/cap_last_cap") >> last;
    if (last >= 0) {
        EXPECT_EQ(caps.size(), static_cast<size_t>(std::min(last, static_cast<int>(CAP_LAST_CAP)) + 1));
    }
}
