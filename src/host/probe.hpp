// Internal to src/host: helpers shared by doctor and features — the check
// record, mountinfo reading under a root prefix, and running a probe in a
// forked child so that whatever it does to its namespaces dies with it.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mxc::host::detail {

// One doctor line.
nlohmann::json check(const std::string &area, const std::string &name, bool ok, std::string detail);

// What doctor() builds: the flat list of checks plus one object of facts per area.
struct Report {
    nlohmann::json checks = nlohmann::json::array();
    nlohmann::json facts = nlohmann::json::object();
    void add(const std::string &area, const std::string &name, bool ok, std::string detail) {
        checks.push_back(check(area, name, ok, std::move(detail)));
    }
};

// The value of NAME in an environment block (nullptr envp: no environment).
const char *env_lookup(const char *const *envp, const char *name);

// Areas probed by files of their own.
void probe_bpf(const std::string &root, bool load_programs, Report &r);

// Host security modules, read under root.
bool apparmor_enabled(const std::string &root);
bool selinux_enabled(const std::string &root);

// "EPERM (Operation not permitted)".
std::string errno_text(int err);

// root + path, where root may be "" or end in '/'.
std::string under(const std::string &root, const std::string &path);

// Contents of root+path with trailing whitespace trimmed, or nullopt when unreadable.
std::optional<std::string> read_trimmed(const std::string &path);

struct MountEntry {
    std::string mountpoint;
    std::string fstype;
    std::string source;
    std::string super_opts;
};
// Parses a mountinfo file; an unreadable file gives an empty list.
std::vector<MountEntry> read_mountinfo(const std::string &path);

// What a forked probe sends back.  Plain data: the child writes it with one write().
struct ChildResult {
    int rc = -1;       // 0: probe succeeded
    int err = 0;       // errno of the failing step
    int errs[16] = {}; // per-item errno for probes that try several things (0 = ok)
    char step[64] = {};
    char text[192] = {};
};
// Runs fn in a forked child and returns what it filled in.  The child never
// returns into the caller's code: it _exit()s after fn.  A child that dies or
// does not answer within timeout_ms gives rc = -1 and a step saying so.
ChildResult run_in_child(const std::function<void(ChildResult &)> &fn, int timeout_ms = 5000);

// Helpers usable inside a child (no allocation).
void set_step(ChildResult &r, const char *step, int err);
bool write_proc_file(const char *path, const char *data, int &err);

// Idmapped mounts: MOUNT_ATTR_IDMAP on a detached tmpfs mount.  ok=false with
// the reason when this process lacks privilege or the kernel refuses.
struct IdmapProbe {
    bool ok = false;
    bool tried = false;
    std::string detail;
};
IdmapProbe probe_idmap();

} // namespace mxc::host::detail
