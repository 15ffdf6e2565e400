// mxc doctor: what this host supports, found by trying.  Each area adds its
// checks to one report; a probe that lacks privilege says so in its detail
// instead of failing the whole run.
#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <seccomp.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mxc/host/host.hpp"
#include "mxc/ipc/ipc.hpp"
#include "mxc/seccomp/seccomp.hpp"
#include "mxc/util/fd.hpp"
#include "probe.hpp"

extern char **environ;

namespace mxc::host {

using detail::ChildResult;
using detail::errno_text;
using detail::Report;
using detail::run_in_child;
using detail::set_step;
using detail::under;

namespace {

bool exists(const std::string &p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

// ---- cgroup ---------------------------------------------------------------

// Makes and removes a directory in a cgroup hierarchy, after checking that the
// directory really is cgroupfs (a fixture tree is not).
std::pair<bool, std::string> try_cgroup_mkdir(const std::string &dir, long magic) {
    struct statfs sf {};
    if (::statfs(dir.c_str(), &sf) < 0)
        return {false, fmt::format("statfs {}: {}", dir, errno_text(errno))};
    if (static_cast<long>(sf.f_type) != magic)
        return {false, fmt::format("{} is not a cgroup filesystem", dir)};
    std::string probe = fmt::format("{}/mxc-doctor-{}", dir, ::getpid());
    if (::mkdir(probe.c_str(), 0755) < 0)
        return {false, fmt::format("mkdir {}: {}", probe, errno_text(errno))};
    if (::rmdir(probe.c_str()) < 0)
        return {false, fmt::format("created {} but rmdir failed: {}", probe, errno_text(errno))};
    return {true, fmt::format("mkdir+rmdir {}", probe)};
}

void probe_cgroup(const DoctorOptions &opts, Report &r) {
    std::string mi = under(opts.root, "/proc/self/mountinfo");
    auto mounts = detail::read_mountinfo(mi);
    std::string v2_mount;
    std::vector<std::pair<std::string, std::string>> v1; // controller -> mountpoint
    bool any_v1 = false;
    for (const auto &m : mounts) {
        if (m.fstype == "cgroup2" && v2_mount.empty()) {
            v2_mount = m.mountpoint;
        } else if (m.fstype == "cgroup") {
            any_v1 = true;
            std::stringstream ss(m.super_opts);
            std::string o;
            while (std::getline(ss, o, ',')) {
                // Mount flags and named hierarchies (name=systemd) are not controllers.
                static const char *not_ctrl[] = {"rw", "ro", "relatime", "noatime", "nosuid", "nodev",
                                                 "noexec", "clone_children", "noprefix", "xattr",
                                                 "cpuset_v2_mode", "favordynmods"};
                if (o.empty() || o.find('=') != std::string::npos ||
                    std::any_of(std::begin(not_ctrl), std::end(not_ctrl), [&](const char *n) { return o == n; }))
                    continue;
                if (std::none_of(v1.begin(), v1.end(), [&](auto &p) { return p.first == o; }))
                    v1.emplace_back(o, m.mountpoint);
            }
        }
    }
    std::string mode = !v2_mount.empty() ? (any_v1 ? "hybrid" : "unified") : (any_v1 ? "legacy" : "none");

    std::vector<std::string> v2_ctrls;
    if (!v2_mount.empty()) {
        if (auto c = detail::read_trimmed(under(opts.root, v2_mount) + "/cgroup.controllers")) {
            std::stringstream ss(*c);
            std::string w;
            while (ss >> w)
                v2_ctrls.push_back(w);
        }
    }
    nlohmann::json v1j = nlohmann::json::object();
    std::string v1_names;
    for (auto &[c, p] : v1) {
        v1j[c] = p;
        v1_names += (v1_names.empty() ? "" : " ") + c;
    }
    std::string v2_names;
    for (auto &c : v2_ctrls)
        v2_names += (v2_names.empty() ? "" : " ") + c;

    r.facts["cgroup"] = {{"mode", mode}, {"v2_mount", v2_mount}, {"v1_controllers", v1j}, {"v2_controllers", v2_ctrls}};
    r.add("cgroup", "mode", mode != "none",
          mode == "none" ? fmt::format("no cgroup mounts in {}", mi)
                         : fmt::format("{}{}", mode, v2_mount.empty() ? "" : " (cgroup2 at " + v2_mount + ")"));
    r.add("cgroup", "controllers", !v1.empty() || !v2_ctrls.empty(),
          fmt::format("v1: {}; v2: {}", v1_names.empty() ? "-" : v1_names, v2_names.empty() ? "-" : v2_names));

    bool root_user = ::geteuid() == 0;
    if (v2_mount.empty()) {
        r.add("cgroup", "create_v2", false, "no cgroup2 mount");
    } else if (root_user) {
        auto [ok, d] = try_cgroup_mkdir(under(opts.root, v2_mount), CGROUP2_SUPER_MAGIC);
        r.add("cgroup", "create_v2", ok, d);
    } else {
        // Rootless: only a subtree delegated to us (systemd user slice) is writable.
        std::string own;
        if (auto c = detail::read_trimmed(under(opts.root, "/proc/self/cgroup"))) {
            std::stringstream ss(*c);
            std::string line;
            while (std::getline(ss, line))
                if (line.rfind("0::", 0) == 0)
                    own = line.substr(3);
        }
        if (own == "/")
            own.clear();
        auto [ok, d] = try_cgroup_mkdir(under(opts.root, v2_mount) + own, CGROUP2_SUPER_MAGIC);
        r.add("cgroup", "create_v2", ok,
              ok ? d + " (delegated)" : "not root; own cgroup not delegated: " + d);
    }
    if (v1.empty()) {
        r.add("cgroup", "create_v1", mode == "unified", mode == "unified" ? "no v1 controllers (not needed)" : "no v1 controllers");
    } else if (!root_user) {
        r.add("cgroup", "create_v1", false, "not tried: v1 hierarchies need root (mxcd creates them)");
    } else {
        auto pick = v1.front();
        for (const char *pref : {"cpu", "memory", "pids"}) // last match wins: pids preferred
            for (auto &e : v1)
                if (e.first == pref)
                    pick = e;
        const auto &[ctrl, dir] = pick;
        auto [ok, d] = try_cgroup_mkdir(under(opts.root, dir), CGROUP_SUPER_MAGIC);
        r.add("cgroup", "create_v1", ok, fmt::format("{}: {}", ctrl, d));
    }
}

// ---- user namespaces --------------------------------------------------------

std::string which(const std::string &root, const char *const *envp, const std::string &prog) {
    const char *path = detail::env_lookup(envp, "PATH");
    std::string p = path ? path : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    std::stringstream ss(p);
    std::string dir;
    while (std::getline(ss, dir, ':')) {
        if (dir.empty() || dir[0] != '/')
            continue;
        std::string cand = dir + "/" + prog;
        struct stat st {};
        if (::stat(under(root, cand).c_str(), &st) == 0 && S_ISREG(st.st_mode))
            return cand;
    }
    return "";
}

void probe_idmap_helper(const DoctorOptions &opts, const char *const *envp, const char *prog, Report &r) {
    std::string p = which(opts.root, envp, prog);
    if (p.empty()) {
        r.add("userns", prog, false, "not found in PATH (install uidmap for subordinate id ranges)");
        return;
    }
    std::string full = under(opts.root, p);
    struct stat st {};
    ::stat(full.c_str(), &st);
    bool setuid = (st.st_mode & S_ISUID) && st.st_uid == 0;
    bool fcaps = ::getxattr(full.c_str(), "security.capability", nullptr, 0) > 0;
    r.add("userns", prog, setuid || fcaps,
          fmt::format("{} ({})", p, setuid ? "setuid root" : fcaps ? "file capabilities" : "neither setuid nor file capabilities"));
}

void probe_subids(const DoctorOptions &opts, Report &r) {
    uid_t uid = ::getuid();
    std::string user;
    if (struct passwd *pw = ::getpwuid(uid))
        user = pw->pw_name;
    for (const char *f : {"/etc/subuid", "/etc/subgid"}) {
        auto c = detail::read_trimmed(under(opts.root, f));
        std::string found;
        if (c) {
            std::stringstream ss(*c);
            std::string line;
            while (std::getline(ss, line)) {
                auto colon = line.find(':');
                std::string who = line.substr(0, colon);
                if (colon != std::string::npos && (who == user || who == std::to_string(uid)))
                    found = line;
            }
        }
        r.add("userns", f + 5, !found.empty(),
              !c ? fmt::format("{} unreadable", f)
                 : found.empty() ? fmt::format("no entry for {} (uid {})", user, uid) : found);
    }
}

void probe_userns(const DoctorOptions &opts, const char *const *envp, Report &r) {
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    ChildResult c = run_in_child([uid, gid](ChildResult &res) {
        if (::unshare(CLONE_NEWUSER) < 0)
            return set_step(res, "unshare(CLONE_NEWUSER)", errno);
        int err = 0;
        char map[64];
        std::snprintf(map, sizeof map, "0 %u 1\n", uid);
        if (!detail::write_proc_file("/proc/self/uid_map", map, err))
            return set_step(res, "write uid_map", err);
        if (!detail::write_proc_file("/proc/self/setgroups", "deny", err) && err != ENOENT)
            return set_step(res, "write setgroups", err);
        std::snprintf(map, sizeof map, "0 %u 1\n", gid);
        if (!detail::write_proc_file("/proc/self/gid_map", map, err))
            return set_step(res, "write gid_map", err);
        if (::getuid() != 0)
            return set_step(res, "uid 0 after mapping", EINVAL);
        res.rc = 0;
    });
    bool ok = c.rc == 0;
    r.facts["userns"] = {{"ok", ok}};
    r.add("userns", "unshare_and_map", ok,
          ok ? fmt::format("unshare(CLONE_NEWUSER) and map uid {} -> 0: ok", uid)
             : fmt::format("{}: {}", c.step, c.err ? errno_text(c.err) : "failed"));

    if (auto v = detail::read_trimmed(under(opts.root, "/proc/sys/kernel/unprivileged_userns_clone")))
        r.add("userns", "unprivileged_userns_clone", *v != "0", *v);
    else
        r.add("userns", "unprivileged_userns_clone", true, "absent (upstream kernel: no such switch)");
    if (auto v = detail::read_trimmed(under(opts.root, "/proc/sys/user/max_user_namespaces")))
        r.add("userns", "max_user_namespaces", *v != "0", *v);
    else
        r.add("userns", "max_user_namespaces", false, "unreadable");
    // Ubuntu 23.10+ (and WSL Ubuntu 24.04) confine unprivileged user namespaces with AppArmor.
    if (auto v = detail::read_trimmed(under(opts.root, "/proc/sys/kernel/apparmor_restrict_unprivileged_userns")))
        r.add("userns", "apparmor_restrict_unprivileged_userns", *v == "0",
              *v == "0" ? "0" : *v + " (unprivileged user namespaces need an AppArmor profile)");

    probe_idmap_helper(opts, envp, "newuidmap", r);
    probe_idmap_helper(opts, envp, "newgidmap", r);
    probe_subids(opts, r);
}

// ---- namespaces -----------------------------------------------------------

void probe_namespaces(Report &r) {
    static const std::pair<const char *, int> kinds[] = {
        {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC}, {"mount", CLONE_NEWNS}, {"network", CLONE_NEWNET},
        {"pid", CLONE_NEWPID},       {"uts", CLONE_NEWUTS}, {"user", CLONE_NEWUSER}, {"time", CLONE_NEWTIME},
    };
    bool rootless = ::geteuid() != 0;
    ChildResult c = run_in_child([rootless](ChildResult &res) {
        // Without root the other namespaces need one of our own user namespace first.
        if (rootless && ::unshare(CLONE_NEWUSER) < 0) {
            int e = errno;
            for (int &x : res.errs)
                x = e;
            return set_step(res, "unshare(CLONE_NEWUSER)", e);
        }
        for (size_t i = 0; i < std::size(kinds); ++i) {
            // Rootless, the user namespace was the first unshare; a nested one
            // would need an id mapping first and says nothing more.
            if (rootless && kinds[i].second == CLONE_NEWUSER)
                continue;
            res.errs[i] = ::unshare(kinds[i].second) == 0 ? 0 : errno;
        }
        res.rc = 0;
    });
    nlohmann::json facts = nlohmann::json::object();
    for (size_t i = 0; i < std::size(kinds); ++i) {
        bool ok = c.rc == 0 && c.errs[i] == 0;
        facts[kinds[i].first] = ok;
        std::string how = rootless && kinds[i].second != CLONE_NEWUSER ? " inside a new user namespace" : "";
        r.add("namespaces", kinds[i].first, ok,
              ok ? "unshare ok" + how
                 : c.rc != 0 && c.err == 0 ? std::string(c.step)
                                           : fmt::format("unshare{}: {}", how, errno_text(c.rc == 0 ? c.errs[i] : c.err)));
    }
    r.facts["namespaces"] = facts;
}

// ---- seccomp --------------------------------------------------------------

void probe_seccomp(Report &r) {
    nlohmann::json facts = nlohmann::json::object();
    int mode = ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
    int merr = errno;
    facts["enabled"] = mode >= 0;
    r.add("seccomp", "seccomp", mode >= 0,
          mode < 0   ? fmt::format("prctl(PR_GET_SECCOMP): {} (kernel without CONFIG_SECCOMP)", errno_text(merr))
          : mode == 2 ? "available; this process already runs under a filter (nested: filters stack)"
                      : "available; this process runs unfiltered");

    static const std::pair<const char *, uint32_t> actions[] = {
        {"kill_process", SECCOMP_RET_KILL_PROCESS}, {"kill_thread", SECCOMP_RET_KILL_THREAD},
        {"trap", SECCOMP_RET_TRAP},                 {"errno", SECCOMP_RET_ERRNO},
        {"user_notif", SECCOMP_RET_USER_NOTIF},     {"trace", SECCOMP_RET_TRACE},
        {"log", SECCOMP_RET_LOG},                   {"allow", SECCOMP_RET_ALLOW},
    };
    nlohmann::json acts = nlohmann::json::object();
    for (auto [name, act] : actions) {
        uint32_t a = act;
        bool ok = ::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &a) == 0;
        int err = errno;
        acts[name] = ok;
        r.add("seccomp", fmt::format("action.{}", name), ok, ok ? "available" : errno_text(err));
    }
    facts["actions"] = acts;

    struct seccomp_notif_sizes sizes {};
    bool ok = ::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) == 0;
    int err = errno;
    if (ok)
        facts["notif_sizes"] = {{"seccomp_notif", sizes.seccomp_notif},
                                {"seccomp_notif_resp", sizes.seccomp_notif_resp},
                                {"seccomp_data", sizes.seccomp_data}};
    r.add("seccomp", "notif_sizes", ok,
          ok ? fmt::format("notif {} B, resp {} B, data {} B", sizes.seccomp_notif, sizes.seccomp_notif_resp, sizes.seccomp_data)
             : errno_text(err));

