// seccomp: OCI -> libseccomp compile errors, and filters enforced in forked
// children (each child sets no_new_privs itself, so no privilege is needed).
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "mxc/seccomp/seccomp.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

using namespace mxc;
using mxc::seccomp::compile;

namespace {

oci::SeccompSyscall rule(std::vector<std::string> names, std::string action,
                         std::optional<uint32_t> errno_ret = std::nullopt,
                         std::vector<oci::SeccompArg> args = {}) {
    oci::SeccompSyscall s;
    s.names = std::move(names);
    s.action = std::move(action);
    s.errno_ret = errno_ret;
    s.args = std::move(args);
    return s;
}

oci::SeccompArg arg(uint32_t index, std::string op, uint64_t value, uint64_t value_two = 0) {
    return oci::SeccompArg{index, value, value_two, std::move(op)};
}

oci::Seccomp allow_by_default(std::vector<oci::SeccompSyscall> rules) {
    oci::Seccomp s;
    s.default_action = "SCMP_ACT_ALLOW";
    s.syscalls = std::move(rules);
    return s;
}

// Message of the mxc::Error that compile() throws, "" when it does not throw.
std::string compile_error(const oci::Seccomp &s, const std::string &source = "config.json") {
    try {
        compile(s, source);
    } catch (const Error &e) {
        return e.what();
    }
    return "";
}

// Run fn in a forked child with no_new_privs and no core dumps; fn's return
// value is the exit code (0 = every check passed, else the failing step).
int in_child(const std::function<int()> &fn) {
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        rlimit no_core{0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        int code = 120;
        try {
            code = fn();
        } catch (...) {
            code = 121;
        }
        _exit(code);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    return st;
}

::testing::AssertionResult exited_ok(int st) {
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return ::testing::AssertionSuccess();
    if (WIFEXITED(st))
        return ::testing::AssertionFailure() << "child failed at step " << WEXITSTATUS(st);
    return ::testing::AssertionFailure() << "child killed by signal " << WTERMSIG(st);
}

bool killed_by_sigsys(int st) { return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS; }

// syscall() that reports the errno (0 on success) and stores the result.
int sys_errno(long nr, long a0 = 0, long a1 = 0, long *out = nullptr) {
    errno = 0;
    long r = syscall(nr, a0, a1, 0, 0, 0, 0);
    if (out)
        *out = r;
    return r < 0 ? errno : 0;
}

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/mxc-seccomp-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { remove_tree(path); }
};

UniqueFd listen_unix(const std::string &path) {
    UniqueFd s(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string target = path;
    UniqueFd dir;
    if (path.size() >= sizeof(a.sun_path)) { // bind through the directory, as the code connects
        auto slash = path.rfind('/');
        dir.reset(open(path.substr(0, slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        target = "/proc/self/fd/" + std::to_string(dir.get()) + path.substr(slash);
    }
    std::strcpy(a.sun_path, target.c_str());
    if (bind(s.get(), reinterpret_cast<sockaddr *>(&a), sizeof(a)) < 0 || listen(s.get(), 4) < 0)
        throw Error(errno, "listen " + path);
    return s;
}

// Accept one connection and read the fd + payload that send_listener_fd sends.
bool receive_listener(int lsock, UniqueFd &fd, nlohmann::json &payload, int timeout_ms = 10000) {
    pollfd p{lsock, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1)
        return false;
    UniqueFd c(accept4(lsock, nullptr, nullptr, SOCK_CLOEXEC));
    if (!c)
        return false;
    std::string data;
    char buf[4096];
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    for (;;) {
        iovec iov{buf, sizeof(buf)};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof(cbuf);
        ssize_t n = recvmsg(c.get(), &msg, MSG_CMSG_CLOEXEC);
        if (n <= 0)
            break;
        for (cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                int got;
                std::memcpy(&got, CMSG_DATA(cm), sizeof(int));
                fd.reset(got);
            }
        }
        data.append(buf, static_cast<size_t>(n));
    }
    payload = nlohmann::json::parse(data, nullptr, false);
    return !payload.is_discarded();
}

} // namespace

// ---- compile(): errors name the field ------------------------------------

TEST(SeccompCompile, UnknownDefaultAction) {
    oci::Seccomp s;
    s.default_action = "SCMP_ACT_FOO";
    EXPECT_EQ(compile_error(s),
              "config.json: .linux.seccomp.defaultAction: unknown action \"SCMP_ACT_FOO\"");
}

TEST(SeccompCompile, UnknownSyscallActionNamesIndex) {
    auto s = allow_by_default({rule({"read"}, "SCMP_ACT_ERRNO"), rule({"write"}, "SCMP_ACT_FOO")});
    EXPECT_EQ(compile_error(s),
              "config.json: .linux.seccomp.syscalls[1].action: unknown action \"SCMP_ACT_FOO\"");
    EXPECT_NE(compile_error(s, "bundle/config.json").find("bundle/config.json: .linux.seccomp"),
              std::string::npos);
}

TEST(SeccompCompile, UnknownArchitecture) {
    auto s = allow_by_default({});
    s.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"};
    EXPECT_EQ(compile_error(s),
              "config.json: .linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\"");
}

TEST(SeccompCompile, UnknownFlag) {
    auto s = allow_by_default({});
    s.flags = {"SECCOMP_FILTER_FLAG_BOGUS"};
    EXPECT_EQ(compile_error(s),
              "config.json: .linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_BOGUS\"");
}

TEST(SeccompCompile, FlagLibseccompCannotSetSaysNotSupported) {
    auto s = allow_by_default({});
    s.flags = {"SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"};
    if (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR < 6) {
        std::string err = compile_error(s);
        EXPECT_NE(err.find(".linux.seccomp.flags[1]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not "
                           "supported"),
                  std::string::npos)
            << err;
    }
}

TEST(SeccompCompile, SupportedFlagsCompile) {
    auto s = allow_by_default({rule({"getppid"}, "SCMP_ACT_ERRNO")});
    auto feats = seccomp::features();
    for (const auto &f : feats["supportedFlags"])
        s.flags.push_back(f.get<std::string>());
    EXPECT_EQ(compile_error(s), "");
}

TEST(SeccompCompile, UnknownOperatorAndBadIndex) {
    auto s = allow_by_default(
        {rule({"getpid"}, "SCMP_ACT_ERRNO", {}, {arg(0, "SCMP_CMP_EQ", 1), arg(1, "SCMP_CMP_LIKE", 2)})});
    EXPECT_EQ(compile_error(s),
              "config.json: .linux.seccomp.syscalls[0].args[1].op: unknown operator \"SCMP_CMP_LIKE\"");
    s.syscalls[0].args = {arg(6, "SCMP_CMP_EQ", 1)};
    EXPECT_NE(compile_error(s).find(".linux.seccomp.syscalls[0].args[0].index: 6 is out of range"),
              std::string::npos);
}

TEST(SeccompCompile, ErrnoRetOnlyWithErrnoOrTrace) {
    auto s = allow_by_default({rule({"getpid"}, "SCMP_ACT_KILL", 5)});
    EXPECT_NE(compile_error(s).find(".linux.seccomp.syscalls[0].errnoRet: only SCMP_ACT_ERRNO"),
              std::string::npos);
    s.syscalls[0].action = "SCMP_ACT_TRACE";
    EXPECT_EQ(compile_error(s), "");
    s.syscalls[0].action = "SCMP_ACT_ERRNO";
    s.syscalls[0].errno_ret = 70000;
    EXPECT_NE(compile_error(s).find(".syscalls[0].errnoRet: 70000"), std::string::npos);
    oci::Seccomp d;
    d.default_action = "SCMP_ACT_ALLOW";
    d.default_errno_ret = 1;
    EXPECT_NE(compile_error(d).find(".linux.seccomp.defaultErrnoRet"), std::string::npos);
}

TEST(SeccompCompile, NotifyIsNotADefaultActionAndNamesAreRequired) {
    oci::Seccomp s;
    s.default_action = "SCMP_ACT_NOTIFY";
    EXPECT_NE(compile_error(s).find(".defaultAction: SCMP_ACT_NOTIFY cannot be the default"),
              std::string::npos);
    auto e = allow_by_default({rule({}, "SCMP_ACT_ERRNO")});
    EXPECT_NE(compile_error(e).find(".syscalls[0].names: lists no syscall"), std::string::npos);
}

TEST(SeccompCompile, SkipsUnknownNamesAndRulesWithTheDefaultAction) {
    auto s = allow_by_default({rule({"no_such_syscall_xyz", "getppid"}, "SCMP_ACT_ERRNO"),
                               rule({"read", "write"}, "SCMP_ACT_ALLOW"),
                               rule({"only_unknown_here"}, "SCMP_ACT_NOTIFY")});
    s.architectures = {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64"};
    seccomp::Filter f;
    ASSERT_NO_THROW(f = compile(s));
    EXPECT_GT(f.bpf_instructions(), 0u);
    // The NOTIFY rule named no known syscall, so there is no listener to hand over.
    EXPECT_FALSE(f.has_notify());
}

TEST(SeccompCompile, HasNotify) {
    if (!seccomp::notify_supported())
        GTEST_SKIP() << "seccomp user notification not supported here";
    auto f = compile(allow_by_default({rule({"getppid"}, "SCMP_ACT_NOTIFY")}));
    EXPECT_TRUE(f.has_notify());
}

TEST(SeccompCompile, Features) {
    auto j = seccomp::features();
    EXPECT_TRUE(j["enabled"].get<bool>());
    EXPECT_NE(std::find(j["operators"].begin(), j["operators"].end(), "SCMP_CMP_MASKED_EQ"),
              j["operators"].end());
    EXPECT_NE(std::find(j["actions"].begin(), j["actions"].end(), "SCMP_ACT_KILL_PROCESS"),
              j["actions"].end());
    EXPECT_NE(std::find(j["knownFlags"].begin(), j["knownFlags"].end(),
                        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"),
              j["knownFlags"].end());
}

// ---- filters enforced in a child ------------------------------------------

// Under allow_by_default({uname: ERRNO(ENOSYS), mkdirat: ERRNO}): 0 when the
// filter answers as it should, else the failing step.
int uname_enosys_mkdirat_eperm() {
    utsname u;
    if (uname(&u) != -1 || errno != ENOSYS)
        return 1;
    // Unfiltered this would be ENOENT; the rule answers EPERM (the default errno).
    if (mkdirat(AT_FDCWD, "/nonexistent-mxc/x", 0700) != -1 || errno != EPERM)
        return 2;
    if (sys_errno(SYS_getpid) != 0)
        return 3;
    return 0;
}

TEST(SeccompEnforce, ErrnoRuleWithAndWithoutErrnoRet) {
    auto f = compile(allow_by_default(
        {rule({"uname"}, "SCMP_ACT_ERRNO", ENOSYS), rule({"mkdirat"}, "SCMP_ACT_ERRNO")}));
    EXPECT_TRUE(exited_ok(in_child([&] {
        f.load();
        return uname_enosys_mkdirat_eperm();
    })));
}

// What a runtime compiles and a container loads (sandbox::spawn_container):
// the exported program, through a sealed memfd, enforces what the filter
// does, with the flags libseccomp would load it with.
TEST(SeccompEnforce, ProgramLoadedElsewhereEnforcesTheSameRules) {
    oci::Seccomp spec = allow_by_default(
        {rule({"uname"}, "SCMP_ACT_ERRNO", ENOSYS), rule({"mkdirat"}, "SCMP_ACT_ERRNO")});
    spec.flags = {"SECCOMP_FILTER_FLAG_LOG"};
    auto f = compile(spec);
    seccomp::Program exported = f.program();
    EXPECT_EQ(exported.bpf.size() % 8, 0u);
    EXPECT_EQ(exported.bpf.size() / 8, f.bpf_instructions());
    EXPECT_EQ(exported.flags, static_cast<unsigned>(SECCOMP_FILTER_FLAG_LOG));
    EXPECT_FALSE(exported.no_new_privs);

    UniqueFd mfd = exported.to_memfd();
    // Sealed: the runtime's copy cannot change under the container.
    EXPECT_LT(pwrite(mfd.get(), "x", 1, 0), 0);
    seccomp::Program p = seccomp::Program::from_memfd(mfd.get(), exported.flags, exported.no_new_privs);
    EXPECT_EQ(p.bpf, exported.bpf);
    EXPECT_TRUE(exited_ok(in_child([&] {
        if (seccomp::load(p))
            return 4; // no listener asked for
        return uname_enosys_mkdirat_eperm();
    })));

    // A torn or empty program is refused before it reaches the kernel.
    UniqueFd bad(memfd_create("bad", MFD_CLOEXEC));
    ASSERT_EQ(pwrite(bad.get(), "1234567", 7, 0), 7);
    EXPECT_THROW(seccomp::Program::from_memfd(bad.get(), 0, false), Error);
    UniqueFd empty(memfd_create("empty", MFD_CLOEXEC));
    EXPECT_THROW(seccomp::Program::from_memfd(empty.get(), 0, false), Error);

    if (seccomp::notify_supported()) {
        auto n = compile(allow_by_default({rule({"getppid"}, "SCMP_ACT_NOTIFY")}));
        seccomp::Program np = n.program();
        EXPECT_TRUE(np.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER);
        EXPECT_TRUE(exited_ok(in_child([&] {
            UniqueFd l = seccomp::load(np);
            if (!l)
                return 1;
            int fl = fcntl(l.get(), F_GETFD);
            return fl >= 0 && (fl & FD_CLOEXEC) ? 0 : 2;
        })));
    }
}

TEST(SeccompEnforce, DefaultErrnoAndDefaultErrnoRet) {
    for (std::optional<uint32_t> ret : {std::optional<uint32_t>{}, std::optional<uint32_t>{EACCES}}) {
        oci::Seccomp s;
        s.default_action = "SCMP_ACT_ERRNO";
        s.default_errno_ret = ret;
        s.syscalls = {rule({"exit_group", "exit"}, "SCMP_ACT_ALLOW")};
        auto f = compile(s);
        int want = ret ? static_cast<int>(*ret) : EPERM;
        EXPECT_TRUE(exited_ok(in_child([&] {
            f.load();
            return sys_errno(SYS_getpid) == want ? 0 : 1;
        })));
    }
}

// getpid & co. ignore their arguments, but the filter sees the registers, so
// they make harmless probes for argument conditions.
TEST(SeccompEnforce, ArgumentOperators) {
    auto f = compile(allow_by_default({
        // value is the mask, valueTwo the datum
        rule({"getpid"}, "SCMP_ACT_ERRNO", 201, {arg(0, "SCMP_CMP_MASKED_EQ", 0xF0, 0x30)}),
        // same index twice: one rule per condition, so OR (runc's behaviour)
        rule({"getppid"}, "SCMP_ACT_ERRNO", 202, {arg(0, "SCMP_CMP_EQ", 1), arg(0, "SCMP_CMP_EQ", 2)}),
        // different indexes: AND
        rule({"getuid"}, "SCMP_ACT_ERRNO", 203, {arg(0, "SCMP_CMP_EQ", 1), arg(1, "SCMP_CMP_EQ", 2)}),
        rule({"getgid"}, "SCMP_ACT_ERRNO", 204, {arg(0, "SCMP_CMP_GT", 10)}),
        rule({"geteuid"}, "SCMP_ACT_ERRNO", 205, {arg(0, "SCMP_CMP_LT", 10)}),
        rule({"getegid"}, "SCMP_ACT_ERRNO", 206, {arg(0, "SCMP_CMP_GE", 10)}),
        rule({"gettid"}, "SCMP_ACT_ERRNO", 207, {arg(0, "SCMP_CMP_LE", 10)}),
        rule({"getpgid"}, "SCMP_ACT_ERRNO", 208, {arg(0, "SCMP_CMP_NE", 0)}),
    }));
    EXPECT_TRUE(exited_ok(in_child([&] {
        f.load();
        struct Probe {
            long nr, a0, a1;
            int want;
        } probes[] = {
            {SYS_getpid, 0x35, 0, 201},  {SYS_getpid, 0x3F, 0, 201},  {SYS_getpid, 0x45, 0, 0},
            {SYS_getpid, 0x130, 0, 201}, {SYS_getppid, 1, 0, 202},    {SYS_getppid, 2, 0, 202},
            {SYS_getppid, 3, 0, 0},      {SYS_getuid, 1, 2, 203},     {SYS_getuid, 1, 3, 0},
            {SYS_getuid, 0, 2, 0},       {SYS_getgid, 11, 0, 204},    {SYS_getgid, 10, 0, 0},
            {SYS_geteuid, 9, 0, 205},    {SYS_geteuid, 10, 0, 0},     {SYS_getegid, 10, 0, 206},
            {SYS_getegid, 9, 0, 0},      {SYS_gettid, 10, 0, 207},    {SYS_gettid, 11, 0, 0},
            {SYS_getpgid, 0, 0, 0},      {SYS_getpgid, 1, 0, 208},
        };
        int step = 1;
        for (const auto &p : probes) {
            if (sys_errno(p.nr, p.a0, p.a1) != p.want)
                return step;
            ++step;
        }
        return 0;
    })));
}

TEST(SeccompEnforce, KillProcessAndKillThreadRaiseSigsys) {
    for (const char *action : {"SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"}) {
        auto f = compile(allow_by_default({rule({"getppid"}, action)}));
        int st = in_child([&] {
            f.load();
            syscall(SYS_getppid);
            return 0;
        });
        EXPECT_TRUE(killed_by_sigsys(st)) << action << " status " << st;
    }
}

TEST(SeccompEnforce, NotifyThroughListenerPath) {
    if (!seccomp::notify_supported())
        GTEST_SKIP() << "seccomp user notification not supported here";
    TempDir dir;
    std::string path = dir.path + "/listener.sock";
    UniqueFd lsock = listen_unix(path);
    auto s = allow_by_default({rule({"getppid"}, "SCMP_ACT_NOTIFY")});
    s.listener_path = path;
    s.listener_metadata = "probe=1";
    auto f = compile(s);

    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        int code = 0;
        try {
            UniqueFd nfd = f.load();
            if (!nfd)
                _exit(2);
            seccomp::ListenerState st{"1.2.0", getpid(), s.listener_metadata,
                                      {{"ociVersion", "1.2.0"}, {"id", "c1"}, {"status", "creating"}}};
            seccomp::send_listener_fd(path, nfd.get(), st);
            nfd.reset(); // the container must not keep its own supervisor handle
            code = syscall(SYS_getppid) == 4242 ? 0 : 3;
        } catch (...) {
            code = 4;
        }
        _exit(code);
    }
    UniqueFd nfd;
    nlohmann::json payload;
    bool got = receive_listener(lsock.get(), nfd, payload);
    ScopeExit reap([&] {
        if (!got)
            kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
    });
    ASSERT_TRUE(got);
    ASSERT_TRUE(nfd);
    EXPECT_EQ(payload["fds"], nlohmann::json::array({"seccompFd"}));
    EXPECT_EQ(payload["pid"], pid);
    EXPECT_EQ(payload["metadata"], "probe=1");
    EXPECT_EQ(payload["state"]["id"], "c1");

    pollfd p{nfd.get(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 10000), 1);
    seccomp_notif *req = nullptr;
    seccomp_notif_resp *resp = nullptr;
    ASSERT_EQ(seccomp_notify_alloc(&req, &resp), 0);
    ScopeExit free_notif([&] { seccomp_notify_free(req, resp); });
    ASSERT_EQ(seccomp_notify_receive(nfd.get(), req), 0);
    EXPECT_EQ(req->data.nr, SYS_getppid);
    EXPECT_EQ(static_cast<pid_t>(req->pid), pid);
    resp->id = req->id;
    resp->val = 4242;
    resp->error = 0;
    resp->flags = 0;
    ASSERT_EQ(seccomp_notify_respond(nfd.get(), resp), 0);

    reap.dismiss();
    int st = 0;
    waitpid(pid, &st, 0);
    EXPECT_TRUE(exited_ok(st));
}

TEST(SeccompListener, SendsFdAndStatePayload) {
    TempDir dir;
    // Longer than sun_path, to take the /proc/self/fd detour.
    std::string sub = dir.path + "/" + std::string(100, 'd');
    mkdir_p(sub);
    for (const std::string &path : {dir.path + "/l.sock", sub + "/l.sock"}) {
        UniqueFd lsock = listen_unix(path);
        int pipefd[2];
        ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
        UniqueFd rd(pipefd[0]), wr(pipefd[1]);
        seccomp::ListenerState st{"1.2.0", 1234, "",
                                  {{"ociVersion", "1.2.0"},
                                   {"id", "web"},
                                   {"status", "creating"},
                                   {"pid", 1234},
                                   {"bundle", "/b"}}};
        ASSERT_NO_THROW(seccomp::send_listener_fd(path, wr.get(), st)) << path;
        UniqueFd got;
        nlohmann::json payload;
        ASSERT_TRUE(receive_listener(lsock.get(), got, payload));
        ASSERT_TRUE(got);
        EXPECT_EQ(payload["ociVersion"], "1.2.0");
        EXPECT_EQ(payload["fds"], nlohmann::json::array({"seccompFd"}));
        EXPECT_EQ(payload["pid"], 1234);
        EXPECT_FALSE(payload.contains("metadata")); // empty metadata is omitted
        EXPECT_EQ(payload["state"]["bundle"], "/b");
        // The received descriptor is the same pipe.
        ASSERT_EQ(write(got.get(), "x", 1), 1);
        char c = 0;
        ASSERT_EQ(read(rd.get(), &c, 1), 1);
        EXPECT_EQ(c, 'x');
    }
}

TEST(SeccompListener, ConnectFailureNamesThePath) {
    try {
        seccomp::send_listener_fd("/nonexistent-mxc/l.sock", 0, {});
        FAIL() << "no error";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent-mxc/l.sock"), std::string::npos);
        EXPECT_EQ(e.code(), ENOENT);
    }
}

// ---- the default agent profile --------------------------------------------

TEST(SeccompDefaultProfile, DeniesEscapesWithEperm) {
    auto f = compile(seccomp::default_agent_profile());
    EXPECT_TRUE(exited_ok(in_child([&] {
        f.load();
        if (sys_errno(SYS_bpf, 0 /*BPF_MAP_CREATE*/, 0) != EPERM)
            return 1;
        if (sys_errno(SYS_io_uring_setup, 1, 0) != EPERM)
            return 2;
        if (sys_errno(SYS_keyctl, 0, 0) != EPERM)
            return 3;
        if (sys_errno(SYS_setns, -1, 0) != EPERM)
            return 4;
        if (sys_errno(SYS_open_by_handle_at, -1, 0) != EPERM)
            return 5;
        if (sys_errno(SYS_fsopen, 0, 0) != EPERM)
            return 6;
        if (mount("none", "/", nullptr, MS_REMOUNT, nullptr) != -1 || errno != EPERM)
            return 7;
        if (sys_errno(SYS_getpid) != 0 || sys_errno(SYS_getppid) != 0)
            return 8;
        return 0;
    })));
}

// Syscalls an agent without capabilities could often not make anyway: the
// filter must refuse them even to a process that has them (this test, as
// root), so each is first made without the filter, as the control.
TEST(SeccompDefaultProfile, DeniesTheseEvenWithCapabilities) {
    struct Call {
        const char *name;
        long nr, a0, a1;
    };
    const long pid = ::getpid();
    const Call calls[] = {
        {"perf_event_open", SYS_perf_event_open, 0, 0}, // attr NULL: EFAULT unfiltered
        {"userfaultfd", SYS_userfaultfd, 0, 0},
        {"pidfd_getfd", SYS_pidfd_getfd, -1, 0},        // EBADF unfiltered
        {"kcmp", SYS_kcmp, pid, pid},                   // KCMP_FILE of fd 0 with itself
        {"process_madvise", SYS_process_madvise, -1, 0}, // EBADF unfiltered
    };
    auto f = compile(seccomp::default_agent_profile());
    int checked = 0;
    for (const auto &c : calls) {
        int unfiltered = in_child([&] { return sys_errno(c.nr, c.a0, c.a1) == EPERM ? 1 : 0; });
        if (!exited_ok(unfiltered))
            continue; // EPERM without the filter (no capability, a sysctl): proves nothing here
        ++checked;
        EXPECT_TRUE(exited_ok(in_child([&] {
            f.load();
            return sys_errno(c.nr, c.a0, c.a1) == EPERM ? 0 : 1;
        }))) << c.name << " is not refused by the default agent filter";
    }
    if (checked == 0)
        GTEST_SKIP() << "every one of these fails with EPERM here even without the filter (not root?)";
}

TEST(SeccompDefaultProfile, PersonalityLimitedToHarmlessValues) {
    auto f = compile(seccomp::default_agent_profile());
    EXPECT_TRUE(exited_ok(in_child([&] {
        f.load();
        long cur = 0;
        if (sys_errno(SYS_personality, 0xffffffffL, 0, &cur) != 0) // query
            return 1;
        for (long ok : {0x0L, 0x8L, 0x20000L, 0x20008L, cur})
            if (sys_errno(SYS_personality, ok) != 0)
                return 2;
        for (long bad : {0x0400000L /*READ_IMPLIES_EXEC*/, 0x0040000L /*ADDR_NO_RANDOMIZE*/,
                         0x80400000L, 0x1L, 0xfffffffeL, 0x1ffffffffL})
            if (sys_errno(SYS_personality, bad) != EPERM)
                return 3;
        return 0;
    })));
}

#if defined(__x86_64__)
// i386 getpid (20) through the 32-bit entry point, from a 64-bit process.
static long int80_getpid() {
    long ret;
    asm volatile("int $0x80"
                 : "=a"(ret)
                 : "a"(20L)
                 : "memory", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15");
    return ret;
}

TEST(SeccompDefaultProfile, KillsTheI386AndX32Abis) {
    // Without a filter: does this kernel run int 0x80 at all (ia32 emulation)?
    int base = in_child([] { return int80_getpid() == getpid() ? 0 : 1; });
    bool ia32 = exited_ok(base);

    auto f = compile(seccomp::default_agent_profile());
    int st = in_child([&] {
        f.load();
        long r = int80_getpid();
        return r == getpid() ? 0 : 1;
    });
    // It must never succeed; with ia32 emulation the bad-arch action kills.
    EXPECT_FALSE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "int 0x80 getpid succeeded under the filter";
    if (ia32) {
        EXPECT_TRUE(killed_by_sigsys(st)) << "status " << st;
    }

    // x32 numbers arrive with the x86_64 arch token and bit 30 set.
    st = in_child([&] {
        f.load();
        syscall(0x40000000L | SYS_getpid);
        return 0;
    });
    EXPECT_TRUE(killed_by_sigsys(st)) << "status " << st;
}
#endif
