// eBPF audit probes: record decoding (no privilege) and, as root, a known
// workload in a watched cgroup against what the probes report.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "mxc/audit/bpf.hpp"
#include "mxc/audit/record.hpp"
#include "mxc/util/error.hpp"

#include "events.h"

using namespace mxc::audit;

namespace {

void fill_hdr(mxc_event_hdr &h, uint16_t rec, uint16_t kind, uint16_t op) {
    h.rec = rec;
    h.kind = kind;
    h.op = op;
    h.abi = MXC_ABI_VERSION;
    h.identity = 3;
    h.boot_ns = 42;
    h.cgroup_id = 1234;
    h.pid = 100;
    h.tid = 101;
    h.ppid = 1;
    h.uid = 1000;
    h.gid = 1000;
    std::strcpy(h.comm, "agent");
}

} // namespace

TEST(AuditBpfDecode, FileRecord) {
    mxc_file_event r{};
    fill_hdr(r.hdr, MXC_REC_FILE, MXC_KIND_FILE, MXC_OP_RENAMEAT2);
    r.hdr.result = -ENOENT;
    r.dirfd = 5;
    r.dirfd2 = MXC_AT_FDCWD;
    r.flags = 1;
    std::strcpy(r.path, "old/name");
    std::strcpy(r.path2, "/abs/new");
    auto e = decode_event(&r, sizeof(r));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, Kind::file);
    EXPECT_EQ(e->op, Op::renameat2);
    EXPECT_STREQ(op_name(e->op), "renameat2");
    EXPECT_EQ(e->identity, 3u);
    EXPECT_EQ(e->cgroup_id, 1234u);
    EXPECT_EQ(e->pid, 100u);
    EXPECT_EQ(e->tid, 101u);
    EXPECT_EQ(e->comm, "agent");
    EXPECT_EQ(e->path, "old/name");
    EXPECT_EQ(e->path2, "/abs/new");
    EXPECT_EQ(e->dirfd, 5);
    EXPECT_EQ(e->dirfd2, Event::kAtFdcwd);
    EXPECT_EQ(e->result, -ENOENT);
    EXPECT_EQ(result_errno_name(*e), "ENOENT");
}

TEST(AuditBpfDecode, ExecRecordKeepsArgv) {
    auto r = std::make_unique<mxc_exec_event>();
    std::memset(r.get(), 0, sizeof(*r));
    fill_hdr(r->hdr, MXC_REC_EXEC, MXC_KIND_EXEC, MXC_OP_EXEC);
    r->hdr.flags = MXC_F_ARGS_TRUNC;
    std::strcpy(r->filename, "/usr/bin/python3");
    r->argc = 12;
    r->nargs = 2;
    std::strcpy(r->args[0], "python3");
    std::strcpy(r->args[1], "-c");
    auto e = decode_event(r.get(), sizeof(*r));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind, Kind::exec);
    EXPECT_EQ(e->path, "/usr/bin/python3");
    EXPECT_EQ(e->args, (std::vector<std::string>{"python3", "-c"}));
    EXPECT_EQ(e->argc, 12u);
    EXPECT_TRUE(e->args_truncated);
}

