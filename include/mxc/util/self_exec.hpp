// Running the runtime from a copy of itself that a container cannot write
// (the CVE-2019-5736 class): a container process that reaches /proc/<pid>/exe
// of ours finds a read-only bind (root) or a sealed memfd, never the host's
// writable binary.
#pragma once

#include <string>

namespace mxc::self_exec {

// Remember argv (and whether we already run from a sealed copy); clears the
// marker from the environment so that children do not inherit it.
void init(int argc, char **argv);
// Re-execute ourselves from a sealed copy, unless already done or not needed
// (a binary we cannot write).  Returns "" then; otherwise returns only when
// that is impossible, with why: the caller refuses to go on (fail closed),
// as carrying on from the file would let the container write the runtime.
// Call it before any side effect: the process starts over.
std::string reexec_sealed();
bool sealed();

} // namespace mxc::self_exec
