#include "mxc/runtime/agent.hpp"

#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/eventfd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <thread>
#include <cstdio>

#include "agent_audit.hpp"
#include "internal.hpp"
#include "mxc/cgroup/cgroup.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/ipc/ipc.hpp"
#include "mxc/net/allowlist.hpp"
#include "mxc/net/netns.hpp"
#include "mxc/net/proxy.hpp"
#include "mxc/runtime/wait.hpp"
#include "mxc/sandbox/landlock.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"
#include "mxc/util/proc.hpp"

namespace mxc::runtime {

namespace {

// Whether pid (the sandbox's init, a pid of ours) has no child left:
// /proc/PID/task/PID/children (CONFIG_PROC_CHILDREN).  False when that
// cannot be read.
bool init_is_alone(pid_t pid) {
    try {
        return read_file(fmt::format("/proc/{}/task/{}/children", pid, pid)).find_first_not_of(" \n") ==
               std::string::npos;
    } catch (const Error &) {
        return false;
    }
}

std::string random_id() {
    unsigned char b[5];
    if (::getrandom(b, sizeof b, 0) != sizeof b)
        throw_errno("getrandom");
    return fmt::format("agent-{:02x}{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3], b[4]);
}

} // namespace

policy::Plan plan_agent(const Global &g, AgentOptions &o) {
    (void)g;
    if (o.req.command.empty())
        throw_error("no command given after --");
    if (o.name.empty())
        o.name = random_id();
    check_id(o.name);
    o.req.container_id = o.name;
    auto ctx = policy::HostContext::current();
    // Every sandbox is bound to an identity: the one asked for (which must be
    // the caller's own), or the caller's default, made on first use.  Its key
    // is checked by run_agent (below) before the sandbox may start.
    auto store = identity::default_store();
    identity::Identity id = o.identity.empty() ? identity::default_identity(store, ::geteuid(), false)
                                               : identity::load(store, o.identity, ::geteuid(), false);
    o.identity = id.name;
    o.req.identity_name = id.name;
    o.req.identity_uuid = id.uuid;
    policy::Profile profile = policy::load_profile(o.profile);
    return policy::compile(profile, o.req, ctx);
}

int run_agent(const Global &g, AgentOptions &o) {
    policy::Plan plan = plan_agent(g, o);
    // Landlock mirrors the mounts where the kernel has it (defence in depth,
    // not required): say so where it does not.
    if (!plan.landlock_rules.empty() && sandbox::landlock_abi() <= 0)
        plan.notes.push_back("landlock: not available on this kernel; the filesystem rules rest on the mounts alone");
    return with_context(fmt::format("run \"{}\"", o.name), [&]() -> int {
        const auto &layout = cgroup::detect_once();
        // Rootless: a cgroup of our own (delegated by systemd), or one below
        // the sub-tree mxcd delegates to us.
        bool cgroups = layout.mode != cgroup::Mode::none &&
                       (!g.rootless || cgroup::can_manage(layout) || ipc::Client::connect().has_value());
        if (plan.limits_required && !cgroups)
            throw_error("profile \"{}\" requires its limits (limits: {{required: true}}), but this user cannot "
                        "create cgroups here (no delegated cgroup, and mxcd is not running to delegate one)",
                        o.profile);
        // Fail closed: a profile that requires audit does not run unaudited.
        AgentAudit audit(plan.audit, o.audit_backend, cgroups && !layout.v2_mount.empty(), o.detach, o.name,
                         o.identity);
        // The allow-list is parsed before anything is created: a bad entry
        // leaves nothing behind.
        std::optional<net::AllowList> allow;
        constexpr uint16_t kProxyPort = 3128;
        if (plan.network_mode == "allow") {
            allow.emplace(plan.allow);
            for (auto &e : net::proxy_env(kProxyPort))
                plan.spec.process->env.push_back(e);
        }

        CreateOptions co;
        co.id = o.name;
        co.bundle = "/";
        co.spec = plan.spec;
        co.rootfs_source = "/";
        co.recursive_readonly = true;
        co.loopback_up = plan.network_mode != "host";
        co.die_with_parent = !o.detach;
        // Only with a pid namespace of its own is the command PID 1.
        co.init = plan.spec.linux_ && plan.spec.linux_->find_namespace("pid");
        if (allow) {
            if (o.detach)
                throw_error("--detach with network mode \"allow\": not supported (the proxy lives in this process)");
            co.proxy_port = kProxyPort;
        }
        co.detach = o.detach;
        co.foreground = !o.detach;
        for (const auto &r : plan.landlock_rules)
            co.landlock.emplace_back(r.path, r.access == "rw");
        if (plan.spec.process && plan.spec.process->terminal && !::isatty(STDIN_FILENO))
            throw_error("--tty: standard input is not a terminal");

        audit.prepare(co);
        // The seccomp-notify stream is closed (checkpoint, fsyncs) once the
        // init reports that the command and everything else in the sandbox
        // are gone, while the kernel still takes the namespaces down.  Not
        // with the allow-list proxy, whose last decisions (connections still
        // being answered) go into the stream after that.
        UniqueFd report_r, report_w;
        bool close_early = audit.backend() == "seccomp-notify" && co.init && !o.detach && !allow;
        if (close_early) {
            int p[2];
            if (::pipe2(p, O_CLOEXEC) < 0)
                throw_errno("pipe");
            report_r.reset(p[0]);
            report_w.reset(p[1]);
            co.exit_report_fd = report_w.get();
        }
        // While the sandbox sets itself up (a failure kills it): the
        // identity's key against its fingerprint (plan_agent left that out),
        // and the audit stream (fsyncs, the signer's key).
        co.while_setting_up = [&](pid_t) {
            identity::load(identity::default_store(), o.identity, ::geteuid());
            audit.open_stream();
        };
        SignalForwarder fwd;
        Created c = create_impl(g, co, true);
        report_w.reset();
        Store store(g.root);
        bool removed = false; // destroy() was tried already
        ScopeExit cleanup([&] {
            if (o.detach || removed)
                return;
            try {
                audit.finish(c.state);
                destroy(store, c.state);
            } catch (const Error &e) {
                log::warn("cleanup: {}", e.what());
            }
        });
        audit.attach(c.state, std::move(c.spawned.seccomp_fd));
        // The proxy's socket lives in the sandbox's network namespace (the
        // sandbox reaches it at 127.0.0.1:3128) and is served from out here,
        // where the routes are.  Made while the process waits on the fifo.
        std::atomic<int> allowed{0}, denied{0};
        std::unique_ptr<net::Proxy> proxy;
        UniqueFd proxy_stop;
        std::thread proxy_thread;
        ScopeExit stop_proxy([&] {
            if (proxy_thread.joinable()) {
                uint64_t one = 1;
                (void)!::write(proxy_stop.get(), &one, sizeof one);
                proxy_thread.join();
            }
        });
        if (allow) {
            auto fds = std::move(c.spawned.listen_fds);
            if (fds.empty())
                throw_error("allow-list proxy: no listening socket from the sandbox");
            auto log_decision = [&, id = o.name](const net::Decision &d) {
                (d.allowed ? allowed : denied)++;
                audit.proxy_decision(d);
                log::info("proxy: sandbox {}: {} {} {}:{} -> {} ({})", id, d.allowed ? "allow" : "deny", d.method, d.host,
                          d.port, d.resolved, d.reason);
            };
            proxy = std::make_unique<net::Proxy>(std::move(*allow), log_decision, std::move(fds));
            proxy_stop.reset(::eventfd(0, EFD_CLOEXEC));
            proxy_thread = std::thread([&] { proxy->serve(proxy_stop.get()); });
        }
        start_impl(store, c.state);
        // The socket for `mxc exec` once the command is on its way (≈ 0.15 ms
        // less before it starts).  An exec in the moment before it exists is
        // refused, fail closed: no audit supervisor listens yet.  (Not the
        // supervisor itself: the child's own syscalls up to the command's
        // execve, the start fifo's open among them, need answers.)
        audit.accept_execs(exec_notify_socket(store, c.state.id));
        if (o.detach) {
            std::printf("%s\n", o.name.c_str());
            return 0;
        }
        int64_t timeout = plan.timeout_ms ? static_cast<int64_t>(*plan.timeout_ms) : -1;
        std::map<std::string, uint64_t> counts;
        std::exception_ptr close_failed;
        // Closing the stream: its checkpoint (signature, two flushes) waits
        // on the disk far more than it runs.
        bool closing = false; // this thread's: started, here or on `closer`
        auto close_stream = [&] {
            try {
                counts = audit.finish(c.state);
            } catch (...) {
                close_failed = std::current_exception();
            }
        };
        std::jthread closer; // joined before `cleanup` runs (declared after it)
        auto start_closer = [&] {
            if (!closing) {
                closing = true;
                closer = std::jthread(close_stream);
            }
        };
        // Only a report counts: end of file alone (the init was killed) comes
        // before the kernel has killed the rest of the sandbox.  Then the
        // init has moved itself back into our own v1 cgroups (where it
        // could): theirs go now, on a thread, while this one closes the
        // stream and the kernel takes the init's namespaces down; the rest
        // goes in destroy() below.  (The stream here and not on a new
        // thread: with both CPUs busy, such a thread waited ≈ 0.3 ms for one,
        // and its flushes are what the end of the run waits for.)
        std::jthread v1_remover;
        if (report_r)
            fwd.also_watch(report_r.get(), [&] {
                int32_t code;
                if (::read(report_r.get(), &code, sizeof code) != sizeof code || closing)
                    return;
                // The init reports once it has reaped everything.  A report
                // while it still has children (a process of the sandbox that
                // got hold of the pipe) does not count: the end is then seen
                // when the init exits.
                if (!init_is_alone(c.state.pid)) {
                    log::warn("run \"{}\": an end-of-command report while the sandbox still runs; ignored", o.name);
                    return;
                }
                if (!c.state.cgroup_path.empty())
                    v1_remover = std::jthread([path = c.state.cgroup_path] {
                        try {
                            cgroup::Manager(cgroup::detect_once(), path).remove_v1_dirs_now();
                        } catch (const Error &) {
                        }
                    });
                closing = true;
                close_stream();
            });
        auto started = std::chrono::steady_clock::now();
        int status = fwd.wait(c.state.pid, c.spawned.pidfd.get(), std::move(c.spawned.pty_master), -1, timeout, [&] {
            // The whole sandbox: its pid namespace dies with its init.
            pidfd_send_signal(c.spawned.pidfd.get(), SIGKILL);
        });
        int code = exit_code_from_status(status);
        if (fwd.timed_out()) {
            log::error("run \"{}\": timed out after {} ms; the sandbox was killed", o.name, timeout);
            code = 124;
        }
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        // The proxy first: its last decisions belong in the stream.
        if (proxy_thread.joinable()) {
            uint64_t one = 1;
            (void)!::write(proxy_stop.get(), &one, sizeof one);
            proxy_thread.join();
        }
        if (audit.backend() == "seccomp-notify") {
            // The stream's closing checkpoint (signature, fsyncs) needs
            // nothing of the sandbox's cgroups or state dir: remove those
            // meanwhile, if the init's report (killed: none) has not already
            // started it.  (mxcd's backend unregisters before the cgroup goes.)
            start_closer();
            removed = true;
            if (v1_remover.joinable())
                v1_remover.join();
            try {
                destroy(store, c.state);
            } catch (const Error &e) {
                log::warn("cleanup: {}", e.what());
            }
            if (closer.joinable())
                closer.join();
            if (close_failed)
                std::rethrow_exception(close_failed);
        } else {
            counts = audit.finish(c.state);
        }
        if (o.json) {
            nlohmann::json j = {{"sandbox", o.name},       {"identity", o.identity},  {"profile", o.profile},
                                {"exit_code", code},       {"timed_out", fwd.timed_out()},
                                {"seconds", secs},         {"network", plan.network_mode},
                                {"audit", {{"backend", audit.backend()}, {"counts", counts},
                                           {"stream", audit.stream_dir()}}},
                                {"notes", plan.notes}};
            if (plan.network_mode == "allow")
                j["proxy"] = {{"allowed", allowed.load()}, {"denied", denied.load()}};
            std::fprintf(stderr, "%s\n", j.dump().c_str());
        } else if (!o.quiet) {
            std::string net = plan.network_mode;
            if (plan.network_mode == "allow")
                net += fmt::format(" ({} allowed, {} denied)", allowed.load(), denied.load());
            std::fprintf(stderr, "mxc: sandbox %s (identity %s, profile %s) exited %d after %.2fs; network %s; audit: %s\n",
                         o.name.c_str(), o.identity.c_str(), o.profile.c_str(), code, secs, net.c_str(),
                         audit.summary(counts).c_str());
        }
        return code;
    });
}

} // namespace mxc::runtime