TEST(AuditBpfDecode, NetAddresses) {
    mxc_net_event r{};
    fill_hdr(r.hdr, MXC_REC_NET, MXC_KIND_NET, MXC_OP_CONNECT);
    r.sock_type = SOCK_STREAM;
    r.protocol = IPPROTO_TCP;
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(8080);
    inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr);
    std::memcpy(r.sockaddr, &sin, sizeof(sin));
    r.addrlen = sizeof(sin);
    auto e = decode_event(&r, sizeof(r));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->family, AF_INET);
    EXPECT_EQ(e->addr, "10.1.2.3");
    EXPECT_EQ(e->port, 8080);
    EXPECT_EQ(e->proto, "tcp");

    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(53);
    inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
    std::memset(r.sockaddr, 0, sizeof(r.sockaddr));
    std::memcpy(r.sockaddr, &sin6, sizeof(sin6));
    r.addrlen = sizeof(sin6);
    r.sock_type = SOCK_DGRAM;
    r.protocol = IPPROTO_UDP;
    r.hdr.op = MXC_OP_SENDTO;
    e = decode_event(&r, sizeof(r));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->op, Op::sendto);
    EXPECT_EQ(e->addr, "::1");
    EXPECT_EQ(e->port, 53);
    EXPECT_EQ(e->proto, "udp");

    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::memcpy(sun.sun_path, "\0abstract", 9);
    std::memset(r.sockaddr, 0, sizeof(r.sockaddr));
    std::memcpy(r.sockaddr, &sun, sizeof(sun));
    r.addrlen = offsetof(sockaddr_un, sun_path) + 9;
    r.sock_type = SOCK_STREAM;
    r.protocol = 0;
    e = decode_event(&r, sizeof(r));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->family, AF_UNIX);
    EXPECT_EQ(e->addr, "@abstract");
    EXPECT_EQ(e->proto, "unix-stream");
}

TEST(AuditBpfDecode, RejectsMalformed) {
    mxc_file_event r{};
    fill_hdr(r.hdr, MXC_REC_FILE, MXC_KIND_FILE, MXC_OP_OPENAT);
    EXPECT_FALSE(decode_event(&r, sizeof(r.hdr) - 1));
    // Records may end right after path's NUL, or after path2 (the rest
    // unused), not inside path.
    EXPECT_FALSE(decode_event(&r, offsetof(mxc_file_event, path)));
    std::strcpy(r.path, "/etc/passwd");
    EXPECT_FALSE(decode_event(&r, offsetof(mxc_file_event, path) + 5)) << "cut inside the path";
    EXPECT_FALSE(decode_event(&r, offsetof(mxc_file_event, path) + std::strlen("/etc/passwd"))) << "no NUL";
    for (size_t size : {offsetof(mxc_file_event, path) + std::strlen("/etc/passwd") + 1, offsetof(mxc_file_event, path2)}) {
        auto cut = decode_event(&r, size);
        ASSERT_TRUE(cut) << size;
        EXPECT_EQ(cut->path, "/etc/passwd");
        EXPECT_EQ(cut->path2, "");
        EXPECT_EQ(cut->dir, "");
    }
    r.hdr.flags |= MXC_F_DIR_SET; // claims a dir it does not carry
    EXPECT_FALSE(decode_event(&r, offsetof(mxc_file_event, dir)));
    std::strcpy(r.dir, "/home/u");
    auto full = decode_event(&r, sizeof(r));
    ASSERT_TRUE(full);
    EXPECT_EQ(full->dir, "/home/u");
    r.hdr.flags &= ~MXC_F_DIR_SET;
    r.hdr.abi = MXC_ABI_VERSION + 1;
    EXPECT_FALSE(decode_event(&r, sizeof(r)));
    r.hdr.abi = MXC_ABI_VERSION;
    r.hdr.rec = 99;
    EXPECT_FALSE(decode_event(&r, sizeof(r)));
}

// ---- live probes (root) -----------------------------------------------------

namespace {

std::string cgroup2_root() {
    std::ifstream in("/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        // ... mountpoint ... - fstype source opts
        std::istringstream ss(line);
        std::vector<std::string> f;
        for (std::string w; ss >> w;)
            f.push_back(w);
        auto dash = std::find(f.begin(), f.end(), "-");
        if (dash != f.end() && dash + 1 != f.end() && *(dash + 1) == "cgroup2" && f.size() > 4)
            return f[4];
    }
    return {};
}

void write_file(const std::string &path, const std::string &text) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        mxc::throw_errno("open {}", path);
    ssize_t n = ::write(fd, text.data(), text.size());
    int err = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size()))
        throw mxc::Error(err, "write " + path);
}

struct Workload {
    std::string dir;   // temp dir owned by the test
    std::string known; // an existing file to open
    uint16_t port = 0; // a listener on 127.0.0.1

