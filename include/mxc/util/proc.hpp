// Process helpers: pidfds, start times, waiting.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "mxc/util/fd.hpp"

namespace mxc {

// Start time of pid in clock ticks since boot (/proc/PID/stat field 22), or
// nullopt when the process does not exist.  A pid plus its start time names a
// process without a race against pid reuse.
std::optional<uint64_t> process_start_time(pid_t pid);
// The state letter from /proc/PID/stat ('R', 'S', 'Z', ...), or 0 when gone.
char process_state(pid_t pid);
UniqueFd pidfd_open(pid_t pid);
int pidfd_send_signal(int pidfd, int sig);
// Signal number from "KILL", "SIGKILL", "9".  Throws on unknown names.
int parse_signal(const std::string &s);
std::string signal_name(int sig);
// Exit status of a wait status in shell convention (128+N for a signal).
int exit_code_from_status(int status);

} // namespace mxc
