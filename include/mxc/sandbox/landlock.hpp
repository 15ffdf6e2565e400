// Landlock: a process-level second wall behind the mounts.  The ruleset
// mirrors the filesystem policy (read-only and read-write trees); everything
// else is denied by the kernel even if a mount were to expose it.
#pragma once

#include <string>
#include <vector>

#include "mxc/util/fd.hpp"

namespace mxc::sandbox {

struct LandlockRule {
    std::string path;
    bool write = false;
};

// The Landlock ABI version of the running kernel, 0 when unavailable.
int landlock_abi();

// Restrict the calling process (needs no_new_privs or CAP_SYS_ADMIN).  Paths
// that do not exist are skipped.  With required, a kernel without Landlock is
// an error; otherwise it returns false and the caller says so.
bool apply_landlock(const std::vector<LandlockRule> &rules, bool required);

// The two halves of apply_landlock.  build opens the rules' paths and returns
// the ruleset (an empty fd when the kernel has no Landlock and !required);
// restrict enforces it on the caller.  A sandbox builds its ruleset before
// its audit filter is loaded, so those opens are neither held up by the
// seccomp listener nor recorded as the agent's, and restricts itself last.
UniqueFd build_landlock(const std::vector<LandlockRule> &rules, bool required);
void restrict_landlock(const UniqueFd &ruleset);

} // namespace mxc::sandbox
