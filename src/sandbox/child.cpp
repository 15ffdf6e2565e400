// The container's first process, between clone and exec.  Runs in the new
// namespaces; every failure goes back to the runtime over the sync channel.
#include <fcntl.h>
#include <sched.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <csignal>
#include <algorithm>
#include <cstring>

#include "mxc/sandbox/console.hpp"
#include "mxc/sandbox/hooks.hpp"
#include "mxc/sandbox/namespaces.hpp"
#include "mxc/sandbox/process_setup.hpp"
#include "mxc/sandbox/rootfs.hpp"
#include "mxc/sandbox/spawn.hpp"
#include "mxc/sandbox/sync.hpp"
#include "mxc/seccomp/seccomp.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace mxc::sandbox {

namespace {

std::string env_lookup(const std::vector<std::string> &env, const std::string &key) {
    for (const auto &e : env)
        if (e.size() > key.size() && e.compare(0, key.size(), key) == 0 && e[key.size()] == '=')
            return e.substr(key.size() + 1);
    return {};
}

} // namespace

// The program to exec: args[0] searched in the process's own PATH (not ours),
// checked for execute permission now so that a typo fails `create`, not `start`.
std::string resolve_executable(const oci::Process &p) {
    const std::string &arg0 = p.args.at(0);
    if (arg0.find('/') != std::string::npos) {
        if (::access(arg0.c_str(), X_OK) < 0)
            throw_errno("exec {}", arg0);
        return arg0;
    }
    std::string path = env_lookup(p.env, "PATH");
    if (path.empty())
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    int last_err = ENOENT;
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t end = path.find(':', pos);
        if (end == std::string::npos)
            end = path.size();
        std::string dir = path.substr(pos, end - pos);
        pos = end + 1;
        std::string cand = (dir.empty() ? std::string(".") : dir) + "/" + arg0;
        struct stat st;
        if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            if (::access(cand.c_str(), X_OK) == 0)
                return cand;
            last_err = EACCES;
        }
    }
    throw Error(last_err, fmt::format("exec {}: not found in PATH {}", arg0, path));
}

[[noreturn]] void exec_process(const oci::Process &p, const std::string &file) {
    std::vector<char *> argv, envp;
    for (const auto &a : p.args)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto &e : p.env)
        envp.push_back(const_cast<char *>(e.c_str()));
    envp.push_back(nullptr);
    ::execve(file.c_str(), argv.data(), envp.data());
    throw_errno("exec {}", file);
}

// The runtime blocks the signals it forwards; the container starts clean.
void reset_signals() {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP)
            ::signal(sig, SIG_DFL);
}

// Whether uid 0 exists in the container's user namespace (the agent sandbox
// maps the caller to itself instead).
bool maps_root(const oci::Linux &lin) {
    if (lin.uid_mappings.empty())
        return true; // joined namespace, or root without mappings: try
    for (const auto &m : lin.uid_mappings)
        if (m.container_id == 0)
            return true;
    return false;
}

void bring_up_loopback() {
    UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!s)
        throw_errno("socket for lo");
    struct ifreq ifr = {};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (::ioctl(s.get(), SIOCGIFFLAGS, &ifr) < 0)
        throw_errno("get flags of lo");
    ifr.ifr_flags |= IFF_UP;
    if (::ioctl(s.get(), SIOCSIFFLAGS, &ifr) < 0)
        throw_errno("bring up lo");
}

