// cgroup manager: directories, membership, freezer, kill and removal.
// Limits are in apply.cpp, statistics in stats.cpp, host detection in detect.cpp.
#include "mxc/cgroup/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <optional>
#include <set>
#include <thread>

#include "internal.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"

namespace mxc::cgroup {

using namespace std::chrono_literals;

namespace {

// "/a//b/" -> "/a/b"; rejects ".." so that a cgroupsPath cannot climb out of a hierarchy.
std::string normalize(const std::string &p, const std::string &what) {
    std::string out;
    for (const auto &c : detail::split(p, '/')) {
        if (c == ".")
            continue;
        if (c == "..")
            throw_error("cgroupsPath {}: \"..\" is not allowed", what);
        out += "/" + c;
    }
    return out;
}

std::string parent_of(const std::string &p) {
    auto pos = p.find_last_of('/');
    return pos == std::string::npos ? std::string() : p.substr(0, pos);
}

// Subdirectories first, then dir; EBUSY is retried because a cgroup whose last
// task just exited is briefly still populated.
// Where the calling process's own cgroup of a hierarchy is, relative to the
// mount's root (self: /proc/self/cgroup parsed).  controller "" is cgroup v2.
std::optional<std::string> own_cgroup(const Layout &layout, const std::vector<std::pair<std::string, std::string>> &self,
                                      const std::string &mount, const std::string &controller) {
    for (const auto &[ctrls, p] : self) {
        bool match = controller.empty() ? ctrls.empty() : detail::contains(detail::split(ctrls, ','), controller);
        if (!match)
            continue;
        std::string path = p;
        auto it = layout.mount_roots.find(mount);
        if (it != layout.mount_roots.end() && it->second != "/" && path.rfind(it->second, 0) == 0)
            path = path.substr(it->second.size());
        return normalize(path, p);
    }
    return std::nullopt;
}

void remove_cgroup_dir(const std::string &dir) {
    // Usually empty by now: one rmdir, no listing.
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT)
        return;
    if (DIR *d = ::opendir(dir.c_str())) {
        std::vector<std::string> subs;
        while (struct dirent *de = ::readdir(d)) {
            std::string_view n(de->d_name);
            if (de->d_type == DT_DIR && n != "." && n != "..")
                subs.emplace_back(de->d_name);
        }
        ::closedir(d);
        for (const auto &s : subs)
            remove_cgroup_dir(dir + "/" + s);
    } else if (errno == ENOENT) {
        return;
    }
    auto deadline = std::chrono::steady_clock::now() + 1s;
    for (;;) {
        if (::rmdir(dir.c_str()) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY || std::chrono::steady_clock::now() >= deadline)
            throw_errno("rmdir {}", dir);
        std::this_thread::sleep_for(10ms);
    }
}

// cpuset v1 refuses tasks while cpuset.cpus or cpuset.mems is empty, and new
// directories start empty (unless cgroup.clone_children is set).
void fill_cpuset(const std::string &dir, const std::function<void(const std::string &, const std::string &)> &wr) {
    for (const char *f : {"cpuset.cpus", "cpuset.mems"}) {
        auto cur = detail::read_optional(dir + "/" + f);
        if (!cur || !cur->empty())
            continue;
        std::string parent = detail::read_trimmed(parent_of(dir) + "/" + f);
        wr(dir + "/" + f, parent);
    }
}

} // namespace

Manager::Manager(Layout layout, std::string path) : layout_(std::move(layout)), path_(std::move(path)) {
    if (path_.empty())
        throw_error("cgroupsPath is empty");
    bool relative = path_[0] != '/';
    std::string rel = normalize(path_, path_);
    if (rel.empty())
        throw_error("cgroupsPath {}: names the root cgroup", path_);

    std::vector<std::pair<std::string, std::string>> self;
    if (relative)
        self = detail::parse_proc_cgroup(with_context("resolve relative cgroupsPath", [&] {
            return read_file(layout_.self_cgroup);
        }));
    auto own = [&](const std::string &mount, const std::string &controller) -> std::string {
        if (auto p = own_cgroup(layout_, self, mount, controller))
            return *p;
        throw_error("resolve relative cgroupsPath {}: no {} entry in {}", path_,
                    controller.empty() ? "cgroup v2" : controller, layout_.self_cgroup);
    };
    auto resolve = [&](const std::string &mount, const std::string &controller) {
        return mount + (relative ? own(mount, controller) : "") + rel;
    };
    if (!layout_.v2_mount.empty())
        v2_dir_ = resolve(layout_.v2_mount, "");
    for (const auto &[ctrl, mount] : layout_.v1_mounts)
        v1_dirs_[ctrl] = resolve(mount, ctrl);
}

