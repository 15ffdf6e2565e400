// Filesystem policy -> mounts.  Each rule path is canonicalised inside the
// host root (a rule on a symlink applies to its target, so every alias of a
// file meets the same rule); rules on one path are merged (deny > tmpfs > ro >
// rw > built-in hiding); rules are ordered parents first so that the most
// specific one is mounted last and wins; a rule that changes nothing (ro below
// the read-only root, deny below something already empty) is left out to keep
// start-up cheap.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

#include "mxc/util/error.hpp"
#include "policy_internal.hpp"

namespace mxc::policy::detail {
namespace {

enum class Kind { builtin_hide, home, rw, ro, tmpfs, deny };

int rank(Kind k) {
    switch (k) {
    case Kind::builtin_hide:
    case Kind::home:
        return 1;
    case Kind::rw:
        return 2;
    case Kind::ro:
        return 3;
    case Kind::tmpfs:
        return 4;
    case Kind::deny:
        return 5;
    }
    return 0;
}

const char *kind_name(Kind k) {
    switch (k) {
    case Kind::builtin_hide:
        return "built-in hide";
    case Kind::home:
        return "home: hidden";
    case Kind::rw:
        return "read-write";
    case Kind::ro:
        return "read-only";
    case Kind::tmpfs:
        return "tmpfs";
    case Kind::deny:
        return "deny";
    }
    return "?";
}

// What the sandbox sees at a path, for deciding whether a rule below changes it.
enum class View { host_ro, host_rw, empty };

struct Rule {
    std::string path;    // canonical, no host_root prefix
    std::string written; // as given, for messages
    Kind kind;
    std::string origin;
    bool is_dir = true;
};

class Planner {
public:
    Planner(const Profile &p, const RunRequest &req, const HostContext &ctx, std::string ws, bool gpu)
        : p_(p), req_(req), ctx_(ctx), ws_(std::move(ws)), gpu_(gpu) {}

    FsPlan run() {
        collect();
        merge();
        order_and_prune();
        pin_restrictions();
        emit();
        return std::move(out_);
    }

private:
    std::string host(const std::string &path) const { return ctx_.host_root + path; }

    std::string expand(const std::string &tmpl, bool cli) const {
        std::string s = tmpl;
        auto need_home = [&] {
            if (ctx_.home.empty())
                throw_error("{}: HOME is not known", tmpl);
        };
        if (s == "~" || s.rfind("~/", 0) == 0) {
            need_home();
            s = ctx_.home + s.substr(1);
        }
        for (const auto &[var, value] : {std::pair<std::string, std::string>{"${HOME}", ctx_.home},
                                         std::pair<std::string, std::string>{"${WORKSPACE}", ws_}}) {
            size_t pos;
            while ((pos = s.find(var)) != std::string::npos) {
                if (var == "${HOME}")
                    need_home();
                s.replace(pos, var.size(), value);
            }
        }
        if (s.empty() || s[0] != '/') {
            if (!cli)
                throw_error("{}: not an absolute path", tmpl);
            s = ctx_.cwd + "/" + s;
        }
        return normalize(s);
    }

    int access(const std::string &path, int mode) const {
        if (ctx_.access)
            return ctx_.access(host(path), mode);
        return ::faccessat(AT_FDCWD, host(path).c_str(), mode, AT_EACCESS);
    }

    void add(const std::string &written, Kind kind, const std::string &origin, bool cli = false) {
        std::string abs = expand(written, cli);
        std::optional<std::string> canon = resolve_in_root(ctx_.host_root, abs);
        bool grant = kind == Kind::rw || kind == Kind::ro;
        if (!canon) {
            if (grant)
                throw_error("{}: {}: no such file or directory", origin, written);
            if (kind == Kind::deny)
                missing_.push_back(written);
            else if (kind == Kind::tmpfs)
                out_.notes.push_back(fmt::format("tmpfs {}: does not exist, skipped ({})", written, origin));
            return;
        }
        if (*canon != abs)
            out_.notes.push_back(fmt::format("{} resolves to {}: the {} rule ({}) applies there", written, *canon,
                                             kind_name(kind), origin));
        if (*canon == "/") {
            if (kind == Kind::ro)
                return; // the root is read-only already
            throw_error("{}: {}: a {} rule on / is not possible (the host root is the sandbox's read-only root)",
                        origin, written, kind_name(kind));
        }
        struct stat st {};
        if (::stat(host(*canon).c_str(), &st) < 0)
            throw_errno("{}: stat {}", origin, written);
        // A grant never exceeds the caller's own access.  Root is trusted to
        // mean what it asks.
        if (grant && !ctx_.root) {
            if (access(*canon, R_OK) != 0)
                throw_error("cannot grant {}: you cannot read it", written);
            if (kind == Kind::rw && access(*canon, W_OK) != 0) {
                kind = Kind::ro;
                out_.notes.push_back(fmt::format(
                    "{}: read-write asked ({}) but you cannot write it; granted read-only", written, origin));
            }
        }
        rules_.push_back(Rule{*canon, written, kind, origin, S_ISDIR(st.st_mode)});
    }