    std::string missing(const std::string &tag) const { return dir + "/missing-" + tag; }
    std::string newdir(const std::string &tag) const { return dir + "/newdir-" + tag; }
    std::string victim(const std::string &tag) const { return dir + "/victim-" + tag; }

    // In the child: the ground truth the probes must report.
    [[noreturn]] void run(const std::string &tag) const {
        pid_t gc = fork();
        if (gc == 0) {
            execl("/bin/true", "true", ("mxc-arg-" + tag).c_str(), (char *)nullptr);
            _exit(127);
        }
        int st = 0;
        waitpid(gc, &st, 0);
        int fd = ::open(known.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            ::close(fd);
        (void)::open(missing(tag).c_str(), O_RDONLY | O_CLOEXEC);
        (void)::mkdir(newdir(tag).c_str(), 0750);
        (void)::unlink(victim(tag).c_str());
        int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(port);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = ::connect(s, reinterpret_cast<sockaddr *>(&sin), sizeof(sin));
        _exit(rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 3);
    }
};

// Forks a child that waits until released, so the parent can first move it
// into a cgroup.
struct Gated {
    pid_t pid = -1;
    int gate = -1;
    template <typename Fn>
    explicit Gated(Fn fn) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0)
            mxc::throw_errno("pipe");
        pid = fork();
        if (pid == 0) {
            ::close(p[1]);
            char c;
            if (::read(p[0], &c, 1) != 1)
                _exit(2);
            fn();
        }
        ::close(p[0]);
        gate = p[1];
    }
    int release_and_wait() {
        (void)!::write(gate, "x", 1);
        ::close(gate);
        int st = 0;
        waitpid(pid, &st, 0);
        return st;
    }
};

class AuditBpfLive : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0)
            GTEST_SKIP() << "needs root to load BPF programs";
        root_ = cgroup2_root();
        if (root_.empty())
            GTEST_SKIP() << "no cgroup v2 hierarchy mounted";
        try {
            probes_ = BpfProbes::load();
        } catch (const mxc::Error &e) {
            // A kernel with BTF runs tp_btf programs: a load failure there is
            // a verifier rejection of our probes, not a missing feature.
            if (::access("/sys/kernel/btf/vmlinux", R_OK) == 0)
                FAIL() << "the BPF probes failed to load on a kernel with BTF: " << e.what();
            GTEST_SKIP() << "BPF probes not available here (no kernel BTF): " << e.what();
        }
        cg_ = root_ + "/mxc-bpftest-" + std::to_string(getpid());
        ASSERT_EQ(::mkdir(cg_.c_str(), 0755), 0) << strerror(errno);
        char tmpl[] = "/tmp/mxc-bpftest-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        w_.dir = tmpl;
        w_.known = w_.dir + "/known.txt";
        for (const auto &p : {w_.known, w_.victim("in"), w_.victim("out"), w_.victim("nest")})
            std::ofstream(p) << "x";

        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ASSERT_EQ(::bind(listener_, reinterpret_cast<sockaddr *>(&sin), sizeof(sin)), 0);
        ASSERT_EQ(::listen(listener_, 16), 0);
        socklen_t len = sizeof(sin);
        ASSERT_EQ(getsockname(listener_, reinterpret_cast<sockaddr *>(&sin), &len), 0);
        w_.port = ntohs(sin.sin_port);
    }

    void TearDown() override {
        if (listener_ >= 0)
            ::close(listener_);
        if (!w_.dir.empty())
            (void)!system(("rm -rf '" + w_.dir + "'").c_str());
        // The children are reaped; a cgroup can stay busy for a moment after.
        for (const auto &cg : {cg_ + "/nested", cg_}) {
            if (cg_.empty())
                break;
            for (int i = 0; i < 50 && ::rmdir(cg.c_str()) != 0 && errno == EBUSY; ++i)
                usleep(20000);
        }
    }

    static uint64_t cgroup_id(const std::string &dir) {
        struct stat st {};
        if (::stat(dir.c_str(), &st) != 0)
            mxc::throw_errno("stat {}", dir);
        return st.st_ino;
    }

    // Runs the workload in a child placed in cgroup dir (empty: left where it is).
    pid_t run_in(const std::string &dir, const std::string &tag) {
        Gated child([&] { w_.run(tag); });
        if (!dir.empty())
            write_file(dir + "/cgroup.procs", std::to_string(child.pid));
        int st = child.release_and_wait();
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "workload " << tag << " status " << st;
        return child.pid;
    }

    // Reads until the ring has been quiet for a while.
    std::vector<Event> collect() {
        std::vector<Event> out;
        auto quiet_since = std::chrono::steady_clock::now();
        auto deadline = quiet_since + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            int n = probes_->poll(100, [&](const Event &e) { out.push_back(e); });
            auto now = std::chrono::steady_clock::now();
            if (n > 0)
                quiet_since = now;
            else if (now - quiet_since > std::chrono::milliseconds(500))
                break;
        }
        return out;
    }

    std::string root_, cg_;
    Workload w_;
    int listener_ = -1;
    std::unique_ptr<BpfProbes> probes_;
};

