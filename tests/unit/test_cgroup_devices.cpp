// cgroup v2 device filter tests.  The compiled program is checked by shape and
// run through a small interpreter of the few BPF instructions it uses against a
// reference implementation of the rule semantics; as root the kernel's verifier
// loads it, and on a host with cgroup2 a child in a fresh v2 cgroup is denied
// and then (after an update) allowed /dev/zero.
#include <gtest/gtest.h>

#include "helpers.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <thread>

#include "mxc/cgroup/cgroup.hpp"
#include "mxc/cgroup/devices_bpf.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

using namespace mxc;
using mxc::testing::error_of;
using namespace mxc::cgroup;
using namespace std::chrono_literals;

namespace {

using Rules = std::vector<oci::DeviceRule>;
constexpr auto any = std::nullopt;

oci::DeviceRule rule(bool allow, const char *type, std::optional<int64_t> major, std::optional<int64_t> minor,
                     const char *access) {
    return {allow, type, major, minor, access};
}


// ---- an interpreter for what compile_device_filter emits ----------------------

struct Dev {
    int type;     // BPF_DEVCG_DEV_CHAR / _BLOCK
    int access;   // BPF_DEVCG_ACC_* bits
    uint32_t major, minor;
};

// Runs prog on dev; fails the test on an instruction it does not know, a jump
// that is not forward or leaves the program, or running off the end.
std::optional<int64_t> run(const std::vector<struct bpf_insn> &prog, const Dev &dev) {
    struct bpf_cgroup_dev_ctx ctx{};
    ctx.access_type = static_cast<uint32_t>(dev.access << 16 | dev.type);
    ctx.major = dev.major;
    ctx.minor = dev.minor;
    uint64_t reg[11] = {};
    bool init[11] = {};
    init[1] = true;
    for (size_t pc = 0; pc < prog.size();) {
        const auto &i = prog[pc];
        auto imm = static_cast<uint64_t>(static_cast<int64_t>(i.imm)); // sign-extended
        auto use = [&](int r) {
            EXPECT_TRUE(init[r]) << "r" << r << " read before written at " << pc;
            return reg[r];
        };
        switch (i.code) {
        case BPF_LDX | BPF_MEM | BPF_W: {
            EXPECT_EQ(i.src_reg, 1) << pc;
            EXPECT_TRUE(i.off == 0 || i.off == 4 || i.off == 8) << pc;
            uint32_t v;
            std::memcpy(&v, reinterpret_cast<const char *>(&ctx) + i.off, 4);
            reg[i.dst_reg] = v;
            init[i.dst_reg] = true;
            ++pc;
            continue;
        }
        case BPF_ALU64 | BPF_AND | BPF_K: reg[i.dst_reg] = use(i.dst_reg) & imm; ++pc; continue;
        case BPF_ALU64 | BPF_RSH | BPF_K: reg[i.dst_reg] = use(i.dst_reg) >> i.imm; ++pc; continue;
        case BPF_ALU64 | BPF_MOV | BPF_K:
            reg[i.dst_reg] = imm;
            init[i.dst_reg] = true;
            ++pc;
            continue;
        case BPF_ALU64 | BPF_MOV | BPF_X:
            reg[i.dst_reg] = use(i.src_reg);
            init[i.dst_reg] = true;
            ++pc;
            continue;
        case BPF_JMP | BPF_EXIT: return static_cast<int64_t>(use(0));
        case BPF_JMP | BPF_JNE | BPF_K:
        case BPF_JMP | BPF_JEQ | BPF_K:
        case BPF_JMP | BPF_JSET | BPF_K: {
            EXPECT_GT(i.off, 0) << "backward or null jump at " << pc;
            EXPECT_LT(pc + 1 + i.off, prog.size()) << "jump out of the program at " << pc;
            if (i.off <= 0 || pc + 1 + i.off >= prog.size())
                return std::nullopt;
            uint64_t v = use(i.dst_reg);
            bool taken = BPF_OP(i.code) == BPF_JNE ? v != imm : BPF_OP(i.code) == BPF_JEQ ? v == imm : (v & imm) != 0;
            pc += taken ? 1 + i.off : 1;
            continue;
        }
        default: ADD_FAILURE() << "unexpected opcode " << int(i.code) << " at " << pc; return std::nullopt;
        }
    }
    ADD_FAILURE() << "ran off the end of the program";
    return std::nullopt;
}

// The rules' meaning: last match wins, default deny; an allow rule must cover every
// requested access bit, a deny rule matches when it covers any of them.
bool reference(const Rules &rules, const Dev &dev) {
    bool allow = false;
    for (const auto &r : rules) {
        if (r.type != "a" && (r.type == "c" ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK) != dev.type)
            continue;
        if (r.major && *r.major >= 0 && static_cast<uint32_t>(*r.major) != dev.major)
            continue;
        if (r.minor && *r.minor >= 0 && static_cast<uint32_t>(*r.minor) != dev.minor)
            continue;
        int acc = 0;
        for (char c : r.access)
            acc |= c == 'r' ? BPF_DEVCG_ACC_READ : c == 'w' ? BPF_DEVCG_ACC_WRITE : BPF_DEVCG_ACC_MKNOD;
        if (r.allow ? (dev.access & ~acc) != 0 : (dev.access & acc) == 0)
            continue;
        allow = r.allow;
    }
    return allow;
}

bool allowed(const std::vector<struct bpf_insn> &prog, const Dev &dev) {
    auto r = run(prog, dev);
    EXPECT_TRUE(r && (*r == 0 || *r == 1)) << "r0 must be 0 or 1";
    return r && *r == 1;
}

constexpr int R = BPF_DEVCG_ACC_READ, W = BPF_DEVCG_ACC_WRITE, M = BPF_DEVCG_ACC_MKNOD;
constexpr int C = BPF_DEVCG_DEV_CHAR, B = BPF_DEVCG_DEV_BLOCK;

// Every access combination of a few devices of both types.
std::vector<Dev> probe_devices() {
    std::vector<Dev> out;
    for (int type : {C, B})
        for (int acc = 1; acc <= 7; ++acc)
            for (auto [ma, mi] : std::vector<std::pair<uint32_t, uint32_t>>{{1, 3}, {1, 5}, {1, 9}, {8, 0}, {5, 1}, {136, 0}})
                out.push_back({type, acc, ma, mi});
    return out;
}

void expect_matches_reference(const Rules &rules) {
    auto prog = compile_device_filter(rules);
    ASSERT_FALSE(prog.empty());
    EXPECT_EQ(prog.back().code, BPF_JMP | BPF_EXIT);
    for (const auto &d : probe_devices())
        EXPECT_EQ(allowed(prog, d), reference(rules, d))
            << "type " << d.type << " access " << d.access << " " << d.major << ":" << d.minor;
}

} // namespace

