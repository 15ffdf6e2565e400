#include "probe.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "mxc/util/error.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::host::detail {

nlohmann::json check(const std::string &area, const std::string &name, bool ok, std::string detail) {
    return {{"area", area}, {"name", name}, {"ok", ok}, {"detail", std::move(detail)}};
}

std::string errno_text(int err) { return fmt::format("{} ({})", errno_name(err), std::strerror(err)); }

std::string under(const std::string &root, const std::string &path) {
    if (root.empty())
        return path;
    std::string r = root;
    while (r.size() > 1 && r.back() == '/')
        r.pop_back();
    if (r == "/")
        return path;
    return r + path;
}

std::optional<std::string> read_trimmed(const std::string &path) {
    std::ifstream in(path);
    if (!in)
        return std::nullopt;
    std::stringstream ss;
    ss << in.rdbuf();
    if (in.bad())
        return std::nullopt;
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t' || s.back() == '\0'))
        s.pop_back();
    return s;
}

namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string &s) {
    auto oct = [](char c) { return c >= '0' && c <= '7'; };
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && oct(s[i + 1]) && oct(s[i + 2]) && oct(s[i + 3])) {
            out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
            continue;
        }
        out += s[i];
    }
    return out;
}

} // namespace

std::vector<MountEntry> read_mountinfo(const std::string &path) {
    std::vector<MountEntry> out;
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::vector<std::string> f;
        std::string w;
        while (ls >> w)
            f.push_back(w);
        // id parent maj:min root mountpoint opts [optional...] - fstype source superopts
        size_t dash = 0;
        for (size_t i = 6; i < f.size(); ++i)
            if (f[i] == "-") {
                dash = i;
                break;
            }
        if (dash == 0 || dash + 2 >= f.size())
            continue;
        MountEntry e;
        e.mountpoint = unescape_mountinfo(f[4]);
        e.fstype = f[dash + 1];
        e.source = unescape_mountinfo(f[dash + 2]);
        e.super_opts = dash + 3 < f.size() ? f[dash + 3] : "";
        out.push_back(std::move(e));
    }
    return out;
}

void set_step(ChildResult &r, const char *step, int err) {
    std::snprintf(r.step, sizeof r.step, "%s", step);
    r.err = err;
}

bool write_proc_file(const char *path, const char *data, int &err) {
    int fd = ::open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        err = errno;
        return false;
    }
    ssize_t n = ::write(fd, data, std::strlen(data));
    err = n < 0 ? errno : 0;
    ::close(fd);
    return n >= 0;
}

ChildResult run_in_child(const std::function<void(ChildResult &)> &fn, int timeout_ms) {
    ChildResult result;
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0) {
        set_step(result, "pipe2", errno);
        return result;
    }
    UniqueFd rd(p[0]), wr(p[1]);
    pid_t pid = ::fork();
    if (pid < 0) {
        set_step(result, "fork", errno);
        return result;
    }
    if (pid == 0) {
        rd.reset();
        ChildResult r;
        try {
            fn(r);
        } catch (...) {
            r.rc = -1;
            set_step(r, "exception in probe", 0);
        }
        ssize_t n = ::write(wr.get(), &r, sizeof r);
        ::_exit(n == static_cast<ssize_t>(sizeof r) ? 0 : 1);
    }
    wr.reset();
    pollfd pfd{rd.get(), POLLIN, 0};
    int pr;
    do {
        pr = ::poll(&pfd, 1, timeout_ms);
    } while (pr < 0 && errno == EINTR);
    bool got = false;
    if (pr > 0) {
        ssize_t n;
        do {
            n = ::read(rd.get(), &result, sizeof result);
        } while (n < 0 && errno == EINTR);
        got = n == static_cast<ssize_t>(sizeof result);
    }
    if (!got)
        ::kill(pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!got) {
        result = ChildResult{};
        if (pr == 0)
            set_step(result, "probe timed out", ETIMEDOUT);
        else if (WIFSIGNALED(status))
            std::snprintf(result.step, sizeof result.step, "probe killed by signal %d", WTERMSIG(status));
        else
            set_step(result, "probe exited without answering", 0);
    }
    return result;
}

