// cgroup manager tests.  Fixture tests build a fake cgroupfs (plain files) in a
// temp dir with a fake mountinfo; the host test runs the real thing as root.
#include <gtest/gtest.h>

#include "helpers.hpp"

#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "mxc/cgroup/cgroup.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

using namespace mxc;
using mxc::testing::error_of;
using namespace mxc::cgroup;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::string &p) {
    std::ifstream in(p);
    return std::string(std::istreambuf_iterator<char>(in), {});
}
void put(const std::string &p, const std::string &v) { std::ofstream(p) << v; }
std::string read_trimmed(const std::string &p) {
    std::string s = slurp(p);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
        s.pop_back();
    return s;
}
bool is_dir(const std::string &p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Files the kernel would show in every directory of each fake hierarchy.
const std::map<std::string, std::vector<std::string>> kV1Files = {
    {"cpu", {"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us", "cpu.rt_period_us",
             "cpu.rt_runtime_us", "cpu.idle", "cpu.stat"}},
    {"cpuacct", {"cpuacct.usage", "cpuacct.usage_percpu", "cpuacct.usage_percpu_sys", "cpuacct.usage_percpu_user",
                 "cpuacct.stat"}},
    {"cpuset", {"cpuset.cpus", "cpuset.mems"}},
    {"memory", {"memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes",
                "memory.swappiness", "memory.oom_control", "memory.kmem.tcp.limit_in_bytes", "memory.usage_in_bytes",
                "memory.max_usage_in_bytes", "memory.failcnt", "memory.stat"}},
    {"devices", {"devices.allow", "devices.deny"}},
    {"freezer", {"freezer.state"}},
    {"blkio", {"blkio.weight", "blkio.leaf_weight", "blkio.weight_device", "blkio.throttle.read_bps_device",
               "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
               "blkio.throttle.write_iops_device"}},
    {"pids", {"pids.max", "pids.current"}},
    {"hugetlb", {"hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.usage_in_bytes", "hugetlb.2MB.max_usage_in_bytes",
                 "hugetlb.2MB.failcnt"}},
};
const std::vector<std::string> kV2Files = {
    "cgroup.procs", "cgroup.controllers", "cgroup.subtree_control", "cgroup.freeze", "cgroup.events",
    "memory.max", "memory.low", "memory.high", "memory.swap.max", "cpu.max", "cpu.weight", "cpu.stat",
    "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "io.max", "hugetlb.2MB.max", "cgroup.max.depth"};

class FakeHost {
public:
    // v1: controllers with a v1 mount; v2: whether cgroup2 is mounted (at root/unified
    // when v1 is present, else at root); v2_ctrls: its cgroup.controllers.
    FakeHost(std::vector<std::string> v1, bool v2, std::string v2_ctrls) : v1_(std::move(v1)) {
        char tmpl[] = "/tmp/mxc-cgtest-XXXXXX";
        base_ = ::mkdtemp(tmpl);
        root_ = base_ + "/cg";
        mkdir_p(root_);
        std::string mi;
        int id = 30;
        for (const auto &c : v1_) {
            mkdir_p(root_ + "/" + c);
            mi += fmt::format("{} 1 0:{} / {}/{} rw,relatime - cgroup cgroup rw,{}\n", id, id, root_, c, c);
            ++id;
        }
        mkdir_p(root_ + "/systemd");
        mi += fmt::format("{} 1 0:{} / {}/systemd rw - cgroup cgroup rw,name=systemd\n", id, id, root_);
        ++id;
        if (v2) {
            v2_mount_ = v1_.empty() ? root_ : root_ + "/unified";
            mkdir_p(v2_mount_);
            put(v2_mount_ + "/cgroup.controllers", v2_ctrls + "\n");
            put(v2_mount_ + "/cgroup.subtree_control", "");
            mi += fmt::format("{} 1 0:{} / {} rw - cgroup2 cgroup2 rw\n", id, id, v2_mount_);
        }
        mi += "99 1 8:1 / / rw - ext4 /dev/sda1 rw\n";
        mountinfo_ = base_ + "/mountinfo";
        put(mountinfo_, mi);
        if (!v1_.empty() && std::find(v1_.begin(), v1_.end(), "cpuset") != v1_.end()) {
            put(root_ + "/cpuset/cpuset.cpus", "0-3\n");
            put(root_ + "/cpuset/cpuset.mems", "0\n");
        }
    }
    ~FakeHost() { remove_tree(base_); }

    // Make /rel (e.g. "/mxc/c1") with kernel-like files in every hierarchy.
    void populate(const std::string &rel) {
        std::vector<std::string> levels;
        for (size_t pos = 1; pos <= rel.size(); ++pos)
            if (pos == rel.size() || rel[pos] == '/')
                levels.push_back(rel.substr(0, pos));
        for (const auto &lv : levels) {
            for (const auto &c : v1_) {
                std::string d = root_ + "/" + c + lv;
                mkdir_p(d);
                put(d + "/cgroup.procs", "");
                for (const auto &f : kV1Files.at(c))
                    put(d + "/" + f, "");
            }
            if (!v2_mount_.empty()) {
                std::string d = v2_mount_ + lv;
                mkdir_p(d);
                for (const auto &f : kV2Files)
                    put(d + "/" + f, "");
            }
        }
    }

    Layout layout() const { return detect(mountinfo_); }
    const std::string &root() const { return root_; }
    const std::string &base() const { return base_; }
    std::string v1(const std::string &c, const std::string &rel, const std::string &f) const {
        return slurp(root_ + "/" + c + rel + "/" + f);
    }
    std::string v2(const std::string &rel, const std::string &f) const { return slurp(v2_mount_ + rel + "/" + f); }
    const std::string &v2_mount() const { return v2_mount_; }

private:
    std::vector<std::string> v1_;
    std::string base_, root_, v2_mount_, mountinfo_;
};

const std::vector<std::string> kAllV1 = {"blkio", "cpu", "cpuacct", "cpuset", "devices",
                                         "freezer", "hugetlb", "memory", "pids"};
const std::vector<std::string> kHybridV1 = {"blkio", "cpu", "cpuacct", "cpuset", "devices",
                                            "freezer", "memory", "pids"};


} // namespace

// ---- detection and paths -------------------------------------------------------

TEST(CgroupDetect, Hybrid) {
    FakeHost h(kHybridV1, true, "hugetlb");
    Layout l = h.layout();
    EXPECT_EQ(l.mode, Mode::hybrid);
    EXPECT_STREQ(mode_name(l.mode), "hybrid");
    EXPECT_EQ(l.root, h.root());
    EXPECT_EQ(l.v2_mount, h.root() + "/unified");
    EXPECT_EQ(l.v1_mounts.size(), kHybridV1.size());
    EXPECT_EQ(l.v1_mounts.at("memory"), h.root() + "/memory");
    EXPECT_EQ(l.v1_mounts.count("systemd"), 0u);
    EXPECT_EQ(l.v1_mounts.count("name=systemd"), 0u);
    EXPECT_EQ(l.v2_controllers, std::vector<std::string>{"hugetlb"});
}

TEST(CgroupDetect, UnifiedLegacyNone) {
    {
        FakeHost h({}, true, "cpuset cpu io memory hugetlb pids");
        Layout l = h.layout();
        EXPECT_EQ(l.mode, Mode::unified);
        EXPECT_EQ(l.v2_mount, h.root());
        EXPECT_EQ(l.root, h.root());
        EXPECT_EQ(l.v2_controllers.size(), 6u);
    }
    {
        FakeHost h(kAllV1, false, "");
        EXPECT_EQ(h.layout().mode, Mode::legacy);
        EXPECT_TRUE(h.layout().v2_mount.empty());
    }
    char tmpl[] = "/tmp/mxc-cgtest-XXXXXX";
    std::string dir = ::mkdtemp(tmpl);
    put(dir + "/mountinfo", "99 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
    EXPECT_EQ(detect(dir + "/mountinfo").mode, Mode::none);
    // Co-mounted controllers and an escaped mount point.
    put(dir + "/mountinfo", "32 31 0:29 / /sys/fs/cgroup/cpu\\040acct rw - cgroup cgroup rw,cpu,cpuacct\n");
    Layout l = detect(dir + "/mountinfo");
    EXPECT_EQ(l.mode, Mode::legacy);
    EXPECT_EQ(l.v1_mounts.at("cpu"), "/sys/fs/cgroup/cpu acct");
    EXPECT_EQ(l.v1_mounts.at("cpuacct"), "/sys/fs/cgroup/cpu acct");
    remove_tree(dir);
}

TEST(CgroupManager, PathsAbsoluteAndRelative) {
    FakeHost h(kHybridV1, true, "hugetlb");
    Layout l = h.layout();
    Manager m(l, "/mxc//c1/");
    EXPECT_EQ(m.v2_dir(), h.v2_mount() + "/mxc/c1");
    EXPECT_EQ(m.v1_dirs().at("memory"), h.root() + "/memory/mxc/c1");
    EXPECT_EQ(m.v1_dirs().size(), kHybridV1.size());

    l.self_cgroup = h.base() + "/self_cgroup";
    put(l.self_cgroup, "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n2:cpuacct:/\n3:cpuset:/\n"
                       "5:devices:/d\n6:freezer:/\n7:blkio:/\n8:pids:/\n0::/user.slice/x\n");
    Manager r(l, "sub/c2");
    EXPECT_EQ(r.v1_dirs().at("memory"), h.root() + "/memory/process_api/abc/sub/c2");
    EXPECT_EQ(r.v1_dirs().at("devices"), h.root() + "/devices/d/sub/c2");
    EXPECT_EQ(r.v1_dirs().at("cpu"), h.root() + "/cpu/sub/c2");
    EXPECT_EQ(r.v2_dir(), h.v2_mount() + "/user.slice/x/sub/c2");

    EXPECT_NE(error_of([&] { Manager(l, "/mxc/../../etc"); }).find("\"..\" is not allowed"), std::string::npos);
    EXPECT_FALSE(error_of([&] { Manager(l, ""); }).empty());
}

// ---- create -----------------------------------------------------------------

TEST(CgroupManager, CreateCopiesCpusetFromParent) {
    FakeHost h(kHybridV1, true, "hugetlb");
    Manager m(h.layout(), "/mxc/c1");
    m.create();
    for (const auto &[c, d] : m.v1_dirs())
        EXPECT_TRUE(is_dir(d)) << d;
    EXPECT_TRUE(is_dir(m.v2_dir()));
    // New fake dirs have no cpuset files; populate() gives the empty ones the kernel makes.
    h.populate("/mxc/c1");
    m.create();
    EXPECT_EQ(h.v1("cpuset", "/mxc", "cpuset.cpus"), "0-3");
    EXPECT_EQ(h.v1("cpuset", "/mxc/c1", "cpuset.cpus"), "0-3");
    EXPECT_EQ(h.v1("cpuset", "/mxc/c1", "cpuset.mems"), "0");
}

TEST(CgroupManager, CreateRollsBackOnFailure) {
    FakeHost h(kHybridV1, true, "hugetlb");
    // pids "mount" replaced by a file: mkdir below it fails with ENOTDIR, after
    // the v2 dir and every other v1 dir (map order) were made.
    remove_tree(h.root() + "/pids");
    put(h.root() + "/pids", "");
    Manager m(h.layout(), "/mxc/c1");
    std::string err = error_of([&] { m.create(); });
    EXPECT_NE(err.find("create cgroup /mxc/c1: mkdir " + h.root() + "/pids/mxc"), std::string::npos) << err;
    EXPECT_FALSE(path_exists(h.v2_mount() + "/mxc"));
    for (const auto &c : kHybridV1)
        EXPECT_FALSE(path_exists(h.root() + "/" + c + "/mxc")) << c;
}

TEST(CgroupManager, CreateUnifiedEnablesControllersInAncestors) {
    FakeHost h({}, true, "cpu memory pids");
    Manager m(h.layout(), "/mxc/c1");
    std::vector<std::pair<std::string, std::string>> writes;
    m.set_write_observer([&](const std::string &f, const std::string &v) { writes.emplace_back(f, v); });
    m.create();
    // Root delegates what it has; the fake /mxc has no cgroup.controllers file, so nothing is enabled below it.
    std::vector<std::pair<std::string, std::string>> want = {
        {h.root() + "/cgroup.subtree_control", "+cpu"},
        {h.root() + "/cgroup.subtree_control", "+memory"},
        {h.root() + "/cgroup.subtree_control", "+pids"}};
    EXPECT_EQ(writes, want);
    EXPECT_TRUE(is_dir(h.root() + "/mxc/c1"));
}

// ---- apply ------------------------------------------------------------------

TEST(CgroupApply, V1Files) {
    FakeHost h(kAllV1, false, "");
    h.populate("/mxc/c1");
    Manager m(h.layout(), "/mxc/c1");
    oci::Resources r;
    r.memory = oci::Memory{};
    r.memory->limit = 268435456;
    r.memory->reservation = 134217728;
    r.memory->swap = 536870912;
    r.memory->swappiness = 10;
    r.memory->disable_oom_killer = true;
    r.cpu = oci::Cpu{};
    r.cpu->shares = 512;
    r.cpu->quota = 50000;
    r.cpu->period = 100000;
    r.cpu->realtime_runtime = 950;
    r.cpu->realtime_period = 1000;
    r.cpu->cpus = "0-1";
    r.cpu->mems = "0";
    r.pids = oci::Pids{64};
    r.block_io = oci::BlockIo{};
    r.block_io->weight = 300;
    r.block_io->throttle_read_bps.push_back({8, 0, 1048576});
    r.block_io->throttle_write_iops.push_back({8, 16, 100});
    r.hugepage_limits.push_back({"2MB", 4194304});
    m.apply(r);
    EXPECT_EQ(h.v1("memory", "/mxc/c1", "memory.limit_in_bytes"), "268435456");
    EXPECT_EQ(h.v1("memory", "/mxc/c1", "memory.soft_limit_in_bytes"), "134217728");
    EXPECT_EQ(h.v1("memory", "/mxc/c1", "memory.memsw.limit_in_bytes"), "536870912");
    EXPECT_EQ(h.v1("memory", "/mxc/c1", "memory.swappiness"), "10");
    EXPECT_EQ(h.v1("memory", "/mxc/c1", "memory.oom_control"), "1");
    EXPECT_EQ(h.v1("cpu", "/mxc/c1", "cpu.shares"), "512");
    EXPECT_EQ(h.v1("cpu", "/mxc/c1", "cpu.cfs_quota_us"), "50000");
    EXPECT_EQ(h.v1("cpu", "/mxc/c1", "cpu.cfs_period_us"), "100000");
    EXPECT_EQ(h.v1("cpu", "/mxc/c1", "cpu.rt_runtime_us"), "950");
    EXPECT_EQ(h.v1("cpu", "/mxc/c1", "cpu.rt_period_us"), "1000");
    EXPECT_EQ(h.v1("cpuset", "/mxc/c1", "cpuset.cpus"), "0-1");
    EXPECT_EQ(h.v1("cpuset", "/mxc/c1", "cpuset.mems"), "0");
    EXPECT_EQ(h.v1("pids", "/mxc/c1", "pids.max"), "64");
    EXPECT_EQ(h.v1("blkio", "/mxc/c1", "blkio.weight"), "300");
    EXPECT_EQ(h.v1("blkio", "/mxc/c1", "blkio.throttle.read_bps_device"), "8:0 1048576");
    EXPECT_EQ(h.v1("blkio", "/mxc/c1", "blkio.throttle.write_iops_device"), "8:16 100");
    EXPECT_EQ(h.v1("hugetlb", "/mxc/c1", "hugetlb.2MB.limit_in_bytes"), "4194304");

    // An update to unlimited overwrites (the fake shows stale bytes if not truncated).
    oci::Resources u;
    u.pids = oci::Pids{-1};
    u.memory = oci::Memory{};
    u.memory->limit = -1;
    m.apply(u);
    EXPECT_EQ(h.v1("pids", "/mxc/c1", "pids.max"), "max");
    EXPECT_EQ(h.v1("memory", "/mxc/c1", "memory.limit_in_bytes"), "-1");
}

TEST(CgroupApply, V1DeviceRulesInOrder) {
    FakeHost h(kAllV1, false, "");
    h.populate("/mxc/c1");
    Manager m(h.layout(), "/mxc/c1");
    std::vector<std::pair<std::string, std::string>> writes;
    m.set_write_observer([&](const std::string &f, const std::string &v) { writes.emplace_back(f, v); });
    oci::Resources r;
    r.devices.push_back({false, "a", std::nullopt, std::nullopt, "rwm"});
    r.devices.push_back({true, "c", 1, 3, "rwm"});
    r.devices.push_back({true, "c", 5, std::nullopt, "rw"});
    r.devices.push_back({false, "b", 8, 0, "m"});
    m.apply(r);
    std::string d = h.root() + "/devices/mxc/c1/";
    std::vector<std::pair<std::string, std::string>> want = {
        {d + "devices.deny", "a *:* rwm"},
        {d + "devices.allow", "c 1:3 rwm"},
        {d + "devices.allow", "c 5:* rw"},
        {d + "devices.deny", "b 8:0 m"}};
    EXPECT_EQ(writes, want);

    oci::Resources bad;
    bad.devices.push_back({true, "c", 1, 3, "rwx"});
    EXPECT_NE(error_of([&] { m.apply(bad); }).find(".linux.resources.devices[0].access: bad access \"rwx\""),
              std::string::npos);
}

TEST(CgroupApply, V2Files) {
    FakeHost h({}, true, "cpuset cpu io memory hugetlb pids");
    h.populate("/mxc/c1");
    Manager m(h.layout(), "/mxc/c1");
    std::vector<std::pair<std::string, std::string>> writes;
    m.set_write_observer([&](const std::string &f, const std::string &v) { writes.emplace_back(f, v); });
    oci::Resources r;
    r.memory = oci::Memory{};
    r.memory->limit = 268435456;
    r.memory->reservation = 134217728;
    r.memory->swap = 536870912;
    r.cpu = oci::Cpu{};
    r.cpu->shares = 1024;
    r.cpu->quota = 50000;
    r.cpu->period = 100000;
    r.cpu->cpus = "1";
    r.cpu->mems = "0";
    r.pids = oci::Pids{100};
    r.block_io = oci::BlockIo{};
    r.block_io->weight = 500;
    r.block_io->throttle_read_bps.push_back({8, 0, 1048576});
    r.block_io->throttle_write_iops.push_back({8, 0, 0});
    r.hugepage_limits.push_back({"2MB", 4194304});
    r.devices.push_back({false, "a", std::nullopt, std::nullopt, "rwm"}); // BPF's job on v2
    m.apply(r);
    EXPECT_EQ(h.v2("/mxc/c1", "memory.max"), "268435456");
    EXPECT_EQ(h.v2("/mxc/c1", "memory.low"), "134217728");
    EXPECT_EQ(h.v2("/mxc/c1", "memory.swap.max"), "268435456"); // memory+swap minus memory
    EXPECT_EQ(h.v2("/mxc/c1", "cpu.weight"), "39");
    EXPECT_EQ(h.v2("/mxc/c1", "cpu.max"), "50000 100000");
    EXPECT_EQ(h.v2("/mxc/c1", "cpuset.cpus"), "1");
    EXPECT_EQ(h.v2("/mxc/c1", "cpuset.mems"), "0");
    EXPECT_EQ(h.v2("/mxc/c1", "pids.max"), "100");
    EXPECT_EQ(h.v2("/mxc/c1", "io.weight"), "default 4950");
    EXPECT_EQ(h.v2("/mxc/c1", "hugetlb.2MB.max"), "4194304");
    std::vector<std::string> io_max;
    for (const auto &[f, v] : writes) {
        EXPECT_EQ(f.find("devices"), std::string::npos) << f;
        if (f == m.v2_dir() + "/io.max")
            io_max.push_back(v);
    }
    EXPECT_EQ(io_max, (std::vector<std::string>{"8:0 rbps=1048576", "8:0 wiops=max"}));
    // The parent delegates what apply() used.
    bool enabled_memory = false;
    for (const auto &[f, v] : writes)
        enabled_memory |= f == h.root() + "/mxc/cgroup.subtree_control" && v == "+memory";
    EXPECT_TRUE(enabled_memory);

    oci::Resources q;
    q.cpu = oci::Cpu{};
    q.cpu->quota = -1;
    m.apply(q);
    EXPECT_EQ(h.v2("/mxc/c1", "cpu.max"), "max");
}

TEST(CgroupApply, SharesToWeight) {
    FakeHost h({}, true, "cpu");
    h.populate("/mxc/c1");
    Manager m(h.layout(), "/mxc/c1");
    for (auto [shares, weight] : std::vector<std::pair<uint64_t, std::string>>{
             {2, "1"}, {1024, "39"}, {262144, "10000"}, {1, "1"}, {1000000, "10000"}, {102400, "3906"}}) {
        oci::Resources r;
        r.cpu = oci::Cpu{};
        r.cpu->shares = shares;
        m.apply(r);
        EXPECT_EQ(h.v2("/mxc/c1", "cpu.weight"), weight) << shares;
    }
}

TEST(CgroupApply, UnifiedPassthrough) {
    {
        FakeHost h({}, true, "cpu memory pids");
        h.populate("/mxc/c1");
        Manager m(h.layout(), "/mxc/c1");
        oci::Resources r;
        r.memory = oci::Memory{};
        r.memory->limit = 1000;
        r.unified = {{"memory.high", "500 "}, {"memory.max", "2000"}, {"cgroup.max.depth", "3"}};
        m.apply(r);
        EXPECT_EQ(h.v2("/mxc/c1", "memory.high"), "500 "); // verbatim
        EXPECT_EQ(h.v2("/mxc/c1", "memory.max"), "2000");  // unified wins over typed fields
        EXPECT_EQ(h.v2("/mxc/c1", "cgroup.max.depth"), "3");
        oci::Resources bad;
        bad.unified = {{"../memory.max", "1"}};
        EXPECT_NE(error_of([&] { m.apply(bad); }).find("not a cgroup file name"), std::string::npos);
    }
    {
        FakeHost h(kHybridV1, true, "hugetlb");
        h.populate("/mxc/c1");
        Manager m(h.layout(), "/mxc/c1");
        oci::Resources r;
        r.unified = {{"memory.high", "500"}};
        std::string err = error_of([&] { m.apply(r); });
        EXPECT_NE(err.find("not supported: .linux.resources.unified.memory.high: controller not available on cgroup v2 here"),
                  std::string::npos)
            << err;
        r.unified = {{"hugetlb.2MB.max", "4096"}};
        m.apply(r);
        EXPECT_EQ(h.v2("/mxc/c1", "hugetlb.2MB.max"), "4096");
        EXPECT_EQ(slurp(h.v2_mount() + "/cgroup.subtree_control"), "+hugetlb");
    }
}

TEST(CgroupApply, HybridSplitsV1AndV2) {
    FakeHost h(kHybridV1, true, "hugetlb");
    h.populate("/mxc/c1");
    Manager m(h.layout(), "/mxc/c1");
    oci::Resources r;
    r.memory = oci::Memory{};
    r.memory->limit = 4096;
    r.hugepage_limits.push_back({"2MB", 2097152});
    m.apply(r);
    EXPECT_EQ(h.v1("memory", "/mxc/c1", "memory.limit_in_bytes"), "4096");
    EXPECT_EQ(h.v2("/mxc/c1", "memory.max"), "");
    EXPECT_EQ(h.v2("/mxc/c1", "hugetlb.2MB.max"), "2097152");
}

TEST(CgroupApply, MissingControllerErrors) {
    FakeHost h({"cpu", "memory"}, false, "");
    h.populate("/mxc/c1");
    Manager m(h.layout(), "/mxc/c1");
    oci::Resources r;
    r.pids = oci::Pids{10};
    EXPECT_NE(error_of([&] { m.apply(r); }).find("not supported: .linux.resources.pids.limit: no pids controller"),
              std::string::npos);
    oci::Resources c;
    c.cpu = oci::Cpu{};
    c.cpu->cpus = "0";
    EXPECT_NE(error_of([&] { m.apply(c); }).find(".linux.resources.cpu.cpus: no cpuset controller"), std::string::npos);
    oci::Resources hp;
    hp.hugepage_limits.push_back({"2MB", 1});
    EXPECT_NE(error_of([&] { m.apply(hp); }).find(".linux.resources.hugepageLimits[0]: no hugetlb controller"),
              std::string::npos);
    // Nothing was written before the error was found.
    oci::Resources mixed;
    mixed.memory = oci::Memory{};
    mixed.memory->limit = 777;
    mixed.pids = oci::Pids{10};
    EXPECT_FALSE(error_of([&] { m.apply(mixed); }).empty());
    EXPECT_EQ(h.v1("memory", "/mxc/c1", "memory.limit_in_bytes"), "");

    FakeHost v2({}, true, "memory");
    v2.populate("/mxc/c1");
    Manager m2(v2.layout(), "/mxc/c1");
    oci::Resources rt;
    rt.cpu = oci::Cpu{};
    rt.cpu->realtime_runtime = 100;
    EXPECT_NE(error_of([&] { m2.apply(rt); }).find("not supported: .linux.resources.cpu.realtimeRuntime"),
              std::string::npos);
    oci::Resources sw;
    sw.memory = oci::Memory{};
    sw.memory->swap = 100;
    EXPECT_NE(error_of([&] { m2.apply(sw); }).find("needs memory.limit"), std::string::npos);
}

TEST(CgroupApply, ErrorNamesFileAndValue) {
    FakeHost h({"memory"}, false, "");
    h.populate("/mxc/c1");
    std::string file = h.root() + "/memory/mxc/c1/memory.memsw.limit_in_bytes";
    ::unlink(file.c_str()); // as with swap accounting off
    Manager m(h.layout(), "/mxc/c1");
    oci::Resources r;
    r.memory = oci::Memory{};
    r.memory->swap = 8192;
    std::string err = error_of([&] { m.apply(r); });
    EXPECT_EQ(err, "set resources of cgroup /mxc/c1: write \"8192\" to " + file +
                       ": open: No such file or directory (ENOENT)");
}

// ---- freezer, pids, stats on fakes ---------------------------------------------

TEST(CgroupManager, FreezeFakeV2AndV1) {
    FakeHost h({}, true, "memory");
    h.populate("/mxc/c1");
    Manager m(h.layout(), "/mxc/c1");
    put(m.v2_dir() + "/cgroup.events", "populated 1\nfrozen 1\n");
    m.freeze(true);
    EXPECT_EQ(h.v2("/mxc/c1", "cgroup.freeze"), "1");
    EXPECT_TRUE(m.frozen());

    FakeHost l({"freezer"}, false, "");
    l.populate("/mxc/c1");
    Manager f(l.layout(), "/mxc/c1");
    f.freeze(true);
    EXPECT_EQ(l.v1("freezer", "/mxc/c1", "freezer.state"), "FROZEN");
    EXPECT_TRUE(f.frozen());
    f.freeze(false);
    EXPECT_FALSE(f.frozen());

    FakeHost n({"memory"}, false, "");
    n.populate("/mxc/c1");
    EXPECT_NE(error_of([&] { Manager(n.layout(), "/mxc/c1").freeze(true); }).find("not supported: freezer"),
              std::string::npos);
}

TEST(CgroupManager, PidsRecursiveAndStatsFake) {
    FakeHost h(kAllV1, false, "");
    h.populate("/mxc/c1");
    Manager m(h.layout(), "/mxc/c1");
    std::string pd = h.root() + "/pids/mxc/c1";
    put(pd + "/cgroup.procs", "11\n10\n");
    mkdir_p(pd + "/sub");
    put(pd + "/sub/cgroup.procs", "12\n");
    EXPECT_EQ(m.pids(), (std::vector<pid_t>{10, 11, 12}));

    std::string md = h.root() + "/memory/mxc/c1", cd = h.root() + "/cpuacct/mxc/c1";
    put(md + "/memory.usage_in_bytes", "4096\n");
    put(md + "/memory.limit_in_bytes", "9223372036854771712\n");
    put(md + "/memory.max_usage_in_bytes", "8192\n");
    put(md + "/memory.failcnt", "3\n");
    put(md + "/memory.stat", "cache 100\nrss 200\n");
    put(cd + "/cpuacct.usage", "123456\n");
    put(cd + "/cpuacct.usage_percpu", "100000 23456 \n");
    put(cd + "/cpuacct.stat", "user 2\nsystem 1\n");
    put(pd + "/pids.current", "3\n");
    put(pd + "/pids.max", "max\n");
    put(h.root() + "/blkio/mxc/c1/blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
    auto s = m.stats();
    EXPECT_EQ(s["memory"]["usage"]["usage"], 4096u);
    EXPECT_EQ(s["memory"]["usage"]["limit"], 9223372036854771712ull);
    EXPECT_EQ(s["memory"]["usage"]["max"], 8192u);
    EXPECT_EQ(s["memory"]["usage"]["failcnt"], 3u);
    EXPECT_EQ(s["memory"]["cache"], 100u);
    EXPECT_EQ(s["cpu"]["usage"]["total"], 123456u);
    EXPECT_EQ(s["cpu"]["usage"]["percpu"], (std::vector<uint64_t>{100000, 23456}));
    uint64_t tick = 1000000000ull / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
    EXPECT_EQ(s["cpu"]["usage"]["user"], 2 * tick);
    EXPECT_EQ(s["cpu"]["usage"]["kernel"], tick);
    EXPECT_EQ(s["pids"]["current"], 3u);
    EXPECT_EQ(s["pids"]["limit"], 0u);
    ASSERT_EQ(s["blkio"]["ioServiceBytesRecursive"].size(), 2u);
    EXPECT_EQ(s["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read");
    EXPECT_EQ(s["blkio"]["ioServiceBytesRecursive"][0]["value"], 4096u);
}

TEST(CgroupManager, DestroyMissingIsFine) {
    FakeHost h(kHybridV1, true, "hugetlb");
    Manager m(h.layout(), "/never/created");
    EXPECT_NO_THROW(m.destroy());
}

// ---- the real host -------------------------------------------------------------

namespace {
struct Child {
    pid_t pid = -1;
    volatile uint64_t *counter = nullptr;
    ~Child() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        if (counter)
            ::munmap(const_cast<uint64_t *>(counter), 4096);
    }
};
} // namespace

TEST(CgroupHost, CreateJoinLimitFreezeKillDestroy) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to create cgroups on the host";
    Layout layout = detect();
    if (layout.mode == Mode::none)
        GTEST_SKIP() << "no cgroup hierarchy mounted";
    std::string top = fmt::format("/mxc-test-{}", ::getpid());
    Manager m(layout, top + "/c1");
    Manager parent(layout, top);
    auto cleanup = [&] {
        try {
            m.destroy();
            parent.destroy();
        } catch (const Error &e) {
            ADD_FAILURE() << e.what();
        }
    };
    ScopeExit guard(cleanup);
    m.create();
    if (!m.v2_dir().empty()) {
        EXPECT_TRUE(is_dir(m.v2_dir()));
        EXPECT_EQ(m.v2_id(), [&] {
            struct stat st;
            ::stat(m.v2_dir().c_str(), &st);
            return static_cast<uint64_t>(st.st_ino);
        }());
        EXPECT_TRUE(m.open_v2_dir());
    }
    for (const auto &[c, d] : m.v1_dirs())
        EXPECT_TRUE(is_dir(d)) << d;
    if (auto v1 = m.v1_dirs(); v1.count("cpuset")) {
        auto cs = v1.find("cpuset");
        // The parent made here hands its cpus and mems to its next children
        // itself (and the kernel passes the flag down).
        std::string top_dir = cs->second.substr(0, cs->second.rfind('/'));
        EXPECT_EQ(read_trimmed(top_dir + "/cgroup.clone_children"), "1");
        EXPECT_EQ(read_trimmed(cs->second + "/cpuset.cpus"), read_trimmed(top_dir + "/cpuset.cpus"));
        Manager sibling(layout, top + "/c2");
        sibling.create();
        EXPECT_EQ(read_trimmed(cs->second.substr(0, cs->second.rfind('/')) + "/c2/cpuset.mems"),
                  read_trimmed(top_dir + "/cpuset.mems"));
        sibling.destroy();
    }

    Child child;
    void *mem = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    child.counter = static_cast<volatile uint64_t *>(mem);
    child.pid = ::fork();
    ASSERT_GE(child.pid, 0);
    if (child.pid == 0) {
        for (;;) {
            *child.counter = *child.counter + 1;
            ::usleep(1000);
        }
    }
    m.add_pid(child.pid);
    auto p = m.pids();
    EXPECT_NE(std::find(p.begin(), p.end(), child.pid), p.end());

    oci::Resources r;
    r.memory = oci::Memory{};
    r.memory->limit = 64 << 20;
    r.pids = oci::Pids{32};
    m.apply(r);
    auto v1 = m.v1_dirs();
    bool memory_v2 = std::find(layout.v2_controllers.begin(), layout.v2_controllers.end(), "memory") !=
                     layout.v2_controllers.end();
    if (v1.count("memory") && !memory_v2) {
        EXPECT_EQ(slurp(v1.at("memory") + "/memory.limit_in_bytes"), "67108864\n");
    }
    if (v1.count("pids")) {
        EXPECT_EQ(slurp(v1.at("pids") + "/pids.max"), "32\n");
    }
    auto st = m.stats();
    EXPECT_EQ(st["pids"]["current"], 1u);
    EXPECT_EQ(st["pids"]["limit"], 32u);
    // v1 does not move charges with a migrating task, so usage may be 0; the limit is exact.
    EXPECT_EQ(st["memory"]["usage"]["limit"], uint64_t(64) << 20);

    m.freeze(true);
    EXPECT_TRUE(m.frozen());
    std::this_thread::sleep_for(20ms);
    uint64_t before = *child.counter;
    std::this_thread::sleep_for(100ms);
    EXPECT_EQ(*child.counter, before) << "the child ran while frozen";
    m.freeze(false);
    EXPECT_FALSE(m.frozen());
    std::this_thread::sleep_for(100ms);
    EXPECT_GT(*child.counter, before) << "the child did not run after thaw";

    m.kill_all(SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(child.pid, &status, 0), child.pid);
    child.pid = -1;
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    guard.dismiss();
    m.destroy();
    parent.destroy();
    if (!m.v2_dir().empty()) {
        EXPECT_FALSE(path_exists(parent.v2_dir()));
    }
    for (const auto &[c, d] : parent.v1_dirs())
        EXPECT_FALSE(path_exists(d)) << d;
}

// The v1 freezer path, on the host's v1 hierarchies, by hiding cgroup2 from the layout.
TEST(CgroupHost, V1FreezerAndRelativePath) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to create cgroups on the host";
    Layout layout = detect();
    if (!layout.v1_mounts.count("freezer"))
        GTEST_SKIP() << "no v1 freezer hierarchy on this host";
    layout.v2_mount.clear();
    layout.v2_controllers.clear();
    layout.mode = Mode::legacy;
    // Relative: lands under our own cgroup of each hierarchy (memory:/process_api/... here).
    std::string rel = fmt::format("mxc-test-{}", ::getpid());
    Manager m(layout, rel);
    ScopeExit guard([&] {
        try {
            m.destroy();
        } catch (const Error &e) {
            ADD_FAILURE() << e.what();
        }
    });
    m.create();
    for (const auto &[c, d] : m.v1_dirs())
        EXPECT_TRUE(is_dir(d)) << d;
    Child child;
    child.pid = ::fork();
    ASSERT_GE(child.pid, 0);
    if (child.pid == 0) {
        for (;;)
            ::pause();
    }
    m.add_pid(child.pid);
    EXPECT_EQ(m.pids(), std::vector<pid_t>{child.pid});
    m.freeze(true);
    EXPECT_EQ(slurp(m.v1_dirs().at("freezer") + "/freezer.state"), "FROZEN\n");
    EXPECT_TRUE(m.frozen());
    m.freeze(false);
    EXPECT_FALSE(m.frozen());
    // Without cgroup.kill the processes are signalled one by one.
    m.kill_all(SIGTERM);
    int status = 0;
    ASSERT_EQ(::waitpid(child.pid, &status, 0), child.pid);
    child.pid = -1;
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    guard.dismiss();
    m.destroy();
    for (const auto &[c, d] : m.v1_dirs())
        EXPECT_FALSE(path_exists(d)) << d;
}

// A process moves itself into the v1 hierarchies through fds the runtime
// opened: what the container's first process does (see join_self).
TEST(CgroupHost, JoinSelfMovesTheCallerIntoEveryV1Hierarchy) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to create cgroups on the host";
    Layout layout = detect();
    if (layout.v1_mounts.empty())
        GTEST_SKIP() << "no v1 hierarchy on this host";
    Manager m(layout, fmt::format("/mxc-test-join-{}", ::getpid()));
    m.create();
    ScopeExit guard([&] {
        try {
            m.destroy();
        } catch (const Error &e) {
            ADD_FAILURE() << e.what();
        }
    });
    auto files = m.open_v1_tasks();
    std::set<std::string> dirs;
    for (const auto &[c, d] : m.v1_dirs())
        dirs.insert(d);
    EXPECT_EQ(files.size(), dirs.size());
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        try {
            join_self(files);
        } catch (...) {
            ::_exit(2);
        }
        // Every hierarchy lists us.
        for (const auto &d : dirs) {
            std::istringstream tasks(slurp(d + "/tasks"));
            bool listed = false;
            for (std::string t; std::getline(tasks, t);)
                listed = listed || t == std::to_string(::getpid());
            if (!listed)
                ::_exit(3);
        }
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    files.clear();
}