template <typename Pred>
std::vector<Event> select(const std::vector<Event> &evs, Pred p) {
    std::vector<Event> out;
    for (const auto &e : evs)
        if (p(e))
            out.push_back(e);
    return out;
}

std::string describe(const std::vector<Event> &evs) {
    std::string s;
    for (const auto &e : evs)
        s += fmt::format("  {} {} pid={} path={} addr={}:{} result={}\n", kind_name(e.kind),
                         op_name(e.op), e.pid, e.path, e.addr, e.port, e.result);
    return s;
}

} // namespace

TEST_F(AuditBpfLive, WatchedCgroupReportedUnwatchedSilent) {
    auto hooks = probes_->active_hooks();
    for (const char *h : {"tp_btf/sched_process_exec", "tp_btf/sched_process_fork",
                          "tp_btf/sched_process_exit", "tp_btf/sys_enter", "tp_btf/sys_exit"})
        EXPECT_NE(std::find(hooks.begin(), hooks.end(), h), hooks.end()) << h;

    const uint64_t cgid = cgroup_id(cg_);
    probes_->watch(cgid, 7);
    pid_t in = run_in(cg_, "in");
    pid_t out = run_in("", "out");
    auto evs = collect();
    SCOPED_TRACE("events:\n" + describe(evs));

    for (const auto &e : evs) {
        EXPECT_EQ(e.cgroup_id, cgid);
        EXPECT_EQ(e.identity, 7u);
        EXPECT_NE(e.pid, static_cast<uint32_t>(out));
        EXPECT_EQ(e.path.find("-out"), std::string::npos) << e.path;
    }

    auto execs = select(evs, [](auto &e) { return e.kind == Kind::exec; });
    ASSERT_EQ(execs.size(), 1u);
    EXPECT_EQ(execs[0].op, Op::exec);
    EXPECT_EQ(execs[0].path, "/bin/true");
    EXPECT_EQ(execs[0].args, (std::vector<std::string>{"true", "mxc-arg-in"}));
    EXPECT_EQ(execs[0].ppid, static_cast<uint32_t>(in));
    EXPECT_EQ(execs[0].result, 0);

    auto forks = select(evs, [](auto &e) { return e.op == Op::fork; });
    ASSERT_EQ(forks.size(), 1u);
    EXPECT_EQ(forks[0].pid, static_cast<uint32_t>(in));
    EXPECT_EQ(forks[0].result, execs[0].pid);

    auto exits = select(evs, [](auto &e) { return e.op == Op::exit; });
    ASSERT_EQ(exits.size(), 2u); // /bin/true, then the workload
    EXPECT_EQ(exits[0].pid, execs[0].pid);
    EXPECT_EQ(exits[1].pid, static_cast<uint32_t>(in));
    EXPECT_EQ(exits[1].result, 0);

    auto opens = select(evs, [&](auto &e) { return e.path == w_.known; });
    ASSERT_EQ(opens.size(), 1u);
    EXPECT_TRUE(opens[0].op == Op::openat || opens[0].op == Op::open) << op_name(opens[0].op);
    EXPECT_GE(opens[0].result, 0);
    EXPECT_EQ(opens[0].flags & O_ACCMODE, static_cast<uint64_t>(O_RDONLY));
    EXPECT_EQ(opens[0].pid, static_cast<uint32_t>(in));
    EXPECT_EQ(opens[0].comm, "test_unit_audit"); // comm is cut to 15 bytes

    auto missing = select(evs, [&](auto &e) { return e.path == w_.missing("in"); });
    ASSERT_EQ(missing.size(), 1u);
    EXPECT_EQ(missing[0].result, -ENOENT);
    EXPECT_EQ(result_errno_name(missing[0]), "ENOENT");

    auto mk = select(evs, [&](auto &e) { return e.path == w_.newdir("in"); });
    ASSERT_EQ(mk.size(), 1u);
    EXPECT_TRUE(mk[0].op == Op::mkdir || mk[0].op == Op::mkdirat);
    EXPECT_EQ(mk[0].result, 0);
    EXPECT_EQ(mk[0].mode, 0750u);

    auto ul = select(evs, [&](auto &e) { return e.path == w_.victim("in"); });
    ASSERT_EQ(ul.size(), 1u);
    EXPECT_TRUE(ul[0].op == Op::unlink || ul[0].op == Op::unlinkat);
    EXPECT_EQ(ul[0].result, 0);

    auto conns = select(evs, [](auto &e) { return e.op == Op::connect; });
    ASSERT_EQ(conns.size(), 1u);
    EXPECT_EQ(conns[0].family, AF_INET);
    EXPECT_EQ(conns[0].addr, "127.0.0.1");
    EXPECT_EQ(conns[0].port, w_.port);
    EXPECT_EQ(conns[0].proto, "tcp");
    EXPECT_EQ(conns[0].result, 0);

    EXPECT_TRUE(probes_->losses().empty());
    EXPECT_EQ(probes_->undecodable(), 0u);
}

