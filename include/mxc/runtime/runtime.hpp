// The container store under --root and the runc-compatible operations.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mxc/oci/spec.hpp"

namespace mxc::runtime {

struct Global {
    std::string root;           // state directory root (--root)
    bool rootless = false;      // resolved from --rootless auto|true|false
    bool systemd_cgroup = false;
    // --audit-identity / $MXC_AUDIT_IDENTITY: bundles without the
    // org.mxc.identity annotation are audited under this identity.
    std::string audit_identity;
};

// Default --root: /run/mxc as root, $XDG_RUNTIME_DIR/mxc otherwise.
std::string default_root();
// --rootless auto|true|false -> bool.
bool resolve_rootless(const std::string &mode);

enum class Status { created, running, paused, stopped };
const char *status_name(Status s);

// What we keep in <root>/<id>/state.json.
struct State {
    std::string id;
    pid_t pid = 0;
    uint64_t pid_start = 0;     // start time of pid, to survive pid reuse
    std::string bundle;
    std::string rootfs;
    std::string created;        // RFC 3339
    std::string owner;          // user name of the creator
    uid_t owner_uid = 0;
    std::map<std::string, std::string> annotations;
    std::string cgroup_path;    // "" when the container has no cgroup
    bool cgroup_via_mxcd = false; // rootless: below the sub-tree mxcd delegated; mxcd moves pids in
    bool rootless = false;
    bool started = false;
    nlohmann::json config;      // the spec as created (for exec, hooks, update)
    // Agent sandboxes: the Landlock rules, applied to `exec`'d processes too.
    std::vector<std::pair<std::string, bool>> landlock;
    // Audit registration: {"backend":"bpf","identity":...,"socket":...} while
    // mxcd watches the sandbox; null when not audited by mxcd.
    nlohmann::json audit;
};

// The OCI annotation that binds a bundle to an identity: such a container is
// audited by mxcd (and refused when mxcd is not there).
inline constexpr const char *kIdentityAnnotation = "org.mxc.identity";

class Store {
public:
    explicit Store(std::string root) : root_(std::move(root)) {}
    const std::string &root() const { return root_; }
    std::string dir(const std::string &id) const { return root_ + "/" + id; }
    std::string fifo(const std::string &id) const { return dir(id) + "/exec.fifo"; }
    bool exists(const std::string &id) const;
    State load(const std::string &id) const;
    void save(const State &s) const;
    std::vector<std::string> ids() const;
    void remove(const std::string &id) const;

private:
    std::string root_;
};

// Container ids: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 1024 chars (no "/" or "..").
void check_id(const std::string &id);

Status status_of(const Store &store, const State &s);
// The runtime-spec state (ociVersion, id, status, pid, bundle, annotations) plus
// runc's "created" and "owner".
nlohmann::json state_json(const State &s, Status st);

struct CreateOptions {
    std::string id;
    std::string bundle = ".";
    std::string pid_file;
    std::string console_socket;
    bool no_pivot = false;
    bool no_new_keyring = false;
    int preserve_fds = 0;
    bool detach = false;        // run: return after start
    bool keep = false;          // run: accepted, ignored (runc --keep)
    bool foreground = false;    // run without --detach: mxc relays the terminal itself

    // Agent sandbox: a spec built in memory instead of bundle/config.json.
    std::optional<oci::Spec> spec;
    std::string rootfs_source;
    bool recursive_readonly = false;
    bool loopback_up = false;
    bool die_with_parent = false;
    uint16_t proxy_port = 0;
    bool init = false;
    int exit_report_fd = -1; // see sandbox::SpawnConfig
    std::vector<std::pair<std::string, bool>> landlock; // path, writable
    // Register the sandbox with mxcd under this identity (agent sandboxes);
    // OCI bundles name it in the org.mxc.identity annotation.  Either way a
    // registration that fails makes create fail: audit fails closed.
    std::string audit_identity;
    // Seccomp NOTIFY rules without a listenerPath: the caller supervises the
    // listener (Created::spawned.seccomp_fd) itself.
    bool audit_notify = false;
    // See sandbox::SpawnConfig::while_setting_up.
    std::function<void(pid_t)> while_setting_up;
};

void create(const Global &g, const CreateOptions &o);
void start(const Global &g, const std::string &id);
// create + start; without detach waits and returns the exit code (128+N for signal N)
// and deletes the container.
int run(const Global &g, const CreateOptions &o);
void kill(const Global &g, const std::string &id, int sig, bool all);
void remove(const Global &g, const std::string &id, bool force);
nlohmann::json state(const Global &g, const std::string &id);
void pause(const Global &g, const std::string &id);
void resume(const Global &g, const std::string &id);
void update(const Global &g, const std::string &id, const oci::Resources &r);
std::vector<pid_t> ps(const Global &g, const std::string &id);
struct ListEntry {
    State state;
    Status status;
};
std::vector<ListEntry> list(const Global &g);

struct ExecOptions {
    std::string id;
    oci::Process process;
    bool detach = false;
    std::string pid_file;
    std::string console_socket;
    int preserve_fds = 0;
};
// Returns the process's exit code (0 when detached).
int exec(const Global &g, const ExecOptions &o);
// The container's process, as a base for `exec` flags (env, user, caps from config).
oci::Process base_process(const Global &g, const std::string &id);

// `events`: with stats, one JSON object; otherwise a JSON line every interval
// (and on OOM) until the container stops.
nlohmann::json stats(const Global &g, const std::string &id);
void events(const Global &g, const std::string &id, int interval_sec, bool once_stats);

} // namespace mxc::runtime
