// OCI runtime-spec config.json as C++ values (runtime-spec v1.2).
// oci::parse_spec() fills these from JSON and rejects every field it does not
// know with "not supported: <path>"; oci::validate() checks the rules.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mxc::oci {

struct Root {
    std::string path;
    bool readonly = false;
};

struct IdMapping {
    uint32_t container_id = 0;
    uint32_t host_id = 0;
    uint32_t size = 0;
};

struct Mount {
    std::string destination;
    std::string type;
    std::string source;
    std::vector<std::string> options;
    std::vector<IdMapping> uid_mappings;
    std::vector<IdMapping> gid_mappings;
};

struct Rlimit {
    std::string type; // "RLIMIT_NOFILE"
    uint64_t soft = 0;
    uint64_t hard = 0;
};

struct Capabilities {
    std::vector<std::string> bounding, effective, inheritable, permitted, ambient;
};

struct User {
    uint32_t uid = 0;
    uint32_t gid = 0;
    std::optional<uint32_t> umask;
    std::vector<uint32_t> additional_gids;
    std::string username; // Windows only; rejected when set
};

struct ConsoleSize {
    uint32_t height = 0;
    uint32_t width = 0;
};

struct Scheduler {
    std::string policy; // SCHED_OTHER ...
    int32_t nice = 0;
    int32_t priority = 0;
    std::vector<std::string> flags;
    uint64_t runtime = 0, deadline = 0, period = 0;
};

struct IoPriority {
    std::string io_class; // IOPRIO_CLASS_RT|BE|IDLE
    int32_t priority = 0;
};

struct Process {
    bool terminal = false;
    std::optional<ConsoleSize> console_size;
    User user;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string cwd = "/";
    std::optional<Capabilities> capabilities;
    std::vector<Rlimit> rlimits;
    bool no_new_privileges = false;
    std::string apparmor_profile;
    std::optional<int> oom_score_adj;
    std::string selinux_label;
    std::optional<Scheduler> scheduler;
    std::optional<IoPriority> io_priority;
    std::optional<std::vector<uint32_t>> exec_cpu_affinity_unused; // reserved
};

struct Hook {
    std::string path;
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::optional<int> timeout; // seconds
};

struct Hooks {
    std::vector<Hook> prestart, create_runtime, create_container, start_container, poststart, poststop;
};

struct Namespace {
    std::string type; // pid network mount ipc uts user cgroup time
    std::string path;
};

struct DeviceNode {
    std::string path;
    std::string type; // c b u p
    int64_t major = 0;
    int64_t minor = 0;
    std::optional<uint32_t> file_mode;
    std::optional<uint32_t> uid;
    std::optional<uint32_t> gid;
};

struct DeviceRule {
    bool allow = false;
    std::string type = "a"; // a c b
    std::optional<int64_t> major;
    std::optional<int64_t> minor;
    std::string access = "rwm";
};

struct Memory {
    std::optional<int64_t> limit, reservation, swap, kernel, kernel_tcp;
    std::optional<uint64_t> swappiness;
    std::optional<bool> disable_oom_killer, use_hierarchy, check_before_update;
};

struct Cpu {
    std::optional<uint64_t> shares;
    std::optional<int64_t> quota;
    std::optional<int64_t> burst;
    std::optional<uint64_t> period;
    std::optional<int64_t> realtime_runtime;
    std::optional<uint64_t> realtime_period;
    std::string cpus, mems;
    std::optional<bool> idle;
};

struct Pids {
    int64_t limit = 0;
};

struct BlockIoDevice {
    int64_t major = 0, minor = 0;
    std::optional<uint16_t> weight, leaf_weight;
};
struct BlockIoThrottle {
    int64_t major = 0, minor = 0;
    uint64_t rate = 0;
};
struct BlockIo {
    std::optional<uint16_t> weight, leaf_weight;
    std::vector<BlockIoDevice> weight_device;
    std::vector<BlockIoThrottle> throttle_read_bps, throttle_write_bps, throttle_read_iops, throttle_write_iops;
};

struct HugepageLimit {
    std::string page_size; // "2MB"
    uint64_t limit = 0;
};

struct Resources {
    std::vector<DeviceRule> devices;
    std::optional<Memory> memory;
    std::optional<Cpu> cpu;
    std::optional<Pids> pids;
    std::optional<BlockIo> block_io;
    std::vector<HugepageLimit> hugepage_limits;
    std::map<std::string, std::string> unified;
    bool empty() const {
        return devices.empty() && !memory && !cpu && !pids && !block_io && hugepage_limits.empty() &&
               unified.empty();
    }
};

struct SeccompArg {
    uint32_t index = 0;
    uint64_t value = 0;
    uint64_t value_two = 0;
    std::string op; // SCMP_CMP_EQ ...
};

struct SeccompSyscall {
    std::vector<std::string> names;
    std::string action;
    std::optional<uint32_t> errno_ret;
    std::vector<SeccompArg> args;
};

struct Seccomp {
    std::string default_action;
    std::optional<uint32_t> default_errno_ret;
    std::vector<std::string> architectures;
    std::vector<std::string> flags;
    std::string listener_path;
    std::string listener_metadata;
    std::vector<SeccompSyscall> syscalls;
};

struct TimeOffset {
    int64_t secs = 0;
    uint32_t nanosecs = 0;
};

struct Personality {
    std::string domain; // LINUX | LINUX32
    std::vector<std::string> flags;
};

struct Linux {
    std::vector<IdMapping> uid_mappings, gid_mappings;
    std::map<std::string, std::string> sysctl;
    std::optional<Resources> resources;
    std::string cgroups_path;
    std::vector<Namespace> namespaces;
    std::vector<DeviceNode> devices;
    std::optional<Seccomp> seccomp;
    std::string rootfs_propagation;
    std::vector<std::string> masked_paths, readonly_paths;
    std::string mount_label;
    std::optional<Personality> personality;
    std::map<std::string, TimeOffset> time_offsets; // "monotonic", "boottime"
    const Namespace *find_namespace(const std::string &type) const {
        for (const auto &n : namespaces)
            if (n.type == type)
                return &n;
        return nullptr;
    }
};

struct Spec {
    std::string oci_version;
    std::optional<Root> root;
    std::vector<Mount> mounts;
    std::optional<Process> process;
    std::string hostname;
    std::string domainname;
    std::optional<Hooks> hooks;
    std::map<std::string, std::string> annotations;
    std::optional<Linux> linux_;
};

// Parse config.json text. Throws mxc::Error with a message like
// `config.json: .linux.namespaces[2].type: unknown namespace "pidd"`.
Spec parse_spec(const std::string &json_text, const std::string &source_name = "config.json");
Spec parse_spec_json(const nlohmann::json &j, const std::string &source_name = "config.json");
Spec load_spec(const std::string &path);
// Semantic checks that need more than one field (mappings present when a user
// namespace is new, absolute destinations, ...).  Throws on the first problem.
void validate(const Spec &spec, const std::string &source_name = "config.json");
// Process alone, as given to `exec --process FILE`.
Process parse_process(const nlohmann::json &j, const std::string &source_name);
// Resources alone, as given to `update --resources FILE`.
Resources parse_resources(const nlohmann::json &j, const std::string &source_name);

// The JSON form of a spec (for `spec`, `profile render` and state files).
nlohmann::json to_json(const Spec &spec);
nlohmann::json to_json(const Resources &r);

// The default config.json that `mxc spec` writes (rootless variant when asked).
Spec default_spec(bool rootless);

} // namespace mxc::oci