TEST_F(AuditBpfLive, NestedCgroupAttributedToWatchedAncestor) {
    const std::string nested = cg_ + "/nested";
    ASSERT_EQ(::mkdir(nested.c_str(), 0755), 0) << strerror(errno);
    probes_->watch(cgroup_id(cg_), 9);
    run_in(nested, "nest");
    auto evs = collect();
    SCOPED_TRACE("events:\n" + describe(evs));
    auto ul = select(evs, [&](auto &e) { return e.path == w_.victim("nest"); });
    ASSERT_EQ(ul.size(), 1u);
    EXPECT_EQ(ul[0].identity, 9u);
    EXPECT_EQ(ul[0].cgroup_id, cgroup_id(nested));

    // Unwatched again: silence.
    probes_->unwatch(cgroup_id(cg_));
    std::ofstream(w_.victim("nest")) << "x";
    run_in(nested, "nest");
    EXPECT_TRUE(collect().empty());
}

// Who did it: the header's ids come from the task (read through BTF in the
// probes), as the kernel sees them, not from the caller's namespace.
TEST_F(AuditBpfLive, RecordsTheTaskIds) {
    probes_->watch(cgroup_id(cg_), 2);
    const std::string path = w_.missing("ids");
    Gated child([&] {
        if (::prctl(PR_SET_NAME, "mxc-ids-probe") != 0 || ::setresgid(65534, 65533, 65533) != 0 ||
            ::setresuid(65534, 65532, 65532) != 0)
            _exit(4);
        (void)::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        _exit(0);
    });
    write_file(cg_ + "/cgroup.procs", std::to_string(child.pid));
    int st = child.release_and_wait();
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
    auto evs = collect();
    SCOPED_TRACE("events:\n" + describe(evs));
    auto opens = select(evs, [&](auto &e) { return e.path == path; });
    ASSERT_EQ(opens.size(), 1u);
    EXPECT_EQ(opens[0].pid, static_cast<uint32_t>(child.pid));
    EXPECT_EQ(opens[0].tid, static_cast<uint32_t>(child.pid));
    EXPECT_EQ(opens[0].ppid, static_cast<uint32_t>(getpid()));
    EXPECT_EQ(opens[0].uid, 65534u); // the real ids
    EXPECT_EQ(opens[0].gid, 65534u);
    EXPECT_EQ(opens[0].comm, "mxc-ids-probe");
    EXPECT_EQ(opens[0].result, -EACCES); // the test's 0700 temp dir, as nobody
}

