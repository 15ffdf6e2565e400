// clone3 of the container process, and the runtime's side of the setup
// conversation.
#include "mxc/sandbox/spawn.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <exception>
#include <thread>

#include "mxc/sandbox/console.hpp"
#include "mxc/sandbox/namespaces.hpp"
#include "mxc/sandbox/sync.hpp"
#include "mxc/seccomp/seccomp.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"
#include "mxc/util/proc.hpp"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

namespace mxc::sandbox {

namespace {

pid_t do_clone3(uint64_t flags, int cgroup_fd, int *pidfd) {
    struct clone_args args = {};
    args.flags = flags | CLONE_PIDFD;
    args.pidfd = reinterpret_cast<uint64_t>(pidfd);
    args.exit_signal = SIGCHLD;
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = static_cast<uint64_t>(cgroup_fd);
    }
    long r = ::syscall(SYS_clone3, &args, sizeof args);
    return static_cast<pid_t>(r);
}

// Kills and reaps a child unless released: no process survives a failed create.
class ChildOwner {
public:
    ChildOwner(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
    ~ChildOwner() {
        if (pid_ <= 0)
            return;
        pidfd_send_signal(pidfd_, SIGKILL);
        int st;
        while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
        }
    }
    void release() { pid_ = -1; }

private:
    pid_t pid_;
    int pidfd_;
};

// Temporarily switches one of our *_for_children namespaces.
class ChildrenNs {
public:
    ChildrenNs(const char *self_ns, int type) : type_(type) {
        saved_.reset(::open(fmt::format("/proc/self/ns/{}", self_ns).c_str(), O_RDONLY | O_CLOEXEC));
    }
    ~ChildrenNs() {
        if (saved_)
            ::setns(saved_.get(), type_);
    }

private:
    int type_;
    UniqueFd saved_;
};

void set_time_offsets(const oci::Linux &lin) {
    std::string text;
    for (const auto &[clock, off] : lin.time_offsets)
        text += fmt::format("{} {} {}\n", clock, off.secs, off.nanosecs);
    if (!text.empty())
        with_context("write timens_offsets", [&] { write_file("/proc/self/timens_offsets", text, O_TRUNC); });
}

} // namespace

oci::Resources effective_resources(const oci::Linux &lin) {
    oci::Resources r = lin.resources.value_or(oci::Resources{});
    if (r.devices.empty())
        return r;
    // As runc does: after the spec's rules, allow mknod of anything (the device
    // list decides what exists), the devices every container needs, and the
    // ones linux.devices creates.
    auto allow = [&](const char *type, std::optional<int64_t> major, std::optional<int64_t> minor, const char *acc) {
        oci::DeviceRule d;
        d.allow = true;
        d.type = type;
        d.major = major;
        d.minor = minor;
        d.access = acc;
        r.devices.push_back(d);
    };
    allow("c", std::nullopt, std::nullopt, "m");
    allow("b", std::nullopt, std::nullopt, "m");
    for (auto [maj, min] : {std::pair{1, 3}, {1, 5}, {1, 7}, {1, 8}, {1, 9}, {5, 0}, {5, 1}, {5, 2}})
        allow("c", maj, min, "rwm");
    allow("c", 136, std::nullopt, "rwm"); // /dev/pts/*
    for (const auto &d : lin.devices)
        if (d.type != "p")
            allow(d.type == "u" ? "c" : d.type.c_str(), d.major, d.minor, "rwm");
    return r;
}