// ---- compile_device_filter -------------------------------------------------------

TEST(DeviceFilterCompile, EmptyDeniesEverything) {
    auto prog = compile_device_filter({});
    EXPECT_EQ(prog.size(), 8u); // 6 loads + "r0 = 0; exit"
    for (const auto &d : probe_devices())
        EXPECT_FALSE(allowed(prog, d));
}

TEST(DeviceFilterCompile, DenyAllThenAllowNull) {
    Rules rules = {rule(false, "a", any, any, "rwm"), rule(true, "c", 1, 3, "rwm")};
    auto prog = compile_device_filter(rules);
    // prologue 6; "c 1:3 rwm": type, major, minor, r0, exit = 5; the deny-all is a
    // catch-all (r0 = 0; exit) and ends the program: no unreachable default tail.
    EXPECT_EQ(prog.size(), 13u);
    EXPECT_TRUE(allowed(prog, {C, R | W, 1, 3}));
    EXPECT_TRUE(allowed(prog, {C, M, 1, 3}));
    EXPECT_FALSE(allowed(prog, {C, R, 1, 5}));
    EXPECT_FALSE(allowed(prog, {B, R, 1, 3}));
    expect_matches_reference(rules);
}

TEST(DeviceFilterCompile, LastMatchWins) {
    Rules rules = {rule(true, "a", any, any, "rwm"), rule(false, "c", 1, 3, "w")};
    auto prog = compile_device_filter(rules);
    EXPECT_TRUE(allowed(prog, {C, R, 1, 3}));
    EXPECT_FALSE(allowed(prog, {C, W, 1, 3}));
    EXPECT_FALSE(allowed(prog, {C, R | W, 1, 3})); // open(O_RDWR) must not slip past a "w" deny
    EXPECT_TRUE(allowed(prog, {C, W, 1, 5}));
    // The same rules the other way round: the allow-all comes last and wins.
    Rules flipped = {rules[1], rules[0]};
    auto p2 = compile_device_filter(flipped);
    EXPECT_EQ(p2.size(), 8u); // prologue + the catch-all only
    EXPECT_TRUE(allowed(p2, {C, W, 1, 3}));
    expect_matches_reference(rules);
    expect_matches_reference(flipped);
}

