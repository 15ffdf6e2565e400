// oci::Spec -> config.json.  The inverse of spec_parse.cpp: field names are
// the spec's camelCase, empty optional values are left out, and what comes
// out parses back to the same Spec.
#include "mxc/oci/spec.hpp"

namespace mxc::oci {
namespace {

using json = nlohmann::json;

template <typename T>
void put_opt(json &j, const char *key, const std::optional<T> &v) {
    if (v)
        j[key] = *v;
}
void put_str(json &j, const char *key, const std::string &v) {
    if (!v.empty())
        j[key] = v;
}
template <typename T>
void put_vec(json &j, const char *key, const std::vector<T> &v) {
    if (!v.empty())
        j[key] = v;
}
template <typename T, typename Fn>
void put_list(json &j, const char *key, const std::vector<T> &v, Fn &&fn) {
    if (v.empty())
        return;
    json a = json::array();
    for (const auto &e : v)
        a.push_back(fn(e));
    j[key] = std::move(a);
}

json id_mapping(const IdMapping &m) {
    return {{"containerID", m.container_id}, {"hostID", m.host_id}, {"size", m.size}};
}

json mount(const Mount &m) {
    json j = {{"destination", m.destination}};
    put_str(j, "type", m.type);
    put_str(j, "source", m.source);
    put_vec(j, "options", m.options);
    put_list(j, "uidMappings", m.uid_mappings, id_mapping);
    put_list(j, "gidMappings", m.gid_mappings, id_mapping);
    return j;
}

json capabilities(const Capabilities &c) {
    json j = json::object();
    put_vec(j, "bounding", c.bounding);
    put_vec(j, "effective", c.effective);
    put_vec(j, "inheritable", c.inheritable);
    put_vec(j, "permitted", c.permitted);
    put_vec(j, "ambient", c.ambient);
    return j;
}

json process(const Process &p) {
    json j = json::object();
    if (p.terminal)
        j["terminal"] = true;
    if (p.console_size)
        j["consoleSize"] = {{"height", p.console_size->height}, {"width", p.console_size->width}};
    json user = {{"uid", p.user.uid}, {"gid", p.user.gid}};
    put_opt(user, "umask", p.user.umask);
    put_vec(user, "additionalGids", p.user.additional_gids);
    j["user"] = std::move(user);
    put_vec(j, "args", p.args);
    put_vec(j, "env", p.env);
    put_str(j, "cwd", p.cwd);
    if (p.capabilities)
        j["capabilities"] = capabilities(*p.capabilities);
    put_list(j, "rlimits", p.rlimits,
             [](const Rlimit &r) { return json{{"type", r.type}, {"soft", r.soft}, {"hard", r.hard}}; });
    if (p.no_new_privileges)
        j["noNewPrivileges"] = true;
    put_str(j, "apparmorProfile", p.apparmor_profile);
    put_opt(j, "oomScoreAdj", p.oom_score_adj);
    put_str(j, "selinuxLabel", p.selinux_label);
    if (const auto &s = p.scheduler) {
        json sj = {{"policy", s->policy}};
        if (s->nice != 0)
            sj["nice"] = s->nice;
        if (s->priority != 0)
            sj["priority"] = s->priority;
        put_vec(sj, "flags", s->flags);
        if (s->runtime != 0)
            sj["runtime"] = s->runtime;
        if (s->deadline != 0)
            sj["deadline"] = s->deadline;
        if (s->period != 0)
            sj["period"] = s->period;
        j["scheduler"] = std::move(sj);
    }
    if (p.io_priority)
        j["ioPriority"] = {{"class", p.io_priority->io_class}, {"priority", p.io_priority->priority}};
    return j;
}

json hook(const Hook &h) {
    json j = {{"path", h.path}};
    put_vec(j, "args", h.args);
    put_vec(j, "env", h.env);
    put_opt(j, "timeout", h.timeout);
    return j;
}

json hooks(const Hooks &h) {
    json j = json::object();
    put_list(j, "prestart", h.prestart, hook);
    put_list(j, "createRuntime", h.create_runtime, hook);
    put_list(j, "createContainer", h.create_container, hook);
    put_list(j, "startContainer", h.start_container, hook);
    put_list(j, "poststart", h.poststart, hook);
    put_list(j, "poststop", h.poststop, hook);
    return j;
}

json throttle(const BlockIoThrottle &t) { return {{"major", t.major}, {"minor", t.minor}, {"rate", t.rate}}; }

json seccomp(const Seccomp &s) {
    json j = {{"defaultAction", s.default_action}};
    put_opt(j, "defaultErrnoRet", s.default_errno_ret);
    put_vec(j, "architectures", s.architectures);
    put_vec(j, "flags", s.flags);
    put_str(j, "listenerPath", s.listener_path);
    put_str(j, "listenerMetadata", s.listener_metadata);
    put_list(j, "syscalls", s.syscalls, [](const SeccompSyscall &sc) {
        json e = {{"names", sc.names}, {"action", sc.action}};
        put_opt(e, "errnoRet", sc.errno_ret);
        put_list(e, "args", sc.args, [](const SeccompArg &a) {
            json aj = {{"index", a.index}, {"value", a.value}, {"op", a.op}};
            if (a.value_two != 0)
                aj["valueTwo"] = a.value_two;
            return aj;
        });
        return e;
    });
    return j;
}

json linux_section(const Linux &l) {
    json j = json::object();
    put_list(j, "uidMappings", l.uid_mappings, id_mapping);
    put_list(j, "gidMappings", l.gid_mappings, id_mapping);
    if (!l.sysctl.empty())
        j["sysctl"] = l.sysctl;
    if (l.resources)
        j["resources"] = to_json(*l.resources);
    put_str(j, "cgroupsPath", l.cgroups_path);
    put_list(j, "namespaces", l.namespaces, [](const Namespace &n) {
        json e = {{"type", n.type}};
        put_str(e, "path", n.path);
        return e;
    });
    put_list(j, "devices", l.devices, [](const DeviceNode &d) {
        json e = {{"path", d.path}, {"type", d.type}};
        // Pipes have no numbers; everything else carries them even when 0.
        if (d.type != "p" || d.major != 0 || d.minor != 0) {
            e["major"] = d.major;
            e["minor"] = d.minor;
        }
        put_opt(e, "fileMode", d.file_mode);
        put_opt(e, "uid", d.uid);
        put_opt(e, "gid", d.gid);
        return e;
    });
    if (l.seccomp)
        j["seccomp"] = seccomp(*l.seccomp);
    put_str(j, "rootfsPropagation", l.rootfs_propagation);
    put_vec(j, "maskedPaths", l.masked_paths);
    put_vec(j, "readonlyPaths", l.readonly_paths);
    put_str(j, "mountLabel", l.mount_label);
    if (l.personality) {
        json p = {{"domain", l.personality->domain}};
        put_vec(p, "flags", l.personality->flags);
        j["personality"] = std::move(p);
    }
    if (!l.time_offsets.empty()) {
        json t = json::object();
        for (const auto &[clock, off] : l.time_offsets)
            t[clock] = {{"secs", off.secs}, {"nanosecs", off.nanosecs}};
        j["timeOffsets"] = std::move(t);
    }
    return j;
}

} // namespace

nlohmann::json to_json(const Resources &r) {
    json j = json::object();
    put_list(j, "devices", r.devices, [](const DeviceRule &d) {
        json e = {{"allow", d.allow}, {"type", d.type}};
        put_opt(e, "major", d.major);
        put_opt(e, "minor", d.minor);
        e["access"] = d.access;
        return e;
    });
    if (const auto &m = r.memory) {
        json mj = json::object();
        put_opt(mj, "limit", m->limit);
        put_opt(mj, "reservation", m->reservation);
        put_opt(mj, "swap", m->swap);
        put_opt(mj, "kernel", m->kernel);
        put_opt(mj, "kernelTCP", m->kernel_tcp);
        put_opt(mj, "swappiness", m->swappiness);
        put_opt(mj, "disableOOMKiller", m->disable_oom_killer);
        put_opt(mj, "useHierarchy", m->use_hierarchy);
        put_opt(mj, "checkBeforeUpdate", m->check_before_update);
        j["memory"] = std::move(mj);
    }
    if (const auto &c = r.cpu) {
        json cj = json::object();
        put_opt(cj, "shares", c->shares);
        put_opt(cj, "quota", c->quota);
        put_opt(cj, "burst", c->burst);
        put_opt(cj, "period", c->period);
        put_opt(cj, "realtimeRuntime", c->realtime_runtime);
        put_opt(cj, "realtimePeriod", c->realtime_period);
        put_str(cj, "cpus", c->cpus);
        put_str(cj, "mems", c->mems);
        if (c->idle)
            cj["idle"] = *c->idle ? 1 : 0; // an int64 in the spec
        j["cpu"] = std::move(cj);
    }
    if (r.pids)
        j["pids"] = {{"limit", r.pids->limit}};
    if (const auto &b = r.block_io) {
        json bj = json::object();
        put_opt(bj, "weight", b->weight);
        put_opt(bj, "leafWeight", b->leaf_weight);
        put_list(bj, "weightDevice", b->weight_device, [](const BlockIoDevice &d) {
            json e = {{"major", d.major}, {"minor", d.minor}};
            put_opt(e, "weight", d.weight);
            put_opt(e, "leafWeight", d.leaf_weight);
            return e;
        });
        put_list(bj, "throttleReadBpsDevice", b->throttle_read_bps, throttle);
        put_list(bj, "throttleWriteBpsDevice", b->throttle_write_bps, throttle);
        put_list(bj, "throttleReadIOPSDevice", b->throttle_read_iops, throttle);
        put_list(bj, "throttleWriteIOPSDevice", b->throttle_write_iops, throttle);
        j["blockIO"] = std::move(bj);
    }
    put_list(j, "hugepageLimits", r.hugepage_limits,
             [](const HugepageLimit &h) { return json{{"pageSize", h.page_size}, {"limit", h.limit}}; });
    if (!r.unified.empty())
        j["unified"] = r.unified;
    return j;
}

nlohmann::json to_json(const Spec &s) {
    json j = json::object();
    j["ociVersion"] = s.oci_version;
    if (s.root) {
        json r = {{"path", s.root->path}};
        if (s.root->readonly)
            r["readonly"] = true;
        j["root"] = std::move(r);
    }
    put_list(j, "mounts", s.mounts, mount);
    if (s.process)
        j["process"] = process(*s.process);
    put_str(j, "hostname", s.hostname);
    put_str(j, "domainname", s.domainname);
    if (s.hooks)
        j["hooks"] = hooks(*s.hooks);
    if (!s.annotations.empty())
        j["annotations"] = s.annotations;
    if (s.linux_)
        j["linux"] = linux_section(*s.linux_);
    return j;
}

} // namespace mxc::oci