Spawned spawn_container(const SpawnConfig &cfg) {
    const oci::Spec &spec = *cfg.spec;
    const oci::Linux empty_linux;
    const oci::Linux &lin = spec.linux_ ? *spec.linux_ : empty_linux;
    const oci::Namespace *userns = lin.find_namespace("user");
    const oci::Namespace *pidns = lin.find_namespace("pid");
    const oci::Namespace *timens = lin.find_namespace("time");

    uint64_t flags = static_cast<uint64_t>(new_namespace_flags(lin));
    // cgroup: unshared by the child once it is in its cgroup; time: entered
    // through our time_for_children so offsets are set before anyone is in it.
    flags &= ~static_cast<uint64_t>(CLONE_NEWCGROUP | CLONE_NEWTIME);
    if (userns && !userns->path.empty())
        flags &= static_cast<uint64_t>(CLONE_NEWPID);

    UniqueFd fifo;
    if (!cfg.fifo_path.empty()) {
        fifo.reset(::open(cfg.fifo_path.c_str(), O_PATH | O_CLOEXEC));
        if (!fifo)
            throw_errno("open exec fifo {}", cfg.fifo_path);
    }
    // v2 by CLONE_INTO_CGROUP, v1 by the child moving itself (join_self).
    // An init that reports the command's end moves itself back out of the v1
    // ones then (leave_self): their directories can go while it still exits.
    UniqueFd cg_fd;
    std::vector<cgroup::TaskFile> v1_tasks, leave_tasks;
    if (cfg.cgroup && !cfg.attach_pid) {
        cg_fd = cfg.cgroup->open_v2_dir();
        v1_tasks = cfg.cgroup->open_v1_tasks();
        // Not rootless: its init stays dumpable (see run_as_init), and these
        // fds would be within the command's reach.
        if (cfg.init && cfg.exit_report_fd >= 0 && !cfg.rootless)
            leave_tasks = cfg.cgroup->open_own_v1_tasks();
    }

    auto [parent_ch, child_ch] = SyncChannel::make_pair();

    std::optional<ChildrenNs> restore_pid, restore_time;
    if (pidns && !pidns->path.empty()) {
        restore_pid.emplace("pid", CLONE_NEWPID);
        UniqueFd fd(::open(pidns->path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd || ::setns(fd.get(), CLONE_NEWPID) < 0)
            throw_errno("join pid namespace {}", pidns->path);
    }
    if (timens) {
        restore_time.emplace("time", CLONE_NEWTIME);
        if (timens->path.empty()) {
            if (::unshare(CLONE_NEWTIME) < 0)
                throw_errno("unshare time namespace");
            set_time_offsets(lin);
        } else {
            UniqueFd fd(::open(timens->path.c_str(), O_RDONLY | O_CLOEXEC));
            if (!fd || ::setns(fd.get(), CLONE_NEWTIME) < 0)
                throw_errno("join time namespace {}", timens->path);
        }
    }

    int pidfd = -1;
    pid_t pid = do_clone3(flags, cg_fd ? cg_fd.get() : -1, &pidfd);
    if (pid < 0)
        throw_errno("clone3 container process");
    if (pid == 0) {
        parent_ch.close();
        child_main(cfg, child_ch.fd(), fifo ? fifo.get() : -1, v1_tasks, leave_tasks);
    }
    restore_pid.reset();
    restore_time.reset();
    child_ch.close();
    v1_tasks.clear();
    leave_tasks.clear();
    Spawned out;
    out.pid = pid;
    out.pidfd.reset(pidfd);
    ChildOwner owner(pid, pidfd);

    auto join_cgroup = [&] {
        if (!cfg.cgroup)
            return;
        // Without a v2 hierarchy there is no CLONE_INTO_CGROUP, and nothing
        // to write here: the child joins its v1 cgroups itself.
        if (cfg.attach_pid)
            with_context("join cgroup", [&] { cfg.attach_pid(pid); });
        if (cfg.apply_limits && lin.resources)
            with_context("apply resources", [&] { cfg.cgroup->apply(effective_resources(lin)); });
    };
    // mxcd's attach and the limits: while the child sets itself up.  It
    // cannot fork or exec before it reports `ready`, which we read only after
    // this — unless hooks run inside it (createContainer), whose processes must
    // start in the cgroup with its limits.
    bool join_early = spec.hooks && !spec.hooks->create_container.empty();
    if (join_early)
        join_cgroup();
    if (userns && userns->path.empty())
        with_context("user namespace", [&] { write_id_maps(pid, lin.uid_mappings, lin.gid_mappings); });
    parent_ch.send(Msg::go);
    // The filter, compiled here while the child makes its mounts; it asks
    // for it (want_seccomp) when it gets to load it.
    std::optional<seccomp::Program> program;
    if (lin.seccomp)
        program = with_context("seccomp", [&] { return seccomp::compile(*lin.seccomp).program(); });
    if (!join_early)
        join_cgroup();
    // The runtime's own set-up (its identity, audit stream and state:
    // ≈ 1.4 ms for an agent run) on a thread of its own, so that this one
    // answers the child at once: it asks for its filter halfway through, and
    // waited for all of that (≈ 0.5 ms).  Inline when the spec has hooks,
    // whose state JSON reads what that work fills in.  The child was cloned
    // already: the thread is not there for any fork of ours.
    const auto *h = spec.hooks ? &*spec.hooks : nullptr;
    bool hooks = h && (!h->prestart.empty() || !h->create_runtime.empty() || !h->create_container.empty() ||
                       !h->start_container.empty());
    std::thread setting_up;
    std::exception_ptr setup_failed;
    ScopeExit join_setup([&] {
        if (setting_up.joinable())
            setting_up.join();
    });
    if (cfg.while_setting_up && hooks) {
        cfg.while_setting_up(pid);
    } else if (cfg.while_setting_up) {
        setting_up = std::thread([&] {
            try {
                cfg.while_setting_up(pid);
            } catch (...) {
                setup_failed = std::current_exception();
            }
        });
    }

    for (;;) {
        Message m = parent_ch.recv();
        switch (m.type) {
        case Msg::run_runtime_hooks:
            if (cfg.on_runtime_hooks)
                cfg.on_runtime_hooks(pid);
            parent_ch.send(Msg::hooks_done, 0, cfg.state_json ? cfg.state_json(pid) : "{}");
            break;
        case Msg::pty_master:
            out.pty_master = std::move(m.fd);
            break;
        case Msg::seccomp_fd:
            out.seccomp_fd = std::move(m.fd);
            break;
        case Msg::listen_fd:
            out.listen_fds.push_back(std::move(m.fd));
            break;
        case Msg::want_seccomp: {
            if (!program)
                throw Error(EPROTO, "the container asked for a seccomp filter the spec does not have");
            UniqueFd mfd = program->to_memfd();
            parent_ch.send(Msg::seccomp_program, static_cast<int32_t>(program->flags),
                           program->no_new_privs ? "nnp" : "", mfd.get());
            break;
        }
        case Msg::ready:
            if (setting_up.joinable())
                setting_up.join();
            if (setup_failed)
                std::rethrow_exception(setup_failed);
            owner.release();
            return out;
        case Msg::error:
            throw Error::rendered(m.value, m.text);
        default:
            throw Error(EPROTO, fmt::format("unexpected message {} from the container", static_cast<uint32_t>(m.type)));
        }
    }
}

} // namespace mxc::sandbox

