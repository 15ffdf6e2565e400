// Semantic rules over a parsed Spec, one function per rule.  parse_spec()
// already checked types and enumerated values; what is left here needs more
// than one field or a rule from the spec's prose.  Each rule throws with the
// JSON path of the offending value.
#include "mxc/oci/spec.hpp"

#include <cctype>
#include <set>
#include <string_view>

#include "mxc/util/error.hpp"

namespace mxc::oci {
namespace {

struct Ctx {
    const Spec &spec;
    const std::string &src;

    template <typename... Args>
    [[noreturn]] void fail(const std::string &path, fmt::format_string<Args...> f, Args &&...args) const {
        throw_error("{}: {}: {}", src, path, fmt::format(f, std::forward<Args>(args)...));
    }
    const Namespace *ns(const std::string &type) const {
        return spec.linux_ ? spec.linux_->find_namespace(type) : nullptr;
    }
    // A namespace the container creates (listed without a path).
    bool new_ns(const std::string &type) const {
        const Namespace *n = ns(type);
        return n != nullptr && n->path.empty();
    }
};

bool absolute(const std::string &p) { return !p.empty() && p.front() == '/'; }

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

void check_oci_version(const Ctx &c) {
    const std::string &v = c.spec.oci_version;
    if (v.empty())
        c.fail(".ociVersion", "required field missing");
    // Semantic versioning, major 1: "1.0.2", "1.2.0-rc.1", "1.1.0+dev".
    if (!starts_with(v, "1.") || v.size() < 3 || !std::isdigit(static_cast<unsigned char>(v[2])))
        c.fail(".ociVersion", "unsupported version \"{}\" (expected 1.x)", v);
}

void check_root(const Ctx &c) {
    if (!c.spec.root)
        c.fail(".root", "required field missing");
    if (c.spec.root->path.empty())
        c.fail(".root.path", "must not be empty");
}

void check_process(const Ctx &c) {
    if (!c.spec.process)
        return;
    const Process &p = *c.spec.process;
    if (p.args.empty())
        c.fail(".process.args", "must contain at least one entry");
    if (p.cwd.empty())
        c.fail(".process.cwd", "required field missing");
    if (!absolute(p.cwd))
        c.fail(".process.cwd", "must be an absolute path, got \"{}\"", p.cwd);
}

void check_console_size(const Ctx &c) {
    if (c.spec.process && c.spec.process->console_size && !c.spec.process->terminal)
        c.fail(".process.consoleSize", "only allowed when .process.terminal is true");
}

void check_oom_score_adj(const Ctx &c) {
    if (!c.spec.process || !c.spec.process->oom_score_adj)
        return;
    int v = *c.spec.process->oom_score_adj;
    if (v < -1000 || v > 1000)
        c.fail(".process.oomScoreAdj", "{} out of range (-1000..1000)", v);
}

void check_rlimits(const Ctx &c) {
    if (!c.spec.process)
        return;
    std::set<std::string> seen;
    const auto &rl = c.spec.process->rlimits;
    for (size_t i = 0; i < rl.size(); ++i) {
        std::string path = fmt::format(".process.rlimits[{}]", i);
        if (!seen.insert(rl[i].type).second)
            c.fail(path + ".type", "duplicate rlimit \"{}\"", rl[i].type);
        // setrlimit() refuses soft > hard with EINVAL; say so before we start.
        if (rl[i].soft > rl[i].hard)
            c.fail(path, "soft limit {} exceeds hard limit {}", rl[i].soft, rl[i].hard);
    }
}

void check_mounts(const Ctx &c) {
    for (size_t i = 0; i < c.spec.mounts.size(); ++i) {
        const Mount &m = c.spec.mounts[i];
        std::string path = fmt::format(".mounts[{}]", i);
        if (!absolute(m.destination))
            c.fail(path + ".destination", "must be an absolute path, got \"{}\"", m.destination);
        // An idmapped mount needs both maps (mount_setattr takes one userns).
        if (m.uid_mappings.empty() != m.gid_mappings.empty())
            c.fail(path, "uidMappings and gidMappings must be given together");
    }
}

void check_hooks(const Ctx &c) {
    if (!c.spec.hooks)
        return;
    const Hooks &h = *c.spec.hooks;
    const std::pair<const char *, const std::vector<Hook> *> phases[] = {
        {"prestart", &h.prestart},
        {"createRuntime", &h.create_runtime},
        {"createContainer", &h.create_container},
        {"startContainer", &h.start_container},
        {"poststart", &h.poststart},
        {"poststop", &h.poststop},
    };
    for (const auto &[name, list] : phases) {
        for (size_t i = 0; i < list->size(); ++i) {
            const Hook &hk = (*list)[i];
            std::string path = fmt::format(".hooks.{}[{}]", name, i);
            if (!absolute(hk.path))
                c.fail(path + ".path", "must be an absolute path, got \"{}\"", hk.path);
            if (hk.timeout && *hk.timeout <= 0)
                c.fail(path + ".timeout", "must be greater than zero, got {}", *hk.timeout);
        }
    }
}

void check_annotations(const Ctx &c) {
    if (c.spec.annotations.count(""))
        c.fail(".annotations", "keys must not be empty");
}

void check_namespaces(const Ctx &c) {
    if (!c.spec.linux_)
        return;
    std::set<std::string> seen;
    const auto &nss = c.spec.linux_->namespaces;
    for (size_t i = 0; i < nss.size(); ++i) {
        std::string path = fmt::format(".linux.namespaces[{}]", i);
        if (!seen.insert(nss[i].type).second)
            c.fail(path + ".type", "duplicate namespace \"{}\"", nss[i].type);
        if (!nss[i].path.empty() && !absolute(nss[i].path))
            c.fail(path + ".path", "must be an absolute path, got \"{}\"", nss[i].path);
    }
}

// config-linux.md: mappings describe the namespace the runtime creates; a
// namespace joined by path already has its maps.
void check_user_namespace(const Ctx &c) {
    if (!c.spec.linux_)
        return;
    const Linux &l = *c.spec.linux_;
    const Namespace *user = c.ns("user");
    bool has_maps = !l.uid_mappings.empty() || !l.gid_mappings.empty();
    if (user == nullptr) {
        if (has_maps)
            c.fail(l.uid_mappings.empty() ? ".linux.gidMappings" : ".linux.uidMappings",
                   "mappings given without a user namespace in .linux.namespaces");
        return;
    }
    if (!user->path.empty())
        return;
    if (l.uid_mappings.empty())
        c.fail(".linux.uidMappings", "required when a new user namespace is created");
    if (l.gid_mappings.empty())
        c.fail(".linux.gidMappings", "required when a new user namespace is created");
}

void check_id_mapping_sizes(const Ctx &c) {
    if (!c.spec.linux_)
        return;
    auto check = [&](const std::vector<IdMapping> &maps, const char *name) {
        for (size_t i = 0; i < maps.size(); ++i)
            if (maps[i].size == 0)
                c.fail(fmt::format(".linux.{}[{}].size", name, i), "must be greater than zero");
    };
    check(c.spec.linux_->uid_mappings, "uidMappings");
    check(c.spec.linux_->gid_mappings, "gidMappings");
}

// Hostname and domainname live in the UTS namespace; setting them without
// one of the container's own would rename the host.
void check_uts(const Ctx &c) {
    if (!c.spec.hostname.empty() && c.ns("uts") == nullptr)
        c.fail(".hostname", "requires a uts namespace in .linux.namespaces");
    if (!c.spec.domainname.empty() && c.ns("uts") == nullptr)
        c.fail(".domainname", "requires a uts namespace in .linux.namespaces");
}

// Only sysctls that are per-namespace may be set; anything else would change
// the host.  Same list as runc's validator.
void check_sysctl(const Ctx &c) {
    if (!c.spec.linux_)
        return;
    static const std::set<std::string_view> ipc_keys = {
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
        "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
    for (const auto &[raw, value] : c.spec.linux_->sysctl) {
        (void)value;
        std::string key = raw;
        for (char &ch : key) // "net/ipv4/ip_forward" is accepted as "net.ipv4.ip_forward"
            if (ch == '/')
                ch = '.';
        std::string path = fmt::format(".linux.sysctl[\"{}\"]", raw);
        if (ipc_keys.count(key) || starts_with(key, "fs.mqueue.")) {
            if (c.ns("ipc") == nullptr)
                c.fail(path, "requires an ipc namespace in .linux.namespaces");
            continue;
        }
        if (starts_with(key, "net.")) {
            // Joining a network namespace by path is allowed (pods share one);
            // only the host's namespace is refused.
            if (c.ns("network") == nullptr)
                c.fail(path, "requires a network namespace in .linux.namespaces");
            continue;
        }
        if (key == "kernel.hostname" || key == "kernel.domainname") {
            if (c.ns("uts") == nullptr)
                c.fail(path, "requires a uts namespace in .linux.namespaces");
            const std::string &field = key == "kernel.hostname" ? c.spec.hostname : c.spec.domainname;
            if (!field.empty())
                c.fail(path, "conflicts with .{}", key == "kernel.hostname" ? "hostname" : "domainname");
            continue;
        }
        c.fail(path, "not a namespaced sysctl; setting it would change the host");
    }
}

// Offsets can be written only before the first process enters a time
// namespace, so they need one the container creates.
void check_time_offsets(const Ctx &c) {
    if (!c.spec.linux_ || c.spec.linux_->time_offsets.empty())
        return;
    const Namespace *t = c.ns("time");
    if (t == nullptr)
        c.fail(".linux.timeOffsets", "requires a time namespace in .linux.namespaces");
    if (!t->path.empty())
        c.fail(".linux.timeOffsets", "cannot be set when joining an existing time namespace");
}

void check_linux_paths(const Ctx &c) {
    if (!c.spec.linux_)
        return;
    auto check = [&](const std::vector<std::string> &paths, const char *name) {
        for (size_t i = 0; i < paths.size(); ++i)
            if (!absolute(paths[i]))
                c.fail(fmt::format(".linux.{}[{}]", name, i), "must be an absolute path, got \"{}\"", paths[i]);
    };
    check(c.spec.linux_->masked_paths, "maskedPaths");
    check(c.spec.linux_->readonly_paths, "readonlyPaths");
}

void check_devices(const Ctx &c) {
    if (!c.spec.linux_)
        return;
    const auto &devs = c.spec.linux_->devices;
    for (size_t i = 0; i < devs.size(); ++i) {
        std::string path = fmt::format(".linux.devices[{}]", i);
        if (!absolute(devs[i].path))
            c.fail(path + ".path", "must be an absolute path, got \"{}\"", devs[i].path);
        if (devs[i].file_mode && *devs[i].file_mode > 07777)
            c.fail(path + ".fileMode", "{:o} has bits outside the permission bits (07777)", *devs[i].file_mode);
    }
}

void check_seccomp(const Ctx &c) {
    if (!c.spec.linux_ || !c.spec.linux_->seccomp)
        return;
    const Seccomp &s = *c.spec.linux_->seccomp;
    auto errno_action = [](const std::string &a) { return a == "SCMP_ACT_ERRNO" || a == "SCMP_ACT_TRACE"; };
    if (s.default_action == "SCMP_ACT_NOTIFY")
        c.fail(".linux.seccomp.defaultAction", "SCMP_ACT_NOTIFY cannot be the default action");
    if (s.default_errno_ret && !errno_action(s.default_action))
        c.fail(".linux.seccomp.defaultErrnoRet", "only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
    if (!s.listener_path.empty() && !absolute(s.listener_path))
        c.fail(".linux.seccomp.listenerPath", "must be an absolute path, got \"{}\"", s.listener_path);
    for (size_t i = 0; i < s.syscalls.size(); ++i) {
        const SeccompSyscall &sc = s.syscalls[i];
        std::string path = fmt::format(".linux.seccomp.syscalls[{}]", i);
        if (sc.names.empty())
            c.fail(path + ".names", "must contain at least one syscall name");
        for (size_t k = 0; k < sc.names.size(); ++k)
            if (sc.names[k].empty())
                c.fail(fmt::format("{}.names[{}]", path, k), "must not be empty");
        if (sc.errno_ret && !errno_action(sc.action))
            c.fail(path + ".errnoRet", "only allowed with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
        if (sc.action == "SCMP_ACT_NOTIFY" && s.listener_path.empty())
            c.fail(path + ".action", "SCMP_ACT_NOTIFY requires .linux.seccomp.listenerPath");
    }
}

} // namespace

void validate(const Spec &spec, const std::string &source_name) {
    const Ctx c{spec, source_name};
    check_oci_version(c);
    check_root(c);
    check_process(c);
    check_console_size(c);
    check_oom_score_adj(c);
    check_rlimits(c);
    check_mounts(c);
    check_hooks(c);
    check_annotations(c);
    check_namespaces(c);
    check_user_namespace(c);
    check_id_mapping_sizes(c);
    check_uts(c);
    check_sysctl(c);
    check_time_offsets(c);
    check_linux_paths(c);
    check_devices(c);
    check_seccomp(c);
}

} // namespace mxc::oci