std::string Manager::v2_dir() const { return v2_dir_; }
std::map<std::string, std::string> Manager::v1_dirs() const { return v1_dirs_; }

void Manager::write(const std::string &file, const std::string &value) const {
    detail::write_value(file, value);
    if (observer_)
        observer_(file, value);
}

void Manager::enable_v2_controller(const std::string &controller) const {
    if (v2_dir_.empty())
        return;
    // Every ancestor from the mount down to our parent must delegate the controller.
    std::string dir = layout_.v2_mount;
    std::string rest = v2_dir_.substr(layout_.v2_mount.size());
    auto comps = detail::split(rest, '/');
    for (size_t i = 0; i < comps.size(); ++i) {
        std::string file = dir + "/cgroup.subtree_control";
        auto cur = detail::read_optional(file).value_or("");
        if (!detail::contains(detail::split(cur, ' '), controller))
            with_context(fmt::format("enable the {} controller", controller), [&] { write(file, "+" + controller); });
        dir += "/" + comps[i];
    }
}

void Manager::create() {
    std::vector<std::string> made;
    ScopeExit rollback([&] {
        for (auto it = made.rbegin(); it != made.rend(); ++it)
            ::rmdir(it->c_str());
    });
    auto wr = [this](const std::string &f, const std::string &v) { write(f, v); };
    auto mkdirs = [&](const std::string &mount, const std::string &dir, bool cpuset, bool v2_unified) {
        std::string cur = mount;
        for (const auto &c : detail::split(dir.substr(mount.size()), '/')) {
            if (v2_unified) {
                // As runc does: delegate what the parent has; a controller that cannot be
                // enabled (e.g. threaded sub-tree) shows up later as a missing file in apply().
                auto avail = detail::read_optional(cur + "/cgroup.controllers").value_or("");
                auto enabled = detail::split(detail::read_optional(cur + "/cgroup.subtree_control").value_or(""), ' ');
                for (const auto &ctrl : detail::split(avail, ' ')) {
                    if (detail::contains(enabled, ctrl))
                        continue;
                    try {
                        write(cur + "/cgroup.subtree_control", "+" + ctrl);
                    } catch (const Error &e) {
                        log::debug("cgroup: {}", e.what());
                    }
                }
            }
            cur += "/" + c;
            bool new_dir = ::mkdir(cur.c_str(), 0755) == 0;
            if (new_dir)
                made.push_back(cur);
            else if (errno != EEXIST)
                throw_errno("mkdir {}", cur);
            if (cpuset) {
                fill_cpuset(cur, wr);
                // A parent we made (mxc/): its next children start with its
                // cpus and mems, and need not be filled (≈ 0.13 ms per start).
                // Not a directory someone else made (the kernel passes the
                // flag on to the children of ours).
                if (new_dir && cur != dir)
                    try {
                        write(cur + "/cgroup.clone_children", "1");
                    } catch (const Error &e) {
                        log::debug("cgroup: {}", e.what());
                    }
            }
        }
    };
    with_context(fmt::format("create cgroup {}", path_), [&] {
        if (layout_.mode == Mode::none)
            throw_error("no cgroup hierarchy is mounted");
        if (!v2_dir_.empty())
            mkdirs(layout_.v2_mount, v2_dir_, false, layout_.mode == Mode::unified);
        std::set<std::string> done;
        for (const auto &[ctrl, dir] : v1_dirs_) {
            if (!done.insert(dir).second)
                continue;
            const std::string &mount = layout_.v1_mounts.at(ctrl);
            auto cs = layout_.v1_mounts.find("cpuset");
            mkdirs(mount, dir, cs != layout_.v1_mounts.end() && cs->second == mount, false);
        }
    });
    rollback.dismiss();
}

