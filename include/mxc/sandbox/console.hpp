// Pseudo-terminals for process.terminal.
#pragma once

#include <string>

#include "mxc/oci/spec.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::sandbox {

// Inside the container (after pivot_root): open /dev/ptmx, unlock, make the
// slave the controlling terminal on 0,1,2, apply consoleSize; returns the master.
UniqueFd setup_console(const std::optional<oci::ConsoleSize> &size);
// Hand the master to a --console-socket listener (runc's protocol: SCM_RIGHTS).
void send_to_console_socket(const std::string &socket_path, int master);
// Copy between our stdio and the master until the process exits; resizes on SIGWINCH.
// Returns when the master hangs up.
void relay_console(int master, int stop_fd);

} // namespace mxc::sandbox
