// The agent sandbox: `mxc run [--profile P] -- CMD`.  A profile plus the
// command line compiles to an OCI spec (policy::compile) that the same
// create/start path runs; the sandbox shows up in list/ps/state.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "mxc/policy/profile.hpp"
#include "mxc/runtime/runtime.hpp"

namespace mxc::runtime {

struct AgentOptions {
    std::string profile = "agent";
    std::string identity;   // empty: the caller's default identity
    std::string name;       // container id; empty: agent-<random>
    policy::RunRequest req;
    bool detach = false;
    bool json = false;      // machine-readable summary on stderr at exit
    bool quiet = false;     // no summary line
    std::string audit_backend = "auto"; // auto | mxcd | seccomp
};

// The compiled plan for these options (what `mxc profile render` prints).
policy::Plan plan_agent(const Global &g, AgentOptions &o);
// Run it; returns the command's exit status (128+N for signal N, 124 on timeout).
int run_agent(const Global &g, AgentOptions &o);

} // namespace mxc::runtime