// 127.0.0.1:port, and [::1]:port when the namespace has IPv6.
std::vector<int> listen_loopback(uint16_t port) {
    std::vector<int> out;
    {
        UniqueFd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (!s)
            throw_errno("proxy socket");
        int one = 1;
        ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(s.get(), reinterpret_cast<sockaddr *>(&a), sizeof a) < 0 || ::listen(s.get(), 128) < 0)
            throw_errno("proxy listen on 127.0.0.1:{}", port);
        out.push_back(s.release());
    }
    UniqueFd s6(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s6) {
        int one = 1;
        ::setsockopt(s6.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        struct sockaddr_in6 a = {};
        a.sin6_family = AF_INET6;
        a.sin6_port = htons(port);
        a.sin6_addr = in6addr_loopback;
        if (::bind(s6.get(), reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 && ::listen(s6.get(), 128) == 0)
            out.push_back(s6.release());
    }
    return out;
}

// After `ready` nobody reads the sync channel any more: an exec failure
// (e.g. ETXTBSY) goes to the process's stderr, which is the user's.
[[noreturn]] void exec_after_ready(const oci::Process &p, const std::string &file) {
    try {
        exec_process(p, file);
    } catch (const Error &e) {
        std::string line = fmt::format("mxc: {}\n", e.what());
        (void)!::write(STDERR_FILENO, line.data(), line.size());
    }
    ::_exit(127);
}

void become_root_in_userns() {
    if (::setresgid(0, 0, 0) < 0)
        throw_errno("setresgid 0 in the user namespace");
    if (::setresuid(0, 0, 0) < 0)
        throw_errno("setresuid 0 in the user namespace");
}

void write_sysctls(const std::map<std::string, std::string> &sysctl) {
    for (const auto &[key, value] : sysctl) {
        std::string path = "/proc/sys/" + key;
        for (size_t i = 10; i < path.size(); ++i)
            if (path[i] == '.')
                path[i] = '/';
        with_context(fmt::format("sysctl {}", key), [&] { write_file_at(AT_FDCWD, path, value); });
    }
}

void close_fds_except(std::vector<int> keep, int preserve_fds) {
    for (int fd = 0; fd < 3 + preserve_fds; ++fd)
        keep.push_back(fd);
    std::sort(keep.begin(), keep.end());
    unsigned lo = 0;
    for (int k : keep) {
        if (k < 0)
            continue;
        if (static_cast<unsigned>(k) > lo)
            ::syscall(SYS_close_range, lo, static_cast<unsigned>(k) - 1, 0);
        lo = static_cast<unsigned>(k) + 1;
    }
    ::syscall(SYS_close_range, lo, ~0U, 0);
}

// getcwd(2) reports a directory outside our root as unreachable (glibc:
// ENOENT); refuse to run there.
void check_cwd_inside(const std::string &cwd) {
    char buf[4096];
    if (!::getcwd(buf, sizeof buf) || buf[0] != '/')
        throw Error(ENOENT, fmt::format("process.cwd {}: resolves outside the container's root", cwd));
}

// Marks every fd above the preserved ones close-on-exec, so nothing of the
// runtime (the state dir, the bundle, host directories) leaks into the
// container: the CVE-2024-21626 class.
void seal_fds(int preserve_fds) {
    for (int fd = 3; fd < 3 + preserve_fds; ++fd) {
        int fl = ::fcntl(fd, F_GETFD);
        if (fl >= 0)
            ::fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
    }
    if (::syscall(SYS_close_range, 3 + preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        throw_errno("close_range");
}

void apply_process(const oci::Spec &spec, const oci::Process &p, bool setgroups_ok, int sync_fd, SyncChannel &ch,
                   const std::vector<LandlockRule> *landlock, const seccomp::Program *program) {
    (void)sync_fd;
    std::optional<seccomp::Filter> filter;
    const oci::Linux *lin = spec.linux_ ? &*spec.linux_ : nullptr;
    if (lin && lin->seccomp && !program)
        filter = seccomp::compile(*lin->seccomp);
    apply_process_attributes(p, lin);
    auto load_seccomp = [&] {
        if (!filter && !program)
            return;
        UniqueFd nfd = with_context("load seccomp filter",
                                    [&] { return program ? seccomp::load(*program) : filter->load(); });
        if (nfd)
            ch.send(Msg::seccomp_fd, 0, "", nfd.get());
    };
    // Without no_new_privs the filter needs CAP_SYS_ADMIN, so it goes in before
    // the capabilities are dropped; with it, as late as possible.
    if (!p.no_new_privileges)
        load_seccomp();
    apply_credentials(p, setgroups_ok);
    // Landlock before the filter, which may deny the landlock syscalls.
    if (landlock && !landlock->empty())
        apply_landlock(*landlock, false);
    if (p.no_new_privileges)
        load_seccomp();
}

namespace {
void note_signal(int) {}

// run_as_init's command, between clone and execve.
struct CommandExec {
    const char *file;
    char *const *argv;
    char *const *envp;
    int err; // set by the child when execve fails (the memory is shared)
};
alignas(64) char g_command_stack[64 * 1024];

int exec_command(void *arg) {
    auto *ce = static_cast<CommandExec *>(arg);
    // Only the mask: every disposition is still SIG_DFL here (child_main
    // reset them, and run_as_init installs its handlers after this clone),
    // and execve resets handlers anyway.  60 system calls fewer between the
    // init's clone and the command's execve.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(ce->file, ce->argv, ce->envp);
    ce->err = errno;
    ::_exit(127);
}
} // namespace

// PID 1 of a pid namespace only receives the signals it has a handler for,
// so a command run as PID 1 ignores SIGTERM/SIGINT and even `kill -9 $$`.
// With cfg.init we stay PID 1 (a minimal init, as `docker --init` does): the
// command runs as our child, every signal we get is passed on to it, orphans
// are reaped, and we exit with its status (128+N when signal N killed it).
// The command has exited: nothing else of the sandbox may outlive it.  Kill
// what is left and reap it, again after each reaped process (one forked
// meanwhile was not there for the last kill; it is our child once orphaned),
// until we have no child; then tell the runtime the command's status.
// Then (leave_fds) out of the sandbox's v1 cgroups, so that the runtime can
// remove them while the kernel takes the namespaces down in our exit.
[[noreturn]] void end_as_init(int code, int report_fd, const std::vector<int> &leave_fds) {
    if (report_fd >= 0) {
        for (;;) {
            ::kill(-1, SIGKILL);
            int st;
            if (::waitpid(-1, &st, __WALL) < 0 && errno == ECHILD)
                break;
        }
        cgroup::leave_self(leave_fds);
        int32_t c = code;
        (void)!::write(report_fd, &c, sizeof c);
    }
    ::_exit(code);
}

[[noreturn]] void run_as_init(const oci::Process &proc, const std::string &file, int report_fd,
                              const std::vector<int> &leave_fds, bool keep_dumpable) {
    if (report_fd >= 0)
        ::fcntl(report_fd, F_SETFD, FD_CLOEXEC);
    sigset_t all;
    sigfillset(&all);
    ::sigprocmask(SIG_BLOCK, &all, nullptr);
    // A vfork-style child (CLONE_VM | CLONE_VFORK, on a stack of its own)
    // rather than fork: it shares our memory until it execs, where a fork
    // would copy the page tables of this whole process first.  It only makes
    // system calls (reset_signals, execve) on what we prepared here.  Not
    // posix_spawn: glibc's leaves the command with its internal signals (32,
    // 33) ignored, which fork + reset_signals never did.
    std::vector<char *> argv, envp;
    for (const auto &a : proc.args)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    for (const auto &e : proc.env)
        envp.push_back(const_cast<char *>(e.c_str()));
    envp.push_back(nullptr);
    CommandExec ce{file.c_str(), argv.data(), envp.data(), 0};
    pid_t cmd = ::clone(exec_command, g_command_stack + sizeof g_command_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &ce);
    if (cmd < 0)
        throw_errno("start the command");
    // The command has exec'd (CLONE_VFORK): it has a memory of its own, and
    // ours need not be dumpable any longer (child_setup made it so for the
    // seccomp-notify audit to read that first execve's arguments).  A
    // dumpable init lets the command, same uid, reach our fds (ptrace,
    // /proc/1/fd): the exit report's pipe, and the runtime's own cgroups'
    // tasks files (leave_fds), through which it could leave its v1 cgroups.
    // A rootless runtime's `mxc exec` joins our namespaces through a pidfd,
    // which needs us dumpable (it has no CAP_SYS_PTRACE over us); it gets no
    // leave_fds (spawn_container), and the runtime checks a report (agent.cpp).
    if (!keep_dumpable)
        ::prctl(PR_SET_DUMPABLE, 0);
    if (ce.err != 0) { // it could not exec, and has exited 127
        std::string line = fmt::format("mxc: {}\n", Error(ce.err, fmt::format("exec {}", file)).what());
        (void)!::write(STDERR_FILENO, line.data(), line.size());
        ::_exit(127);
    }
    // A handler, not SIG_DFL: the kernel drops SIG_DFL signals to PID 1.
    struct sigaction sa = {};
    sa.sa_handler = note_signal;
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP)
            ::sigaction(sig, &sa, nullptr);
    for (;;) {
        siginfo_t si;
        int sig = ::sigwaitinfo(&all, &si);
        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            ::kill(cmd, sig);
            continue;
        }
        int st;
        pid_t p;
        while ((p = ::waitpid(-1, &st, WNOHANG)) > 0) {
            if (p != cmd)
                continue;
            end_as_init(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), report_fd, leave_fds);
        }
    }
}

