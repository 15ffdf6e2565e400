// The seccomp user-notification audit: a forked child loads an allow-by-default
// filter with the audit's NOTIFY rules, hands the listener over a socketpair
// and does a known list of things; the supervisor must record each exactly
// once, and each must behave as it would without the filter.  No privilege
// needed: the child sets no_new_privs itself.
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mxc/audit/notify.hpp"
#include "mxc/audit/record.hpp"
#include "mxc/seccomp/seccomp.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/proc.hpp"

using namespace mxc;
using audit::NotifyOptions;
using audit::NotifySupervisor;
using audit::Record;

namespace {

// The legacy syscalls where the architecture has them; the *at form otherwise.
#ifdef SYS_open
constexpr const char *kOpenOp = "open";
long sys_open(const char *p, int flags) { return syscall(SYS_open, p, flags, 0); }
#else
constexpr const char *kOpenOp = "openat";
long sys_open(const char *p, int flags) { return syscall(SYS_openat, AT_FDCWD, p, flags, 0); }
#endif
#ifdef SYS_mkdir
constexpr const char *kMkdirOp = "mkdir";
long sys_mkdir(const char *p, mode_t m) { return syscall(SYS_mkdir, p, m); }
#else
constexpr const char *kMkdirOp = "mkdirat";
long sys_mkdir(const char *p, mode_t m) { return syscall(SYS_mkdirat, AT_FDCWD, p, m); }
#endif
#ifdef SYS_unlink
constexpr const char *kUnlinkOp = "unlink";
long sys_unlink(const char *p) { return syscall(SYS_unlink, p); }
#else
constexpr const char *kUnlinkOp = "unlinkat";
long sys_unlink(const char *p) { return syscall(SYS_unlinkat, AT_FDCWD, p, 0); }
#endif
#ifdef SYS_rmdir
constexpr const char *kRmdirOp = "rmdir";
long sys_rmdir(const char *p) { return syscall(SYS_rmdir, p); }
#else
constexpr const char *kRmdirOp = "unlinkat";
long sys_rmdir(const char *p) { return syscall(SYS_unlinkat, AT_FDCWD, p, AT_REMOVEDIR); }
#endif

// What the child tells the parent before its execve.
struct Report {
    int port = 0;         // of its TCP listener
    int failed_step = 0;  // first step that did not behave as without a filter
    int err = 0;
};

oci::Seccomp allow_with_notify() {
    oci::Seccomp s;
    s.default_action = "SCMP_ACT_ALLOW";
    audit::add_notify_rules(s);
    return s;
}

class TempDir {
public:
    TempDir() {
        const char *base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/mxc-notify-XXXXXX";
        if (!mkdtemp(tmpl.data()))
            throw_errno("mkdtemp {}", tmpl);
        // /proc shows the cwd with symlinks resolved; so must the expectations.
        char real[PATH_MAX];
        if (!realpath(tmpl.c_str(), real))
            throw_errno("realpath {}", tmpl);
        path_ = real;
    }
    ~TempDir() { remove_tree(path_); }
    const std::string &path() const { return path_; }
    std::string operator/(const std::string &name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

bool send_fd(int sock, int fd) {
    char byte = 'L';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1;
}

UniqueFd recv_fd(int sock, int timeout_ms) {
    pollfd p{sock, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0)
        return {};
    char byte;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof cbuf;
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1)
        return {};
    cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_type != SCM_RIGHTS)
        return {};
    int fd;
    std::memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    return UniqueFd(fd);
}

// A forked child running body(report_fd) under a filter that notifies this
// process.  The destructor kills and reaps a child still running.
struct Sandboxed {
    pid_t pid = -1;
    UniqueFd pidfd, sock, listener;