    const struct scmp_version *v = seccomp_version();
    unsigned api = seccomp_api_get();
    facts["libseccomp"] = fmt::format("{}.{}.{}", v->major, v->minor, v->micro);
    facts["libseccomp_api"] = api;
    // API level 5 is where libseccomp starts handling user notification.
    r.add("seccomp", "libseccomp", api >= 5,
          fmt::format("libseccomp {}.{}.{}, API level {}{}", v->major, v->minor, v->micro, api,
                      api >= 5 ? "" : " (user notification needs level 5)"));
    r.facts["seccomp"] = facts;
}

// ---- landlock -------------------------------------------------------------

void probe_landlock(Report &r) {
    long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    int err = errno;
    r.facts["landlock"] = {{"abi", abi > 0 ? abi : 0}};
    r.add("landlock", "abi", abi > 0,
          abi > 0            ? fmt::format("ABI {}", abi)
          : err == EOPNOTSUPP ? "built in but disabled at boot (add landlock to lsm=)"
          : err == ENOSYS     ? "not in this kernel (CONFIG_SECURITY_LANDLOCK)"
                              : errno_text(err));
}

// ---- syscalls -------------------------------------------------------------

// struct clone_args up to CLONE_ARGS_SIZE_VER0; ours so as not to fight glibc's sched.h.
struct CloneArgsV0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

void probe_syscalls(Report &r) {
    nlohmann::json facts = nlohmann::json::object();
    {
        UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, ::getpid(), 0)));
        int err = errno;
        facts["pidfd_open"] = static_cast<bool>(fd);
        r.add("syscalls", "pidfd_open", static_cast<bool>(fd), fd ? "ok" : errno_text(err));
    }
    {
        int pidfd = -1;
        CloneArgsV0 args{};
        args.flags = CLONE_PIDFD;
        args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
        args.exit_signal = SIGCHLD;
        long pid = ::syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0)
            ::syscall(SYS_exit_group, 0);
        int err = errno;
        if (pid > 0) {
            UniqueFd owned(pidfd);
            while (::waitpid(static_cast<pid_t>(pid), nullptr, 0) < 0 && errno == EINTR) {
            }
        }
        facts["clone3"] = pid > 0;
        r.add("syscalls", "clone3", pid > 0, pid > 0 ? "clone3(CLONE_PIDFD) ok" : errno_text(err));
    }
    {
        // "/.." resolved RESOLVE_IN_ROOT from /proc must stay at /proc.
        UniqueFd dir(::open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC));
        struct open_how how {};
        how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
        how.resolve = RESOLVE_IN_ROOT;
        UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, dir.get(), "/..", &how, sizeof how)));
        int err = errno;
        bool ok = false;
        std::string detail;
        if (fd) {
            struct stat a {}, b {};
            ::fstat(dir.get(), &a);
            ::fstat(fd.get(), &b);
            ok = a.st_ino == b.st_ino && a.st_dev == b.st_dev;
            detail = ok ? "openat2(RESOLVE_IN_ROOT) stays in root" : "openat2 escaped the root!";
        } else {
            detail = errno_text(err);
        }
        facts["openat2"] = ok;
        r.add("syscalls", "openat2_resolve_in_root", ok, detail);
    }
    r.facts["syscalls"] = facts;
}