UniqueFd Manager::open_v2_dir() const {
    if (v2_dir_.empty())
        return UniqueFd();
    UniqueFd fd(::open(v2_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd)
        throw_errno("open {}", v2_dir_);
    return fd;
}

uint64_t Manager::v2_id() const {
    if (v2_dir_.empty())
        throw_error("cgroup {}: the host has no cgroup v2 hierarchy", path_);
    struct stat st;
    if (::stat(v2_dir_.c_str(), &st) < 0)
        throw_errno("stat {}", v2_dir_);
    return st.st_ino;
}

void Manager::add_pid(pid_t pid, bool in_v2_already) {
    with_context(fmt::format("add pid {} to cgroup {}", pid, path_), [&] {
        std::string v = std::to_string(pid);
        if (!v2_dir_.empty() && !in_v2_already)
            write(v2_dir_ + "/cgroup.procs", v);
        std::set<std::string> done;
        for (const auto &[ctrl, dir] : v1_dirs_)
            if (done.insert(dir).second)
                write(dir + "/cgroup.procs", v);
    });
}

std::vector<TaskFile> Manager::open_v1_tasks() const {
    std::vector<TaskFile> out;
    std::set<std::string> done;
    for (const auto &[ctrl, dir] : v1_dirs_) {
        if (!done.insert(dir).second)
            continue;
        std::string file = dir + "/tasks";
        UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd)
            throw_errno("open {}", file);
        out.push_back({std::move(fd), std::move(file)});
    }
    return out;
}

std::vector<TaskFile> Manager::open_own_v1_tasks() const {
    std::vector<TaskFile> out;
    if (v1_dirs_.empty())
        return out;
    auto text = detail::read_optional(layout_.self_cgroup);
    if (!text)
        return out;
    auto self = detail::parse_proc_cgroup(*text);
    std::set<std::string> done;
    for (const auto &[ctrl, dir] : v1_dirs_) {
        if (!done.insert(dir).second)
            continue;
        auto mount = layout_.v1_mounts.find(ctrl);
        std::optional<std::string> own;
        if (mount != layout_.v1_mounts.end())
            own = own_cgroup(layout_, self, mount->second, ctrl);
        if (!own)
            return {};
        std::string file = mount->second + *own + "/tasks";
        UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
        if (!fd)
            return {};
        out.push_back({std::move(fd), std::move(file)});
    }
    return out;
}

void Manager::remove_v1_dirs_now() const noexcept {
    std::set<std::string> done;
    for (const auto &[ctrl, dir] : v1_dirs_)
        if (done.insert(dir).second)
            (void)::rmdir(dir.c_str());
}

void leave_self(const std::vector<int> &fds) noexcept {
    for (int fd : fds) {
        ssize_t n;
        do
            n = ::write(fd, "0", 1);
        while (n < 0 && errno == EINTR);
    }
}

void join_self(const std::vector<TaskFile> &files) {
    for (const auto &f : files) {
        ssize_t n;
        do
            n = ::write(f.fd.get(), "0", 1);
        while (n < 0 && errno == EINTR);
        if (n != 1)
            throw_errno("join cgroup: write 0 to {}", f.path);
    }
}

std::string Manager::procs_dir() const {
    if (!v2_dir_.empty())
        return v2_dir_;
    for (const char *c : {"pids", "freezer", "memory", "cpu", "devices"})
        if (auto it = v1_dirs_.find(c); it != v1_dirs_.end())
            return it->second;
    if (!v1_dirs_.empty())
        return v1_dirs_.begin()->second;
    throw_error("cgroup {}: no hierarchy to list processes from", path_);
}

namespace {
void collect_pids(const std::string &dir, std::vector<pid_t> &out, bool top) {
    auto procs = detail::read_optional(dir + "/cgroup.procs");
    if (!procs) {
        if (top)
            throw Error(ENOENT, fmt::format("read {}/cgroup.procs", dir));
        return; // removed while we walked
    }
    for (const auto &l : detail::split(*procs, '\n'))
        if (auto v = detail::parse_u64(l))
            out.push_back(static_cast<pid_t>(*v));
    DIR *d = ::opendir(dir.c_str());
    if (!d)
        return;
    std::vector<std::string> subs;
    while (struct dirent *de = ::readdir(d)) {
        std::string_view n(de->d_name);
        if (de->d_type == DT_DIR && n != "." && n != "..")
            subs.emplace_back(de->d_name);
    }
    ::closedir(d);
    for (const auto &s : subs)
        collect_pids(dir + "/" + s, out, false);
}
} // namespace

