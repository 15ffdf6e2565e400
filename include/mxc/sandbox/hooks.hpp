// OCI hooks: run with the container state on stdin, env and timeout as given.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mxc/oci/spec.hpp"

namespace mxc::sandbox {

// Run each hook in order; throws on the first failure naming the phase and
// index ("hooks.prestart[1] /usr/bin/x: exited with status 3").  A hook that
// outlives its timeout is killed and reported.
void run_hooks(const std::vector<oci::Hook> &hooks, const std::string &phase, const nlohmann::json &state);
// Same, but failures are only logged as warnings (poststart, poststop per spec).
void run_hooks_warn(const std::vector<oci::Hook> &hooks, const std::string &phase, const nlohmann::json &state);

} // namespace mxc::sandbox