// ---- mounts, LSMs -----------------------------------------------------------

void probe_mounts(Report &r) {
    auto p = detail::probe_idmap();
    r.facts["mounts"] = {{"idmap", p.ok}, {"idmap_probed", p.tried}};
    r.add("mounts", "idmap", p.ok, p.detail);
}

void probe_lsm(const DoctorOptions &opts, Report &r) {
    bool aa = detail::apparmor_enabled(opts.root);
    bool se = detail::selinux_enabled(opts.root);
    std::string se_mode;
    if (auto e = detail::read_trimmed(under(opts.root, "/sys/fs/selinux/enforce")))
        se_mode = *e == "1" ? " (enforcing)" : " (permissive)";
    auto list = detail::read_trimmed(under(opts.root, "/sys/kernel/security/lsm"));
    r.facts["lsm"] = {{"apparmor", aa}, {"selinux", se}, {"active", list ? *list : ""}};
    r.add("lsm", "apparmor", aa, aa ? "enabled" : "not enabled");
    r.add("lsm", "selinux", se, se ? "enabled" + se_mode : "not enabled");
    r.add("lsm", "active", list.has_value(),
          list ? *list + (list->find("bpf") == std::string::npos ? " (no bpf: BPF LSM programs cannot attach)" : "")
               : "unknown: securityfs not mounted at /sys/kernel/security");
}