std::vector<pid_t> Manager::pids() const {
    std::vector<pid_t> out;
    collect_pids(procs_dir(), out, true);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

void Manager::freeze(bool frozen_state) {
    with_context(fmt::format("{} cgroup {}", frozen_state ? "freeze" : "thaw", path_), [&] {
        auto deadline = std::chrono::steady_clock::now() + 2s;
        if (!v2_dir_.empty()) {
            write(v2_dir_ + "/cgroup.freeze", frozen_state ? "1" : "0");
            while (frozen() != frozen_state) {
                if (std::chrono::steady_clock::now() >= deadline)
                    throw_error("{}/cgroup.events: still \"frozen {}\" after 2s", v2_dir_, frozen_state ? 0 : 1);
                std::this_thread::sleep_for(5ms);
            }
            return;
        }
        auto it = v1_dirs_.find("freezer");
        if (it == v1_dirs_.end())
            throw_error("not supported: freezer: no cgroup v2 and no v1 freezer hierarchy");
        std::string file = it->second + "/freezer.state";
        const char *want = frozen_state ? "FROZEN" : "THAWED";
        for (int round = 0;; ++round) {
            // A v1 freeze can stall in FREEZING behind a task in an uninterruptible
            // sleep; writing FROZEN again retries the tasks that were missed.
            if (round % 10 == 0)
                write(file, want);
            if (detail::read_trimmed(file) == want)
                return;
            if (std::chrono::steady_clock::now() >= deadline) {
                if (frozen_state) {
                    try {
                        write(file, "THAWED");
                    } catch (const Error &) {
                    }
                }
                throw_error("{}: not {} after 2s", file, want);
            }
            std::this_thread::sleep_for(5ms);
        }
    });
}

bool Manager::frozen() const {
    if (!v2_dir_.empty()) {
        auto ev = detail::read_optional(v2_dir_ + "/cgroup.events");
        if (!ev)
            return false;
        for (const auto &l : detail::split(*ev, '\n'))
            if (l.rfind("frozen ", 0) == 0)
                return detail::trim(l.substr(7)) == "1";
        return false;
    }
    auto it = v1_dirs_.find("freezer");
    if (it == v1_dirs_.end())
        return false;
    return detail::read_optional(it->second + "/freezer.state").value_or("") == "FROZEN";
}

void Manager::kill_all(int sig) {
    with_context(fmt::format("kill processes of cgroup {}", path_), [&] {
        // cgroup.kill (5.14+) kills the whole sub-tree atomically, forks included.
        if (sig == SIGKILL && !v2_dir_.empty() && path_exists(v2_dir_ + "/cgroup.kill")) {
            write(v2_dir_ + "/cgroup.kill", "1");
            return;
        }
        // Without it, a few rounds catch children forked while we signalled.
        std::set<pid_t> signalled;
        for (int round = 0; round < 5; ++round) {
            bool any = false;
            for (pid_t p : pids()) {
                if (!signalled.insert(p).second)
                    continue;
                any = true;
                if (::kill(p, sig) < 0 && errno != ESRCH)
                    throw_errno("kill {} with signal {}", p, sig);
            }
            if (!any)
                break;
        }
    });
}

void Manager::destroy() {
    std::vector<std::string> dirs;
    if (!v2_dir_.empty())
        dirs.push_back(v2_dir_);
    for (const auto &[ctrl, dir] : v1_dirs_)
        if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end())
            dirs.push_back(dir);
    std::optional<Error> first;
    for (const auto &d : dirs) {
        try {
            remove_cgroup_dir(d);
        } catch (Error &e) {
            if (!first)
                first = e;
        }
    }
    if (first) {
        first->add_context(fmt::format("remove cgroup {}", path_));
        throw *first;
    }
}

} // namespace mxc::cgroup
