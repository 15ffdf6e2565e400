// Namespace types, clone flags, user-namespace id maps.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "mxc/oci/spec.hpp"

namespace mxc::sandbox {

// "network" -> CLONE_NEWNET ...; throws on unknown.
int clone_flag(const std::string &type);
// "network" -> "net" (the /proc/PID/ns/ file name).
const char *proc_ns_name(const std::string &type);
// Flags for the namespaces the spec creates (no path).
int new_namespace_flags(const oci::Linux &l);

// Write uid_map/gid_map of pid.  A single mapping of the caller's own ids
// needs no helper (setgroups is denied first, as the kernel requires);
// anything else goes through newuidmap/newgidmap when not root.
void write_id_maps(pid_t pid, const std::vector<oci::IdMapping> &uids, const std::vector<oci::IdMapping> &gids);
// Whether setgroups(2) will be allowed in a user namespace with these maps
// written by the current caller (false for the rootless single-id case).
bool setgroups_allowed(const std::vector<oci::IdMapping> &gids);
// Inside the namespace: whether /proc/self/setgroups still says "allow".
bool setgroups_allowed_in_self();

} // namespace mxc::sandbox