// ---- WSL ------------------------------------------------------------------

void probe_wsl(const DoctorOptions &opts, const char *const *envp, Report &r) {
    WslInfo w = detect_wsl(opts.root, envp);
    std::vector<std::string> hidden;
    for (const char *p : {"/run/WSL", "/mnt/wslg", "/tmp/.X11-unix"})
        if (exists(under(opts.root, p)))
            hidden.push_back(p);
    for (auto &d : w.windows_drives)
        hidden.push_back(d);
    for (const char *e : {"WSL_INTEROP", "WSL_DISTRO_NAME", "DISPLAY", "WAYLAND_DISPLAY", "PULSE_SERVER"})
        if (detail::env_lookup(envp, e))
            hidden.push_back(fmt::format("${}", e));

    r.facts["wsl"] = {{"detected", w.detected}, {"reason", w.reason},   {"distro", w.distro},
                      {"wslg", w.wslg},         {"interop", w.interop}, {"windows_drives", w.windows_drives},
                      {"hidden", hidden}};
    r.add("wsl", "detected", w.detected, w.detected ? w.reason : "not WSL");
    r.add("wsl", "interop", w.interop, w.interop ? "Windows interop reachable (/run/WSL or $WSL_INTEROP)" : "none");
    r.add("wsl", "wslg", w.wslg, w.wslg ? "/mnt/wslg present" : "none");
    std::string drives;
    for (auto &d : w.windows_drives)
        drives += (drives.empty() ? "" : " ") + d;
    r.add("wsl", "windows_drives", !w.windows_drives.empty(), drives.empty() ? "none" : drives);
    std::string h;
    for (auto &x : hidden)
        h += (h.empty() ? "" : " ") + x;
    // ok: the agent profile has something to hide here, or nothing to worry about.
    r.add("wsl", "hidden_by_agent_profile", true, h.empty() ? "nothing to hide" : h);
}

} // namespace