TEST(DeviceFilterCompile, WildcardsAccessSubsetAndNegativeNumbers) {
    Rules rules = {
        rule(false, "a", any, any, "rwm"),
        rule(true, "c", 1, any, "rw"),      // every minor of major 1, no mknod
        rule(true, "b", any, 0, "m"),       // mknod of minor 0 of any block major
        rule(true, "c", 136, -1, "rwm"),    // -1 is a wildcard as in the v1 files
        rule(false, "c", 1, 9, "r"),        // but no reading /dev/urandom
    };
    auto prog = compile_device_filter(rules);
    EXPECT_TRUE(allowed(prog, {C, R, 1, 5}));
    EXPECT_TRUE(allowed(prog, {C, R | W, 1, 3}));
    EXPECT_FALSE(allowed(prog, {C, R | M, 1, 3}));
    EXPECT_FALSE(allowed(prog, {C, R, 1, 9}));
    EXPECT_TRUE(allowed(prog, {C, W, 1, 9}));
    EXPECT_TRUE(allowed(prog, {B, M, 8, 0}));
    EXPECT_FALSE(allowed(prog, {B, R, 8, 0}));
    EXPECT_TRUE(allowed(prog, {C, R | W | M, 136, 0}));
    expect_matches_reference(rules);
}

TEST(DeviceFilterCompile, RulesBeforeACatchAllAreDropped) {
    Rules rules = {rule(true, "c", 1, 3, "rwm"), rule(true, "a", any, any, "rwm"), rule(false, "b", 8, 0, "m")};
    auto prog = compile_device_filter(rules);
    // prologue 6 + deny "b 8:0 m" (type, 3 for access, major, minor, r0, exit) 8 + catch-all 2.
    EXPECT_EQ(prog.size(), 16u);
    expect_matches_reference(rules);
}

TEST(DeviceFilterCompile, RandomRuleListsMatchTheReference) {
    std::mt19937 rng(12345);
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
    const char *types[] = {"a", "c", "b"};
    const char *accesses[] = {"r", "w", "m", "rw", "rm", "wm", "rwm", "mr", "wr"};
    std::vector<std::optional<int64_t>> majors = {any, 1, 8, 5, 136, -1};
    std::vector<std::optional<int64_t>> minors = {any, 3, 5, 0, 9, 1, -1};
    for (int round = 0; round < 300; ++round) {
        Rules rules;
        int n = pick(8);
        for (int i = 0; i < n; ++i) {
            // Mostly specific rules, so that catch-alls do not hide everything.
            bool catch_all = pick(10) == 0;
            rules.push_back(catch_all ? rule(pick(2) == 0, "a", any, any, "rwm")
                                      : rule(pick(2) == 0, types[pick(3)], majors[pick(majors.size())],
                                             minors[pick(minors.size())], accesses[pick(9)]));
        }
        SCOPED_TRACE(round);
        expect_matches_reference(rules);
    }
}

