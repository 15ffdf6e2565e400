// Pieces of the lifecycle shared by the OCI commands and the agent sandbox.
#pragma once

#include <optional>
#include <string>

#include "mxc/runtime/runtime.hpp"
#include "mxc/sandbox/spawn.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::runtime {

struct Created {
    State state;
    sandbox::Spawned spawned;
};

// Everything of `create`: state dir, cgroup, the process blocked on the fifo
// (or ready to exec without one).  Undoes all of it on failure.
Created create_impl(const Global &g, const CreateOptions &o, bool use_fifo);
// The cgroup of a container whose config.json names none.
inline std::string default_cgroup_path(const std::string &id) { return "/mxc/" + id; }
// Release the fifo, record "started", run poststart hooks.
void start_impl(const Store &store, State &st);
// Rootless on a host where this user cannot create cgroups: the sub-tree mxcd
// delegates to them ("/mxc/user-<uid>"), or nullopt without mxcd.
std::optional<std::string> mxcd_delegated_cgroup();
// Ask mxcd to move pid into a cgroup of that sub-tree.
void mxcd_attach(const std::string &cgroup_path, pid_t pid);
// Tell mxcd the sandbox is gone (after draining its events); returns mxcd's
// answer ({counts, ...}) or null when not registered or mxcd failed (warned).
nlohmann::json audit_unregister(const std::string &id, const nlohmann::json &audit);
// The hand-over of an exec'd process's seccomp listener to the sandbox's
// seccomp-notify audit supervisor (exec_notify.cpp).
std::string exec_notify_socket(const Store &store, const std::string &id);
struct ExecListener {
    UniqueFd conn;       // to the `mxc exec` that sent it; ack_exec_notify answers there
    UniqueFd listener;   // the seccomp notify fd
    std::string peer;    // "pid N uid U", for messages
};
// Supervisor side: a listening socket (non-blocking accept) at path, mode 0600.
UniqueFd listen_exec_notify(const std::string &path);
// One connection: nullopt when there is none pending; throws when the peer
// is refused (another uid, or inside the sandbox) or sends no fd.
std::optional<ExecListener> accept_exec_notify(int listen_fd, int stop_fd = -1);
void ack_exec_notify(const ExecListener &l);
// exec side: send notify_fd and wait until a supervisor serves it.
void send_exec_notify(const std::string &path, int notify_fd);

// Kill what is left in the cgroup, remove it, run poststop hooks, drop the state.
void destroy(const Store &store, const State &st);

} // namespace mxc::runtime