    void collect() {
        const std::string prof = "profile " + p_.name;
        add(ws_, Kind::rw, "workspace");
        for (const auto &s : p_.filesystem.readwrite)
            add(s, Kind::rw, prof + ": filesystem.readwrite");
        for (const auto &s : req_.rw)
            add(s, Kind::rw, "--rw", true);
        for (const auto &s : p_.filesystem.readonly)
            add(s, Kind::ro, prof + ": filesystem.readonly");
        for (const auto &s : req_.ro)
            add(s, Kind::ro, "--ro", true);
        for (const auto &s : p_.filesystem.deny)
            add(s, Kind::deny, prof + ": filesystem.deny");
        for (const auto &s : req_.deny)
            add(s, Kind::deny, "--deny", true);
        for (const auto &s : p_.filesystem.tmpfs)
            add(s, Kind::tmpfs, prof + ": filesystem.tmpfs");
        if (p_.filesystem.home.value_or("readonly") == "hidden" && !ctx_.home.empty())
            add(ctx_.home, Kind::home, prof + ": filesystem.home");
        collect_builtin();
    }

    // Desktop and WSL: hidden unless an explicit grant names the path or one
    // of its ancestors (other than "/").
    void collect_builtin() {
        std::vector<std::pair<std::string, std::string>> hide = {
            {fmt::format("/run/user/{}", ctx_.uid),
             "desktop session: Wayland, PulseAudio/PipeWire, D-Bus session bus, ssh-agent and gpg-agent sockets"},
            {"/run/dbus/system_bus_socket", "D-Bus system bus"},
            {"/run/WSL", "WSL interop: no launching Windows programs"},
            {"/mnt/wslg", "WSLg: the Windows side's Wayland, X11 and PulseAudio"},
        };
        if (!gpu_)
            hide.emplace_back("/usr/lib/wsl", "WSL GPU libraries (shown with --gpu)");
        for (const auto &d : ctx_.windows_drives)
            hide.emplace_back(d, "Windows drive (grant it with --ro or --rw)");
        // mxc's own state: identity keys, audit streams, the mxcd socket and
        // the container store.  Hidden even under a granted ancestor (a
        // --rw $HOME): a sandbox that reached them could forge or silence its
        // own audit.
        std::vector<std::pair<std::string, std::string>> never = {
            {"/run/mxc", "mxc's container state and the mxcd socket"},
            {"/var/lib/mxc", "mxc's identities, host key and audit streams"},
        };
        if (!ctx_.home.empty())
            never.emplace_back(ctx_.home + "/.local/share/mxc", "the user's mxc identities and audit streams");
        for (const char *var : {"MXC_STATE_DIR", "XDG_DATA_HOME"})
            if (const char *v = std::getenv(var); v && *v == '/')
                never.emplace_back(std::string(v) + (std::string_view(var) == "XDG_DATA_HOME" ? "/mxc" : ""),
                                   fmt::format("mxc's identities and audit streams (${})", var));
        for (const auto &[path, why] : never) {
            std::optional<std::string> canon = resolve_in_root(ctx_.host_root, path);
            struct stat st {};
            if (!canon || *canon == "/" || ::stat(host(*canon).c_str(), &st) < 0)
                continue;
            rules_.push_back(Rule{*canon, path, Kind::builtin_hide, why, S_ISDIR(st.st_mode)});
        }
        for (const auto &[path, why] : hide) {
            std::optional<std::string> canon = resolve_in_root(ctx_.host_root, path);
            if (!canon || *canon == "/")
                continue;
            bool granted = std::any_of(rules_.begin(), rules_.end(), [&](const Rule &r) {
                return (r.kind == Kind::rw || r.kind == Kind::ro) && r.path != "/" && is_under(*canon, r.path);
            });
            if (granted) {
                out_.notes.push_back(fmt::format("{} left visible: granted explicitly ({})", path, why));
                continue;
            }
            struct stat st {};
            if (::stat(host(*canon).c_str(), &st) < 0)
                continue;
            rules_.push_back(Rule{*canon, path, Kind::builtin_hide, why, S_ISDIR(st.st_mode)});
        }
        out_.notes.push_back("X11 sockets (/tmp/.X11-unix) and sockets under /tmp: hidden by the private /tmp");
        out_.notes.push_back("/dev/input, /dev/uinput, /dev/snd and host ttys: not in the minimal /dev");
    }

