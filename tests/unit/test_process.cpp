// Process setup (rlimits, oom, scheduler, ioprio, personality, credentials,
// capabilities) and OCI hooks.  Everything that changes the process runs in a
// forked child, which reports back through a pipe.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "helpers.hpp"

#include "mxc/sandbox/hooks.hpp"
#include "mxc/sandbox/process_setup.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

using namespace mxc;
using mxc::testing::error_of;
using namespace mxc::sandbox;

namespace {

#define SKIP_UNLESS_ROOT()                                                                                             \
    do {                                                                                                               \
        if (::geteuid() != 0)                                                                                          \
            GTEST_SKIP() << "needs root: changes uid/gid, capabilities and groups";                                    \
    } while (0)

std::string read_all(int fd) {
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

// Runs fn in a forked child.  fn returns "" when all is well, else what went
// wrong; an exception becomes its what().  The child never returns into gtest.
std::string in_child(const std::function<std::string()> &fn) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0)
        return "pipe failed";
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(p[0]);
        std::string msg;
        try {
            msg = fn();
        } catch (const std::exception &e) {
            msg = std::string("exception: ") + e.what();
        }
        [[maybe_unused]] ssize_t n = ::write(p[1], msg.data(), msg.size());
        ::_exit(msg.empty() ? 0 : 1);
    }
    ::close(p[1]);
    std::string msg = read_all(p[0]);
    ::close(p[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status))
        return "child died: wait status " + std::to_string(status) + " " + msg;
    if (WEXITSTATUS(status) != 0 && msg.empty())
        return "child exited with " + std::to_string(WEXITSTATUS(status));
    return msg;
}

// The hex value of a line such as "CapEff:\t0000000000000021" in a status text.
uint64_t status_hex(const std::string &status, const std::string &key) {
    std::istringstream in(status);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key + ":", 0) == 0)
            return std::stoull(line.substr(key.size() + 1), nullptr, 16);
    throw std::runtime_error("no " + key + " in status");
}

std::string status_field(const std::string &status, const std::string &key) {
    std::istringstream in(status);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key + ":", 0) == 0) {
            auto v = line.substr(key.size() + 1);
            v.erase(0, v.find_first_not_of(" \t"));
            return v;
        }
    return "";
}

std::string self_status() { return read_file("/proc/self/status"); }

uint64_t bit(int cap) { return uint64_t{1} << cap; }


oci::Process root_process() {
    oci::Process p;
    p.args = {"/bin/true"};
    return p;
}

// ---------------------------------------------------------------- names

TEST(CapabilityNames, ParsesOciAndLowercaseNames) {
    EXPECT_EQ(capability_from_name("CAP_CHOWN"), 0);
    EXPECT_EQ(capability_from_name("CAP_KILL"), 5);
    EXPECT_EQ(capability_from_name("CAP_SYS_ADMIN"), 21);
    EXPECT_EQ(capability_from_name("cap_sys_admin"), 21);
    EXPECT_EQ(capability_from_name("CAP_CHECKPOINT_RESTORE"), 40);
    EXPECT_EQ(capability_name(21), "CAP_SYS_ADMIN");
    EXPECT_EQ(capability_name(10), "CAP_NET_BIND_SERVICE");
}

TEST(CapabilityNames, RejectsUnknownNamesAndNumbers) {
    EXPECT_EQ(error_of([] { capability_from_name("CAP_FOO"); }), "unknown capability \"CAP_FOO\"");
    EXPECT_EQ(error_of([] { capability_from_name("SYS_ADMIN"); }), "unknown capability \"SYS_ADMIN\"");
    EXPECT_EQ(error_of([] { capability_from_name("12"); }), "unknown capability \"12\"");
    EXPECT_EQ(error_of([] { capability_from_name("CAP_12"); }), "unknown capability \"CAP_12\"");
    EXPECT_EQ(error_of([] { capability_from_name(""); }), "unknown capability \"\"");
}