// The tasks files of the caller's own cgroups, one per v1 hierarchy in use,
// resolved from /proc/self/cgroup: where a container's init goes back to.
TEST(CgroupManager, OwnV1TasksAreTheCallersCgroups) {
    FakeHost h(kHybridV1, true, "hugetlb");
    Layout l = h.layout();
    l.self_cgroup = h.base() + "/self_cgroup";
    put(l.self_cgroup, "9:name=systemd:/\n4:memory:/process_api/abc\n1:cpu:/\n2:cpuacct:/\n3:cpuset:/\n"
                       "5:devices:/d\n6:freezer:/\n7:blkio:/\n8:pids:/\n10:hugetlb:/\n0::/user.slice/x\n");
    Manager m(l, "/mxc/c1");
    std::set<std::string> want;
    for (const auto &[c, d] : m.v1_dirs()) {
        std::string own = c == "memory" ? "/process_api/abc" : c == "devices" ? "/d" : "";
        std::string mount = h.root() + "/" + (c == "name=systemd" ? std::string("systemd") : c);
        mkdir_p(mount + own);
        put(mount + own + "/tasks", "");
        want.insert(mount + own + "/tasks");
    }
    auto files = m.open_own_v1_tasks();
    std::set<std::string> got;
    for (const auto &f : files) {
        EXPECT_GE(f.fd.get(), 0);
        got.insert(f.path);
    }
    EXPECT_EQ(got, want);
    std::vector<int> fds;
    for (const auto &f : files)
        fds.push_back(f.fd.get());
    leave_self(fds);
    EXPECT_EQ(h.v1("memory", "/process_api/abc", "tasks"), "0");
    EXPECT_EQ(h.v1("devices", "/d", "tasks"), "0");

    // One of them cannot be opened: none is (the init then stays, and its
    // cgroups go after it has exited).
    ::unlink((h.root() + "/devices/d/tasks").c_str());
    EXPECT_TRUE(m.open_own_v1_tasks().empty());
    // No entry for a hierarchy in /proc/self/cgroup: the same.
    put(l.self_cgroup, "4:memory:/process_api/abc\n0::/user.slice/x\n");
    EXPECT_TRUE(Manager(l, "/mxc/c1").open_own_v1_tasks().empty());
}

