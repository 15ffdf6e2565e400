// Everything about the container process that is applied inside the
// container just before exec: rlimits, oomScoreAdj, scheduler, ioPriority,
// personality, user (uid/gid/additionalGids/umask), capabilities (all five
// sets, through libcap), noNewPrivileges.  Order matters and is documented in
// process_setup.cpp.
#pragma once

#include <string>
#include <vector>

#include "mxc/oci/spec.hpp"

namespace mxc::sandbox {

// Parse "CAP_SYS_ADMIN" -> number; throws "unknown capability" naming it.
int capability_from_name(const std::string &name);
// Validate all capability names in a process (used by validate and by exec --cap).
void check_capability_names(const oci::Capabilities &caps, const std::string &where);
// RLIMIT_NOFILE -> number; throws on unknown.
int rlimit_from_name(const std::string &name);

// Apply rlimits, oom_score_adj, scheduler, ioprio, personality (as root in the container).
void apply_process_attributes(const oci::Process &p, const oci::Linux *linux_);
// Switch to the process's user and set capabilities and no_new_privs.
// setgroups is skipped when the user namespace denies it (rootless single mapping).
void apply_credentials(const oci::Process &p, bool setgroups_allowed);

} // namespace mxc::sandbox