TEST(CapabilityNames, CheckNamesTheSetAndIndex) {
    oci::Capabilities caps;
    caps.bounding = {"CAP_CHOWN", "CAP_KILL", "CAP_FOO"};
    EXPECT_EQ(error_of([&] { check_capability_names(caps, ".process.capabilities"); }),
              ".process.capabilities.bounding[2]: unknown capability \"CAP_FOO\"");
    caps.bounding = {"CAP_CHOWN"};
    caps.ambient = {"CAP_BAR"};
    EXPECT_EQ(error_of([&] { check_capability_names(caps, "exec --cap"); }),
              "exec --cap.ambient[0]: unknown capability \"CAP_BAR\"");
    caps.ambient.clear();
    EXPECT_EQ(error_of([&] { check_capability_names(caps, ".process.capabilities"); }), "");
}

TEST(CapabilityNames, LastCapabilityMatchesKernel) {
    EXPECT_EQ(last_capability(), std::stoi(read_file("/proc/sys/kernel/cap_last_cap")));
}

TEST(RlimitNames, KnownAndUnknown) {
    EXPECT_EQ(rlimit_from_name("RLIMIT_NOFILE"), RLIMIT_NOFILE);
    EXPECT_EQ(rlimit_from_name("RLIMIT_NPROC"), RLIMIT_NPROC);
    EXPECT_EQ(rlimit_from_name("RLIMIT_RTTIME"), RLIMIT_RTTIME);
    EXPECT_EQ(error_of([] { rlimit_from_name("RLIMIT_FOO"); }), "unknown rlimit \"RLIMIT_FOO\"");
}

// ---------------------------------------------------------------- attributes

TEST(ProcessAttributes, LoweredRlimitIsObserved) {
    EXPECT_EQ(in_child([] {
                  auto p = root_process();
                  p.rlimits = {{"RLIMIT_NOFILE", 100, 200}, {"RLIMIT_CORE", 0, 0}};
                  apply_process_attributes(p, nullptr);
                  struct rlimit rl{};
                  ::getrlimit(RLIMIT_NOFILE, &rl);
                  if (rl.rlim_cur != 100 || rl.rlim_max != 200)
                      return "NOFILE is " + std::to_string(rl.rlim_cur) + "/" + std::to_string(rl.rlim_max);
                  ::getrlimit(RLIMIT_CORE, &rl);
                  if (rl.rlim_cur != 0 || rl.rlim_max != 0)
                      return std::string("CORE not lowered");
                  return std::string();
              }),
              "");
}

TEST(ProcessAttributes, RlimitErrorsNameTheLimit) {
    auto p = root_process();
    p.rlimits = {{"RLIMIT_NOFILE", 10, 20}, {"RLIMIT_BOGUS", 1, 1}};
    EXPECT_EQ(in_child([&] { apply_process_attributes(p, nullptr); return std::string(); }),
              "exception: .process.rlimits[1].type: unknown rlimit \"RLIMIT_BOGUS\"");
    p.rlimits = {{"RLIMIT_NOFILE", 300, 200}};
    EXPECT_EQ(in_child([&] { apply_process_attributes(p, nullptr); return std::string(); }),
              "exception: .process.rlimits[0]: RLIMIT_NOFILE soft limit 300 is above the hard limit 200");
    // Raising a hard limit needs CAP_SYS_RESOURCE (missing for ordinary users,
    // and for root on some hosts): lower it first, then ask for more.
    bool has_sys_resource = status_hex(self_status(), "CapEff") & bit(24);
    std::string err = in_child([&] {
        struct rlimit low{50, 50};
        ::setrlimit(RLIMIT_NOFILE, &low);
        auto q = root_process();
        q.rlimits = {{"RLIMIT_NOFILE", 60, 60}};
        apply_process_attributes(q, nullptr);
        return std::string();
    });
    if (has_sys_resource)
        EXPECT_EQ(err, "");
    else
        EXPECT_EQ(err, "exception: setrlimit RLIMIT_NOFILE soft=60 hard=60 (raising a hard limit needs "
                       "CAP_SYS_RESOURCE): Operation not permitted (EPERM)");
}

TEST(ProcessAttributes, OomScoreAdjIsWritten) {
    EXPECT_EQ(in_child([] {
                  auto p = root_process();
                  p.oom_score_adj = 500;
                  apply_process_attributes(p, nullptr);
                  std::string v = read_file("/proc/self/oom_score_adj");
                  return v == "500\n" ? std::string() : "oom_score_adj is " + v;
              }),
              "");
}