// The probes' watched set is an open-addressed table of MXC_WATCH_SLOTS slots,
// MXC_WATCH_PROBES tried per id: ids equal modulo the table size share a window.
TEST_F(AuditBpfLive, WatchTableKeepsCollidingIds) {
    const uint64_t cgid = cgroup_id(cg_);
    std::vector<uint64_t> others; // never a cgroup of this test's processes
    for (uint64_t k = 1; k < MXC_WATCH_PROBES; k++)
        others.push_back(cgid + k * MXC_WATCH_SLOTS);
    for (uint64_t id : others)
        probes_->watch(id, 3);
    probes_->watch(cgid, 5); // the window's last slot

    auto watched = probes_->kernel_watched();
    std::sort(watched.begin(), watched.end());
    auto want = others;
    want.push_back(cgid);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(watched, want);

    // A ninth id of the same window has nowhere to go: a clear error, and the
    // others stay as they were.
    try {
        probes_->watch(cgid + MXC_WATCH_PROBES * uint64_t{MXC_WATCH_SLOTS}, 4);
        ADD_FAILURE() << "watch succeeded with the window full";
    } catch (const mxc::Error &e) {
        EXPECT_EQ(e.code(), ENOSPC);
        EXPECT_NE(std::string(e.what()).find("taken by other sandboxes"), std::string::npos) << e.what();
    }
    EXPECT_EQ(probes_->kernel_watched().size(), want.size());

    run_in(cg_, "in");
    auto evs = collect();
    SCOPED_TRACE("events:\n" + describe(evs));
    auto ul = select(evs, [&](auto &e) { return e.path == w_.victim("in"); });
    ASSERT_EQ(ul.size(), 1u);
    EXPECT_EQ(ul[0].identity, 5u);
    EXPECT_EQ(ul[0].cgroup_id, cgid);

    // Watching again moves it to another identity in place; freeing a slot
    // before it does not make a second entry.
    probes_->unwatch(others[0]);
    probes_->watch(cgid, 6);
    EXPECT_EQ(probes_->kernel_watched().size(), want.size() - 1);
    std::ofstream(w_.victim("in")) << "x";
    run_in(cg_, "in");
    evs = collect();
    ul = select(evs, [&](auto &e) { return e.path == w_.victim("in"); });
    ASSERT_EQ(ul.size(), 1u);
    EXPECT_EQ(ul[0].identity, 6u);

    for (size_t i = 1; i < others.size(); i++)
        probes_->unwatch(others[i]);
    probes_->unwatch(cgid);
    EXPECT_TRUE(probes_->kernel_watched().empty());
    std::ofstream(w_.victim("in")) << "x";
    run_in(cg_, "in");
    EXPECT_TRUE(collect().empty());
}