    Sandboxed() = default;
    Sandboxed(const Sandboxed &) = delete;
    Sandboxed &operator=(const Sandboxed &) = delete;
    ~Sandboxed() {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
    }
    // The wait status, or -1 when the child did not exit in time (it is killed).
    int wait(int timeout_ms) {
        pollfd p{pidfd.get(), POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) {
            ADD_FAILURE() << "the sandboxed child did not finish in " << timeout_ms << " ms";
            return -1;
        }
        int status = 0;
        waitpid(pid, &status, 0);
        pid = -1;
        return status;
    }
};

std::unique_ptr<Sandboxed> start(const oci::Seccomp &spec, const std::function<void(int)> &body) {
    seccomp::Filter filter = seccomp::compile(spec);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        throw_errno("socketpair");
    auto c = std::make_unique<Sandboxed>();
    c->pid = fork();
    if (c->pid < 0)
        throw_errno("fork");
    if (c->pid == 0) {
        close(sv[0]);
        prctl(PR_SET_NAME, "notify-child");
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
            _exit(120);
        int lfd = -1;
        try {
            lfd = filter.load().release();
        } catch (...) {
            _exit(121);
        }
        if (!send_fd(sv[1], lfd))
            _exit(122);
        close(lfd);
        body(sv[1]);
        _exit(0);
    }
    close(sv[1]);
    c->sock.reset(sv[0]);
    c->pidfd = pidfd_open(c->pid);
    c->listener = recv_fd(c->sock.get(), 10000);
    if (!c->listener)
        throw_error("no listener fd from the child");
    return c;
}

struct Outcome {
    std::vector<Record> records;
    uint64_t notifications = 0, recorded = 0;
    int status = -1;
    Report report{-1, -1, 0};
    std::string error;  // what serve() threw
};

// Serves the child's notifications until the child is gone, as the runtime would.
Outcome supervise(Sandboxed &c, NotifyOptions opts) {
    Outcome run;
    std::mutex mu;
    NotifySupervisor sup(
        std::move(c.listener),
        [&](Record r) {
            std::lock_guard lock(mu);
            run.records.push_back(std::move(r));
        },
        opts);
    UniqueFd stop(eventfd(0, EFD_CLOEXEC)), done(eventfd(0, EFD_CLOEXEC));
    std::thread th([&] {
        try {
            sup.serve(stop.get());
        } catch (const std::exception &e) {
            run.error = e.what();
        }
        uint64_t one = 1;
        (void)!write(done.get(), &one, sizeof one);
    });
    run.status = c.wait(30000);
    // No task uses the filter any more: serve() must notice by itself.
    pollfd p{done.get(), POLLIN, 0};
    if (poll(&p, 1, 10000) <= 0) {
        ADD_FAILURE() << "serve() did not return after the child was reaped";
        uint64_t one = 1;
        (void)!write(stop.get(), &one, sizeof one);
    }
    th.join();
    Report rep;
    if (recv(c.sock.get(), &rep, sizeof rep, MSG_DONTWAIT) == static_cast<ssize_t>(sizeof rep))
        run.report = rep;
    run.notifications = sup.notifications();
    run.recorded = sup.recorded();
    return run;
}

std::string dump(const Outcome &run) {
    std::string out;
    for (const auto &r : run.records)
        out += audit::to_line(r);
    return out;
}

std::string path2(const Record &r) {
    return r.extra.is_object() && r.extra.contains("path2") ? r.extra["path2"].get<std::string>() : "";
}

bool flag(const Record &r, const char *key) {
    return r.extra.is_object() && r.extra.contains(key) && r.extra[key] == true;
}

// Indexes of the records matching op and pred.
std::vector<size_t> find(const Outcome &run, const std::string &op, const std::function<bool(const Record &)> &pred) {
    std::vector<size_t> out;
    for (size_t i = 0; i < run.records.size(); ++i)
        if (run.records[i].op == op && pred(run.records[i]))
            out.push_back(i);
    return out;
}

// The one record of op on path; nullptr (and a failure) when there are 0 or 2+.
const Record *only(const Outcome &run, const std::string &op, const std::string &path, size_t *index = nullptr) {
    auto v = find(run, op, [&](const Record &r) { return r.path == path; });
    if (v.size() != 1) {
        ADD_FAILURE() << v.size() << " records of " << op << " " << path << ", want 1; records:\n" << dump(run);
        return nullptr;
    }
    if (index)
        *index = v[0];
    return &run.records[v[0]];
}

// The known list of things the child does, each checked against what it
// does without a filter.  dfd is the temp dir, which is also the cwd.
void actions(int dfd, Report &rep) {
    int step = 0;
    auto check = [&](bool ok) {
        ++step;
        if (!ok && rep.failed_step == 0) {
            rep.failed_step = step;
            rep.err = errno;
        }
    };
    long fd = syscall(SYS_openat, dfd, "existing", O_RDONLY | O_CLOEXEC, 0);
    check(fd >= 0);
    close(static_cast<int>(fd));
    errno = 0;
    check(sys_open("missing", O_RDONLY) < 0 && errno == ENOENT);
    fd = syscall(SYS_openat, dfd, "new", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    check(fd >= 0);
    close(static_cast<int>(fd));
    check(sys_mkdir("sub", 0750) == 0);
    check(syscall(SYS_renameat2, dfd, "new", AT_FDCWD, "renamed", 0) == 0);
    check(syscall(SYS_symlinkat, "renamed", dfd, "link") == 0);
    check(sys_unlink("link") == 0);
    check(sys_rmdir("sub") == 0);

    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int srv = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    check(bind(srv, reinterpret_cast<sockaddr *>(&sin), sizeof sin) == 0);
    check(listen(srv, 4) == 0);
    socklen_t len = sizeof sin;
    check(getsockname(srv, reinterpret_cast<sockaddr *>(&sin), &len) == 0);
    rep.port = ntohs(sin.sin_port);
    int cli = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    check(connect(cli, reinterpret_cast<sockaddr *>(&sin), sizeof sin) == 0);
    // A UDP connect only sets the peer: nothing goes on the wire.
    sin.sin_port = htons(53);
    int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    check(connect(udp, reinterpret_cast<sockaddr *>(&sin), sizeof sin) == 0);
}

// The audited notifications actions_then_exec() makes before its execve:
// the open of the temp dir, then the 11 of actions().
constexpr uint64_t kActionNotifications = 12;

// actions(), then execve(prog, argv); dir is the temp dir.
std::function<void(int)> actions_then_exec(const std::string &dir, std::string prog, std::vector<std::string> argv) {
    return [dir, prog, argv](int report_fd) {
        int dfd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || chdir(dir.c_str()) != 0)
            _exit(123);
        Report rep;
        actions(dfd, rep);
        if (write(report_fd, &rep, sizeof rep) != static_cast<ssize_t>(sizeof rep))
            _exit(124);
        std::vector<char *> args;
        for (const auto &a : argv)
            args.push_back(const_cast<char *>(a.c_str()));
        args.push_back(nullptr);
        char *envp[] = {nullptr};
        execve(prog.c_str(), args.data(), envp);
        _exit(125);
    };
}

class NotifyAudit : public ::testing::Test {
protected:
    void SetUp() override {
        if (!seccomp::notify_supported())
            GTEST_SKIP() << "seccomp user notification is not available here";
        write_file(dir / "existing", "x");
    }
    TempDir dir;
};

TEST_F(NotifyAudit, RecordsEveryActionOnceWhenSkipUntilExecIsOff) {
    auto child = start(allow_with_notify(), actions_then_exec(dir.path(), "/bin/true", {"true", "--flag", "two words"}));
    pid_t pid = child->pid;
    Outcome run = supervise(*child, NotifyOptions{.skip_until_exec = false});
    ASSERT_EQ(run.error, "");
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << "wait status " << run.status;
    EXPECT_EQ(run.report.failed_step, 0) << "step " << run.report.failed_step << " behaved differently under the "
                                         << "filter: " << std::strerror(run.report.err);
    EXPECT_EQ(run.recorded, run.records.size());
    EXPECT_GE(run.notifications, run.recorded);

    size_t exec_at = 0, i = 0;
    std::vector<size_t> before;
    if (only(run, "openat", dir.path(), &i))
        before.push_back(i);
    if (const Record *r = only(run, "openat", dir / "existing", &i)) {
        before.push_back(i);
        EXPECT_EQ(r->kind, "file");
        EXPECT_EQ(r->flags, uint64_t(O_RDONLY | O_CLOEXEC));
        EXPECT_FALSE(r->mode.has_value());
        EXPECT_EQ(r->pid, int64_t(pid));
        EXPECT_EQ(r->ppid, int64_t(getpid()));
        EXPECT_EQ(r->uid, getuid());
        EXPECT_EQ(r->comm, "notify-child");
        EXPECT_EQ(r->extra.value("result_known", true), false);
        EXPECT_EQ(r->result, "");
        EXPECT_EQ(r->outcome, "");
        EXPECT_NO_THROW(audit::parse_time(r->time)) << r->time;
    }
    if (const Record *r = only(run, kOpenOp, dir / "missing", &i)) {
        before.push_back(i);
        EXPECT_EQ(r->flags, uint64_t(O_RDONLY));
    }
    if (const Record *r = only(run, "openat", dir / "new", &i)) {
        before.push_back(i);
        ASSERT_TRUE(r->flags.has_value());
        EXPECT_TRUE(*r->flags & O_CREAT);
        EXPECT_EQ(r->mode, 0640u);
    }
    if (const Record *r = only(run, kMkdirOp, dir / "sub", &i)) {
        before.push_back(i);
        EXPECT_EQ(r->mode, 0750u);
    }
    if (const Record *r = only(run, "renameat2", dir / "new", &i)) {
        before.push_back(i);
        EXPECT_EQ(path2(*r), dir / "renamed");
    }
    // A symlink's target is kept as written: it is relative to the link.
    if (const Record *r = only(run, "symlinkat", "renamed", &i)) {
        before.push_back(i);
        EXPECT_EQ(path2(*r), dir / "link");
    }
    if (only(run, kUnlinkOp, dir / "link", &i))
        before.push_back(i);
    if (only(run, kRmdirOp, dir / "sub", &i))
        before.push_back(i);

    auto binds = find(run, "bind", [](const Record &) { return true; });
    ASSERT_EQ(binds.size(), 1u) << dump(run);
    const Record &b = run.records[binds[0]];
    before.push_back(binds[0]);
    EXPECT_EQ(b.kind, "net");
    EXPECT_EQ(b.family, "inet");
    EXPECT_EQ(b.addr, "127.0.0.1");
    EXPECT_EQ(b.port, 0u);
    EXPECT_EQ(b.proto, "tcp");

    ASSERT_GT(run.report.port, 0);
    auto tcp = find(run, "connect", [&](const Record &r) { return r.port == uint32_t(run.report.port); });
    ASSERT_EQ(tcp.size(), 1u) << dump(run);
    before.push_back(tcp[0]);
    EXPECT_EQ(run.records[tcp[0]].addr, "127.0.0.1");
    EXPECT_EQ(run.records[tcp[0]].proto, "tcp");
    auto udp = find(run, "connect", [](const Record &r) { return r.port == 53u; });
    ASSERT_EQ(udp.size(), 1u) << dump(run);
    before.push_back(udp[0]);
    EXPECT_EQ(run.records[udp[0]].addr, "127.0.0.1");
    EXPECT_EQ(run.records[udp[0]].family, "inet");
    EXPECT_EQ(run.records[udp[0]].proto, "udp");

    if (const Record *r = only(run, "execve", "/bin/true", &exec_at)) {
        EXPECT_EQ(r->kind, "exec");
        EXPECT_EQ(r->args, (std::vector<std::string>{"true", "--flag", "two words"}));
        EXPECT_FALSE(flag(*r, "args_truncated"));
    }
    // Recorded in the order the child made the calls.
    EXPECT_TRUE(std::is_sorted(before.begin(), before.end())) << dump(run);
    for (size_t k : before)
        EXPECT_LT(k, exec_at) << dump(run);
}

// The supervisor keeps each task's /proc/TID/mem open between notifications.
// Paths must still come from the right memory: a thread of its own, an execve
// from a thread that is not the leader (the process goes on with the leader's
// pid and a new mm), and a second execve in the same pid.
TEST_F(NotifyAudit, PathsStayRightAcrossThreadsAndExecs) {
    std::string d = dir.path();
    write_file(dir / "after-thread-exec", "x");
    write_file(dir / "after-second-exec", "x");
    auto child = start(allow_with_notify(), [d](int) {
        std::string first = d + "/first";
        ::close(::open(first.c_str(), O_RDONLY | O_CLOEXEC));
        std::thread([d] {
            std::string p = d + "/from-thread";
            ::close(::open(p.c_str(), O_RDONLY | O_CLOEXEC));
        }).join();
        std::string second = d + "/second";
        ::close(::open(second.c_str(), O_RDONLY | O_CLOEXEC));
        std::string script = ": < " + d + "/after-thread-exec; exec /bin/sh -c ': < " + d + "/after-second-exec'";
        std::thread([script] {
            ::execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char *>(nullptr));
            ::_exit(125);
        }).join();
        ::_exit(126);
    });
    pid_t pid = child->pid;
    Outcome run = supervise(*child, NotifyOptions{.skip_until_exec = false});
    ASSERT_EQ(run.error, "");
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << "wait status " << run.status;
    if (const Record *r = only(run, "openat", d + "/first")) {
        EXPECT_EQ(r->pid, int64_t(pid));
        EXPECT_EQ(r->comm, "notify-child");
    }
    if (const Record *r = only(run, "openat", d + "/from-thread")) {
        EXPECT_NE(r->pid, int64_t(pid)); // its own tid
        EXPECT_EQ(r->comm, "notify-child");
    }
    if (const Record *r = only(run, "openat", d + "/second"))
        EXPECT_EQ(r->pid, int64_t(pid));
    if (const Record *r = only(run, "openat", d + "/after-thread-exec")) {
        EXPECT_EQ(r->pid, int64_t(pid));
        EXPECT_EQ(r->comm, "sh");
    }
    if (const Record *r = only(run, "openat", d + "/after-second-exec")) {
        EXPECT_EQ(r->pid, int64_t(pid));
        EXPECT_EQ(r->comm, "sh");
    }
    EXPECT_EQ(find(run, "execve", [](const Record &r) { return r.path == "/bin/sh"; }).size(), 2u) << dump(run);
    for (const auto &r : run.records)
        EXPECT_FALSE(flag(r, "path_unreadable")) << audit::to_line(r);
}

