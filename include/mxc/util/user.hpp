// The passwd entry of a uid, looked up once per process.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace mxc {

struct UserEntry {
    std::string name;
    std::string home; // as passwd has it (may be empty)
};

// getpwuid_r reads and parses nsswitch.conf and /etc/passwd each time
// (≈ 40 µs); an agent run used to ask three times before its sandbox
// started.  The answer, found or not, is kept for the process's life.
// Thread-safe.
std::optional<UserEntry> user_entry(uid_t uid);

} // namespace mxc