TEST(DeviceFilterCompile, JumpsAreForwardAndInside) {
    Rules rules;
    for (int i = 0; i < 200; ++i)
        rules.push_back(rule(i % 2 == 0, i % 3 == 0 ? "b" : "c", i, i % 7 == 0 ? std::optional<int64_t>() : i, "rw"));
    auto prog = compile_device_filter(rules);
    EXPECT_LE(prog.size(), 6u + 200u * 8u + 2u);
    for (size_t pc = 0; pc < prog.size(); ++pc) {
        const auto &i = prog[pc];
        if (BPF_CLASS(i.code) != BPF_JMP || BPF_OP(i.code) == BPF_EXIT)
            continue;
        EXPECT_GT(i.off, 0) << pc;
        EXPECT_LT(pc + 1 + i.off, prog.size()) << pc;
    }
    EXPECT_EQ(prog.back().code, BPF_JMP | BPF_EXIT);
}

TEST(DeviceFilterCompile, BadRules) {
    EXPECT_NE(error_of([] { compile_device_filter({rule(true, "x", any, any, "rwm")}); })
                  .find(".linux.resources.devices[0].type: bad device type \"x\""),
              std::string::npos);
    EXPECT_NE(error_of([] { compile_device_filter({rule(true, "c", 1, 3, "rw"), rule(true, "c", 1, 3, "rwx")}); })
                  .find(".linux.resources.devices[1].access: bad access \"rwx\""),
              std::string::npos);
    EXPECT_NE(error_of([] { compile_device_filter({rule(true, "c", 1, 3, "")}); }).find("bad access"),
              std::string::npos);
    EXPECT_NE(error_of([] { compile_device_filter({rule(true, "c", int64_t(1) << 32, 3, "r")}); })
                  .find(".linux.resources.devices[0].major"),
              std::string::npos);
    // A bad rule hidden behind a later catch-all is still an error.
    EXPECT_FALSE(error_of([] {
                     compile_device_filter({rule(true, "c", 1, 3, "q"), rule(true, "a", any, any, "rwm")});
                 }).empty());
}

// ---- the kernel ---------------------------------------------------------------

