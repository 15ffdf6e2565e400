#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.hpp"
#include "mxc/cgroup/cgroup.hpp"
#include "mxc/runtime/runtime.hpp"
#include "mxc/runtime/wait.hpp"
#include "mxc/seccomp/seccomp.hpp"
#include "mxc/sandbox/console.hpp"
#include "mxc/sandbox/spawn.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/proc.hpp"

namespace mxc::runtime {


oci::Process base_process(const Global &g, const std::string &id) {
    Store store(g.root);
    State st = store.load(id);
    oci::Spec spec = oci::parse_spec_json(st.config);
    oci::Process p = spec.process.value_or(oci::Process{});
    p.terminal = false;
    p.console_size.reset();
    p.args.clear();
    return p;
}

int exec(const Global &g, const ExecOptions &o) {
    return with_context(fmt::format("exec \"{}\"", o.id), [&]() -> int {
        Store store(g.root);
        State st = store.load(o.id);
        Status s = status_of(store, st);
        if (s != Status::running && s != Status::created)
            throw_error("container is {}: cannot exec", status_name(s));
        if (o.process.args.empty())
            throw_error("no command given");
        if (o.process.terminal && o.console_socket.empty() && o.detach)
            throw_error("--tty with --detach needs --console-socket");
        oci::Spec spec = oci::parse_spec_json(st.config);
        std::optional<cgroup::Manager> cg;
        if (!st.cgroup_path.empty())
            cg.emplace(cgroup::detect_once(), st.cgroup_path);

        SignalForwarder fwd;
        sandbox::ExecConfig ec;
        ec.target_pid = st.pid;
        ec.spec = &spec;
        ec.process = o.process;
        ec.cgroup = cg ? &*cg : nullptr;
        if (st.cgroup_via_mxcd)
            ec.attach_pid = [path = st.cgroup_path](pid_t pid) { mxcd_attach(path, pid); };
        ec.preserve_fds = o.preserve_fds;
        for (const auto &[path, write] : st.landlock)
            ec.landlock.push_back({path, write});
        // A filter with NOTIFY rules gives the exec'd process a listener of
        // its own: to the spec's listenerPath (as for the container's own
        // process), or, in an agent sandbox audited by seccomp-notify, to the
        // supervisor in its `mxc run`.
        const std::string notify_socket = exec_notify_socket(store, o.id);
        const bool agent_notify = path_exists(notify_socket);
        ec.dumpable_before_exec = agent_notify; // as the sandbox's own process: see SpawnConfig
        ec.on_seccomp_fd = [&](UniqueFd fd) {
            const oci::Seccomp &sec = *spec.linux_->seccomp;
            if (!sec.listener_path.empty()) {
                seccomp::ListenerState msg;
                msg.oci_version = spec.oci_version;
                msg.pid = st.pid;
                msg.metadata = sec.listener_metadata;
                msg.state = state_json(st, s);
                seccomp::send_listener_fd(sec.listener_path, fd.get(), msg);
            } else if (agent_notify) {
                send_exec_notify(notify_socket, fd.get());
            } else {
                throw_error("the container's seccomp filter has SCMP_ACT_NOTIFY rules but no listenerPath, and no "
                            "audit supervisor of an agent sandbox listens on {}",
                            notify_socket);
            }
        };
        // The waiter is our child; its pidfd lets us poll for its exit.
        sandbox::ExecSpawned sp = sandbox::spawn_exec(ec);
        if (!o.pid_file.empty())
            write_file_atomic(absolute_or(o.pid_file), std::to_string(sp.pid), 0644);
        if (sp.pty_master && !o.console_socket.empty()) {
            sandbox::send_to_console_socket(o.console_socket, sp.pty_master.get());
            sp.pty_master.reset();
        }
        if (o.detach)
            return 0;
        UniqueFd wfd = pidfd_open(sp.waiter);
        int status = fwd.wait(sp.waiter, wfd.get(), std::move(sp.pty_master), sp.pid);
        return exit_code_from_status(status);
    });
}

} // namespace mxc::runtime