bool apparmor_enabled(const std::string &root) {
    if (auto v = read_trimmed(under(root, "/sys/module/apparmor/parameters/enabled")))
        return *v == "Y";
    struct stat st {};
    return ::stat(under(root, "/sys/kernel/security/apparmor").c_str(), &st) == 0;
}

bool selinux_enabled(const std::string &root) {
    struct stat st {};
    return ::stat(under(root, "/sys/fs/selinux/enforce").c_str(), &st) == 0;
}

IdmapProbe probe_idmap() {
    IdmapProbe out;
    if (::geteuid() != 0) {
        out.detail = "not probed: needs root (MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN over a filesystem "
                     "of the initial user namespace)";
        return out;
    }
    out.tried = true;
    ChildResult r = run_in_child([](ChildResult &res) {
        // A private mount namespace so that nothing can leak to the host, even
        // though the tmpfs below is never attached anywhere.
        if (::unshare(CLONE_NEWNS) < 0)
            return set_step(res, "unshare(CLONE_NEWNS)", errno);
        int fsfd = ::fsopen("tmpfs", FSOPEN_CLOEXEC);
        if (fsfd < 0)
            return set_step(res, "fsopen(tmpfs)", errno);
        if (::fsconfig(fsfd, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) < 0)
            return set_step(res, "fsconfig(CREATE)", errno);
        int mfd = ::fsmount(fsfd, FSMOUNT_CLOEXEC, 0);
        if (mfd < 0)
            return set_step(res, "fsmount", errno);

        // A user namespace to map through: a grandchild unshares one and
        // waits; we write its maps and take its ns fd.
        int ready[2], hold[2];
        if (::pipe2(ready, O_CLOEXEC) < 0 || ::pipe2(hold, O_CLOEXEC) < 0)
            return set_step(res, "pipe2", errno);
        pid_t gc = ::fork();
        if (gc < 0)
            return set_step(res, "fork", errno);
        if (gc == 0) {
            // Drop our copy of the write end, or the read below never sees EOF.
            ::close(hold[1]);
            ::close(ready[0]);
            char c = ::unshare(CLONE_NEWUSER) == 0 ? 'y' : 'n';
            (void)!::write(ready[1], &c, 1);
            (void)!::read(hold[0], &c, 1);
            ::_exit(0);
        }
        ::close(hold[0]);
        ::close(ready[1]);
        char c = 0;
        if (::read(ready[0], &c, 1) != 1 || c != 'y') {
            ::kill(gc, SIGKILL);
            ::waitpid(gc, nullptr, 0);
            return set_step(res, "unshare(CLONE_NEWUSER)", EPERM);
        }
        char path[64];
        int err = 0;
        std::snprintf(path, sizeof path, "/proc/%d/uid_map", gc);
        bool mapped = write_proc_file(path, "0 100000 65536\n", err);
        if (mapped) {
            std::snprintf(path, sizeof path, "/proc/%d/gid_map", gc);
            mapped = write_proc_file(path, "0 100000 65536\n", err);
        }
        int ufd = -1;
        if (mapped) {
            std::snprintf(path, sizeof path, "/proc/%d/ns/user", gc);
            ufd = ::open(path, O_RDONLY | O_CLOEXEC);
            if (ufd < 0)
                err = errno;
        }
        ::close(hold[1]);
        ::waitpid(gc, nullptr, 0);
        if (!mapped)
            return set_step(res, "write id maps", err);
        if (ufd < 0)
            return set_step(res, "open ns/user", err);
        struct mount_attr attr {};
        attr.attr_set = MOUNT_ATTR_IDMAP;
        attr.userns_fd = static_cast<uint64_t>(ufd);
        if (::mount_setattr(mfd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
            return set_step(res, "mount_setattr(MOUNT_ATTR_IDMAP)", errno);
        res.rc = 0;
    });
    out.ok = r.rc == 0;
    out.detail = out.ok ? "MOUNT_ATTR_IDMAP on a detached tmpfs: ok"
                        : fmt::format("{}: {}", r.step, r.err ? errno_text(r.err) : "failed");
    return out;
}

} // namespace mxc::host::detail
