// The sandbox environment: scrubbed to a short list, plus what the profile
// and the command line keep or set.  Variables that lead to the desktop or
// to Windows are never inherited, whatever `keep` says.
#include <algorithm>
#include <set>

#include "mxc/util/error.hpp"
#include "policy_internal.hpp"

namespace mxc::policy::detail {
namespace {

constexpr const char *kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const std::set<std::string> &never_inherited() {
    static const std::set<std::string> names = {
        "DISPLAY",     "WAYLAND_DISPLAY", "XAUTHORITY", "DBUS_SESSION_BUS_ADDRESS", "SSH_AUTH_SOCK",
        "GPG_AGENT_INFO", "WSL_INTEROP",  "WSLENV",     "WSL_DISTRO_NAME",          "PULSE_SERVER",
        "SSH_AGENT_PID", "XDG_RUNTIME_DIR"};
    return names;
}

bool matches(const std::string &name, const std::string &pattern) {
    if (!pattern.empty() && pattern.back() == '*')
        return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
    return name == pattern;
}

struct EnvList {
    std::vector<std::pair<std::string, std::string>> vars;
    void set(const std::string &k, const std::string &v) {
        for (auto &kv : vars)
            if (kv.first == k) {
                kv.second = v;
                return;
            }
        vars.emplace_back(k, v);
    }
    bool has(const std::string &k) const {
        return std::any_of(vars.begin(), vars.end(), [&](const auto &kv) { return kv.first == k; });
    }
};

} // namespace

std::vector<std::string> build_env(const Profile &p, const RunRequest &req, const HostContext &ctx,
                                   std::vector<std::string> &notes) {
    std::vector<std::string> keep = {"PATH", "LANG", "LC_*", "TERM", "TZ"};
    std::vector<std::string> asked = p.env.keep;
    asked.insert(asked.end(), req.keep_env.begin(), req.keep_env.end());
    keep.insert(keep.end(), asked.begin(), asked.end());

    EnvList env;
    std::set<std::string> dropped;
    for (const auto &kv : ctx.environ) {
        size_t eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
            continue;
        std::string name = kv.substr(0, eq);
        if (name == "HOME" || name == "USER")
            continue; // from the host context, not the environment
        if (!std::any_of(keep.begin(), keep.end(), [&](const std::string &k) { return matches(name, k); }))
            continue;
        if (never_inherited().count(name)) {
            dropped.insert(name);
            continue;
        }
        env.set(name, kv.substr(eq + 1));
    }
    for (const auto &name : dropped)
        notes.push_back(fmt::format("env {}: not passed although kept (leads to the desktop, an agent or Windows)", name));

    if (!env.has("PATH"))
        env.set("PATH", kDefaultPath);
    if (!ctx.home.empty())
        env.set("HOME", ctx.home);
    if (!ctx.user.empty())
        env.set("USER", ctx.user);
    for (const auto &[k, v] : p.env.set)
        env.set(k, v);
    for (const auto &kv : req.env_set) {
        size_t eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
            throw_error("--env {}: expected NAME=VALUE", kv);
        env.set(kv.substr(0, eq), kv.substr(eq + 1));
    }
    if (p.identity_env.value_or(true)) {
        if (!req.identity_name.empty())
            env.set("MXC_IDENTITY", req.identity_name);
    } else {
        notes.push_back("MXC_IDENTITY not set (profile: identity.env false)");
    }
    env.set("MXC_SANDBOX", req.container_id.empty() ? "1" : req.container_id);

    std::vector<std::string> out;
    out.reserve(env.vars.size());
    for (const auto &[k, v] : env.vars)
        out.push_back(k + "=" + v);
    return out;
}

} // namespace mxc::policy::detail