void child_setup(const SpawnConfig &cfg, SyncChannel &ch, int fifo_fd, const std::vector<cgroup::TaskFile> &v1_tasks,
                 const std::vector<cgroup::TaskFile> &leave_tasks) {
    const oci::Spec &spec = *cfg.spec;
    const oci::Linux empty_linux;
    const oci::Linux &lin = spec.linux_ ? *spec.linux_ : empty_linux;
    const oci::Process &proc = *spec.process;

    // Nothing of the runtime's may be reachable from here on: an inherited
    // directory fd would let process.cwd = /proc/self/fd/N escape the root
    // (the CVE-2024-21626 class).  Keep stdio, the preserved fds, ours.
    log::detach();
    std::vector<int> keep{ch.fd(), fifo_fd, cfg.exit_report_fd};
    std::vector<int> leave_fds;
    for (const auto &t : v1_tasks)
        keep.push_back(t.fd.get());
    for (const auto &t : leave_tasks) {
        keep.push_back(t.fd.get());
        leave_fds.push_back(t.fd.get());
    }
    close_fds_except(keep, cfg.preserve_fds);
    ch.expect(Msg::go, "waiting for the runtime");
    // Into the v1 cgroups (v2: CLONE_INTO_CGROUP) before anything else, so
    // that the cgroup namespace made below is rooted there and nothing we
    // start runs outside them.  A task moving itself costs microseconds where
    // the runtime writing our pid to cgroup.procs waits for an RCU grace period.
    cgroup::join_self(v1_tasks);
    for (const auto &t : v1_tasks)
        ::close(t.fd.get());
    // Until exec we run the mxc binary inside the container: not dumpable, so
    // container processes cannot open /proc/<pid>/exe or our memory (the
    // CVE-2019-5736 class); execve makes the new program dumpable.  Only now:
    // a rootless runtime must still be able to write our uid_map before.
    ::prctl(PR_SET_DUMPABLE, 0);

    // Namespaces given by path: the user namespace first, so that the others
    // are joined with the capabilities it grants.
    const oci::Namespace *userns = lin.find_namespace("user");
    bool in_userns = userns != nullptr;
    if (userns && !userns->path.empty()) {
        UniqueFd fd(::open(userns->path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd || ::setns(fd.get(), CLONE_NEWUSER) < 0)
            throw_errno("join user namespace {}", userns->path);
    }
    for (const auto &ns : lin.namespaces) {
        if (ns.path.empty() || ns.type == "user" || ns.type == "pid")
            continue;
        UniqueFd fd(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd)
            throw_errno("open {} namespace {}", ns.type, ns.path);
        if (::setns(fd.get(), clone_flag(ns.type)) < 0)
            throw_errno("join {} namespace {}", ns.type, ns.path);
    }
    if (userns && !userns->path.empty()) {
        int rest = new_namespace_flags(lin) & ~(CLONE_NEWPID | CLONE_NEWCGROUP | CLONE_NEWTIME | CLONE_NEWUSER);
        if (rest && ::unshare(rest) < 0)
            throw_errno("unshare namespaces");
    }
    if (in_userns && maps_root(lin))
        become_root_in_userns();
    if (cfg.loopback_up && lin.find_namespace("network") && lin.find_namespace("network")->path.empty()) {
        bring_up_loopback();
        // The allow-list proxy's listening sockets are made here, inside the
        // sandbox's network namespace, and served by the runtime outside.
        if (cfg.proxy_port)
            for (int fd : listen_loopback(cfg.proxy_port)) {
                ch.send(Msg::listen_fd, 0, "", fd);
                ::close(fd);
            }
    }
    // After the runtime moved us into our cgroups, so that the new cgroup
    // namespace is rooted at the container's own cgroup.
    const oci::Namespace *cgns = lin.find_namespace("cgroup");
    if (cgns && cgns->path.empty() && ::unshare(CLONE_NEWCGROUP) < 0)
        throw_errno("unshare cgroup namespace");

    if (!spec.hostname.empty() && ::sethostname(spec.hostname.data(), spec.hostname.size()) < 0)
        throw_errno("sethostname {}", spec.hostname);
    if (!spec.domainname.empty() && ::setdomainname(spec.domainname.data(), spec.domainname.size()) < 0)
        throw_errno("setdomainname {}", spec.domainname);
    write_sysctls(lin.sysctl);

    if (!cfg.no_new_keyring) {
        // A fresh session keyring so the container cannot read the host's keys.
        std::string name = "_ses." + cfg.container_id;
        if (::syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name.c_str()) < 0 && errno != ENOSYS &&
            errno != EACCES && errno != EPERM)
            throw_errno("join session keyring");
    }

    RootfsOptions ro;
    ro.rootfs = cfg.rootfs;
    ro.no_pivot = cfg.no_pivot;
    ro.rootless = cfg.rootless;
    ro.new_user_ns = in_userns;
    ro.new_cgroup_ns = cgns != nullptr;
    ro.rootfs_source = cfg.rootfs_source;
    ro.recursive_readonly = cfg.recursive_readonly;
    prepare_rootfs(spec, ro);

    bool setgroups_ok = setgroups_allowed_in_self();
    // The runtime runs prestart + createRuntime now and sends the state that
    // our own hooks get.  Without hooks there is nothing to wait for.
    const oci::Hooks *hooks = spec.hooks ? &*spec.hooks : nullptr;
    std::string state;
    if (hooks && (!hooks->prestart.empty() || !hooks->create_runtime.empty() || !hooks->create_container.empty() ||
                  !hooks->start_container.empty())) {
        ch.send(Msg::run_runtime_hooks);
        state = ch.expect(Msg::hooks_done, "waiting for createRuntime hooks").text;
        run_hooks(hooks->create_container, "createContainer", nlohmann::json::parse(state));
    }

    finish_rootfs(spec, ro);

    if (proc.terminal) {
        UniqueFd master = setup_console(proc.console_size);
        ch.send(Msg::pty_master, 0, "", master.get());
    }
    // runc creates a missing cwd; after pivot_root the path cannot leave the root.
    if (struct stat cst; ::stat(proc.cwd.c_str(), &cst) < 0 && errno == ENOENT)
        with_context(".process.cwd", [&] { mkdir_p(proc.cwd, 0755); });
    if (::chdir(proc.cwd.c_str()) < 0)
        throw_errno("chdir to process.cwd {}", proc.cwd);
    check_cwd_inside(proc.cwd);

    pid_t parent = ::getppid();
    // Restricted last (below), so that the exec fifo outside the policy can
    // still be opened; built now, before the filter that may hold its opens.
    UniqueFd landlock = cfg.landlock.empty() ? UniqueFd() : build_landlock(cfg.landlock, false);
    // The runtime compiled linux.seccomp while we set ourselves up.
    std::optional<seccomp::Program> program;
    if (lin.seccomp) {
        ch.send(Msg::want_seccomp);
        Message m = ch.expect(Msg::seccomp_program, "waiting for the seccomp filter");
        if (!m.fd)
            throw Error(EPROTO, "seccomp filter: no program from the runtime");
        program = seccomp::Program::from_memfd(m.fd.get(), static_cast<unsigned>(m.value), m.text == "nnp");
    }
    apply_process(spec, proc, setgroups_ok, ch.fd(), ch, nullptr, program ? &*program : nullptr);
    std::string file = resolve_executable(proc);
    seal_fds(cfg.preserve_fds);

    // `create` exits once we are ready; from here we outlive it, unless we
    // belong to a foreground `mxc run` (credential changes reset the signal,
    // so it is set again here, and a parent already gone means we go too).
    if (cfg.die_with_parent) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(137);
    } else {
        ::prctl(PR_SET_PDEATHSIG, 0);
    }
    ch.send(Msg::ready);
    if (fifo_fd >= 0) {
        // Blocks until `start` opens the fifo for reading.
        std::string p = fmt::format("/proc/self/fd/{}", fifo_fd);
        UniqueFd w(::open(p.c_str(), O_WRONLY | O_CLOEXEC));
        if (!w)
            throw_errno("open exec fifo");
        write_all(w.get(), "0");
    }
    ::close(fifo_fd);
    if (hooks && !hooks->start_container.empty()) {
        auto st = nlohmann::json::parse(state);
        st["status"] = "running";
        run_hooks(spec.hooks->start_container, "startContainer", st);
    }
    if (landlock)
        restrict_landlock(landlock);
    landlock.reset();
    // Every fd of ours is close-on-exec and the pid namespace holds only us.
    if (cfg.dumpable_before_exec)
        ::prctl(PR_SET_DUMPABLE, 1);
    if (cfg.init)
        run_as_init(proc, file, cfg.exit_report_fd, leave_fds, cfg.rootless);
    exec_after_ready(proc, file);
}

void child_main(const SpawnConfig &cfg, int sync_fd, int fifo_fd, const std::vector<cgroup::TaskFile> &v1_tasks,
                const std::vector<cgroup::TaskFile> &leave_tasks) {
    SyncChannel ch{UniqueFd(sync_fd)};
    bool reported_ready = false;
    try {
        // Die with the runtime until we are handed over (create exits on success
        // after `ready`, which clears this below).
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        reset_signals();
        child_setup(cfg, ch, fifo_fd, v1_tasks, leave_tasks);
    } catch (const Error &e) {
        try {
            ch.send(Msg::error, e.code(), e.what());
        } catch (...) {
            reported_ready = true;
        }
        if (reported_ready) {
            std::string line = fmt::format("mxc: {}\n", e.what());
            (void)!::write(STDERR_FILENO, line.data(), line.size());
        }
    } catch (const std::exception &e) {
        try {
            ch.send(Msg::error, 0, e.what());
        } catch (...) {
        }
    }
    ::_exit(127);
}

} // namespace mxc::sandbox
