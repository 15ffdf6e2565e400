#include "mxc/sandbox/namespaces.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace mxc::sandbox {

int clone_flag(const std::string &t) {
    if (t == "pid") return CLONE_NEWPID;
    if (t == "network") return CLONE_NEWNET;
    if (t == "mount") return CLONE_NEWNS;
    if (t == "ipc") return CLONE_NEWIPC;
    if (t == "uts") return CLONE_NEWUTS;
    if (t == "user") return CLONE_NEWUSER;
    if (t == "cgroup") return CLONE_NEWCGROUP;
    if (t == "time") return CLONE_NEWTIME;
    throw_error("unknown namespace \"{}\"", t);
}

const char *proc_ns_name(const std::string &t) {
    if (t == "network") return "net";
    if (t == "mount") return "mnt";
    return t == "pid" ? "pid" : t == "ipc" ? "ipc" : t == "uts" ? "uts" : t == "user" ? "user"
         : t == "cgroup" ? "cgroup" : t == "time" ? "time" : "?";
}

int new_namespace_flags(const oci::Linux &l) {
    int flags = 0;
    for (const auto &n : l.namespaces)
        if (n.path.empty())
            flags |= clone_flag(n.type);
    return flags;
}

static std::string map_text(const std::vector<oci::IdMapping> &m) {
    std::string s;
    for (const auto &e : m)
        s += fmt::format("{} {} {}\n", e.container_id, e.host_id, e.size);
    return s;
}

static bool is_own_single(const std::vector<oci::IdMapping> &m, uid_t own) {
    return m.size() == 1 && m[0].size == 1 && m[0].host_id == own;
}

bool setgroups_allowed(const std::vector<oci::IdMapping> &gids) {
    return ::geteuid() == 0 || !is_own_single(gids, ::getegid());
}

bool setgroups_allowed_in_self() {
    // The parent may have written "deny" (rootless single-id mapping); inside
    // the namespace we are uid 0, so the caller's euid says nothing.
    try {
        return read_file("/proc/self/setgroups").rfind("deny", 0) != 0;
    } catch (const Error &) {
        return true; // no user namespace file: setgroups is governed by caps alone
    }
}

static void run_map_helper(const char *helper, pid_t pid, const std::vector<oci::IdMapping> &m) {
    std::vector<std::string> args = {helper, std::to_string(pid)};
    for (const auto &e : m) {
        args.push_back(std::to_string(e.container_id));
        args.push_back(std::to_string(e.host_id));
        args.push_back(std::to_string(e.size));
    }
    pid_t c = ::fork();
    if (c < 0)
        throw_errno("fork {}", helper);
    if (c == 0) {
        std::vector<char *> argv;
        for (auto &a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execvp(helper, argv.data());
        ::_exit(127);
    }
    int st = 0;
    while (::waitpid(c, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        throw_error("{} failed (status {}); is uidmap installed and are there /etc/subuid and /etc/subgid entries?",
                    helper, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
}

void write_id_maps(pid_t pid, const std::vector<oci::IdMapping> &uids, const std::vector<oci::IdMapping> &gids) {
    bool root = ::geteuid() == 0;
    std::string dir = fmt::format("/proc/{}/", pid);
    if (root || is_own_single(uids, ::geteuid())) {
        with_context("write uid_map", [&] { write_file(dir + "uid_map", map_text(uids), O_TRUNC); });
    } else {
        run_map_helper("newuidmap", pid, uids);
    }
    if (root) {
        with_context("write gid_map", [&] { write_file(dir + "gid_map", map_text(gids), O_TRUNC); });
    } else if (is_own_single(gids, ::getegid())) {
        // An unprivileged writer of gid_map must first give up setgroups(2).
        with_context("deny setgroups", [&] { write_file(dir + "setgroups", "deny", O_TRUNC); });
        with_context("write gid_map", [&] { write_file(dir + "gid_map", map_text(gids), O_TRUNC); });
    } else {
        run_map_helper("newgidmap", pid, gids);
    }
}

} // namespace mxc::sandbox
