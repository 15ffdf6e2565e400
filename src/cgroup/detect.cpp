// Host detection: which cgroup hierarchies are mounted where.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <sstream>

#include "internal.hpp"
#include "mxc/cgroup/cgroup.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/fd.hpp"
#include "mxc/util/file.hpp"

namespace mxc::cgroup {

namespace detail {

bool is_v1_controller(std::string_view name) {
    static constexpr std::string_view known[] = {"cpu",     "cpuacct",  "cpuset",  "memory",     "devices",
                                                 "freezer", "blkio",    "pids",    "hugetlb",    "net_cls",
                                                 "net_prio", "perf_event", "rdma", "misc"};
    for (auto k : known)
        if (k == name)
            return true;
    return false;
}

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\t'))
        s.remove_suffix(1);
    return std::string(s);
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t pos = 0;
    while (pos <= s.size()) {
        size_t next = s.find(sep, pos);
        if (next == std::string_view::npos)
            next = s.size();
        if (next > pos)
            out.emplace_back(s.substr(pos, next - pos));
        pos = next + 1;
    }
    return out;
}

std::optional<std::string> read_optional(const std::string &file) {
    UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        if (errno == ENOENT)
            return std::nullopt;
        throw_errno("open {}", file);
    }
    return trim(read_file_at(fd.get(), file));
}

std::string read_trimmed(const std::string &file) { return trim(read_file(file)); }

void write_value(const std::string &file, std::string_view value) {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!fd)
        throw_errno("write \"{}\" to {}: open", value, file);
    for (;;) {
        // cgroupfs parses each write as one command and reports a bad value here.
        ssize_t n = ::write(fd.get(), value.data(), value.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno("write \"{}\" to {}", value, file);
        if (static_cast<size_t>(n) != value.size())
            throw_error("write \"{}\" to {}: short write ({} bytes)", value, file, n);
        return;
    }
}

bool contains(const std::vector<std::string> &v, std::string_view s) {
    for (const auto &x : v)
        if (x == s)
            return true;
    return false;
}

std::vector<std::pair<std::string, std::string>> parse_proc_cgroup(const std::string &text) {
    std::vector<std::pair<std::string, std::string>> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        // hierarchy-ID:controller-list:cgroup-path; the path may itself contain ':'.
        size_t a = line.find(':');
        if (a == std::string::npos)
            continue;
        size_t b = line.find(':', a + 1);
        if (b == std::string::npos)
            continue;
        out.emplace_back(line.substr(a + 1, b - a - 1), line.substr(b + 1));
    }
    return out;
}

std::optional<uint64_t> parse_u64(std::string_view s) {
    std::string t = trim(s);
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p != t.data() + t.size())
        return std::nullopt;
    return v;
}

} // namespace detail

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size()) {
            int v = 0;
            bool ok = true;
            for (size_t k = 1; k <= 3; ++k) {
                char c = s[i + k];
                if (c < '0' || c > '7') {
                    ok = false;
                    break;
                }
                v = v * 8 + (c - '0');
            }
            if (ok) {
                out += static_cast<char>(v);
                i += 3;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

std::string parent_dir(const std::string &p) {
    auto pos = p.find_last_of('/');
    if (pos == std::string::npos || pos == 0)
        return "/";
    return p.substr(0, pos);
}

} // namespace

Layout detect(const std::string &mountinfo_path) {
    Layout l;
    std::string text = with_context("detect cgroups", [&] { return read_file(mountinfo_path); });
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        auto dash = line.find(" - ");
        if (dash == std::string::npos)
            continue;
        auto pre = detail::split(std::string_view(line).substr(0, dash), ' ');
        auto post = detail::split(std::string_view(line).substr(dash + 3), ' ');
        if (pre.size() < 5 || post.size() < 3)
            continue;
        const std::string &fstype = post[0];
        std::string root = unescape(pre[3]);
        std::string mnt = unescape(pre[4]);
        if (fstype == "cgroup2") {
            if (l.v2_mount.empty()) {
                l.v2_mount = mnt;
                l.mount_roots[mnt] = root;
            }
        } else if (fstype == "cgroup") {
            bool any = false;
            for (const auto &opt : detail::split(post[2], ',')) {
                if (!detail::is_v1_controller(opt) || l.v1_mounts.count(opt))
                    continue;
                l.v1_mounts[opt] = mnt;
                any = true;
            }
            if (any)
                l.mount_roots[mnt] = root;
        }
    }
    if (!l.v2_mount.empty() && l.v1_mounts.empty()) {
        l.mode = Mode::unified;
        l.root = l.v2_mount;
    } else if (!l.v1_mounts.empty()) {
        l.mode = l.v2_mount.empty() ? Mode::legacy : Mode::hybrid;
        l.root = parent_dir(l.v1_mounts.begin()->second);
    }
    if (!l.v2_mount.empty()) {
        if (auto c = detail::read_optional(l.v2_mount + "/cgroup.controllers"))
            l.v2_controllers = detail::split(*c, ' ');
    }
    return l;
}

const Layout &detect_once() {
    static const Layout layout = detect();
    return layout;
}

const char *mode_name(Mode m) {
    switch (m) {
    case Mode::unified: return "unified";
    case Mode::hybrid: return "hybrid";
    case Mode::legacy: return "legacy";
    case Mode::none: return "none";
    }
    return "none";
}

bool can_manage(const Layout &layout) {
    if (layout.mode == Mode::none)
        return false;
    if (::geteuid() == 0)
        return true;
    // Rootless: only a delegated v2 sub-tree (systemd Delegate=yes, or mxcd) is usable.
    if (layout.v2_mount.empty())
        return false;
    auto self = detail::read_optional(layout.self_cgroup);
    if (!self)
        return false;
    for (const auto &[ctrls, path] : detail::parse_proc_cgroup(*self)) {
        if (!ctrls.empty())
            continue;
        std::string dir = layout.v2_mount + (path == "/" ? "" : path);
        return ::access(dir.c_str(), W_OK) == 0 && ::access((dir + "/cgroup.procs").c_str(), W_OK) == 0 &&
               ::access((dir + "/cgroup.subtree_control").c_str(), W_OK) == 0;
    }
    return false;
}

} // namespace mxc::cgroup
