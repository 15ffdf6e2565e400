// config.json -> oci::Spec.  Every field the runtime-spec defines for Linux is
// read; any other field is an error, because a field we silently ignored
// would be a sandbox setting the caller believes is in force and is not.
// Enumerated values are checked here so that the error names the JSON path.
#include "mxc/oci/spec.hpp"

#include <linux/capability.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <initializer_list>
#include <limits>
#include <string_view>

#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

namespace mxc::oci {
namespace {

using json = nlohmann::json;

std::string describe(const json &j) {
    switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "boolean";
    case json::value_t::string: return "string";
    case json::value_t::array: return "array";
    case json::value_t::object: return "object";
    case json::value_t::number_unsigned: return fmt::format("integer {}", j.get<uint64_t>());
    case json::value_t::number_integer: return fmt::format("integer {}", j.get<int64_t>());
    case json::value_t::number_float: return fmt::format("number {}", j.dump());
    default: return "value";
    }
}

bool is_identifier(std::string_view k) {
    if (k.empty())
        return false;
    return std::all_of(k.begin(), k.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
}

// A position in the document: the value (nullptr when absent) and its path.
class Node {
public:
    Node(const json *j, std::string path, const std::string &src) : j_(j), path_(std::move(path)), src_(&src) {}

    // Absent and null are the same thing, as for Go's encoding/json.
    bool absent() const { return j_ == nullptr || j_->is_null(); }
    const json &value() const { return *j_; }
    const std::string &path() const { return path_; }

    template <typename... Args>
    [[noreturn]] void fail(fmt::format_string<Args...> f, Args &&...args) const {
        throw_error("{}: {}: {}", *src_, path_.empty() ? "." : path_,
                    fmt::format(f, std::forward<Args>(args)...));
    }

    Node index(size_t i) const { return Node(&(*j_)[i], fmt::format("{}[{}]", path_, i), *src_); }
    Node member(const std::string &key, const json *v) const {
        if (is_identifier(key))
            return Node(v, path_ + "." + key, *src_);
        return Node(v, fmt::format("{}[{}]", path_, json(key).dump()), *src_);
    }

    void expect(bool ok, std::string_view what) const {
        if (!ok)
            fail("expected {}, got {}", what, describe(*j_));
    }

    // The object's members, after checking that only `known` keys occur.
    void object(std::initializer_list<std::string_view> known) const {
        expect(j_->is_object(), "object");
        for (const auto &[k, v] : j_->items()) {
            if (std::find(known.begin(), known.end(), k) == known.end())
                member(k, &v).fail("not supported");
        }
    }
    Node field(const std::string &key) const {
        auto it = j_->find(key);
        return member(key, it == j_->end() ? nullptr : &*it);
    }
    Node required(const std::string &key) const {
        Node n = field(key);
        if (n.absent())
            n.fail("required field missing");
        return n;
    }

    std::string str() const {
        expect(j_->is_string(), "string");
        return j_->get<std::string>();
    }
    bool boolean() const {
        expect(j_->is_boolean(), "boolean");
        return j_->get<bool>();
    }
    uint64_t unsigned_int(uint64_t max = std::numeric_limits<uint64_t>::max()) const {
        // JSON built in C++ stores non-negative literals as signed integers;
        // only the sign matters.
        expect(j_->is_number_unsigned() || (j_->is_number_integer() && j_->get<int64_t>() >= 0),
               "unsigned integer");
        uint64_t v = j_->get<uint64_t>();
        if (v > max)
            fail("{} out of range (maximum {})", v, max);
        return v;
    }
    int64_t signed_int(int64_t min = std::numeric_limits<int64_t>::min(),
                       int64_t max = std::numeric_limits<int64_t>::max()) const {
        expect(j_->is_number_integer(), "integer");
        if (j_->is_number_unsigned()) {
            uint64_t v = j_->get<uint64_t>();
            if (v > static_cast<uint64_t>(max))
                fail("{} out of range (maximum {})", v, max);
            return static_cast<int64_t>(v);
        }
        int64_t v = j_->get<int64_t>();
        if (v < min || v > max)
            fail("{} out of range ({}..{})", v, min, max);
        return v;
    }
    uint32_t u32() const { return static_cast<uint32_t>(unsigned_int(std::numeric_limits<uint32_t>::max())); }
    uint16_t u16() const { return static_cast<uint16_t>(unsigned_int(std::numeric_limits<uint16_t>::max())); }
    int32_t i32() const {
        return static_cast<int32_t>(
            signed_int(std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
    }

    template <typename Fn>
    void each(Fn &&fn) const {
        expect(j_->is_array(), "array");
        for (size_t i = 0; i < j_->size(); ++i)
            fn(index(i));
    }
    template <typename T, typename Fn>
    std::vector<T> list(Fn &&fn) const {
        std::vector<T> out;
        each([&](const Node &n) { out.push_back(fn(n)); });
        return out;
    }
    std::vector<std::string> strings() const {
        return list<std::string>([](const Node &n) { return n.str(); });
    }
    std::map<std::string, std::string> string_map() const {
        expect(j_->is_object(), "object");
        std::map<std::string, std::string> out;
        for (const auto &[k, v] : j_->items())
            out[k] = member(k, &v).str();
        return out;
    }

    // Value must be one of `allowed`; `what` names the kind in the error.
    std::string one_of(std::string_view what, std::initializer_list<std::string_view> allowed) const {
        return one_of_range(what, allowed);
    }
    template <typename Range>
    std::string one_of_range(std::string_view what, const Range &allowed) const {
        std::string s = str();
        if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
            fail("unknown {} \"{}\"", what, s);
        return s;
    }

private:
    const json *j_;
    std::string path_;
    const std::string *src_;
};

// Read an optional field into `out` with `fn` when present.
template <typename T, typename Fn>
void opt(const Node &obj, const std::string &key, T &out, Fn &&fn) {
    Node n = obj.field(key);
    if (!n.absent())
        out = fn(n);
}

const auto as_str = [](const Node &n) { return n.str(); };
const auto as_bool = [](const Node &n) { return n.boolean(); };
const auto as_u32 = [](const Node &n) { return n.u32(); };
const auto as_u64 = [](const Node &n) { return n.unsigned_int(); };
const auto as_i64 = [](const Node &n) { return n.signed_int(); };
const auto as_strings = [](const Node &n) { return n.strings(); };

// Names paired with the kernel's numbers so that the table cannot drift from
// linux/capability.h without the build noticing.
struct CapName {
    std::string_view name;
    int value;
};
constexpr std::array<CapName, 41> kCapabilities{{
    {"CAP_CHOWN", CAP_CHOWN},
    {"CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE},
    {"CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH},
    {"CAP_FOWNER", CAP_FOWNER},
    {"CAP_FSETID", CAP_FSETID},
    {"CAP_KILL", CAP_KILL},
    {"CAP_SETGID", CAP_SETGID},
    {"CAP_SETUID", CAP_SETUID},
    {"CAP_SETPCAP", CAP_SETPCAP},
    {"CAP_LINUX_IMMUTABLE", CAP_LINUX_IMMUTABLE},
    {"CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE},
    {"CAP_NET_BROADCAST", CAP_NET_BROADCAST},
    {"CAP_NET_ADMIN", CAP_NET_ADMIN},
    {"CAP_NET_RAW", CAP_NET_RAW},
    {"CAP_IPC_LOCK", CAP_IPC_LOCK},
    {"CAP_IPC_OWNER", CAP_IPC_OWNER},
    {"CAP_SYS_MODULE", CAP_SYS_MODULE},
    {"CAP_SYS_RAWIO", CAP_SYS_RAWIO},
    {"CAP_SYS_CHROOT", CAP_SYS_CHROOT},
    {"CAP_SYS_PTRACE", CAP_SYS_PTRACE},
    {"CAP_SYS_PACCT", CAP_SYS_PACCT},
    {"CAP_SYS_ADMIN", CAP_SYS_ADMIN},
    {"CAP_SYS_BOOT", CAP_SYS_BOOT},
    {"CAP_SYS_NICE", CAP_SYS_NICE},
    {"CAP_SYS_RESOURCE", CAP_SYS_RESOURCE},
    {"CAP_SYS_TIME", CAP_SYS_TIME},
    {"CAP_SYS_TTY_CONFIG", CAP_SYS_TTY_CONFIG},
    {"CAP_MKNOD", CAP_MKNOD},
    {"CAP_LEASE", CAP_LEASE},
    {"CAP_AUDIT_WRITE", CAP_AUDIT_WRITE},
    {"CAP_AUDIT_CONTROL", CAP_AUDIT_CONTROL},
    {"CAP_SETFCAP", CAP_SETFCAP},
    {"CAP_MAC_OVERRIDE", CAP_MAC_OVERRIDE},
    {"CAP_MAC_ADMIN", CAP_MAC_ADMIN},
    {"CAP_SYSLOG", CAP_SYSLOG},
    {"CAP_WAKE_ALARM", CAP_WAKE_ALARM},
    {"CAP_BLOCK_SUSPEND", CAP_BLOCK_SUSPEND},
    {"CAP_AUDIT_READ", CAP_AUDIT_READ},
    {"CAP_PERFMON", CAP_PERFMON},
    {"CAP_BPF", CAP_BPF},
    {"CAP_CHECKPOINT_RESTORE", CAP_CHECKPOINT_RESTORE},
}};
constexpr bool capabilities_in_kernel_order() {
    for (size_t i = 0; i < kCapabilities.size(); ++i)
        if (kCapabilities[i].value != static_cast<int>(i))
            return false;
    return true;
}
static_assert(capabilities_in_kernel_order(), "capability table out of step with linux/capability.h");

// ---- small structures ----------------------------------------------------

IdMapping parse_id_mapping(const Node &n) {
    n.object({"containerID", "hostID", "size"});
    IdMapping m;
    m.container_id = n.required("containerID").u32();
    m.host_id = n.required("hostID").u32();
    m.size = n.required("size").u32();
    return m;
}

std::vector<IdMapping> parse_id_mappings(const Node &n) { return n.list<IdMapping>(parse_id_mapping); }

Root parse_root(const Node &n) {
    n.object({"path", "readonly"});
    Root r;
    r.path = n.required("path").str();
    opt(n, "readonly", r.readonly, as_bool);
    return r;
}

Mount parse_mount(const Node &n) {
    n.object({"destination", "type", "source", "options", "uidMappings", "gidMappings"});
    Mount m;
    m.destination = n.required("destination").str();
    opt(n, "type", m.type, as_str);
    opt(n, "source", m.source, as_str);
    // Options stay strings: the rootfs code turns them into flags and data.
    opt(n, "options", m.options, as_strings);
    opt(n, "uidMappings", m.uid_mappings, parse_id_mappings);
    opt(n, "gidMappings", m.gid_mappings, parse_id_mappings);
    return m;
}

Hook parse_hook(const Node &n) {
    n.object({"path", "args", "env", "timeout"});
    Hook h;
    h.path = n.required("path").str();
    opt(n, "args", h.args, as_strings);
    opt(n, "env", h.env, as_strings);
    opt(n, "timeout", h.timeout, [](const Node &t) { return static_cast<int>(t.i32()); });
    return h;
}

Hooks parse_hooks(const Node &n) {
    n.object({"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"});
    Hooks h;
    auto hooks = [](const Node &l) { return l.list<Hook>(parse_hook); };
    opt(n, "prestart", h.prestart, hooks); // deprecated by the spec, still run
    opt(n, "createRuntime", h.create_runtime, hooks);
    opt(n, "createContainer", h.create_container, hooks);
    opt(n, "startContainer", h.start_container, hooks);
    opt(n, "poststart", h.poststart, hooks);
    opt(n, "poststop", h.poststop, hooks);
    return h;
}

// ---- process -------------------------------------------------------------

std::vector<std::string> parse_cap_set(const Node &n) {
    return n.list<std::string>([](const Node &c) {
        std::string s = c.str();
        bool known = std::any_of(kCapabilities.begin(), kCapabilities.end(),
                                 [&](const CapName &k) { return k.name == s; });
        if (!known)
            c.fail("unknown capability \"{}\"", s);
        return s;
    });
}

Capabilities parse_capabilities(const Node &n) {
    n.object({"bounding", "effective", "inheritable", "permitted", "ambient"});
    Capabilities c;
    opt(n, "bounding", c.bounding, parse_cap_set);
    opt(n, "effective", c.effective, parse_cap_set);
    opt(n, "inheritable", c.inheritable, parse_cap_set);
    opt(n, "permitted", c.permitted, parse_cap_set);
    opt(n, "ambient", c.ambient, parse_cap_set);
    return c;
}

Rlimit parse_rlimit(const Node &n) {
    n.object({"type", "soft", "hard"});
    Rlimit r;
    r.type = n.required("type").one_of(
        "rlimit", {"RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
                   "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
                   "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK"});
    r.soft = n.required("soft").unsigned_int();
    r.hard = n.required("hard").unsigned_int();
    return r;
}

User parse_user(const Node &n) {
    // "username" is Windows-only and therefore "not supported" here.
    n.object({"uid", "gid", "umask", "additionalGids"});
    User u;
    u.uid = n.required("uid").u32();
    u.gid = n.required("gid").u32();
    opt(n, "umask", u.umask, [](const Node &m) { return static_cast<uint32_t>(m.unsigned_int(07777)); });
    opt(n, "additionalGids", u.additional_gids, [](const Node &l) { return l.list<uint32_t>(as_u32); });
    return u;
}

ConsoleSize parse_console_size(const Node &n) {
    n.object({"height", "width"});
    ConsoleSize c;
    c.height = n.required("height").u32();
    c.width = n.required("width").u32();
    return c;
}

Scheduler parse_scheduler(const Node &n) {
    n.object({"policy", "nice", "priority", "flags", "runtime", "deadline", "period"});
    Scheduler s;
    s.policy = n.required("policy").one_of("scheduler policy", {"SCHED_OTHER", "SCHED_FIFO", "SCHED_RR",
                                                                "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE",
                                                                "SCHED_DEADLINE"});
    opt(n, "nice", s.nice, [](const Node &v) { return static_cast<int32_t>(v.signed_int(-20, 19)); });
    opt(n, "priority", s.priority, [](const Node &v) { return v.i32(); });
    opt(n, "flags", s.flags, [](const Node &l) {
        return l.list<std::string>([](const Node &f) {
            return f.one_of("scheduler flag",
                            {"SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN",
                             "SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN",
                             "SCHED_FLAG_UTIL_CLAMP_MAX"});
        });
    });
    opt(n, "runtime", s.runtime, as_u64);
    opt(n, "deadline", s.deadline, as_u64);
    opt(n, "period", s.period, as_u64);
    return s;
}

IoPriority parse_io_priority(const Node &n) {
    n.object({"class", "priority"});
    IoPriority p;
    p.io_class = n.required("class").one_of("ioPriority class", {"IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE",
                                                                  "IOPRIO_CLASS_IDLE"});
    p.priority = static_cast<int32_t>(n.required("priority").signed_int(0, 7));
    return p;
}

Process parse_process_node(const Node &n) {
    n.object({"terminal", "consoleSize", "user", "args", "env", "cwd", "capabilities", "rlimits",
              "noNewPrivileges", "apparmorProfile", "oomScoreAdj", "selinuxLabel", "scheduler", "ioPriority"});
    Process p;
    opt(n, "terminal", p.terminal, as_bool);
    opt(n, "consoleSize", p.console_size, parse_console_size);
    opt(n, "user", p.user, parse_user);
    opt(n, "args", p.args, as_strings);
    opt(n, "env", p.env, as_strings);
    // cwd is REQUIRED; an empty value lets validate() say so with the path.
    p.cwd.clear();
    opt(n, "cwd", p.cwd, as_str);
    opt(n, "capabilities", p.capabilities, parse_capabilities);
    opt(n, "rlimits", p.rlimits, [](const Node &l) { return l.list<Rlimit>(parse_rlimit); });
    opt(n, "noNewPrivileges", p.no_new_privileges, as_bool);
    opt(n, "apparmorProfile", p.apparmor_profile, as_str);
    opt(n, "oomScoreAdj", p.oom_score_adj, [](const Node &v) { return static_cast<int>(v.i32()); });
    opt(n, "selinuxLabel", p.selinux_label, as_str);
    opt(n, "scheduler", p.scheduler, parse_scheduler);
    opt(n, "ioPriority", p.io_priority, parse_io_priority);
    return p;
}

// ---- linux.resources -----------------------------------------------------

DeviceRule parse_device_rule(const Node &n) {
    n.object({"allow", "type", "major", "minor", "access"});
    DeviceRule d;
    d.allow = n.required("allow").boolean();
    opt(n, "type", d.type, [](const Node &t) { return t.one_of("device type", {"a", "c", "b"}); });
    opt(n, "major", d.major, as_i64);
    opt(n, "minor", d.minor, as_i64);
    opt(n, "access", d.access, [](const Node &a) {
        std::string s = a.str();
        if (s.find_first_not_of("rwm") != std::string::npos)
            a.fail("unknown device access \"{}\" (a combination of r, w, m)", s);
        return s;
    });
    return d;
}

Memory parse_memory(const Node &n) {
    n.object({"limit", "reservation", "swap", "kernel", "kernelTCP", "swappiness", "disableOOMKiller",
              "useHierarchy", "checkBeforeUpdate"});
    Memory m;
    opt(n, "limit", m.limit, as_i64);
    opt(n, "reservation", m.reservation, as_i64);
    opt(n, "swap", m.swap, as_i64);
    opt(n, "kernel", m.kernel, as_i64);
    opt(n, "kernelTCP", m.kernel_tcp, as_i64);
    opt(n, "swappiness", m.swappiness, [](const Node &v) { return v.unsigned_int(100); });
    opt(n, "disableOOMKiller", m.disable_oom_killer, as_bool);
    opt(n, "useHierarchy", m.use_hierarchy, as_bool);
    opt(n, "checkBeforeUpdate", m.check_before_update, as_bool);
    return m;
}

Cpu parse_cpu(const Node &n) {
    n.object({"shares", "quota", "burst", "period", "realtimeRuntime", "realtimePeriod", "cpus", "mems", "idle"});
    Cpu c;
    opt(n, "shares", c.shares, as_u64);
    opt(n, "quota", c.quota, as_i64);
    opt(n, "burst", c.burst, as_i64);
    opt(n, "period", c.period, as_u64);
    opt(n, "realtimeRuntime", c.realtime_runtime, as_i64);
    opt(n, "realtimePeriod", c.realtime_period, as_u64);
    opt(n, "cpus", c.cpus, as_str);
    opt(n, "mems", c.mems, as_str);
    opt(n, "idle", c.idle, [](const Node &v) {
        // The spec's idle is an int64 where only 0 and 1 mean anything.
        return v.signed_int(0, 1) == 1;
    });
    return c;
}

BlockIoDevice parse_weight_device(const Node &n) {
    n.object({"major", "minor", "weight", "leafWeight"});
    BlockIoDevice d;
    d.major = n.required("major").signed_int();
    d.minor = n.required("minor").signed_int();
    opt(n, "weight", d.weight, [](const Node &v) { return v.u16(); });
    opt(n, "leafWeight", d.leaf_weight, [](const Node &v) { return v.u16(); });
    return d;
}

BlockIoThrottle parse_throttle(const Node &n) {
    n.object({"major", "minor", "rate"});
    BlockIoThrottle t;
    t.major = n.required("major").signed_int();
    t.minor = n.required("minor").signed_int();
    t.rate = n.required("rate").unsigned_int();
    return t;
}

BlockIo parse_block_io(const Node &n) {
    n.object({"weight", "leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice",
              "throttleReadIOPSDevice", "throttleWriteIOPSDevice"});
    BlockIo b;
    auto throttles = [](const Node &l) { return l.list<BlockIoThrottle>(parse_throttle); };
    opt(n, "weight", b.weight, [](const Node &v) { return v.u16(); });
    opt(n, "leafWeight", b.leaf_weight, [](const Node &v) { return v.u16(); });
    opt(n, "weightDevice", b.weight_device, [](const Node &l) { return l.list<BlockIoDevice>(parse_weight_device); });
    opt(n, "throttleReadBpsDevice", b.throttle_read_bps, throttles);
    opt(n, "throttleWriteBpsDevice", b.throttle_write_bps, throttles);
    opt(n, "throttleReadIOPSDevice", b.throttle_read_iops, throttles);
    opt(n, "throttleWriteIOPSDevice", b.throttle_write_iops, throttles);
    return b;
}

HugepageLimit parse_hugepage_limit(const Node &n) {
    n.object({"pageSize", "limit"});
    HugepageLimit h;
    h.page_size = n.required("pageSize").str();
    h.limit = n.required("limit").unsigned_int();
    return h;
}

Resources parse_resources_node(const Node &n) {
    // network (net_cls/net_prio) and rdma are cgroup v1 controllers mxc does
    // not drive: "not supported" rather than silently dropped.
    n.object({"devices", "memory", "cpu", "pids", "blockIO", "hugepageLimits", "unified"});
    Resources r;
    opt(n, "devices", r.devices, [](const Node &l) { return l.list<DeviceRule>(parse_device_rule); });
    opt(n, "memory", r.memory, parse_memory);
    opt(n, "cpu", r.cpu, parse_cpu);
    opt(n, "pids", r.pids, [](const Node &p) {
        p.object({"limit"});
        return Pids{p.required("limit").signed_int()};
    });
    opt(n, "blockIO", r.block_io, parse_block_io);
    opt(n, "hugepageLimits", r.hugepage_limits,
        [](const Node &l) { return l.list<HugepageLimit>(parse_hugepage_limit); });
    opt(n, "unified", r.unified, [](const Node &m) { return m.string_map(); });
    return r;
}

// ---- linux ---------------------------------------------------------------

Namespace parse_namespace(const Node &n) {
    n.object({"type", "path"});
    Namespace ns;
    ns.type = n.required("type").one_of("namespace", {"pid", "network", "mount", "ipc", "uts", "user",
                                                      "cgroup", "time"});
    opt(n, "path", ns.path, as_str);
    return ns;
}

DeviceNode parse_device_node(const Node &n) {
    n.object({"path", "type", "major", "minor", "fileMode", "uid", "gid"});
    DeviceNode d;
    d.path = n.required("path").str();
    d.type = n.required("type").one_of("device type", {"c", "b", "u", "p"});
    opt(n, "major", d.major, as_i64);
    opt(n, "minor", d.minor, as_i64);
    opt(n, "fileMode", d.file_mode, as_u32);
    opt(n, "uid", d.uid, as_u32);
    opt(n, "gid", d.gid, as_u32);
    return d;
}

constexpr std::array<std::string_view, 9> kSeccompActions = {
    "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"};

SeccompArg parse_seccomp_arg(const Node &n) {
    n.object({"index", "value", "valueTwo", "op"});
    SeccompArg a;
    a.index = static_cast<uint32_t>(n.required("index").unsigned_int(5)); // six syscall arguments
    a.value = n.required("value").unsigned_int();
    opt(n, "valueTwo", a.value_two, as_u64);
    a.op = n.required("op").one_of("seccomp operator", {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ",
                                                        "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"});
    return a;
}

SeccompSyscall parse_seccomp_syscall(const Node &n) {
    n.object({"names", "action", "errnoRet", "args"});
    SeccompSyscall s;
    s.names = n.required("names").strings();
    s.action = n.required("action").one_of_range("seccomp action", kSeccompActions);
    opt(n, "errnoRet", s.errno_ret, as_u32);
    opt(n, "args", s.args, [](const Node &l) { return l.list<SeccompArg>(parse_seccomp_arg); });
    return s;
}

Seccomp parse_seccomp(const Node &n) {
    n.object({"defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath", "listenerMetadata",
              "syscalls"});
    Seccomp s;
    s.default_action = n.required("defaultAction").one_of_range("seccomp action", kSeccompActions);
    opt(n, "defaultErrnoRet", s.default_errno_ret, as_u32);
    opt(n, "architectures", s.architectures, [](const Node &l) {
        return l.list<std::string>([](const Node &a) {
            return a.one_of("seccomp architecture",
                            {"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM",
                             "SCMP_ARCH_AARCH64", "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32",
                             "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
                             "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390", "SCMP_ARCH_S390X",
                             "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
                             "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB"});
        });
    });
    opt(n, "flags", s.flags, [](const Node &l) {
        return l.list<std::string>([](const Node &f) {
            return f.one_of("seccomp flag", {"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                                             "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                             "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"});
        });
    });
    opt(n, "listenerPath", s.listener_path, as_str);
    opt(n, "listenerMetadata", s.listener_metadata, as_str);
    opt(n, "syscalls", s.syscalls, [](const Node &l) { return l.list<SeccompSyscall>(parse_seccomp_syscall); });
    return s;
}

Personality parse_personality(const Node &n) {
    n.object({"domain", "flags"});
    Personality p;
    p.domain = n.required("domain").one_of("personality domain", {"LINUX", "LINUX32"});
    // The spec defines no flag values yet, so any flag is one we cannot apply.
    opt(n, "flags", p.flags, [](const Node &l) {
        return l.list<std::string>([](const Node &f) -> std::string { f.fail("unknown personality flag \"{}\"", f.str()); });
    });
    return p;
}

std::map<std::string, TimeOffset> parse_time_offsets(const Node &n) {
    n.object({"monotonic", "boottime"});
    std::map<std::string, TimeOffset> out;
    for (const char *clock : {"monotonic", "boottime"}) {
        Node c = n.field(clock);
        if (c.absent())
            continue;
        c.object({"secs", "nanosecs"});
        TimeOffset t;
        opt(c, "secs", t.secs, as_i64);
        opt(c, "nanosecs", t.nanosecs, [](const Node &v) { return static_cast<uint32_t>(v.unsigned_int(999999999)); });
        out[clock] = t;
    }
    return out;
}

Linux parse_linux(const Node &n) {
    // intelRdt, netDevices and memoryPolicy need runtime support mxc lacks.
    n.object({"uidMappings", "gidMappings", "sysctl", "resources", "cgroupsPath", "namespaces", "devices", "seccomp",
              "rootfsPropagation", "maskedPaths", "readonlyPaths", "mountLabel", "personality", "timeOffsets"});
    Linux l;
    opt(n, "uidMappings", l.uid_mappings, parse_id_mappings);
    opt(n, "gidMappings", l.gid_mappings, parse_id_mappings);
    opt(n, "sysctl", l.sysctl, [](const Node &m) { return m.string_map(); });
    opt(n, "resources", l.resources, parse_resources_node);
    opt(n, "cgroupsPath", l.cgroups_path, as_str);
    opt(n, "namespaces", l.namespaces, [](const Node &v) { return v.list<Namespace>(parse_namespace); });
    opt(n, "devices", l.devices, [](const Node &v) { return v.list<DeviceNode>(parse_device_node); });
    opt(n, "seccomp", l.seccomp, parse_seccomp);
    opt(n, "rootfsPropagation", l.rootfs_propagation, [](const Node &p) {
        return p.one_of("propagation", {"shared", "slave", "private", "unbindable", "rshared", "rslave",
                                        "rprivate", "runbindable"});
    });
    opt(n, "maskedPaths", l.masked_paths, as_strings);
    opt(n, "readonlyPaths", l.readonly_paths, as_strings);
    opt(n, "mountLabel", l.mount_label, as_str);
    opt(n, "personality", l.personality, parse_personality);
    opt(n, "timeOffsets", l.time_offsets, parse_time_offsets);
    return l;
}

Spec parse_spec_node(const Node &n) {
    // windows, solaris, vm, zos (and anything else) are "not supported".
    n.object({"ociVersion", "root", "mounts", "process", "hostname", "domainname", "hooks", "annotations", "linux"});
    Spec s;
    opt(n, "ociVersion", s.oci_version, as_str);
    opt(n, "root", s.root, parse_root);
    opt(n, "mounts", s.mounts, [](const Node &l) { return l.list<Mount>(parse_mount); });
    opt(n, "process", s.process, parse_process_node);
    opt(n, "hostname", s.hostname, as_str);
    opt(n, "domainname", s.domainname, as_str);
    opt(n, "hooks", s.hooks, parse_hooks);
    opt(n, "annotations", s.annotations, [](const Node &m) { return m.string_map(); });
    opt(n, "linux", s.linux_, parse_linux);
    return s;
}

json parse_text(const std::string &text, const std::string &source_name) {
    try {
        return json::parse(text);
    } catch (const json::parse_error &e) {
        throw_error("{}: invalid JSON: {}", source_name, e.what());
    }
}

} // namespace

Spec parse_spec_json(const nlohmann::json &j, const std::string &source_name) {
    return parse_spec_node(Node(&j, "", source_name));
}

Spec parse_spec(const std::string &json_text, const std::string &source_name) {
    json j = parse_text(json_text, source_name);
    return parse_spec_json(j, source_name);
}

Spec load_spec(const std::string &path) {
    std::string text = read_file(path);
    return parse_spec(text, path);
}

Process parse_process(const nlohmann::json &j, const std::string &source_name) {
    return parse_process_node(Node(&j, "", source_name));
}

Resources parse_resources(const nlohmann::json &j, const std::string &source_name) {
    return parse_resources_node(Node(&j, "", source_name));
}

} // namespace mxc::oci