TEST(ProcessAttributes, SchedulerIsApplied) {
    EXPECT_EQ(in_child([] {
                  auto p = root_process();
                  p.scheduler = oci::Scheduler{};
                  p.scheduler->policy = "SCHED_BATCH";
                  p.scheduler->nice = 7;
                  apply_process_attributes(p, nullptr);
                  if (::sched_getscheduler(0) != SCHED_BATCH)
                      return "policy " + std::to_string(::sched_getscheduler(0));
                  errno = 0;
                  int nice = ::getpriority(PRIO_PROCESS, 0);
                  return nice == 7 ? std::string() : "nice " + std::to_string(nice);
              }),
              "");
    auto p = root_process();
    p.scheduler = oci::Scheduler{};
    p.scheduler->policy = "SCHED_FAST";
    EXPECT_EQ(error_of([&] { apply_process_attributes(p, nullptr); }),
              ".process.scheduler.policy: unknown policy \"SCHED_FAST\"");
    p.scheduler->policy = "SCHED_OTHER";
    p.scheduler->flags = {"SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_TURBO"};
    EXPECT_EQ(error_of([&] { apply_process_attributes(p, nullptr); }),
              ".process.scheduler.flags[1]: unknown flag \"SCHED_FLAG_TURBO\"");
}

TEST(ProcessAttributes, IoPriorityIsApplied) {
    EXPECT_EQ(in_child([] {
                  auto p = root_process();
                  p.io_priority = oci::IoPriority{"IOPRIO_CLASS_BE", 6};
                  apply_process_attributes(p, nullptr);
                  long v = ::syscall(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0);
                  return v == ((2 << 13) | 6) ? std::string() : "ioprio " + std::to_string(v);
              }),
              "");
    auto p = root_process();
    p.io_priority = oci::IoPriority{"IOPRIO_CLASS_FAST", 1};
    EXPECT_EQ(error_of([&] { apply_process_attributes(p, nullptr); }),
              ".process.ioPriority.class: unknown class \"IOPRIO_CLASS_FAST\"");
}

TEST(ProcessAttributes, PersonalityIsApplied) {
    EXPECT_EQ(in_child([] {
                  oci::Linux lx;
                  lx.personality = oci::Personality{"LINUX", {"ADDR_NO_RANDOMIZE"}};
                  apply_process_attributes(root_process(), &lx);
                  int cur = ::personality(0xffffffff);
                  return cur == static_cast<int>(ADDR_NO_RANDOMIZE) /* PER_LINUX is 0 */ ? std::string() : "persona " + std::to_string(cur);
              }),
              "");
    oci::Linux lx;
    lx.personality = oci::Personality{"LINUX", {"ADDR_NO_RANDOMIZE", "FAST_MODE"}};
    EXPECT_EQ(error_of([&] { apply_process_attributes(root_process(), &lx); }),
              ".linux.personality.flags[1]: unknown personality flag \"FAST_MODE\"");
    lx.personality = oci::Personality{"WINDOWS", {}};
    EXPECT_EQ(error_of([&] { apply_process_attributes(root_process(), &lx); }),
              ".linux.personality.domain: unknown domain \"WINDOWS\" (LINUX or LINUX32)");
}

// ---------------------------------------------------------------- credentials

TEST(Credentials, RootWithTwoCapabilities) {
    SKIP_UNLESS_ROOT();
    EXPECT_EQ(in_child([] {
                  auto p = root_process();
                  p.capabilities = oci::Capabilities{};
                  p.capabilities->bounding = {"CAP_CHOWN", "CAP_KILL"};
                  p.capabilities->effective = {"CAP_CHOWN", "CAP_KILL"};
                  p.capabilities->permitted = {"CAP_KILL", "CAP_CHOWN"};
                  apply_credentials(p, true);
                  auto s = self_status();
                  uint64_t want = bit(0) | bit(5);
                  for (const char *k : {"CapEff", "CapBnd", "CapPrm"})
                      if (status_hex(s, k) != want)
                          return std::string(k) + " is " + status_field(s, k);
                  if (status_hex(s, "CapInh") != 0 || status_hex(s, "CapAmb") != 0)
                      return std::string("inheritable/ambient not empty");
                  if (status_field(s, "NoNewPrivs") != "0")
                      return std::string("no_new_privs set without being asked");
                  return std::string();
              }),
              "");
}

