// Pieces of the lifecycle shared by the OCI commands and the agent sandbox.
#pragma once

#include <optional>
#include <string>

#include "mxc/runtime/runtime.hpp"
#include "mxc/sandbox/spawn.hpp"

namespace mxc::runtime {

struct Created {
    State state;
    sandbox::Spawned spawned;
};

// Everything of `create`: state dir, cgroup, the process blocked on the fifo
// (or ready to exec without one).  Undoes all of it on failure.
Created create_impl(const Global &g, const CreateOptions &o, bool use_fifo);
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
// Kill what is left in the cgroup, remove it, run poststop hooks, drop the state.
void destroy(const Store &store, const State &st);

} // namespace mxc::runtime