// The less common operations, to pin each syscall's argument mapping.
TEST_F(AuditBpfLive, MoreFileAndNetOps) {
    probes_->watch(cgroup_id(cg_), 1);
    const std::string d = w_.dir;
    const std::string sock_path = d + "/unix.sock";
    Gated child([&] {
        (void)::rename((d + "/victim-in").c_str(), (d + "/renamed").c_str());
        (void)::link((d + "/renamed").c_str(), (d + "/hardlink").c_str());
        (void)::symlink("target-of-link", (d + "/symlink").c_str());
        (void)::chmod((d + "/renamed").c_str(), 0600);
        (void)::chown((d + "/renamed").c_str(), 1234, 5678);
        (void)::truncate((d + "/renamed").c_str(), 1);
        int fd = ::creat((d + "/created").c_str(), 0640);
        if (fd >= 0)
            ::close(fd);
        (void)::rmdir((d + "/no-such-dir").c_str());
        execl((d + "/not-a-program").c_str(), "nope", (char *)nullptr); // ENOENT

        int u = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_in dst{};
        dst.sin_family = AF_INET;
        dst.sin_port = htons(53);
        dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        (void)::sendto(u, "q", 1, 0, reinterpret_cast<sockaddr *>(&dst), sizeof(dst));
        (void)::send(u, "q", 1, MSG_DONTWAIT); // not connected, no address: not recorded

        int l = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in6 s6{};
        s6.sin6_family = AF_INET6;
        s6.sin6_addr = in6addr_loopback;
        (void)::bind(l, reinterpret_cast<sockaddr *>(&s6), sizeof(s6));
        (void)::listen(l, 5);
        socklen_t len = sizeof(s6);
        getsockname(l, reinterpret_cast<sockaddr *>(&s6), &len);
        int c = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        (void)::connect(c, reinterpret_cast<sockaddr *>(&s6), sizeof(s6));
        int a = ::accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
        (void)a;

        int us = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        std::strncpy(sun.sun_path, sock_path.c_str(), sizeof(sun.sun_path) - 1);
        (void)::connect(us, reinterpret_cast<sockaddr *>(&sun), sizeof(sun)); // ENOENT
        _exit(0);
    });
    write_file(cg_ + "/cgroup.procs", std::to_string(child.pid));
    child.release_and_wait();
    auto evs = collect();
    SCOPED_TRACE("events:\n" + describe(evs));
    auto one = [&](Op a, Op b) {
        auto v = select(evs, [&](auto &e) { return e.op == a || e.op == b; });
        EXPECT_EQ(v.size(), 1u) << op_name(a);
        return v.empty() ? Event{} : v[0];
    };

    auto e = one(Op::rename, Op::renameat2);
    EXPECT_EQ(e.path, d + "/victim-in");
    EXPECT_EQ(e.path2, d + "/renamed");
    EXPECT_EQ(e.result, 0);
    e = one(Op::link, Op::linkat);
    EXPECT_EQ(e.path, d + "/renamed");
    EXPECT_EQ(e.path2, d + "/hardlink");
    e = one(Op::symlink, Op::symlinkat);
    EXPECT_EQ(e.path, "target-of-link");
    EXPECT_EQ(e.path2, d + "/symlink");
    e = one(Op::chmod, Op::fchmodat);
    EXPECT_EQ(e.mode, 0600u);
    e = one(Op::chown, Op::fchownat);
    EXPECT_EQ(e.owner_uid, 1234u);
    EXPECT_EQ(e.owner_gid, 5678u);
    e = one(Op::truncate, Op::none);
    EXPECT_EQ(e.length, 1);
    e = one(Op::creat, Op::none);
    EXPECT_EQ(e.path, d + "/created");
    EXPECT_EQ(e.mode, 0640u);
    EXPECT_EQ(e.flags & O_CREAT, static_cast<uint64_t>(O_CREAT));
    e = one(Op::rmdir, Op::none);
    EXPECT_EQ(e.result, -ENOENT);
    e = one(Op::execve, Op::none);
    EXPECT_EQ(e.kind, Kind::exec);
    EXPECT_EQ(e.path, d + "/not-a-program");
    EXPECT_EQ(e.result, -ENOENT);

    e = one(Op::sendto, Op::none);
    EXPECT_EQ(e.addr, "127.0.0.1");
    EXPECT_EQ(e.port, 53);
    EXPECT_EQ(e.proto, "udp");
    e = one(Op::bind, Op::none);
    EXPECT_EQ(e.addr, "::1");
    EXPECT_EQ(e.family, AF_INET6);
    e = one(Op::listen, Op::none);
    EXPECT_EQ(e.addr, "::1");
    EXPECT_NE(e.port, 0);
    EXPECT_EQ(e.flags, 5u);
    uint16_t port = e.port;
    e = one(Op::accept4, Op::accept);
    EXPECT_GE(e.result, 0);
    EXPECT_EQ(e.addr, "::1"); // the peer, read from the accepted socket
    EXPECT_NE(e.port, port);
    auto conns = select(evs, [](auto &e) { return e.op == Op::connect; });
    ASSERT_EQ(conns.size(), 2u);
    EXPECT_EQ(conns[0].addr, "::1");
    EXPECT_EQ(conns[0].port, port);
    EXPECT_EQ(conns[0].proto, "tcp");
    EXPECT_EQ(conns[1].family, AF_UNIX);
    EXPECT_EQ(conns[1].addr, sock_path);
    EXPECT_EQ(conns[1].proto, "unix-stream");
    EXPECT_EQ(conns[1].result, -ENOENT);
}