TEST(Credentials, AmbientCapabilitySurvivesExecAsNonRoot) {
    SKIP_UNLESS_ROOT();
    int p[2];
    ASSERT_EQ(::pipe(p), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(p[1], STDOUT_FILENO);
        try {
            auto pr = root_process();
            pr.user.uid = 1000;
            pr.user.gid = 1000;
            pr.capabilities = oci::Capabilities{};
            for (auto *set : {&pr.capabilities->bounding, &pr.capabilities->effective, &pr.capabilities->permitted,
                              &pr.capabilities->inheritable, &pr.capabilities->ambient})
                *set = {"CAP_NET_BIND_SERVICE"};
            apply_credentials(pr, true);
            ::execl("/bin/cat", "cat", "/proc/self/status", nullptr);
            std::printf("ERROR: exec cat: %s\n", std::strerror(errno));
        } catch (const std::exception &e) {
            std::printf("ERROR: %s\n", e.what());
        }
        std::fflush(stdout);
        ::_exit(1);
    }
    ::close(p[1]);
    std::string out = read_all(p[0]);
    ::close(p[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
    // After execve by a non-root uid, ambient becomes permitted and effective.
    EXPECT_EQ(status_hex(out, "CapAmb"), bit(10)) << out;
    EXPECT_EQ(status_hex(out, "CapEff"), bit(10)) << out;
    EXPECT_EQ(status_hex(out, "CapPrm"), bit(10)) << out;
    EXPECT_EQ(status_hex(out, "CapBnd"), bit(10)) << out;
    EXPECT_EQ(status_field(out, "Uid"), "1000\t1000\t1000\t1000") << out;
}

TEST(Credentials, UserGroupsAndUmask) {
    SKIP_UNLESS_ROOT();
    EXPECT_EQ(in_child([] {
                  auto p = root_process();
                  p.user.uid = 1000;
                  p.user.gid = 1000;
                  p.user.additional_gids = {5, 20};
                  p.user.umask = 027;
                  apply_credentials(p, true);
                  uid_t r, e, s;
                  ::getresuid(&r, &e, &s);
                  if (r != 1000 || e != 1000 || s != 1000)
                      return std::string("uids not 1000");
                  gid_t gr, ge, gs;
                  ::getresgid(&gr, &ge, &gs);
                  if (gr != 1000 || ge != 1000 || gs != 1000)
                      return std::string("gids not 1000");
                  gid_t groups[16];
                  int n = ::getgroups(16, groups);
                  if (n != 2 || groups[0] != 5 || groups[1] != 20)
                      return "groups: n=" + std::to_string(n);
                  mode_t old = ::umask(0);
                  if (old != 027)
                      return "umask " + std::to_string(old);
                  // No capabilities object: no capabilities at all.
                  auto st = self_status();
                  if (status_hex(st, "CapEff") != 0 || status_hex(st, "CapPrm") != 0 || status_hex(st, "CapBnd") != 0)
                      return "capabilities left: " + status_field(st, "CapPrm") + " " + status_field(st, "CapBnd");
                  return std::string();
              }),
              "");
}

TEST(Credentials, NoNewPrivileges) {
    SKIP_UNLESS_ROOT();
    EXPECT_EQ(in_child([] {
                  auto p = root_process();
                  p.no_new_privileges = true;
                  p.capabilities = oci::Capabilities{};
                  p.capabilities->bounding = {"CAP_KILL"};
                  apply_credentials(p, true);
                  std::string v = status_field(self_status(), "NoNewPrivs");
                  return v == "1" ? std::string() : "NoNewPrivs " + v;
              }),
              "");
}

TEST(Credentials, SetgroupsDenied) {
    SKIP_UNLESS_ROOT();
    auto p = root_process();
    p.user.additional_gids = {5};
    std::string err = in_child([&] { apply_credentials(p, false); return std::string(); });
    EXPECT_NE(err.find(".process.user.additionalGids: setgroups is denied"), std::string::npos) << err;
    p.user.additional_gids.clear();
    EXPECT_EQ(in_child([&] { apply_credentials(p, false); return std::string(); }), "");
}

TEST(Credentials, AmbientWithoutInheritableIsSkippedLikeRunc) {
    SKIP_UNLESS_ROOT();
    auto p = root_process();
    p.capabilities = oci::Capabilities{};
    p.capabilities->bounding = {"CAP_NET_BIND_SERVICE"};
    p.capabilities->permitted = {"CAP_NET_BIND_SERVICE"};
    p.capabilities->ambient = {"CAP_NET_BIND_SERVICE"};
    // `runc spec` lists ambient caps without inheritable ones; runc runs that
    // config with an empty ambient set, and so must we.
    EXPECT_EQ(in_child([&] {
                  apply_credentials(p, true);
                  std::string st = mxc::read_file("/proc/self/status");
                  auto pos = st.find("CapAmb:");
                  return st.substr(pos, st.find('\n', pos) - pos);
              }),
              "CapAmb:\t0000000000000000");
}

TEST(Credentials, UnknownCapabilityFailsBeforeAnyChange) {
    SKIP_UNLESS_ROOT();
    EXPECT_EQ(in_child([] {
                  auto p = root_process();
                  p.user.uid = 1000;
                  p.capabilities = oci::Capabilities{};
                  p.capabilities->effective = {"CAP_NOPE"};
                  std::string err = error_of([&] { apply_credentials(p, true); });
                  if (err != ".process.capabilities.effective[0]: unknown capability \"CAP_NOPE\"")
                      return "error was: " + err;
                  if (::getuid() != 0 || status_hex(self_status(), "CapBnd") == 0)
                      return std::string("credentials changed before the error");
                  return std::string();
              }),
              "");
}

// ---------------------------------------------------------------- hooks

class Hooks : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/mxc-test-hooks-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override { remove_tree(dir_); }
    std::string path(const std::string &name) const { return dir_ + "/" + name; }
    static oci::Hook sh(const std::string &script, std::vector<std::string> env = {}) {
        oci::Hook h;
        h.path = "/bin/sh";
        h.args = {"sh", "-c", script};
        h.env = std::move(env);
        return h;
    }
    nlohmann::json state_ = {{"ociVersion", "1.2.0"}, {"id", "c1"}, {"status", "creating"}, {"pid", 1234},
                             {"bundle", "/var/lib/b"}, {"annotations", {{"a", "b c"}}}};
    std::string dir_;
};

TEST_F(Hooks, StdinIsTheStateJson) {
    run_hooks({sh("cat > \"$OUT\"", {"OUT=" + path("state")})}, "prestart", state_);
    EXPECT_EQ(read_file(path("state")), state_.dump());
}

TEST_F(Hooks, EnvIsExactlyAsGiven) {
    std::vector<std::string> env = {"OUT=" + path("env"), "A=1", "B=two words"};
    // /proc/PID/environ is what execve received, before the shell adds PWD.
    run_hooks({sh("tr '\\0' '\\n' < /proc/$$/environ > \"$OUT\"", env)}, "createRuntime", state_);
    EXPECT_EQ(read_file(path("env")), "OUT=" + path("env") + "\nA=1\nB=two words\n");

    // No env at all: the hook starts with an empty environment.
    write_file(path("script"), "#!/bin/sh\ntr '\\0' '\\n' < /proc/$$/environ > " + path("empty") + "\n", 0, 0755);
    oci::Hook h;
    h.path = path("script");
    run_hooks({h}, "createRuntime", state_);
    EXPECT_EQ(read_file(path("empty")), "");
}

TEST_F(Hooks, ArgsArePassedAndArgv0DefaultsToPath) {
    oci::Hook h = sh("printf '%s\\n' \"$0\" \"$@\" > \"$OUT\"", {"OUT=" + path("args")});
    h.args.insert(h.args.end(), {"zero", "one", "two words"});
    run_hooks({h}, "prestart", state_);
    EXPECT_EQ(read_file(path("args")), "zero\none\ntwo words\n");

    write_file(path("script"), "#!/bin/sh\necho \"$0\" > " + path("argv0") + "\n", 0, 0755);
    oci::Hook s;
    s.path = path("script");
    run_hooks({s}, "prestart", state_);
    EXPECT_EQ(read_file(path("argv0")), path("script") + "\n");
}

TEST_F(Hooks, RunInOrderAndStopAtFirstFailure) {
    std::vector<std::string> env = {"OUT=" + path("order")};
    std::vector<oci::Hook> hooks = {sh("echo 1 >> \"$OUT\"", env), sh("echo 2 >> \"$OUT\"", env),
                                    sh("exit 3"), sh("echo 4 >> \"$OUT\"", env)};
    EXPECT_EQ(error_of([&] { run_hooks(hooks, "createContainer", state_); }),
              "hooks.createContainer[2] /bin/sh: exited with status 3");
    EXPECT_EQ(read_file(path("order")), "1\n2\n");
}

TEST_F(Hooks, KilledBySignal) {
    EXPECT_EQ(error_of([&] { run_hooks({sh("kill -TERM $$")}, "poststop", state_); }),
              "hooks.poststop[0] /bin/sh: killed by SIGTERM");
}

TEST_F(Hooks, ExecFailureIsReported) {
    oci::Hook h;
    h.path = path("missing");
    std::string err = error_of([&] { run_hooks({h}, "prestart", state_); });
    EXPECT_EQ(err, "hooks.prestart[0] " + path("missing") + ": exec: No such file or directory (ENOENT)");
}

TEST_F(Hooks, TimeoutKillsTheHook) {
    oci::Hook h;
    h.path = "/bin/sleep";
    h.args = {"sleep", "10"};
    h.timeout = 1;
    auto t0 = std::chrono::steady_clock::now();
    std::string err = error_of([&] { run_hooks({h}, "startContainer", state_); });
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(err, "hooks.startContainer[0] /bin/sleep: timed out after 1s");
    EXPECT_LT(took, std::chrono::milliseconds(2500));
    EXPECT_GE(took, std::chrono::milliseconds(900));
}

TEST_F(Hooks, TimeoutHoldsWhenTheHookNeverReadsALargeState) {
    // More than a pipe buffer: a blocking write would hang past the timeout.
    nlohmann::json big = state_;
    big["annotations"]["big"] = std::string(1 << 20, 'x');
    oci::Hook h;
    h.path = "/bin/sleep";
    h.args = {"sleep", "10"};
    h.timeout = 1;
    auto t0 = std::chrono::steady_clock::now();
    std::string err = error_of([&] { run_hooks({h}, "prestart", big); });
    EXPECT_EQ(err, "hooks.prestart[0] /bin/sleep: timed out after 1s");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2500));
}