namespace {
bool bpf_possible(std::string &why) {
    if (::geteuid() != 0) {
        why = "needs root to load BPF programs";
        return false;
    }
    return true;
}

const std::string kUnified = "/sys/fs/cgroup/unified";

std::string cgroup2_mount() {
    for (const std::string &p : {kUnified, std::string("/sys/fs/cgroup")}) {
        struct statfs s;
        if (::statfs(p.c_str(), &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC)
            return p;
    }
    return "";
}

// What the child tries, each time it is poked; it reports the errno of each (0: opened).
struct Open {
    const char *path;
    int flags;
};
constexpr Open kOpens[] = {
    {"/dev/null", O_RDWR},   // 1:3
    {"/dev/zero", O_RDONLY}, // 1:5
    {"/dev/null", O_WRONLY},
    {"/dev/null", O_RDONLY},
};
constexpr size_t kNumOpens = sizeof kOpens / sizeof kOpens[0];
using Result = std::array<int, kNumOpens>;

class Prober {
public:
    explicit Prober() {
        if (::pipe2(go_, O_CLOEXEC) != 0 || ::pipe2(back_, O_CLOEXEC) != 0)
            throw Error(errno, "pipe");
        pid_ = ::fork();
        if (pid_ < 0)
            throw Error(errno, "fork");
        if (pid_ == 0) {
            ::close(go_[1]);
            ::close(back_[0]);
            char c;
            while (::read(go_[0], &c, 1) == 1) {
                Result res;
                for (size_t i = 0; i < kNumOpens; ++i) {
                    int fd = ::open(kOpens[i].path, kOpens[i].flags | O_CLOEXEC);
                    res[i] = fd >= 0 ? 0 : errno;
                    if (fd >= 0)
                        ::close(fd);
                }
                if (::write(back_[1], res.data(), sizeof res) != sizeof res)
                    ::_exit(2);
            }
            ::_exit(0);
        }
        ::close(go_[0]);
        ::close(back_[1]);
        go_[0] = back_[1] = -1;
    }
    ~Prober() {
        if (go_[1] >= 0)
            ::close(go_[1]);
        if (back_[0] >= 0)
            ::close(back_[0]);
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    pid_t pid() const { return pid_; }
    // The errno of each of kOpens, 0 for success.
    Result probe() {
        char c = 'x';
        if (::write(go_[1], &c, 1) != 1)
            throw Error(errno, "poke the child");
        Result res;
        res.fill(-1);
        if (::read(back_[0], res.data(), sizeof res) != sizeof res)
            throw Error(errno, "read the child's result");
        return res;
    }

private:
    pid_t pid_ = -1;
    int go_[2] = {-1, -1}, back_[2] = {-1, -1};
};

// mkdir on construction, rmdir (after the processes are gone) on destruction.
struct TempCgroup {
    std::string dir;
    explicit TempCgroup(std::string d) : dir(std::move(d)) {
        if (::mkdir(dir.c_str(), 0755) != 0)
            throw Error(errno, "mkdir " + dir);
    }
    ~TempCgroup() {
        for (int i = 0; i < 100; ++i) {
            if (::rmdir(dir.c_str()) == 0 || errno == ENOENT)
                return;
            if (errno != EBUSY)
                break;
            std::this_thread::sleep_for(10ms);
        }
        ADD_FAILURE() << "rmdir " << dir << ": " << std::strerror(errno);
    }
};
} // namespace

TEST(DeviceFilterKernel, VerifierAcceptsPrograms) {
    std::string why;
    if (!bpf_possible(why))
        GTEST_SKIP() << why;
    std::vector<Rules> lists = {
        {},
        {rule(true, "a", any, any, "rwm")},
        {rule(false, "a", any, any, "rwm"), rule(true, "c", 1, 3, "rwm")},
        {rule(false, "a", any, any, "rwm"), rule(true, "c", 1, any, "rw"), rule(true, "b", any, 0, "m"),
         rule(false, "c", 1, 9, "r"), rule(true, "c", 136, any, "rwm")},
        {rule(true, "c", 1, 3, "r")}, // no catch-all: the default tail
    };
    Rules many;
    for (int i = 0; i < 300; ++i)
        many.push_back(rule(i % 2 == 0, i % 3 == 0 ? "b" : "c", i, i % 5 == 0 ? std::optional<int64_t>() : i, "rw"));
    lists.push_back(many);
    for (size_t i = 0; i < lists.size(); ++i) {
        SCOPED_TRACE(i);
        try {
            UniqueFd fd = load_device_filter(compile_device_filter(lists[i]));
            EXPECT_TRUE(fd);
        } catch (const Error &e) {
            ADD_FAILURE() << e.what();
        }
    }
}

TEST(DeviceFilterKernel, VerifierErrorIsReported) {
    std::string why;
    if (!bpf_possible(why))
        GTEST_SKIP() << why;
    // "exit" with r0 never written.
    std::vector<struct bpf_insn> bad(1);
    bad[0].code = BPF_JMP | BPF_EXIT;
    std::string err = error_of([&] { load_device_filter(bad); });
    EXPECT_NE(err.find("BPF_PROG_LOAD"), std::string::npos) << err;
    EXPECT_NE(err.find("R0"), std::string::npos) << err; // the verifier's log
}

namespace {
std::string describe(const Result &r) {
    std::string out;
    for (size_t i = 0; i < kNumOpens; ++i)
        out += fmt::format("{}open({}, {}) = {}", i ? "; " : "", kOpens[i].path,
                           kOpens[i].flags == O_RDWR ? "O_RDWR" : kOpens[i].flags == O_WRONLY ? "O_WRONLY" : "O_RDONLY",
                           r[i] ? errno_name(r[i]) : "ok");
    return out;
}
// Result order: null O_RDWR, zero O_RDONLY, null O_WRONLY, null O_RDONLY.
constexpr Result kOnlyNull = {0, EPERM, 0, 0};
constexpr Result kNullAndZero = {0, 0, 0, 0};
} // namespace

TEST(DeviceFilterKernel, ChildInCgroupIsFilteredAndUpdated) {
    std::string why;
    if (!bpf_possible(why))
        GTEST_SKIP() << why;
    std::string mount = cgroup2_mount();
    if (mount.empty())
        GTEST_SKIP() << "no cgroup2 mount";
    TempCgroup cg(fmt::format("{}/mxc-devtest-{}", mount, ::getpid()));
    UniqueFd dir(::open(cg.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dir);
    Rules rules = {rule(false, "a", any, any, "rwm"), rule(true, "c", 1, 3, "rwm")};
    {
        UniqueFd prog = load_device_filter(compile_device_filter(rules));
        attach_device_filter(dir.get(), prog.get());
    } // the attachment holds the program, not our fd
    auto first = query_device_filters(dir.get());
    ASSERT_EQ(first.size(), 1u);

    {
        Prober child;
        write_file(cg.dir + "/cgroup.procs", std::to_string(child.pid()));
        Result res = child.probe();
        EXPECT_EQ(res, kOnlyNull) << describe(res);

        // update: allow c 1:5 as well
        rules.push_back(rule(true, "c", 1, 5, "rwm"));
        apply_device_filter(dir.get(), rules);
        auto second = query_device_filters(dir.get());
        ASSERT_EQ(second.size(), 1u) << "the old program was not detached";
        EXPECT_NE(second[0], first[0]);
        res = child.probe();
        EXPECT_EQ(res, kNullAndZero) << describe(res);

        // and back: an update also narrows
        rules.pop_back();
        apply_device_filter(dir.get(), rules);
        EXPECT_EQ(query_device_filters(dir.get()).size(), 1u);
        res = child.probe();
        EXPECT_EQ(res, kOnlyNull) << describe(res);

        // A partial deny after an allow-all: O_RDWR asks for r and w in one check.
        apply_device_filter(dir.get(), {rule(true, "a", any, any, "rwm"), rule(false, "c", 1, 3, "w")});
        res = child.probe();
        EXPECT_EQ(res, (Result{EPERM, 0, EPERM, 0})) << describe(res);
    } // the child is killed and reaped here, before the rmdir
}

// Manager::apply() on a real cgroup2 with the v1 devices controller hidden from the
// layout: the rules go to a BPF program instead of devices.allow/deny.
TEST(DeviceFilterKernel, ManagerApplyAttachesOnV2) {
    std::string why;
    if (!bpf_possible(why))
        GTEST_SKIP() << why;
    Layout layout = detect();
    if (layout.v2_mount.empty())
        GTEST_SKIP() << "no cgroup2 mount";
    layout.v1_mounts.erase("devices");
    Manager m(layout, fmt::format("/mxc-devtest-{}-m", ::getpid()));
    m.create();
    ScopeExit guard([&] {
        try {
            m.destroy();
        } catch (const Error &e) {
            ADD_FAILURE() << e.what();
        }
    });
    oci::Resources r;
    r.devices = {rule(false, "a", any, any, "rwm"), rule(true, "c", 1, 3, "rwm")};
    m.apply(r);
    UniqueFd dir = m.open_v2_dir();
    ASSERT_EQ(query_device_filters(dir.get()).size(), 1u);
    {
        Prober child;
        m.add_pid(child.pid());
        Result res = child.probe();
        EXPECT_EQ(res, kOnlyNull) << describe(res);
        r.devices.push_back(rule(true, "c", 1, 5, "r"));
        m.apply(r); // update
        EXPECT_EQ(query_device_filters(dir.get()).size(), 1u);
        res = child.probe();
        EXPECT_EQ(res, kNullAndZero) << describe(res);
    }
    oci::Resources bad;
    bad.devices = {rule(true, "c", 1, 3, "rwx")};
    EXPECT_NE(error_of([&] { m.apply(bad); }).find("bad access"), std::string::npos);
    EXPECT_EQ(query_device_filters(dir.get()).size(), 1u); // untouched
}
