// Profile + run request + host facts -> the OCI spec the runtime runs, and
// the parts of the run that the spec has no field for (network mode and
// allow-list, timeout, audit, Landlock rules).
#include <cmath>

#include "mxc/policy/profile.hpp"
#include "mxc/seccomp/seccomp.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "policy_internal.hpp"

namespace mxc::policy {
namespace {

std::string short_id(const std::string &id) { return id.substr(0, 12); }

void add_namespaces(oci::Linux &l, const HostContext &ctx, const std::string &net_mode) {
    // Root runs rootful: a user namespace mapping 0 -> 0 would add nothing.
    // Otherwise the caller's own ids map to themselves so that files keep
    // their owners inside.
    if (!ctx.root) {
        l.namespaces.push_back({"user", ""});
        l.uid_mappings = {{static_cast<uint32_t>(ctx.uid), static_cast<uint32_t>(ctx.uid), 1}};
        l.gid_mappings = {{static_cast<uint32_t>(ctx.gid), static_cast<uint32_t>(ctx.gid), 1}};
    }
    for (const char *t : {"mount", "pid", "ipc", "uts", "cgroup"})
        l.namespaces.push_back({t, ""});
    if (net_mode != "host")
        l.namespaces.push_back({"network", ""});
}

oci::Seccomp load_seccomp_file(const std::string &path) {
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_file(path));
    } catch (const nlohmann::json::exception &e) {
        throw_error("{}: {}", path, e.what());
    }
    // Parsed through the config.json parser so that the same checks apply;
    // errors then name .linux.seccomp.<field>.
    nlohmann::json wrapper = {{"ociVersion", "1.2.0"}, {"linux", {{"seccomp", j}}}};
    oci::Spec s = oci::parse_spec_json(wrapper, path);
    if (!s.linux_ || !s.linux_->seccomp)
        throw_error("{}: no seccomp profile in it", path);
    return *s.linux_->seccomp;
}

oci::Seccomp pick_seccomp(const Profile &p) {
    std::string which = p.seccomp.value_or("default");
    if (which == "default")
        return seccomp::default_agent_profile();
    if (which == "strict")
        return strict_seccomp_profile();
    return with_context(fmt::format("profile {}: seccomp", p.name), [&] { return load_seccomp_file(which); });
}

std::optional<oci::Resources> resources(const Profile &p, const RunRequest &req) {
    oci::Resources r;
    if (auto mem = req.memory ? req.memory : p.limits.memory) {
        uint64_t bytes = with_context(req.memory ? "--memory" : "profile limits.memory",
                                      [&] { return parse_size(*mem); });
        if (bytes == 0)
            throw_error("memory limit must be greater than zero");
        r.memory = oci::Memory{};
        r.memory->limit = static_cast<int64_t>(bytes);
    }
    if (auto pids = req.pids ? req.pids : p.limits.pids) {
        if (*pids <= 0)
            throw_error("--pids {}: must be greater than zero", *pids);
        r.pids = oci::Pids{*pids};
    }
    if (auto cpus = req.cpus ? req.cpus : p.limits.cpu) {
        if (!(*cpus > 0))
            throw_error("--cpus {}: must be greater than zero", *cpus);
        constexpr uint64_t period = 100000;
        r.cpu = oci::Cpu{};
        r.cpu->period = period;
        r.cpu->quota = std::max<int64_t>(1000, std::llround(*cpus * static_cast<double>(period)));
    }
    if (r.empty())
        return std::nullopt;
    return r;
}

} // namespace

Plan compile(const Profile &p, const RunRequest &req, const HostContext &ctx) {
    if (req.command.empty())
        throw_error("no command to run");
    Plan plan;

    plan.network_mode = req.net.value_or(p.network.mode.value_or("none"));
    if (plan.network_mode != "none" && plan.network_mode != "loopback" && plan.network_mode != "allow" &&
        plan.network_mode != "host")
        throw_error("--net {}: expected none, loopback, allow or host", plan.network_mode);
    plan.allow = p.network.allow;
    for (const auto &a : req.allow) {
        with_context("--allow", [&] { check_allow_entry(a); });
        if (std::find(plan.allow.begin(), plan.allow.end(), a) == plan.allow.end())
            plan.allow.push_back(a);
    }
    if (plan.network_mode != "allow" && !plan.allow.empty())
        plan.notes.push_back(fmt::format("network {}: the allow-list is not used", plan.network_mode));
    if (plan.network_mode == "allow" && plan.allow.empty())
        plan.notes.push_back("network allow with an empty allow-list: nothing outside is reachable");
    if (plan.network_mode == "host")
        plan.notes.push_back("network host: the host's network and abstract unix sockets (X11, some D-Bus buses) "
                             "are reachable");

    if (auto t = req.timeout ? req.timeout : p.limits.timeout)
        plan.timeout_ms = with_context(req.timeout ? "--timeout" : "profile limits.timeout",
                                       [&] { return parse_duration_ms(*t); });
    plan.limits_required = p.limits.required.value_or(false);
    plan.audit = p.audit.value_or("best-effort");
    bool gpu = req.gpu || p.gpu.value_or(false);

    std::string ws = detail::resolve_workspace(req, ctx);
    detail::FsPlan fs = detail::plan_filesystem(p, req, ctx, ws, gpu);

    oci::Spec &s = plan.spec;
    s.oci_version = "1.2.0";
    s.root = oci::Root{"/", true};
    s.hostname = req.container_id.empty() ? "mxc" : "mxc-" + short_id(req.container_id);
    s.mounts = std::move(fs.mounts);

    oci::Process proc;
    proc.terminal = req.tty;
    proc.user.uid = static_cast<uint32_t>(ctx.uid);
    proc.user.gid = static_cast<uint32_t>(ctx.gid);
    proc.args = req.command;
    proc.cwd = ws;
    proc.env = detail::build_env(p, req, ctx, plan.notes);
    proc.capabilities = oci::Capabilities{};
    proc.no_new_privileges = true;
    s.process = std::move(proc);

    oci::Linux l;
    add_namespaces(l, ctx, plan.network_mode);
    const oci::Spec defaults = oci::default_spec(false);
    l.masked_paths = defaults.linux_->masked_paths;
    l.readonly_paths = defaults.linux_->readonly_paths;
    l.resources = resources(p, req);
    l.seccomp = pick_seccomp(p);
    s.linux_ = std::move(l);

    s.annotations["org.mxc.sandbox"] = "true";
    s.annotations["org.mxc.profile"] = p.name;
    if (!req.identity_name.empty())
        s.annotations["org.mxc.identity"] = req.identity_name;
    if (!req.identity_uuid.empty())
        s.annotations["org.mxc.identity.uuid"] = req.identity_uuid;

    plan.landlock_rules = std::move(fs.landlock);
    plan.notes.insert(plan.notes.end(), fs.notes.begin(), fs.notes.end());
    oci::validate(plan.spec, "profile " + p.name);
    return plan;
}

} // namespace mxc::policy