TEST_F(Hooks, HookIgnoringStdinDoesNotRaiseSigpipe) {
    nlohmann::json big = state_;
    big["annotations"]["big"] = std::string(1 << 20, 'x');
    oci::Hook h;
    h.path = "/bin/true";
    EXPECT_EQ(error_of([&] { run_hooks({h, h}, "prestart", big); }), "");
    sigset_t pending;
    sigpending(&pending);
    EXPECT_FALSE(sigismember(&pending, SIGPIPE));
}

TEST_F(Hooks, NoDescriptorLeaksIntoTheHook) {
    int fd = ::open("/dev/null", O_RDONLY); // deliberately without O_CLOEXEC
    ASSERT_GE(fd, 3);
    std::string script = "[ ! -e /proc/$$/fd/" + std::to_string(fd) + " ] && [ -e /proc/$$/fd/0 ]";
    EXPECT_EQ(error_of([&] { run_hooks({sh(script)}, "prestart", state_); }), "");
    ::close(fd);
}

TEST_F(Hooks, WarnVariantLogsAndContinues) {
    std::vector<oci::Hook> hooks = {sh("exit 1"), sh("echo ran > \"$OUT\"", {"OUT=" + path("after")})};
    EXPECT_NO_THROW(run_hooks_warn(hooks, "poststart", state_));
    EXPECT_EQ(read_file(path("after")), "ran\n");
}

TEST_F(Hooks, NonPositiveTimeoutIsRejected) {
    oci::Hook h;
    h.path = "/bin/true";
    h.timeout = 0;
    EXPECT_EQ(error_of([&] { run_hooks({h}, "prestart", state_); }),
              "hooks.prestart[0] /bin/true: timeout must be greater than zero, got 0");
}

} // namespace