    void merge() {
        std::map<std::string, size_t> by_path;
        std::vector<Rule> merged;
        for (auto &r : rules_) {
            auto it = by_path.find(r.path);
            if (it == by_path.end()) {
                by_path.emplace(r.path, merged.size());
                merged.push_back(std::move(r));
                continue;
            }
            Rule &cur = merged[it->second];
            if (cur.kind == r.kind)
                continue;
            const Rule &win = rank(r.kind) > rank(cur.kind) ? r : cur;
            const Rule &lose = rank(r.kind) > rank(cur.kind) ? cur : r;
            out_.notes.push_back(fmt::format("{}: {} ({}) wins over {} ({}) on the same path", win.path,
                                             kind_name(win.kind), win.origin, kind_name(lose.kind), lose.origin));
            if (&win == &r)
                cur = std::move(r);
        }
        rules_ = std::move(merged);
    }

    void order_and_prune() {
        std::stable_sort(rules_.begin(), rules_.end(), [](const Rule &a, const Rule &b) {
            size_t da = depth(a.path), db = depth(b.path);
            return da != db ? da < db : a.path < b.path;
        });
        // The base mounts, then every kept rule, as layers; a rule's view from
        // above is the deepest layer containing it.
        std::vector<std::pair<std::string, View>> layers = {
            {"/", View::host_ro}, {"/proc", View::host_ro}, {"/dev", View::empty}, {"/tmp", View::empty}};
        std::vector<Rule> kept;
        for (auto &r : rules_) {
            View above = View::host_ro;
            size_t best = 0;
            for (const auto &[path, view] : layers)
                if (is_under(r.path, path) && (path.size() >= best)) {
                    best = path.size();
                    above = view;
                }
            bool redundant = false;
            View now = View::empty;
            switch (r.kind) {
            case Kind::ro:
                redundant = above == View::host_ro;
                now = View::host_ro;
                break;
            case Kind::rw:
                redundant = above == View::host_rw;
                now = View::host_rw;
                break;
            case Kind::deny:
            case Kind::builtin_hide:
                redundant = above == View::empty;
                break;
            case Kind::tmpfs:
            case Kind::home:
                break;
            }
            if (redundant)
                continue;
            layers.emplace_back(r.path, now);
            kept.push_back(std::move(r));
        }
        rules_ = std::move(kept);
    }

    // A directory between a read-write grant and a restriction below it
    // (deny, hide, read-only) could be renamed, the restriction's mount going
    // with it: the next run would find the restricted path gone and its files
    // under the new name, open.  Each such directory becomes a mount point of
    // its own (bound onto itself, before the deeper mounts), which rename(2)
    // refuses with EBUSY.
    void pin_restrictions() {
        std::set<std::string> pins;
        auto is_rule = [&](const std::string &path) {
            return std::any_of(rules_.begin(), rules_.end(), [&](const Rule &o) { return o.path == path; });
        };
        for (const Rule &r : rules_) {
            if (r.kind != Kind::deny && r.kind != Kind::builtin_hide && r.kind != Kind::ro)
                continue;
            const Rule *above = nullptr;
            for (const Rule &o : rules_)
                if (o.path != r.path && is_under(r.path, o.path) && (!above || o.path.size() > above->path.size()))
                    above = &o;
            if (!above || above->kind != Kind::rw)
                continue;
            for (std::string d = parent_of(r.path); d.size() > above->path.size(); d = parent_of(d))
                if (!is_rule(d))
                    pins.insert(d);
        }
        pins_.assign(pins.begin(), pins.end());
        std::stable_sort(pins_.begin(), pins_.end(),
                         [](const std::string &a, const std::string &b) { return depth(a) < depth(b); });
        if (!pins_.empty()) {
            std::string list;
            for (const auto &d : pins_)
                list += (list.empty() ? "" : ", ") + d;
            out_.notes.push_back("cannot be renamed (they hold a restriction below a read-write grant): " + list);
        }
    }

    bool has_descendant(const Rule &r) const {
        return std::any_of(rules_.begin(), rules_.end(),
                           [&](const Rule &o) { return o.path != r.path && is_under(o.path, r.path); });
    }