namespace {

// Which audit backend a run would get: mxcd's eBPF probes, or mxc's own
// seccomp-notify supervisor.
void probe_audit(const DoctorOptions &opts, Report &r) {
    if (!opts.root.empty() && opts.root != "/")
        return; // a fixture root has no mxcd
    std::string socket = ipc::default_socket();
    std::string backend = "none";
    try {
        auto c = ipc::Client::connect(socket);
        if (!c) {
            r.add("audit", "mxcd", false, fmt::format("not running (nothing answers on {}); start it with mxcd --daemon", socket));
        } else {
            auto st = c->call({{"op", "status"}}, std::chrono::seconds(3));
            std::vector<std::string> hooks = st.value("hooks", std::vector<std::string>{});
            r.add("audit", "mxcd", true,
                  fmt::format("running on {}; probes {}; hooks: {}", socket, st.value("probes", ""), fmt::join(hooks, ", ")));
            backend = "bpf";
        }
    } catch (const std::exception &e) {
        r.add("audit", "mxcd", false, fmt::format("{}: {}", socket, e.what()));
    }
    if (backend == "none" && seccomp::notify_supported())
        backend = "seccomp-notify";
    r.add("audit", "backend", backend != "none",
          backend == "bpf" ? "mxc run is audited by mxcd's eBPF probes"
          : backend == "seccomp-notify"
              ? "mxc run audits itself with seccomp user notification (exec, open family, unlink/rename/mkdir/"
                "rmdir/link/symlink, connect/bind)"
              : "no audit backend: profiles with audit: required refuse to run");
    r.facts["audit_backend"] = backend;
}

} // namespace