TEST_F(NotifyAudit, SkipUntilExecRecordsFromTheFirstExecOn) {
    std::string after = dir / "after";
    auto child = start(allow_with_notify(),
                       actions_then_exec(dir.path(), "/bin/sh", {"sh", "-c", ": > \"$1\"", "sh", after}));
    Outcome run = supervise(*child, NotifyOptions{.skip_until_exec = true, .max_args = 2});
    ASSERT_EQ(run.error, "");
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << "wait status " << run.status;
    EXPECT_EQ(run.report.failed_step, 0) << "step " << run.report.failed_step << ": " << std::strerror(run.report.err);
    EXPECT_TRUE(path_exists(after)) << "the shell after the exec could not create its file";

    ASSERT_FALSE(run.records.empty());
    const Record &first = run.records[0];
    EXPECT_EQ(first.op, "execve") << dump(run);
    EXPECT_EQ(first.path, "/bin/sh");
    EXPECT_EQ(first.args, (std::vector<std::string>{"sh", "-c"}));
    EXPECT_TRUE(flag(first, "args_truncated"));
    // Everything before the exec was answered but not recorded; everything after it was.
    EXPECT_EQ(run.notifications - run.recorded, kActionNotifications) << dump(run);
    EXPECT_TRUE(find(run, "bind", [](const Record &) { return true; }).empty()) << dump(run);
    EXPECT_TRUE(find(run, "connect", [](const Record &) { return true; }).empty()) << dump(run);
    std::vector<size_t> in_dir;
    for (size_t i = 0; i < run.records.size(); ++i)
        if (run.records[i].path.rfind(dir.path() + "/", 0) == 0 || run.records[i].path == "renamed")
            in_dir.push_back(i);
    ASSERT_EQ(in_dir.size(), 1u) << dump(run);
    const Record &created = run.records[in_dir[0]];
    EXPECT_EQ(created.path, after);
    EXPECT_EQ(created.op, "openat");
    ASSERT_TRUE(created.flags.has_value());
    EXPECT_TRUE(*created.flags & O_CREAT);
    EXPECT_EQ(created.mode, 0666u);
    EXPECT_EQ(created.comm, "sh");
}