    void emit_base() {
        std::vector<std::string> devpts = {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"};
        if (ctx_.root)
            devpts.push_back("gid=5"); // gid 5 (tty) is not mapped in a rootless user namespace
        out_.mounts = {
            {"/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}},
            {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
            {"/dev/pts", "devpts", "devpts", devpts},
            {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
            {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}},
            {"/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=1777"}},
        };
        out_.landlock = {{"/", "ro"}, {"/dev", "rw"}, {"/tmp", "rw"}};
        if (!gpu_)
            return;
        for (const char *dev : {"/dev/dxg", "/dev/dri", "/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia0",
                                "/dev/nvidia1", "/dev/nvidia2", "/dev/nvidia3"}) {
            struct stat st {};
            if (::stat(host(dev).c_str(), &st) < 0)
                continue;
            out_.mounts.push_back({dev, "bind", dev, {"rbind", "rw"}});
            out_.notes.push_back(fmt::format("{}: shown (gpu)", dev));
        }
    }

    void emit() {
        emit_base();
        size_t pin = 0;
        for (const Rule &r : rules_) {
            // Pins before anything deeper is mounted: a plain bind of a
            // directory takes none of the mounts below it.
            for (; pin < pins_.size() && depth(pins_[pin]) < depth(r.path); ++pin)
                out_.mounts.push_back({pins_[pin], "bind", pins_[pin], {"bind", "rw"}});
            switch (r.kind) {
            case Kind::rw:
                out_.mounts.push_back({r.path, "bind", r.path, {"rbind", "rw"}});
                out_.landlock.push_back({r.path, "rw"});
                break;
            case Kind::ro:
                out_.mounts.push_back({r.path, "bind", r.path, {"rbind", "ro"}});
                out_.landlock.push_back({r.path, "ro"});
                break;
            case Kind::tmpfs:
                out_.mounts.push_back({r.path, "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=755"}});
                out_.landlock.push_back({r.path, "rw"});
                break;
            case Kind::home:
                out_.mounts.push_back({r.path, "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=700"}});
                out_.landlock.push_back({r.path, "rw"});
                out_.notes.push_back(fmt::format("hidden {}: home replaced by an empty private tmpfs ({})", r.path,
                                                 r.origin));
                break;
            case Kind::deny:
            case Kind::builtin_hide:
                emit_hide(r);
                break;
            }
        }
        for (; pin < pins_.size(); ++pin)
            out_.mounts.push_back({pins_[pin], "bind", pins_[pin], {"bind", "rw"}});
        if (!missing_.empty()) {
            std::string list;
            for (const auto &m : missing_)
                list += (list.empty() ? "" : ", ") + m;
            out_.notes.push_back("deny: not present, nothing to hide: " + list);
        }
    }

    void emit_hide(const Rule &r) {
        std::string what = r.written == r.path ? r.path : fmt::format("{} ({})", r.written, r.path);
        if (!r.is_dir) {
            out_.mounts.push_back({r.path, "bind", "/dev/null", {"bind", "ro"}});
            out_.notes.push_back(fmt::format("hidden {}: /dev/null over it ({})", what, r.origin));
            return;
        }
        std::vector<std::string> opts = {"nosuid", "nodev", "noexec", "mode=000"};
        if (has_descendant(r)) {
            // Grants below need mount points; the tmpfs holds nothing of the host.
            out_.notes.push_back(fmt::format("hidden {}: empty tmpfs, left writable for the grants below it ({})",
                                             what, r.origin));
        } else {
            opts.insert(opts.begin(), "ro");
            out_.notes.push_back(fmt::format("hidden {}: empty read-only tmpfs ({})", what, r.origin));
        }
        out_.mounts.push_back({r.path, "tmpfs", "tmpfs", opts});
    }

    const Profile &p_;
    const RunRequest &req_;
    const HostContext &ctx_;
    std::string ws_;
    bool gpu_;
    std::vector<Rule> rules_;
    std::vector<std::string> missing_;
    std::vector<std::string> pins_; // see pin_restrictions, shallowest first
    FsPlan out_;
};

} // namespace

std::string resolve_workspace(const RunRequest &req, const HostContext &ctx) {
    std::string ws = req.workspace.empty() ? ctx.cwd : req.workspace;
    if (ws.empty())
        throw_error("workspace: none given and the current directory is unknown");
    if (ws[0] != '/')
        ws = ctx.cwd + "/" + ws;
    std::optional<std::string> canon = resolve_in_root(ctx.host_root, normalize(ws));
    struct stat st {};
    if (!canon || ::stat((ctx.host_root + *canon).c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
        throw_error("workspace {}: not a directory", ws);
    if (*canon == "/")
        throw_error("workspace {}: the whole host cannot be the workspace", ws);
    return *canon;
}

FsPlan plan_filesystem(const Profile &p, const RunRequest &req, const HostContext &ctx, const std::string &workspace,
                       bool gpu) {
    return Planner(p, req, ctx, workspace, gpu).run();
}

} // namespace mxc::policy::detail