nlohmann::json doctor(const DoctorOptions &opts) {
    const char *const *envp = opts.envp ? opts.envp : environ;
    Report r;
    auto guarded = [&](const char *area, auto &&fn) {
        // A probe that throws must not hide the others.
        try {
            fn();
        } catch (const std::exception &e) {
            r.add(area, "probe", false, fmt::format("probe failed: {}", e.what()));
        }
    };
    guarded("cgroup", [&] { probe_cgroup(opts, r); });
    guarded("userns", [&] { probe_userns(opts, envp, r); });
    guarded("namespaces", [&] { probe_namespaces(r); });
    guarded("seccomp", [&] { probe_seccomp(r); });
    guarded("landlock", [&] { probe_landlock(r); });
    guarded("bpf", [&] { detail::probe_bpf(opts.root, opts.probe_bpf, r); });
    guarded("syscalls", [&] { probe_syscalls(r); });
    guarded("mounts", [&] { probe_mounts(r); });
    guarded("lsm", [&] { probe_lsm(opts, r); });
    guarded("wsl", [&] { probe_wsl(opts, envp, r); });
    guarded("audit", [&] { probe_audit(opts, r); });

    nlohmann::json out = r.facts;
    out["root"] = opts.root.empty() ? "/" : opts.root;
    out["euid"] = ::geteuid();
    out["kernel"] = detail::read_trimmed(under(opts.root, "/proc/sys/kernel/osrelease")).value_or("");
    out["checks"] = r.checks;
    return out;
}

std::string doctor_text(const nlohmann::json &report) {
    const auto &checks = report.contains("checks") ? report["checks"] : nlohmann::json::array();
    size_t wa = 4, wn = 5;
    for (const auto &c : checks) {
        wa = std::max(wa, c.value("area", "").size());
        wn = std::max(wn, c.value("name", "").size());
    }
    std::string out = fmt::format("{:<{}}  {:<{}}  {:<3}  {}\n", "AREA", wa, "CHECK", wn, "OK", "DETAIL");
    for (const auto &c : checks)
        out += fmt::format("{:<{}}  {:<{}}  {:<3}  {}\n", c.value("area", ""), wa, c.value("name", ""), wn,
                           c.value("ok", false) ? "ok" : "NO", c.value("detail", ""));
    return out;
}

} // namespace mxc::host
