// The audit of one agent sandbox, whichever backend serves it: mxcd's eBPF
// probes ("bpf"), mxc's own seccomp-notify supervisor ("seccomp-notify"), or
// none.  run_agent picks the backend before creating the sandbox, then calls
// attach() with what create_impl returned and finish() when it has exited.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "mxc/audit/notify.hpp"
#include "mxc/audit/stream.hpp"
#include "mxc/ipc/ipc.hpp"
#include "mxc/net/allowlist.hpp"
#include "mxc/runtime/runtime.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::runtime {

class AgentAudit {
public:
    // policy: the profile's audit (required | best-effort | off); want: the
    // --audit-backend flag (auto | mxcd | seccomp); v2_cgroup: whether the
    // sandbox gets a cgroup v2 directory mxcd can watch.  Throws when the
    // policy requires audit and no backend is available, naming why.
    // detach: the seccomp-notify supervisor lives in this process, so a
    // detached sandbox can only be audited by mxcd.
    AgentAudit(const std::string &policy, const std::string &want, bool v2_cgroup, bool detach, std::string sandbox,
               std::string identity);
    ~AgentAudit();

    const std::string &backend() const { return backend_; } // bpf | seccomp-notify | none | off
    // Sets what create_impl needs (audit_identity or audit_notify + rules).
    void prepare(CreateOptions &co);
    // seccomp-notify: open the identity's stream (its signer checked, the
    // chain's tail read, the directory synced).  Needs nothing of the
    // sandbox, so run_agent calls it while the sandbox sets itself up;
    // attach() does it otherwise.  No-op for the other backends.
    void open_stream();
    // After create_impl: start the supervisor (seccomp-notify) or keep the
    // registration (bpf).
    void attach(State &st, UniqueFd seccomp_fd);
    // seccomp-notify: serve, from here, the listener of each process that
    // `mxc exec` starts in the sandbox (it loads the sandbox's filter anew),
    // handed over on a unix socket at socket_path.  No-op for the other
    // backends, whose audit does not depend on the process's filter.
    void accept_execs(const std::string &socket_path);
    // A decision of the allow-list proxy, into the sandbox's stream.
    void proxy_decision(const net::Decision &d);
    // After the sandbox exited: flush, unregister, close.  Returns records per kind.
    std::map<std::string, uint64_t> finish(State &st);
    // "bpf via mxcd, 57 records (exec 2, file 50, process 5); stream DIR"
    std::string summary(const std::map<std::string, uint64_t> &counts) const;
    std::string stream_dir() const { return stream_; }

private:
    std::string backend_ = "none";
    std::string why_none_;
    std::string sandbox_, identity_, stream_;
    // bpf
    std::optional<ipc::Client> client_;
    std::mutex client_mu_;
    // seccomp-notify
    std::unique_ptr<audit::StreamWriter> writer_;
    std::unique_ptr<audit::NotifySupervisor> supervisor_;
    std::thread thread_;
    UniqueFd stop_;
    std::mutex counts_mu_;
    std::map<std::string, uint64_t> counts_;
    bool finished_ = false;
    // seccomp-notify, processes of `mxc exec`: the accepting thread owns the
    // vectors until it is joined.
    std::string exec_socket_;
    UniqueFd exec_listen_;
    std::thread exec_accept_;
    std::vector<std::unique_ptr<audit::NotifySupervisor>> exec_supervisors_;
    std::vector<std::thread> exec_threads_;

    void append(audit::Record r);
    void stop_threads();
};

} // namespace mxc::runtime