namespace mxc::sandbox {

// Declared in child.cpp.
std::string resolve_executable(const oci::Process &p);
[[noreturn]] void exec_process(const oci::Process &p, const std::string &file);
void become_root_in_userns();
void reset_signals();
void seal_fds(int preserve_fds);
[[noreturn]] void exec_after_ready(const oci::Process &p, const std::string &file);
void apply_process(const oci::Spec &spec, const oci::Process &p, bool setgroups_ok, int sync_fd, SyncChannel &ch,
                   const std::vector<LandlockRule> *landlock, const seccomp::Program *program = nullptr);
bool maps_root(const oci::Linux &lin);
void close_fds_except(std::vector<int> keep, int preserve_fds);
void check_cwd_inside(const std::string &cwd);

namespace {

// Runs in the exec'd process, inside every namespace of the container.
void exec_setup(const ExecConfig &cfg, SyncChannel &ch, bool in_userns) {
    const oci::Linux empty_linux;
    const oci::Linux &lin = cfg.spec->linux_ ? *cfg.spec->linux_ : empty_linux;
    if (in_userns && maps_root(lin))
        become_root_in_userns();
    if (::chdir("/") < 0)
        throw_errno("chdir /");
    if (cfg.process.terminal) {
        UniqueFd master = setup_console(cfg.process.console_size);
        ch.send(Msg::pty_master, 0, "", master.get());
    }
    if (::chdir(cfg.process.cwd.c_str()) < 0)
        throw_errno("chdir to cwd {}", cfg.process.cwd);
    check_cwd_inside(cfg.process.cwd);
    // An exec'd process is held to the same Landlock rules as the sandbox,
    // applied by apply_process before a no_new_privs filter, which may deny
    // or (NOTIFY) hold the syscalls that Landlock needs.
    apply_process(*cfg.spec, cfg.process, !in_userns || setgroups_allowed_in_self(), ch.fd(), ch, &cfg.landlock);
    std::string file = resolve_executable(cfg.process);
    seal_fds(cfg.preserve_fds);
    ch.send(Msg::ready);
    // Nothing more to say to the runtime (a failed execve goes to stderr),
    // and nothing to say for whoever might attach once we are dumpable.
    ch.close();
    if (cfg.dumpable_before_exec)
        ::prctl(PR_SET_DUMPABLE, 1);
    exec_after_ready(cfg.process, file);
}

// A failure inside the exec'd process or the waiter, to the runtime over the
// sync channel; when the runtime no longer listens (it returned after
// `ready`, or died), to our stderr, which is the exec'd command's: never an
// exit status without a word.
void report_exec_failure(SyncChannel &ch, int code, const std::string &what) {
    try {
        ch.send(Msg::error, code, what);
        return;
    } catch (...) {
    }
    std::string line = fmt::format("mxc: exec: {}\n", what);
    (void)!::write(STDERR_FILENO, line.data(), line.size());
}

[[noreturn]] void mirror_exit(pid_t pid) {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        ::signal(sig, SIG_DFL);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, sig);
        ::sigprocmask(SIG_UNBLOCK, &s, nullptr);
        ::kill(::getpid(), sig);
        ::_exit(128 + sig);
    }
    ::_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 255);
}

} // namespace