TEST_F(NotifyAudit, AnErrnoRuleKeepsItsActionAndIsNotRecorded) {
    oci::Seccomp s;
    s.default_action = "SCMP_ACT_ALLOW";
    s.syscalls.push_back(oci::SeccompSyscall{{"mkdir", "mkdirat"}, "SCMP_ACT_ERRNO", EACCES, {}});
    audit::add_notify_rules(s);

    ASSERT_FALSE(s.syscalls.empty());
    EXPECT_EQ(s.syscalls[0].action, "SCMP_ACT_ERRNO");
    EXPECT_EQ(s.syscalls[0].names, (std::vector<std::string>{"mkdir", "mkdirat"}));
    EXPECT_EQ(s.syscalls[0].errno_ret, uint32_t(EACCES));
    size_t notify_rules = 0;
    for (const auto &r : s.syscalls) {
        if (r.action != "SCMP_ACT_NOTIFY")
            continue;
        ++notify_rules;
        for (const auto &n : r.names)
            EXPECT_TRUE(n != "mkdir" && n != "mkdirat") << "mkdir got a NOTIFY rule";
    }
    EXPECT_EQ(notify_rules, audit::notify_audited_syscalls().size() - 2);

    std::string d = dir.path();
    auto child = start(s, [d](int report_fd) {
        Report rep;
        errno = 0;
        if (!(sys_mkdir((d + "/blocked").c_str(), 0755) < 0 && errno == EACCES)) {
            rep.failed_step = 1;
            rep.err = errno;
        }
        int dfd = open(d.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        long fd = syscall(SYS_openat, dfd, "existing", O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0 && rep.failed_step == 0) {
            rep.failed_step = 2;
            rep.err = errno;
        }
        (void)!write(report_fd, &rep, sizeof rep);
    });
    Outcome run = supervise(*child, NotifyOptions{.skip_until_exec = false});
    ASSERT_EQ(run.error, "");
    ASSERT_TRUE(WIFEXITED(run.status) && WEXITSTATUS(run.status) == 0) << "wait status " << run.status;
    EXPECT_EQ(run.report.failed_step, 0) << "step " << run.report.failed_step << ": " << std::strerror(run.report.err);
    EXPECT_FALSE(path_exists(dir / "blocked"));
    EXPECT_TRUE(find(run, "mkdir", [](const Record &) { return true; }).empty()) << dump(run);
    EXPECT_TRUE(find(run, "mkdirat", [](const Record &) { return true; }).empty()) << dump(run);
    // The open after it is still audited (the dirfd's open was absolute).
    only(run, "openat", dir / "existing");
    only(run, "openat", dir.path());
}

// An allowlist profile (default deny) must permit and deny exactly what it did.
TEST(AddNotifyRules, AllowlistProfileKeepsWhatItDenies) {
    oci::Seccomp s;
    s.default_action = "SCMP_ACT_ERRNO";
    s.syscalls.push_back(oci::SeccompSyscall{{"read", "openat", "write", "execve", "exit_group"}, "SCMP_ACT_ALLOW",
                                             std::nullopt, {}});
    s.syscalls.push_back(oci::SeccompSyscall{{"connect"}, "SCMP_ACT_ALLOW", std::nullopt, {}});
    oci::SeccompArg fd3{0, 3, 0, "SCMP_CMP_EQ"};
    s.syscalls.push_back(oci::SeccompSyscall{{"bind"}, "SCMP_ACT_ALLOW", std::nullopt, {fd3}});
    audit::add_notify_rules(s);

    auto rules_naming = [&](const std::string &name) {
        std::vector<const oci::SeccompSyscall *> out;
        for (const auto &r : s.syscalls)
            if (std::find(r.names.begin(), r.names.end(), name) != r.names.end())
                out.push_back(&r);
        return out;
    };
    for (const char *n : {"read", "write", "exit_group"}) {
        auto v = rules_naming(n);
        ASSERT_EQ(v.size(), 1u) << n;
        EXPECT_EQ(v[0]->action, "SCMP_ACT_ALLOW") << n;
    }
    for (const char *n : {"openat", "execve", "connect"}) {
        auto v = rules_naming(n);
        ASSERT_EQ(v.size(), 1u) << n;
        EXPECT_EQ(v[0]->action, "SCMP_ACT_NOTIFY") << n;
        EXPECT_TRUE(v[0]->args.empty()) << n;
    }
    // Allowed only with fd 3: notified only with fd 3, denied otherwise as before.
    auto bind = rules_naming("bind");
    ASSERT_EQ(bind.size(), 1u);
    EXPECT_EQ(bind[0]->action, "SCMP_ACT_NOTIFY");
    ASSERT_EQ(bind[0]->args.size(), 1u);
    EXPECT_EQ(bind[0]->args[0].value, 3u);
    // Denied by the default action: no rule would let it through.
    EXPECT_TRUE(rules_naming("mkdir").empty());
    EXPECT_TRUE(rules_naming("unlinkat").empty());
    for (const auto &r : s.syscalls)
        EXPECT_FALSE(r.names.empty()) << "a rule left without names";
    EXPECT_NO_THROW(seccomp::compile(s));
}

TEST_F(NotifyAudit, ServeReturnsWhenStopped) {
    std::string d = dir.path();
    auto child = start(allow_with_notify(), [d](int report_fd) {
        int fd = open((d + "/existing").c_str(), O_RDONLY | O_CLOEXEC);
        (void)fd;
        char c;
        (void)!read(report_fd, &c, 1); // until the parent closes its end
    });
    std::atomic<uint64_t> got{0};
    NotifySupervisor sup(std::move(child->listener), [&](Record) { ++got; },
                         NotifyOptions{.skip_until_exec = false});
    UniqueFd stop(eventfd(0, EFD_CLOEXEC)), done(eventfd(0, EFD_CLOEXEC));
    std::thread th([&] {
        try {
            sup.serve(stop.get());
        } catch (const std::exception &e) {
            ADD_FAILURE() << e.what();
        }
        uint64_t one = 1;
        (void)!write(done.get(), &one, sizeof one);
    });
    for (int i = 0; i < 1000 && got == 0; ++i)
        usleep(10000);
    EXPECT_EQ(got, 1u);
    uint64_t one = 1;
    ASSERT_EQ(write(stop.get(), &one, sizeof one), 8);
    pollfd p{done.get(), POLLIN, 0};
    bool returned = poll(&p, 1, 10000) == 1;
    EXPECT_TRUE(returned) << "serve() ignored its stop fd";
    char state = process_state(child->pid);
    EXPECT_TRUE(state != 0 && state != 'Z') << "the child should still be alive: serve() returned for another reason";
    child->sock.reset();
    if (!returned)
        kill(child->pid, SIGKILL);
    th.join();
    int status = child->wait(10000);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
    EXPECT_EQ(sup.recorded(), 1u);
}

} // namespace
