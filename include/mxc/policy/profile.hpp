// Agent profiles: YAML files (schema in man/mxc-profile.5) loaded into a
// Profile value, then compiled together with the run request and the facts of
// the host into an OCI spec that the ordinary create/start path runs.
//
// load_profile() parses and validates (errors name the file and the YAML path:
// `profiles/x.yaml: .filesystem.readwrite[2]: expected a string`); compile()
// is pure apart from reading the host tree under HostContext::host_root
// (realpath, lstat, access), so that it can be tested on a fixture tree.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mxc/oci/spec.hpp"

namespace mxc::policy {

// One profile after `extends` was merged.  Unset scalars stay unset so that a
// profile that extends another overrides only what it names; compile() applies
// the defaults.
struct Profile {
    std::string name;
    std::string description;
    std::string source;               // the file it was read from
    std::vector<std::string> chain;   // extends chain, this profile first

    struct Filesystem {
        // Paths as written: may start with ~ and use ${HOME} / ${WORKSPACE}.
        std::vector<std::string> readwrite, readonly, deny, tmpfs;
        std::optional<std::string> home; // "hidden" | "readonly"
    } filesystem;

    struct Network {
        std::optional<std::string> mode; // none | loopback | allow | host
        std::vector<std::string> allow;
    } network;

    struct Limits {
        std::optional<std::string> memory; // "512M"
        std::optional<int64_t> pids;
        std::optional<double> cpu;
        std::optional<std::string> timeout; // "30m"
        std::optional<bool> required;
    } limits;

    struct Env {
        std::vector<std::string> keep; // NAME or PREFIX*
        std::map<std::string, std::string> set;
    } env;

    std::optional<std::string> seccomp; // default | strict | absolute path of a JSON file
    std::optional<bool> identity_env;
    std::optional<std::string> audit; // required | best-effort | off
    std::optional<bool> gpu;
};

// NAME is looked up in profile_search_path(); a NAME containing '/' or ending
// in .yaml is a file.  Throws mxc::Error.
Profile load_profile(const std::string &name_or_file);
// Parse and validate one file (and what it extends); throws on the first problem.
void check_profile_file(const std::string &path);

// $MXC_PROFILE_PATH (colon list), ~/.config/mxc/profiles, /etc/mxc/profiles,
// the source tree's profiles/ (builds run from the tree), datadir/mxc/profiles.
std::vector<std::string> profile_search_path();
// The profiles/ directory this build ships (source tree).
std::string builtin_profile_dir();

struct ProfileInfo {
    std::string name;
    std::string path;
    std::string description; // empty when the file does not parse
};
// Every *.yaml in the search path; a name found earlier shadows later ones.
std::vector<ProfileInfo> list_profiles();

// Sizes ("512M", "1.5G", "1024", "64KiB") to bytes; durations ("30m", "90s",
// "1h30m", "500ms", a bare number is seconds) to milliseconds.  Throw on junk.
uint64_t parse_size(const std::string &text);
uint64_t parse_duration_ms(const std::string &text);
// One network allow-list entry: host, *.suffix, host:port, [v6]:port, CIDR.
// Throws with the reason when it is not one of those.
void check_allow_entry(const std::string &entry);

// What the person asked on the command line; it overrides / extends the profile.
struct RunRequest {
    std::string workspace; // empty: HostContext::cwd
    std::vector<std::string> rw, ro, deny;
    std::optional<std::string> net;
    std::vector<std::string> allow;
    std::optional<std::string> memory;
    std::optional<int64_t> pids;
    std::optional<double> cpus;
    std::optional<std::string> timeout;
    std::vector<std::string> env_set;  // K=V
    std::vector<std::string> keep_env; // NAME or PREFIX*
    bool tty = false;
    std::vector<std::string> command;
    std::string identity_name, identity_uuid;
    std::string container_id;
    bool gpu = false;
};

// The facts about the caller and the host that compile() depends on.
struct HostContext {
    std::string home, user, cwd;
    uid_t uid = 0;
    gid_t gid = 0;
    bool root = false;
    std::vector<std::string> environ; // K=V
    // Prefix under which every host path is read (tests point it at a fixture
    // tree).  Mount sources and destinations in the plan never contain it.
    std::string host_root = "";
    bool wsl = false;
    std::vector<std::string> windows_drives; // "/mnt/c" ...
    // access(2) seam for the "a grant never exceeds the caller's own access"
    // rule; empty: faccessat(AT_EACCESS) on host_root + path.  Returns 0 or -1.
    std::function<int(const std::string &host_path, int mode)> access;

    static HostContext current();
};

struct FsRule {
    std::string path;
    std::string access; // "ro" | "rw"
};

struct Plan {
    oci::Spec spec;
    std::string network_mode; // none | loopback | allow | host
    std::vector<std::string> allow;
    std::optional<uint64_t> timeout_ms;
    bool limits_required = false;
    std::string audit; // required | best-effort | off
    // Landlock allow-list mirroring the mounts (Landlock cannot express a deny
    // below a grant; those stay with the mounts).
    std::vector<FsRule> landlock_rules;
    // What was hidden, dropped or degraded, and why (shown by --json / render).
    std::vector<std::string> notes;
};

Plan compile(const Profile &profile, const RunRequest &req, const HostContext &ctx);

// The `strict` seccomp profile: the default agent filter plus ptrace,
// process_vm_*, unshare, namespace flags of clone, clone3 (ENOSYS so that libc
// falls back to clone), kcmp, chroot, mknod of devices.
oci::Seccomp strict_seccomp_profile();

} // namespace mxc::policy