// What a container's init does once its command and everything else are
// gone: it moves itself back into the runtime's own v1 cgroups, and the
// container's v1 directories can be removed while it still runs (exits).
TEST(CgroupHost, LeaveSelfLetsTheV1DirectoriesGoBeforeTheProcessEnds) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root to create cgroups on the host";
    Layout layout = detect();
    if (layout.v1_mounts.empty())
        GTEST_SKIP() << "no v1 hierarchy on this host";
    Manager m(layout, fmt::format("/mxc-test-leave-{}", ::getpid()));
    m.create();
    pid_t pid = -1;
    ScopeExit guard([&] {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        try {
            m.destroy();
        } catch (const Error &e) {
            ADD_FAILURE() << e.what();
        }
    });
    auto join = m.open_v1_tasks();
    auto leave = m.open_own_v1_tasks();
    ASSERT_EQ(leave.size(), join.size()) << "root can open its own cgroups' tasks files";
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::vector<int> fds;
        for (const auto &f : leave)
            fds.push_back(f.fd.get());
        try {
            join_self(join);
        } catch (...) {
            ::_exit(2);
        }
        // In: a directory with a task in it cannot be removed.
        m.remove_v1_dirs_now();
        for (const auto &[c, d] : m.v1_dirs())
            if (!path_exists(d))
                ::_exit(3);
        leave_self(fds);
        (void)!::write(ready[1], "x", 1);
        ::pause();
        ::_exit(0);
    }
    ::close(ready[1]);
    char x;
    ASSERT_EQ(::read(ready[0], &x, 1), 1) << "the child failed before leaving";
    ::close(ready[0]);
    m.remove_v1_dirs_now();
    for (const auto &[c, d] : m.v1_dirs())
        EXPECT_FALSE(path_exists(d)) << d << " still there";
    EXPECT_EQ(::kill(pid, 0), 0) << "the process is still alive";
}
