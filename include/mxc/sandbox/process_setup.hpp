// Everything about the container process that is applied inside the
// container just before exec: rlimits, oomScoreAdj, scheduler, ioPriority,
// personality, user (uid/gid/additionalGids/umask), capabilities (all five
// sets, through libcap), noNewPrivileges.  Order matters and is documented in
// process_setup.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mxc/oci/spec.hpp"

namespace mxc::sandbox {

// Parse "CAP_SYS_ADMIN" -> number; throws "unknown capability" naming it.
// The "CAP_" prefix is required; case does not matter.
int capability_from_name(const std::string &name);
// 21 -> "CAP_SYS_ADMIN" ("CAP_21" for numbers libcap does not name).
std::string capability_name(int cap);
// Validate all capability names in a process (used by validate and by exec --cap).
// Errors read `<where>.<set>[i]: unknown capability "CAP_FOO"`, e.g. with
// where = ".process.capabilities": `.process.capabilities.bounding[2]: ...`.
void check_capability_names(const oci::Capabilities &caps, const std::string &where);
// The highest capability the running kernel knows (/proc/sys/kernel/cap_last_cap).
int last_capability();
// RLIMIT_NOFILE -> number; throws on unknown.
int rlimit_from_name(const std::string &name);

// Apply rlimits, oom_score_adj, scheduler, ioprio, personality (as root in the container).
void apply_process_attributes(const oci::Process &p, const oci::Linux *linux_);
// Switch to the process's user and set capabilities and no_new_privs.
// setgroups is skipped when the user namespace denies it (rootless single mapping).
// An absent process.capabilities is treated as five empty sets (as runc
// does): the process ends with no capabilities at all.
void apply_credentials(const oci::Process &p, bool setgroups_allowed);

// The two capability steps of apply_credentials, usable on their own (caps.cpp).
// Drop from the bounding set every capability not listed; needs CAP_SETPCAP
// in the effective set, so it runs before the uid switch.
void apply_bounding_set(const oci::Capabilities &caps);
// Set permitted/effective/inheritable exactly as listed (cap_set_proc), then
// make the ambient set exactly as listed.  Runs after the uid switch.
void apply_capability_sets(const oci::Capabilities &caps);

} // namespace mxc::sandbox
