// create / start / run / kill / delete / pause / resume / update / ps / list.
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <thread>

#include "mxc/util/user.hpp"
#include "mxc/cgroup/cgroup.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/ipc/ipc.hpp"
#include "mxc/runtime/runtime.hpp"
#include "mxc/runtime/wait.hpp"
#include "internal.hpp"
#include "mxc/sandbox/console.hpp"
#include "mxc/sandbox/hooks.hpp"
#include "mxc/sandbox/spawn.hpp"
#include "mxc/seccomp/seccomp.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"
#include "mxc/util/proc.hpp"
#include "mxc/util/self_exec.hpp"

namespace mxc::runtime {

namespace {


std::string user_name(uid_t uid) {
    auto u = user_entry(uid);
    return u ? u->name : std::to_string(uid);
}


std::string absolute(const std::string &p) {
    char *r = ::realpath(p.c_str(), nullptr);
    if (!r)
        throw_errno("{}", p);
    std::string out(r);
    ::free(r);
    return out;
}

// AppArmor and SELinux labels cannot be applied without the LSM: refuse
// instead of running the container unconfined.
void check_lsm_labels(const oci::Spec &spec) {
    if (spec.process && !spec.process->apparmor_profile.empty() && !path_exists("/sys/kernel/security/apparmor"))
        throw_error("config.json: .process.apparmorProfile: not supported: AppArmor is not enabled on this host");
    bool selinux = path_exists("/sys/fs/selinux/enforce");
    if (spec.process && !spec.process->selinux_label.empty() && !selinux)
        throw_error("config.json: .process.selinuxLabel: not supported: SELinux is not enabled on this host");
    if (spec.linux_ && !spec.linux_->mount_label.empty() && !selinux)
        throw_error("config.json: .linux.mountLabel: not supported: SELinux is not enabled on this host");
    if (spec.process && (!spec.process->apparmor_profile.empty() || !spec.process->selinux_label.empty()))
        throw_error("config.json: .process: not supported: applying LSM labels is not implemented");
}

std::optional<cgroup::Manager> open_cgroup(const State &s) {
    if (s.cgroup_path.empty())
        return std::nullopt;
    return cgroup::Manager(cgroup::detect_once(), s.cgroup_path);
}

const oci::Hooks *hooks_of(const oci::Spec &spec) { return spec.hooks ? &*spec.hooks : nullptr; }

// The hooks of a stored container; the config (the whole spec) is parsed
// only when it has any (~0.3 ms otherwise spent at every start and delete).
std::optional<oci::Hooks> stored_hooks(const State &st) {
    if (!st.config.is_object() || !st.config.contains("hooks"))
        return std::nullopt;
    return oci::parse_spec_json(st.config).hooks;
}

bool wait_gone(const State &s, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    Store dummy("");
    while (std::chrono::steady_clock::now() < deadline) {
        auto st = process_start_time(s.pid);
        char c = process_state(s.pid);
        if (!st || *st != s.pid_start || c == 'Z' || c == 0)
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

} // namespace

nlohmann::json audit_unregister(const std::string &id, const nlohmann::json &audit) {
    if (audit.is_null() || audit.value("backend", "") != "bpf")
        return nullptr;
    try {
        auto client = ipc::Client::connect(audit.value("socket", ipc::default_socket()));
        if (!client)
            throw_error("mxcd is not running");
        return client->call({{"op", "unregister"}, {"sandbox", id}});
    } catch (const Error &e) {
        log::warn("audit: unregister \"{}\": {}", id, e.what());
        return nullptr;
    }
}

namespace {

// Fail closed: a sandbox bound to an identity is watched by mxcd before its
// process may exec, or it is not created at all.
nlohmann::json audit_register(const std::string &id, const std::string &identity, const cgroup::Manager *cg,
                              const std::map<std::string, std::string> &annotations) {
    return with_context(fmt::format("audit (identity \"{}\")", identity), [&] {
        std::string socket = ipc::default_socket();
        if (!cg || cg->v2_dir().empty())
            throw_error("the sandbox has no cgroup v2 directory for the probes to watch");
        auto client = ipc::Client::connect(socket);
        if (!client)
            throw Error(ECONNREFUSED, fmt::format("mxcd is not running (nothing answers on {}); start it with "
                                                  "`mxcd --daemon` or `systemctl start mxcd`",
                                                  socket));
        nlohmann::json req = {{"op", "register"}, {"sandbox", id}, {"identity", identity}, {"cgroup", cg->v2_dir()}};
        if (!annotations.empty())
            req["annotations"] = annotations;
        auto resp = client->call(req);
        return nlohmann::json{{"backend", "bpf"}, {"identity", identity}, {"socket", socket},
                              {"hooks", resp.value("hooks", nlohmann::json::array())},
                              {"stream", resp.value("stream", "")}};
    });
}

// The NOTIFY rules of the audit supervisor have no listenerPath: validate the
// spec as it would be without them.
void validate_without_notify(const oci::Spec &spec) {
    oci::Spec copy = spec;
    auto &rules = copy.linux_->seccomp->syscalls;
    rules.erase(std::remove_if(rules.begin(), rules.end(), [](const auto &r) { return r.action == "SCMP_ACT_NOTIFY"; }),
                rules.end());
    oci::validate(copy);
}

} // namespace

std::optional<std::string> mxcd_delegated_cgroup() {
    try {
        auto client = ipc::Client::connect();
        if (!client)
            return std::nullopt;
        return client->call({{"op", "delegate"}}).value("cgroup", "");
    } catch (const Error &e) {
        log::warn("cgroups: mxcd did not delegate a cgroup: {}", e.what());
        return std::nullopt;
    }
}

void mxcd_attach(const std::string &cgroup_path, pid_t pid) {
    auto client = ipc::Client::connect();
    if (!client)
        throw_error("mxcd is not running: cannot move pid {} into the delegated cgroup {}", pid, cgroup_path);
    client->call({{"op", "attach"}, {"cgroup", cgroup_path}, {"pid", pid}});
}

// Everything created for a container, undone in reverse on failure.
struct Creation {
    const Store &store;
    std::string id;
    bool dir_made = false;
    std::optional<cgroup::Manager> cg;
    bool cg_made = false;
    nlohmann::json audit;   // set once registered with mxcd
    bool done = false;

    ~Creation() {
        if (done)
            return;
        if (!audit.is_null())
            audit_unregister(id, audit);
        if (cg_made) {
            try {
                cg->kill_all(SIGKILL);
                cg->destroy();
            } catch (const Error &e) {
                log::warn("cleanup: {}", e.what());
            }
        }
        if (dir_made) {
            try {
                store.remove(id);
            } catch (const Error &e) {
                log::warn("cleanup: {}", e.what());
            }
        }
    }
};

Created create_impl(const Global &g, const CreateOptions &o, bool use_fifo) {
    check_id(o.id);
    Store store(g.root);
    mkdir_p(g.root, 0711);
    std::string bundle = with_context("bundle", [&] { return absolute(o.bundle); });
    oci::Spec spec = o.spec ? *o.spec : oci::load_spec(bundle + "/config.json");
    if (o.audit_notify && spec.linux_ && spec.linux_->seccomp)
        validate_without_notify(spec);
    else
        oci::validate(spec);
    std::string audit_identity = o.audit_identity;
    // A bundle's annotation; an agent sandbox (spec built in memory) has
    // chosen its audit backend already.
    if (auto it = spec.annotations.find(kIdentityAnnotation); !o.spec && it != spec.annotations.end())
        audit_identity = it->second;
    else if (!o.spec && audit_identity.empty())
        audit_identity = g.audit_identity;
    if (!audit_identity.empty() && !identity::valid_name(audit_identity))
        throw_error("config.json: .annotations[\"{}\"] (or --audit-identity): \"{}\" is not an identity name "
                    "([a-z0-9][a-z0-9_.-]{{0,62}})",
                    kIdentityAnnotation, audit_identity);
    if (!spec.process)
        throw_error("config.json: .process: required by create");
    if (!spec.root)
        throw_error("config.json: .root: required");
    check_lsm_labels(spec);
    // Our code runs inside the container until exec.  With a pid namespace of
    // its own nothing else is in there yet (and we are non-dumpable); without
    // one, or with a shared one, run from a copy the container cannot write.
    if (const oci::Namespace *pidns = spec.linux_ ? spec.linux_->find_namespace("pid") : nullptr;
        !pidns || !pidns->path.empty())
        if (std::string why = self_exec::reexec_sealed(); !why.empty())
            throw_error("cannot run from a copy of mxc the container cannot write ({}); refusing to "
                        "create a container without its own pid namespace", why);
    if (g.systemd_cgroup)
        throw_error("--systemd-cgroup: not supported: mxc manages cgroupfs directly{}",
                    path_exists("/run/systemd/system") ? "" : " (and systemd is not running on this host)");
    if (spec.process->terminal && o.console_socket.empty() && (o.detach || !o.foreground))
        throw_error("config.json: .process.terminal is true but no --console-socket was given");

    Creation cr{store, o.id};
    if (::mkdir(store.dir(o.id).c_str(), 0711) < 0) {
        if (errno == EEXIST)
            throw Error(EEXIST, fmt::format("container \"{}\" already exists", o.id));
        throw_errno("mkdir {}", store.dir(o.id));
    }
    cr.dir_made = true;

    std::string rootfs = spec.root->path;
    if (!o.rootfs_source.empty()) {
        // The agent sandbox: the host tree is bound onto the container's
        // state directory, in the child's own mount namespace only (the host
        // still sees state.json and exec.fifo there; the child reaches the
        // fifo through the fd opened before clone).  A directory of its own
        // cost a mkdir and, at delete, an rmdir that waits for ext4 to
        // discard its block (/run here: ext4, discard, no journal: up to 3 ms).
        rootfs = store.dir(o.id);
    }
    if (rootfs.empty() || rootfs[0] != '/')
        rootfs = bundle + "/" + rootfs;
    rootfs = with_context("config.json: .root.path", [&] { return absolute(rootfs); });
    // 0622 like runc: the container process may run as any uid and reopens the
    // fifo for writing through /proc/self/fd; the 0711 state dir keeps others out.
    if (use_fifo && (::mkfifo(store.fifo(o.id).c_str(), 0622) < 0 || ::chmod(store.fifo(o.id).c_str(), 0622) < 0))
        throw_errno("mkfifo {}", store.fifo(o.id));

    State st;
    st.id = o.id;
    st.bundle = bundle;
    st.rootfs = rootfs;
    st.created = log::now_rfc3339();
    st.owner_uid = ::geteuid();
    st.annotations = spec.annotations;
    st.rootless = g.rootless;
    st.landlock = o.landlock;

    const auto &layout = cgroup::detect_once();
    std::string cg_path = spec.linux_ && !spec.linux_->cgroups_path.empty() ? spec.linux_->cgroups_path
                                                                           : default_cgroup_path(o.id);
    bool limits = spec.linux_ && spec.linux_->resources && !spec.linux_->resources->empty();
    std::optional<std::string> delegated;
    if (layout.mode != cgroup::Mode::none && g.rootless && !cgroup::can_manage(layout))
        delegated = mxcd_delegated_cgroup();
    if (layout.mode != cgroup::Mode::none && (!g.rootless || delegated || cgroup::can_manage(layout))) {
        if (delegated)
            cg_path = *delegated + "/" + o.id;
        cr.cg.emplace(layout, cg_path);
        with_context(fmt::format("cgroup {}", cg_path), [&] { cr.cg->create(); });
        cr.cg_made = true;
        st.cgroup_path = cg_path;
        st.cgroup_via_mxcd = delegated.has_value();
    } else if (limits) {
        log::warn("rootless without a delegated cgroup: running without resource limits");
    }

    auto state_for_hooks = [&](pid_t pid, const char *status) {
        State tmp = st;
        tmp.pid = pid;
        nlohmann::json j = state_json(tmp, Status::created);
        j["status"] = status;
        return j;
    };
    sandbox::SpawnConfig sc;
    sc.spec = &spec;
    sc.rootfs = rootfs;
    sc.fifo_path = use_fifo ? store.fifo(o.id) : "";
    sc.rootless = g.rootless;
    sc.no_pivot = o.no_pivot;
    sc.no_new_keyring = o.no_new_keyring;
    sc.preserve_fds = o.preserve_fds;
    sc.cgroup = cr.cg ? &*cr.cg : nullptr;
    if (st.cgroup_via_mxcd)
        sc.attach_pid = [path = cg_path](pid_t pid) { mxcd_attach(path, pid); };
    sc.container_id = o.id;
    sc.rootfs_source = o.rootfs_source;
    sc.recursive_readonly = o.recursive_readonly;
    sc.loopback_up = o.loopback_up;
    sc.die_with_parent = o.die_with_parent;
    sc.proxy_port = o.proxy_port;
    sc.init = o.init;
    sc.exit_report_fd = o.init ? o.exit_report_fd : -1;
    sc.dumpable_before_exec = o.audit_notify;
    for (const auto &[path, write] : o.landlock)
        sc.landlock.push_back({path, write});
    sc.on_runtime_hooks = [&](pid_t pid) {
        if (auto *h = hooks_of(spec)) {
            auto j = state_for_hooks(pid, "creating");
            sandbox::run_hooks(h->prestart, "prestart", j);
            sandbox::run_hooks(h->create_runtime, "createRuntime", j);
        }
    };
    sc.state_json = [&](pid_t pid) { return state_for_hooks(pid, "created").dump(); };
    // What the state needs and the child does not (a passwd lookup, the
    // spec as JSON): while the child sets itself up.
    // Without an mxcd registration (which needs the container ready) the
    // state is complete here, and saved: ≈ 0.4 ms (the spec as JSON, a
    // rename on the state's filesystem) less between ready and start.  A
    // failed create removes it with the state dir.
    bool saved_early = false;
    sc.while_setting_up = [&](pid_t pid) {
        st.owner = user_name(st.owner_uid);
        st.config = oci::to_json(spec);
        if (o.while_setting_up)
            o.while_setting_up(pid);
        if (audit_identity.empty()) {
            st.pid = pid;
            st.pid_start = process_start_time(pid).value_or(0);
            store.save(st);
            saved_early = true;
        }
    };

    Created out;
    out.spawned = with_context(fmt::format("create \"{}\"", o.id), [&] { return sandbox::spawn_container(sc); });
    // From here a failure must also kill the process we just made.
    ScopeExit kill_child([&] {
        pidfd_send_signal(out.spawned.pidfd.get(), SIGKILL);
        int s;
        ::waitpid(out.spawned.pid, &s, 0);
    });
    if (!saved_early) {
        st.pid = out.spawned.pid;
        st.pid_start = process_start_time(st.pid).value_or(0);
        if (!audit_identity.empty()) {
            st.audit = audit_register(o.id, audit_identity, cr.cg ? &*cr.cg : nullptr, spec.annotations);
            cr.audit = st.audit;
        }
        store.save(st);
    }
    if (!o.pid_file.empty())
        write_file_atomic(absolute_or(o.pid_file), std::to_string(st.pid), 0644);
    if (out.spawned.pty_master && !o.console_socket.empty()) {
        sandbox::send_to_console_socket(o.console_socket, out.spawned.pty_master.get());
        out.spawned.pty_master.reset();
    }
    if (out.spawned.seccomp_fd && !o.audit_notify) {
        const auto &sec = *spec.linux_->seccomp;
        if (!sec.listener_path.empty()) {
            seccomp::ListenerState msg;
            msg.oci_version = spec.oci_version;
            msg.pid = st.pid;
            msg.metadata = sec.listener_metadata;
            msg.state = state_json(st, Status::created);
            seccomp::send_listener_fd(sec.listener_path, out.spawned.seccomp_fd.get(), msg);
        }
        out.spawned.seccomp_fd.reset();
    }
    kill_child.dismiss();
    cr.done = true;
    out.state = std::move(st);
    return out;
}

// Opens the exec fifo for reading: that releases the container process, which
// then writes one byte and execs.
void release_fifo(const Store &store, const State &st) {
    std::string path = store.fifo(st.id);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT)
            throw_error("container \"{}\" has already been started", st.id);
        throw_errno("open {}", path);
    }
    UniqueFd pidfd = pidfd_open(st.pid);
    for (;;) {
        struct pollfd p[2] = {{fd.get(), POLLIN, 0}, {pidfd.get(), POLLIN, 0}};
        int n = ::poll(p, 2, 10000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw_error("timed out waiting for the container process to take the start signal");
        if (p[0].revents & POLLIN) {
            char c;
            if (::read(fd.get(), &c, 1) == 1)
                break;
        }
        if (p[1].revents & POLLIN)
            throw_error("the container process exited before start");
        if (p[0].revents & POLLHUP) {
            // Writer not yet connected or gone; avoid a busy loop.
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    ::unlink(path.c_str());
}

void start_impl(const Store &store, State &st) {
    release_fifo(store, st);
    // No state.json rewrite: the fifo, now gone, is what marks a started
    // container (status_of).  Renaming a new state.json over the old one also
    // makes ext4 allocate its blocks at once (auto_da_alloc), which removing
    // it later must discard: milliseconds on /run here (ext4 with discard).
    st.started = true;
    if (auto h = stored_hooks(st))
        sandbox::run_hooks_warn(h->poststart, "poststart", state_json(st, Status::running));
}

void destroy(const Store &store, const State &st) {
    // First: what the sandbox did up to its end goes into its stream.
    if (!st.audit.is_null() && !st.audit.value("unregistered", false))
        audit_unregister(st.id, st.audit);
    if (auto cg = open_cgroup(st)) {
        try {
            cg->kill_all(SIGKILL);
        } catch (const Error &) {
        }
        cg->destroy();
    }
    if (auto h = stored_hooks(st))
        sandbox::run_hooks_warn(h->poststop, "poststop", state_json(st, Status::stopped));
    store.remove(st.id);
}



void create(const Global &g, const CreateOptions &o) {
    with_context(fmt::format("create \"{}\"", o.id), [&] { create_impl(g, o, true); });
}

void start(const Global &g, const std::string &id) {
    with_context(fmt::format("start \"{}\"", id), [&] {
        Store store(g.root);
        State st = store.load(id);
        Status s = status_of(store, st);
        if (s != Status::created)
            throw_error("container is {}, not created", status_name(s));
        start_impl(store, st);
    });
}

int run(const Global &g, const CreateOptions &o) {
    return with_context(fmt::format("run \"{}\"", o.id), [&]() -> int {
        // Signals that arrive while we set up are queued for the container.
        SignalForwarder fwd;
        CreateOptions fo = o;
        fo.foreground = true;
        Created c = create_impl(g, fo, true);
        Store store(g.root);
        try {
            start_impl(store, c.state);
        } catch (...) {
            try {
                destroy(store, c.state);
            } catch (const Error &) {
            }
            throw;
        }
        if (o.detach)
            return 0;
        int status = fwd.wait(c.state.pid, c.spawned.pidfd.get(), std::move(c.spawned.pty_master));
        with_context("delete", [&] { destroy(store, c.state); });
        return exit_code_from_status(status);
    });
}

void kill(const Global &g, const std::string &id, int sig, bool all) {
    with_context(fmt::format("kill \"{}\"", id), [&] {
        Store store(g.root);
        State st = store.load(id);
        Status s = status_of(store, st);
        if (s == Status::stopped)
            throw Error(ESRCH, "container is not running");
        if (all) {
            if (auto cg = open_cgroup(st)) {
                cg->kill_all(sig);
                return;
            }
        }
        UniqueFd fd = pidfd_open(st.pid);
        if (pidfd_send_signal(fd.get(), sig) < 0)
            throw_errno("send {}", signal_name(sig));
    });
}

void remove(const Global &g, const std::string &id, bool force) {
    with_context(fmt::format("delete \"{}\"", id), [&] {
        Store store(g.root);
        check_id(id);
        // runc: deleting a container that does not exist with --force succeeds.
        if (force && !store.exists(id) && !path_exists(store.dir(id)))
            return;
        if (!store.exists(id) && path_exists(store.dir(id))) {
            // A create killed before it saved the state (SIGKILL leaves no
            // chance to clean up): the directory is left, and the cgroup at
            // its default path (its child died with it).
            if (!force)
                throw_error("container was never fully created (its create was interrupted before state.json was "
                            "written); `mxc delete --force {}` removes what is left",
                            id);
            if (const auto &layout = cgroup::detect_once(); layout.mode != cgroup::Mode::none) {
                cgroup::Manager cg(layout, default_cgroup_path(id));
                try {
                    cg.kill_all(SIGKILL);
                } catch (const Error &) {
                }
                cg.destroy();
            }
            store.remove(id);
            return;
        }
        State st = store.load(id);
        Status s = status_of(store, st);
        if (s != Status::stopped) {
            // A created container never ran its program: deleting it is safe.
            if (!force && s != Status::created)
                throw_error("container is {}: stop it first or use --force", status_name(s));
            auto cg = open_cgroup(st);
            if (cg && s == Status::paused)
                cg->freeze(false);
            if (cg)
                cg->kill_all(SIGKILL);
            if (UniqueFd fd = pidfd_open(st.pid))
                pidfd_send_signal(fd.get(), SIGKILL);
            if (!wait_gone(st, std::chrono::seconds(10)))
                throw_error("container process {} did not exit after SIGKILL", st.pid);
        }
        destroy(store, st);
    });
}

nlohmann::json state(const Global &g, const std::string &id) {
    return with_context(fmt::format("state \"{}\"", id), [&] {
        Store store(g.root);
        State st = store.load(id);
        return state_json(st, status_of(store, st));
    });
}

void pause(const Global &g, const std::string &id) {
    with_context(fmt::format("pause \"{}\"", id), [&] {
        Store store(g.root);
        State st = store.load(id);
        Status s = status_of(store, st);
        if (s != Status::running && s != Status::created)
            throw_error("container is {}, not running", status_name(s));
        auto cg = open_cgroup(st);
        if (!cg)
            throw_error("not supported: container has no cgroup (rootless without delegation)");
        cg->freeze(true);
    });
}

void resume(const Global &g, const std::string &id) {
    with_context(fmt::format("resume \"{}\"", id), [&] {
        Store store(g.root);
        State st = store.load(id);
        Status s = status_of(store, st);
        if (s != Status::paused)
            throw_error("container is {}, not paused", status_name(s));
        open_cgroup(st)->freeze(false);
    });
}

void update(const Global &g, const std::string &id, const oci::Resources &r) {
    with_context(fmt::format("update \"{}\"", id), [&] {
        Store store(g.root);
        State st = store.load(id);
        if (status_of(store, st) == Status::stopped)
            throw_error("container is stopped");
        auto cg = open_cgroup(st);
        if (!cg)
            throw_error("not supported: container has no cgroup (rootless without delegation)");
        cg->apply(r);
        // Remember the new values so that `state`/`exec` see the container as it is.
        auto &res = st.config["linux"]["resources"];
        if (!res.is_object())
            res = nlohmann::json::object();
        res.merge_patch(oci::to_json(r));
        store.save(st);
    });
}

std::vector<pid_t> ps(const Global &g, const std::string &id) {
    return with_context(fmt::format("ps \"{}\"", id), [&] {
        Store store(g.root);
        State st = store.load(id);
        if (status_of(store, st) == Status::stopped)
            return std::vector<pid_t>{};
        if (auto cg = open_cgroup(st))
            return cg->pids();
        return std::vector<pid_t>{st.pid};
    });
}

std::vector<ListEntry> list(const Global &g) {
    Store store(g.root);
    std::vector<ListEntry> out;
    for (const auto &id : store.ids()) {
        try {
            State st = store.load(id);
            Status s = status_of(store, st);
            out.push_back({std::move(st), s});
        } catch (const Error &e) {
            log::warn("list: {}", e.what());
        }
    }
    return out;
}

} // namespace mxc::runtime