// The collector decodes every record into one Event and builds records into
// reused slots: nothing of an earlier event may show in a later one.
TEST(AuditBpfDecode, ReusedEventAndRecordCarryNothingOver) {
    auto file = std::make_unique<mxc_file_event>();
    fill_hdr(file->hdr, MXC_REC_FILE, MXC_KIND_FILE, MXC_OP_RENAMEAT2);
    file->hdr.flags |= MXC_F_DIR_SET | MXC_F_PATH_TRUNC;
    file->hdr.result = -13;
    file->dirfd = 5;
    file->dirfd2 = 5;
    file->flags = 1;
    file->mode = 0600;
    file->owner_uid = 7;
    file->owner_gid = 8;
    file->length = 99;
    std::strcpy(file->path, "old");
    std::strcpy(file->path2, "new");
    std::strcpy(file->dir, "/work");
    mxc_net_event net{};
    fill_hdr(net.hdr, MXC_REC_NET, MXC_KIND_NET, MXC_OP_CONNECT);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(443);
    inet_pton(AF_INET, "10.9.8.7", &sin.sin_addr);
    std::memcpy(net.sockaddr, &sin, sizeof(sin));
    net.addrlen = sizeof(sin);
    net.sock_type = SOCK_STREAM;
    mxc_proc_event proc{};
    fill_hdr(proc.hdr, MXC_REC_PROC, MXC_KIND_PROCESS, MXC_OP_EXIT);
    proc.hdr.result = 3 << 8;
    mxc_file_event plain{};
    fill_hdr(plain.hdr, MXC_REC_FILE, MXC_KIND_FILE, MXC_OP_OPENAT);
    plain.dirfd = plain.dirfd2 = MXC_AT_FDCWD;
    plain.owner_uid = plain.owner_gid = UINT32_MAX;
    std::strcpy(plain.path, "/etc/hosts");

    const std::vector<std::pair<const void *, size_t>> raw = {
        {file.get(), sizeof(*file)}, {&net, sizeof(net)}, {&proc, sizeof(proc)},
        {&plain, offsetof(mxc_file_event, path) + sizeof("/etc/hosts")}, {file.get(), sizeof(*file)}};
    Event reused;
    Record slot;
    for (size_t i = 0; i < raw.size(); ++i) {
        auto fresh = decode_event(raw[i].first, raw[i].second);
        ASSERT_TRUE(fresh);
        ASSERT_TRUE(decode_event(raw[i].first, raw[i].second, reused));
        fresh->realtime_ns = reused.realtime_ns = 1'790'000'000'123'456'789;
        auto fields = [](const Event &e) {
            return std::tie(e.kind, e.op, e.identity, e.boot_ns, e.realtime_ns, e.pid, e.tid, e.ppid, e.uid, e.gid,
                            e.cgroup_id, e.comm, e.path, e.path2, e.dirfd, e.dirfd2, e.dir, e.dir_truncated, e.args,
                            e.argc, e.flags, e.mode, e.owner_uid, e.owner_gid, e.length, e.result, e.fd, e.family,
                            e.addr, e.port, e.proto, e.path_truncated, e.args_truncated, e.path_fault);
        };
        EXPECT_TRUE(fields(reused) == fields(*fresh)) << "event #" << i;
        record_from_event(reused, "alice", "sb-1", slot);
        EXPECT_EQ(to_line(slot), to_line(record_from_event(*fresh, "alice", "sb-1"))) << "record #" << i;
    }
}