ExecSpawned spawn_exec(const ExecConfig &cfg) {
    const oci::Linux empty_linux;
    const oci::Linux &lin = cfg.spec->linux_ ? *cfg.spec->linux_ : empty_linux;
    UniqueFd target = pidfd_open(cfg.target_pid);
    UniqueFd cg_fd;
    std::vector<cgroup::TaskFile> v1_tasks;
    if (cfg.cgroup && !cfg.attach_pid) {
        cg_fd = cfg.cgroup->open_v2_dir();
        v1_tasks = cfg.cgroup->open_v1_tasks();
    }
    int ns_flags = 0;
    for (const auto &n : lin.namespaces)
        ns_flags |= clone_flag(n.type);
    bool in_userns = ns_flags & CLONE_NEWUSER;

    auto [parent_ch, child_ch] = SyncChannel::make_pair();
    int pidfd = -1;
    pid_t waiter = do_clone3(0, cg_fd ? cg_fd.get() : -1, &pidfd);
    if (waiter < 0)
        throw_errno("clone3 exec process");
    if (waiter == 0) {
        parent_ch.close();
        // Non-dumpable before joining: see child_main (CVE-2019-5736 class).
        ::prctl(PR_SET_DUMPABLE, 0);
        log::detach();
        std::vector<int> keep{child_ch.fd(), target.get()};
        for (const auto &t : v1_tasks)
            keep.push_back(t.fd.get());
        close_fds_except(keep, cfg.preserve_fds);
        try {
            child_ch.expect(Msg::go, "waiting for the runtime");
            // v1 cgroups: see child_setup; v2: CLONE_INTO_CGROUP.
            cgroup::join_self(v1_tasks);
            for (const auto &t : v1_tasks)
                ::close(t.fd.get());
            // One setns(pidfd) joins them all atomically (Linux 5.8); the pid
            // namespace applies to our children, hence the fork below.
            if (ns_flags && ::setns(target.get(), ns_flags) < 0)
                throw_errno("join the container's namespaces");
            pid_t p = ::fork();
            if (p < 0)
                throw_errno("fork");
            if (p == 0) {
                reset_signals();
                try {
                    exec_setup(cfg, child_ch, in_userns);
                } catch (const Error &e) {
                    report_exec_failure(child_ch, e.code(), e.what());
                } catch (const std::exception &e) {
                    report_exec_failure(child_ch, 0, e.what());
                }
                ::_exit(127);
            }
            // The exec'd process runs from here on: whatever becomes of this
            // message, we stay and mirror its exit status.  (The runtime reads
            // until it has both `pid` and `ready`, which the two of us send
            // in either order.)
            try {
                child_ch.send(Msg::pid, p);
            } catch (const Error &e) {
                report_exec_failure(child_ch, e.code(), fmt::format("report the pid of the exec'd process: {}", e.what()));
            }
            child_ch.close();
            mirror_exit(p);
        } catch (const Error &e) {
            report_exec_failure(child_ch, e.code(), e.what());
            ::_exit(127);
        } catch (const std::exception &e) {
            report_exec_failure(child_ch, 0, e.what());
            ::_exit(127);
        }
    }
    child_ch.close();
    v1_tasks.clear();
    ChildOwner owner(waiter, pidfd);
    UniqueFd pidfd_owner(pidfd);
    if (cfg.cgroup && cfg.attach_pid)
        with_context("join cgroup", [&] { cfg.attach_pid(waiter); });
    parent_ch.send(Msg::go);
    ExecSpawned out;
    out.waiter = waiter;
    // `pid` comes from the waiter, `ready` from the exec'd process: two
    // writers, no order between them.  Returning at `ready` closed our end
    // while the waiter might still be about to send `pid`; its send failed and
    // it exited 127 without a word, leaving the command running unwatched.
    bool ready = false;
    while (!ready || out.pid <= 0) {
        Message m;
        try {
            m = parent_ch.recv();
        } catch (Error &e) {
            e.add_context(ready ? "waiting for the pid of the exec'd process" : "waiting for the exec'd process");
            throw;
        }
        switch (m.type) {
        case Msg::pid:
            out.pid = m.value;
            break;
        case Msg::pty_master:
            out.pty_master = std::move(m.fd);
            break;
        case Msg::seccomp_fd:
            if (!cfg.on_seccomp_fd)
                throw Error(EOPNOTSUPP, "the container's seccomp filter has SCMP_ACT_NOTIFY rules, and nothing "
                                        "here supervises them for an exec'd process");
            cfg.on_seccomp_fd(std::move(m.fd));
            break;
        case Msg::ready:
            ready = true;
            break;
        case Msg::error:
            throw Error::rendered(m.value, m.text);
        default:
            throw Error(EPROTO, "unexpected message from the exec process");
        }
    }
    owner.release();
    return out;
}

} // namespace mxc::sandbox
