// The rootless audit fallback: seccomp user notifications -> audit records.
// Every notification is answered with SECCOMP_USER_NOTIF_FLAG_CONTINUE; the
// supervisor only reads what the task asked for (seccomp_unotify(2)).
#include "net_names.hpp"
#include "mxc/audit/notify.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <fcntl.h>
#include <linux/audit.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "mxc/util/error.hpp"
#include "mxc/util/log.hpp"

namespace mxc::audit {

using detail::family_name;
using detail::proto_name;

namespace {

constexpr const char *kNotify = "SCMP_ACT_NOTIFY";

// A syscall an architecture lacks (aarch64 has no open, mkdir, rename, ...).
constexpr long kNone = -1;
#ifdef SYS_open
constexpr long kNrOpen = SYS_open;
#else
constexpr long kNrOpen = kNone;
#endif
#ifdef SYS_creat
constexpr long kNrCreat = SYS_creat;
#else
constexpr long kNrCreat = kNone;
#endif
#ifdef SYS_unlink
constexpr long kNrUnlink = SYS_unlink;
#else
constexpr long kNrUnlink = kNone;
#endif
#ifdef SYS_rename
constexpr long kNrRename = SYS_rename;
#else
constexpr long kNrRename = kNone;
#endif
#ifdef SYS_renameat
constexpr long kNrRenameat = SYS_renameat;
#else
constexpr long kNrRenameat = kNone;
#endif
#ifdef SYS_mkdir
constexpr long kNrMkdir = SYS_mkdir;
#else
constexpr long kNrMkdir = kNone;
#endif
#ifdef SYS_rmdir
constexpr long kNrRmdir = SYS_rmdir;
#else
constexpr long kNrRmdir = kNone;
#endif
#ifdef SYS_link
constexpr long kNrLink = SYS_link;
#else
constexpr long kNrLink = kNone;
#endif
#ifdef SYS_symlink
constexpr long kNrSymlink = SYS_symlink;
#else
constexpr long kNrSymlink = kNone;
#endif
#ifdef SYS_openat2
constexpr long kNrOpenat2 = SYS_openat2;
#else
constexpr long kNrOpenat2 = kNone;
#endif

enum class Call {
    execve, execveat, open, openat, openat2, creat, unlink, unlinkat, rename, renameat,
    renameat2, mkdir, mkdirat, rmdir, link, linkat, symlink, symlinkat, connect, bind,
};

struct CallInfo {
    Call call;
    const char *name;
    long nr;
    const char *kind;
};

constexpr CallInfo kCalls[] = {
    {Call::execve, "execve", SYS_execve, "exec"},
    {Call::execveat, "execveat", SYS_execveat, "exec"},
    {Call::open, "open", kNrOpen, "file"},
    {Call::openat, "openat", SYS_openat, "file"},
    {Call::openat2, "openat2", kNrOpenat2, "file"},
    {Call::creat, "creat", kNrCreat, "file"},
    {Call::unlink, "unlink", kNrUnlink, "file"},
    {Call::unlinkat, "unlinkat", SYS_unlinkat, "file"},
    {Call::rename, "rename", kNrRename, "file"},
    {Call::renameat, "renameat", kNrRenameat, "file"},
    {Call::renameat2, "renameat2", SYS_renameat2, "file"},
    {Call::mkdir, "mkdir", kNrMkdir, "file"},
    {Call::mkdirat, "mkdirat", SYS_mkdirat, "file"},
    {Call::rmdir, "rmdir", kNrRmdir, "file"},
    {Call::link, "link", kNrLink, "file"},
    {Call::linkat, "linkat", SYS_linkat, "file"},
    {Call::symlink, "symlink", kNrSymlink, "file"},
    {Call::symlinkat, "symlinkat", SYS_symlinkat, "file"},
    {Call::connect, "connect", SYS_connect, "net"},
    {Call::bind, "bind", SYS_bind, "net"},
};

// Syscall numbers differ per ABI: a notification of another architecture
// (x86 int 0x80 from an x86_64 task) must not be decoded with the native table.
#if defined(__x86_64__)
constexpr std::optional<uint32_t> kNativeArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr std::optional<uint32_t> kNativeArch = AUDIT_ARCH_AARCH64;
#elif defined(__riscv) && __riscv_xlen == 64
constexpr std::optional<uint32_t> kNativeArch = AUDIT_ARCH_RISCV64;
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr std::optional<uint32_t> kNativeArch = AUDIT_ARCH_PPC64LE;
#elif defined(__s390x__)
constexpr std::optional<uint32_t> kNativeArch = AUDIT_ARCH_S390X;
#else
constexpr std::optional<uint32_t> kNativeArch = std::nullopt;
#endif

const CallInfo *find_call(const seccomp_notif &req) {
    if (kNativeArch && req.data.arch != *kNativeArch)
        return nullptr;
    for (const auto &c : kCalls)
        if (c.nr != kNone && c.nr == req.data.nr)
            return &c;
    return nullptr;
}

bool permits(const std::string &action) { return action == "SCMP_ACT_ALLOW" || action == "SCMP_ACT_LOG"; }

bool names(const oci::SeccompSyscall &rule, const std::string &name) {
    return std::find(rule.names.begin(), rule.names.end(), name) != rule.names.end();
}

// ---- the task ---------------------------------------------------------------

std::string read_link(const std::string &path) {
    char buf[PATH_MAX + 1];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// A /proc file of a few hundred bytes.  proc's seq files hand over all they
// have in one read when it fits: a read shorter than the buffer is the end,
// and the read that would return 0 is saved (one system call per call).
std::optional<std::string> read_small_file(const std::string &path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return std::nullopt;
    std::string out;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return std::nullopt;
        out.append(buf, static_cast<size_t>(n));
        if (static_cast<size_t>(n) < sizeof buf)
            return out;
    }
}

// The task behind one notification: its memory and its /proc entries.
struct Task {
    pid_t pid;
    int mem = -1;           // /proc/PID/mem (TaskCache's); -1: unreadable
    std::optional<std::string> root;
    bool fault = false;     // a string argument could not be read
    bool truncated = false; // a path did not end within PATH_MAX
    bool mem_error = false; // a read of the task's memory got nothing

    std::string proc(const std::string &entry) const { return fmt::format("/proc/{}/{}", pid, entry); }

    // Up to len bytes at addr; fewer when memory ends being mapped.  Reads
    // stay within 4 KiB blocks so that an unmapped page after the data does
    // not fail the whole read.
    size_t read(uint64_t addr, void *buf, size_t len) {
        if (mem < 0 || addr == 0)
            return 0;
        size_t done = 0;
        while (done < len) {
            uint64_t at = addr + done;
            size_t chunk = std::min<size_t>(len - done, 4096 - at % 4096);
            ssize_t n = ::pread(mem, static_cast<char *>(buf) + done, chunk, static_cast<off_t>(at));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                mem_error = mem_error || done == 0;
                break;
            }
            done += static_cast<size_t>(n);
        }
        return done;
    }

    // The NUL-terminated string at addr, at most max bytes (truncated set
    // when it goes on).  nullopt when it cannot be read.
    std::optional<std::string> string(uint64_t addr, size_t max, bool &trunc) {
        if (mem < 0 || addr == 0)
            return std::nullopt;
        std::string out;
        char buf[4096];
        while (out.size() < max) {
            uint64_t at = addr + out.size();
            size_t chunk = std::min<size_t>({max - out.size(), sizeof buf, 4096 - at % 4096});
            ssize_t n = ::pread(mem, buf, chunk, static_cast<off_t>(at));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                mem_error = mem_error || out.empty();
                return std::nullopt;
            }
            size_t got = static_cast<size_t>(n);
            if (const void *nul = std::memchr(buf, '\0', got)) {
                out.append(buf, static_cast<const char *>(nul) - buf);
                return out;
            }
            out.append(buf, got);
        }
        trunc = true;
        return out;
    }

    // A path argument as the task passed it ("" when unreadable).
    std::string path_arg(uint64_t addr) {
        bool trunc = false;
        auto s = string(addr, PATH_MAX, trunc);
        if (!s) {
            fault = true;
            return {};
        }
        truncated = truncated || trunc;
        return *s;
    }

    // A directory link of the task in its own view: paths it passes are
    // relative to its root, /proc shows them relative to ours.
    std::string dir_link(const std::string &entry) {
        std::string d = read_link(proc(entry));
        if (d.empty() || d[0] != '/')
            return {};
        if (!root)
            root = read_link(proc("root"));
        const std::string &r = *root;
        if (!r.empty() && r != "/" && d.compare(0, r.size(), r) == 0 &&
            (d.size() == r.size() || d[r.size()] == '/'))
            d = d.size() == r.size() ? "/" : d.substr(r.size());
        return d;
    }

    // What the fd refers to (AT_EMPTY_PATH), "" when it is not a path.
    std::string fd_path(int fd) { return dir_link(fmt::format("fd/{}", fd)); }

    // path made absolute against dirfd (AT_FDCWD: the cwd).  Stays relative
    // when the directory is unknown; "." components are dropped.
    std::string resolve(int dirfd, const std::string &path) {
        if (path.empty() || path[0] == '/')
            return path;
        std::string base = dirfd == AT_FDCWD ? dir_link("cwd") : fd_path(dirfd);
        if (base.empty())
            return path;
        std::string out = base;
        size_t i = 0;
        while (i <= path.size()) {
            size_t j = path.find('/', i);
            if (j == std::string::npos)
                j = path.size();
            std::string_view comp(path.data() + i, j - i);
            if (!comp.empty() && comp != ".") {
                if (out.back() != '/')
                    out += '/';
                out.append(comp);
            }
            i = j + 1;
        }
        return out;
    }
};

int as_int(uint64_t v) { return static_cast<int>(static_cast<int32_t>(v & 0xffffffffu)); }

// /proc/PID/status: Name (comm), PPid, the real Uid, and Tgid (pidfd_open
// wants a leader).
struct Status {
    std::optional<std::string> name;
    std::optional<int64_t> ppid;
    std::optional<uint32_t> uid;
    pid_t tgid = 0;
};

// status shows comm with its newlines and backslashes escaped (\n, \\);
// the comm file has it raw.
std::string unescape_name(std::string_view v) {
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) {
            ++i;
            out += v[i] == 'n' ? '\n' : v[i];
        } else {
            out += v[i];
        }
    }
    return out;
}

Status read_status(pid_t pid) {
    Status st;
    auto text = read_small_file(fmt::format("/proc/{}/status", pid));
    if (!text)
        return st;
    size_t pos = 0;
    while (pos < text->size()) {
        size_t end = text->find('\n', pos);
        if (end == std::string::npos)
            end = text->size();
        std::string_view line(text->data() + pos, end - pos);
        auto value = [&](std::string_view key) -> std::optional<std::string> {
            if (line.substr(0, key.size()) != key)
                return std::nullopt;
            std::string v(line.substr(key.size()));
            return v;
        };
        try {
            if (auto v = value("Name:\t"))
                st.name = unescape_name(*v);
            else if (auto v = value("PPid:"))
                st.ppid = std::stoll(*v);
            else if (auto v = value("Uid:"))
                st.uid = static_cast<uint32_t>(std::stoul(*v));
            else if (auto v = value("Tgid:"))
                st.tgid = static_cast<pid_t>(std::stol(*v));
        } catch (const std::exception &) {
            // A field we cannot parse stays unset.
        }
        pos = end + 1;
    }
    return st;
}

// The socket's protocol, from a copy of the task's fd (pidfd_getfd needs the
// same ptrace access as /proc/PID/mem).  "" when it cannot be had.
std::string socket_proto(pid_t tgid, int fd) {
    UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, tgid, 0)));
    if (!pidfd)
        return {};
    UniqueFd sock(static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.get(), fd, 0)));
    if (!sock)
        return {};
    int domain = 0, type = 0, protocol = 0;
    socklen_t len = sizeof(int);
    if (getsockopt(sock.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
        return {};
    len = sizeof(int);
    if (getsockopt(sock.get(), SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return {};
    len = sizeof(int);
    if (getsockopt(sock.get(), SOL_SOCKET, SO_PROTOCOL, &protocol, &len) < 0)
        return {};
    return proto_name(domain, type, protocol);
}

void decode_sockaddr(Task &t, uint64_t addr, uint64_t addrlen, Record &r) {
    sockaddr_storage ss{};
    size_t want = std::min<uint64_t>(static_cast<uint32_t>(addrlen), sizeof ss);
    size_t len = t.read(addr, &ss, want);
    if (want > 0 && len < want)
        t.fault = true;
    if (len < sizeof(sa_family_t))
        return;
    r.family = family_name(ss.ss_family);
    char buf[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET && len >= sizeof(sockaddr_in)) {
        const auto *sin = reinterpret_cast<const sockaddr_in *>(&ss);
        inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf);
        r.addr = buf;
        r.port = ntohs(sin->sin_port);
    } else if (ss.ss_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
        const auto *sin6 = reinterpret_cast<const sockaddr_in6 *>(&ss);
        inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf);
        r.addr = buf;
        r.port = ntohs(sin6->sin6_port);
    } else if (ss.ss_family == AF_UNIX && len > offsetof(sockaddr_un, sun_path)) {
        const char *p = reinterpret_cast<const char *>(&ss) + offsetof(sockaddr_un, sun_path);
        size_t plen = len - offsetof(sockaddr_un, sun_path);
        if (p[0] == '\0') // abstract: the name is every byte of addrlen
            r.addr = "@" + std::string(p + 1, plen - 1);
        else // a relative socket path is resolved against the cwd like any path
            r.addr = t.resolve(AT_FDCWD, std::string(p, strnlen(p, plen)));
    }
}

void decode_exec(Task &t, const seccomp_notif &req, const NotifyOptions &opts, Record &r) {
    const auto *a = req.data.args;
    bool at = req.data.nr == SYS_execveat;
    uint64_t argv = at ? a[2] : a[1];
    std::string file = t.path_arg(at ? a[1] : a[0]);
    if (at) {
        r.flags = a[4];
        r.path = file.empty() && !t.fault && (a[4] & AT_EMPTY_PATH) ? t.fd_path(as_int(a[0]))
                                                                     : t.resolve(as_int(a[0]), file);
    } else {
        r.path = t.resolve(AT_FDCWD, file);
    }
    r.exe = r.path;

    // argv: max_args pointers, plus one to see whether more follow.
    std::vector<uint64_t> ptrs(opts.max_args + 1);
    size_t got = argv ? t.read(argv, ptrs.data(), ptrs.size() * sizeof(uint64_t)) / sizeof(uint64_t) : 0;
    bool truncated = false;
    size_t i = 0;
    for (; i < got && ptrs[i] != 0; ++i) {
        if (i == opts.max_args) {
            truncated = true;
            break;
        }
        auto s = t.string(ptrs[i], opts.max_arg_bytes, truncated);
        if (!s) {
            t.fault = true;
            break;
        }
        r.args.push_back(std::move(*s));
    }
    if (argv && i == got && got < ptrs.size())
        t.fault = true; // the array ran into unmapped memory before its NULL
    if (truncated)
        r.extra["args_truncated"] = true;
}

void decode_open(Task &t, const CallInfo &c, const seccomp_notif &req, Record &r) {
    const auto *a = req.data.args;
    uint64_t flags = 0, mode = 0;
    switch (c.call) {
    case Call::open:
        r.path = t.resolve(AT_FDCWD, t.path_arg(a[0]));
        flags = a[1];
        mode = a[2];
        break;
    case Call::openat:
        r.path = t.resolve(as_int(a[0]), t.path_arg(a[1]));
        flags = a[2];
        mode = a[3];
        break;
    case Call::openat2: {
        r.path = t.resolve(as_int(a[0]), t.path_arg(a[1]));
        open_how how{};
        size_t want = std::min<uint64_t>(a[3], sizeof how);
        if (t.read(a[2], &how, want) < want)
            t.fault = true;
        flags = how.flags;
        mode = how.mode;
        if (how.resolve)
            r.extra["resolve"] = how.resolve;
        break;
    }
    default: // creat
        r.path = t.resolve(AT_FDCWD, t.path_arg(a[0]));
        flags = O_CREAT | O_WRONLY | O_TRUNC;
        mode = a[1];
        break;
    }
    r.flags = flags;
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
        r.mode = static_cast<uint32_t>(mode & 07777);
}

void decode_file(Task &t, const CallInfo &c, const seccomp_notif &req, Record &r) {
    const auto *a = req.data.args;
    // Two paths: the first in path, the destination in extra.path2.
    auto two = [&](int dfd1, uint64_t p1, int dfd2, uint64_t p2, uint64_t flags) {
        std::string first = t.path_arg(p1);
        if (first.empty() && (flags & AT_EMPTY_PATH) && c.call == Call::linkat)
            r.path = t.fd_path(dfd1);
        else
            r.path = t.resolve(dfd1, first);
        r.extra["path2"] = t.resolve(dfd2, t.path_arg(p2));
    };
    switch (c.call) {
    case Call::open: case Call::openat: case Call::openat2: case Call::creat:
        decode_open(t, c, req, r);
        break;
    case Call::unlink: case Call::rmdir:
        r.path = t.resolve(AT_FDCWD, t.path_arg(a[0]));
        break;
    case Call::unlinkat:
        r.path = t.resolve(as_int(a[0]), t.path_arg(a[1]));
        r.flags = a[2];
        break;
    case Call::mkdir:
        r.path = t.resolve(AT_FDCWD, t.path_arg(a[0]));
        r.mode = static_cast<uint32_t>(a[1] & 07777);
        break;
    case Call::mkdirat:
        r.path = t.resolve(as_int(a[0]), t.path_arg(a[1]));
        r.mode = static_cast<uint32_t>(a[2] & 07777);
        break;
    case Call::rename: case Call::link:
        two(AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
        break;
    case Call::renameat:
        two(as_int(a[0]), a[1], as_int(a[2]), a[3], 0);
        break;
    case Call::renameat2: case Call::linkat:
        two(as_int(a[0]), a[1], as_int(a[2]), a[3], a[4]);
        r.flags = a[4];
        break;
    case Call::symlink: case Call::symlinkat: {
        // The target is stored as given: it is relative to the link's
        // directory, not to the cwd, and need not exist.
        bool at = c.call == Call::symlinkat;
        r.path = t.path_arg(a[0]);
        r.extra["path2"] = at ? t.resolve(as_int(a[1]), t.path_arg(a[2])) : t.resolve(AT_FDCWD, t.path_arg(a[1]));
        break;
    }
    default:
        break;
    }
}

// What stays the same for a task from one notification to the next: its
// /proc/TID/mem (one mm until it execs), checked against its thread group so
// that a tid reused by another process is not read through an old fd.  An
// execve drops the task's entry (serve); a read that gets nothing through a
// kept fd (its mm is gone: the task exec'd in another thread or died and the
// tid came back) opens it again.  Two system calls fewer per notification.
struct TaskEntry {
    UniqueFd mem;
    pid_t tgid = 0;
};
using TaskCache = std::unordered_map<pid_t, TaskEntry>;
constexpr size_t kTaskCacheMax = 64; // then it starts over (fds: mxc has 1024)

Record describe(const seccomp_notif &req, const CallInfo &c, const NotifyOptions &opts, int64_t when,
                TaskCache &cache) {
    Record r;
    r.time = format_time(when);
    r.kind = c.kind;
    r.op = c.name;
    r.pid = req.pid;
    r.extra = nlohmann::json::object();
    r.extra["result_known"] = false;

    auto pid = static_cast<pid_t>(req.pid);
    Status st = read_status(pid);
    r.ppid = st.ppid;
    r.uid = st.uid;
    if (st.name)
        r.comm = *st.name;
    const Record base = r;

    UniqueFd uncached; // a task whose thread group is unknown: its fd is not kept
    for (bool fresh : {false, true}) {
        int fd = -1;
        auto it = cache.find(pid);
        bool kept = !fresh && it != cache.end() && st.tgid != 0 && it->second.tgid == st.tgid;
        if (kept) {
            fd = it->second.mem.get();
        } else {
            if (it != cache.end())
                cache.erase(it);
            std::string path = fmt::format("/proc/{}/mem", pid);
            UniqueFd mem(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
            if (!mem && errno == EMFILE && !cache.empty()) { // the kept fds give way
                cache.clear();
                mem.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
            }
            if (!mem) {
                std::string err = errno_name(errno);
                log::debug("audit notify: {} of pid {}: open /proc/{}/mem: {}", c.name, req.pid, req.pid, err);
                r.extra["args_unreadable"] = err;
            } else if (st.tgid != 0) {
                if (cache.size() >= kTaskCacheMax)
                    cache.clear();
                fd = mem.get();
                cache.insert_or_assign(pid, TaskEntry{std::move(mem), st.tgid});
            } else {
                uncached = std::move(mem);
                fd = uncached.get();
            }
        }
        Task t{pid};
        t.mem = fd;
        if (std::string_view(c.kind) == "exec") {
            decode_exec(t, req, opts, r);
        } else if (std::string_view(c.kind) == "net") {
            decode_sockaddr(t, req.data.args[1], req.data.args[2], r);
            r.proto = socket_proto(st.tgid ? st.tgid : t.pid, as_int(req.data.args[0]));
        } else {
            decode_file(t, c, req, r);
        }
        if (kept && t.mem_error) { // the kept fd may be stale: once more with a new one
            r = base;
            continue;
        }
        if (t.fault && t.mem >= 0)
            r.extra["path_unreadable"] = true;
        if (t.truncated)
            r.extra["path_truncated"] = true;
        break;
    }
    return r;
}

// seccomp_unotify(2): the id is still valid only while the task waits in this
// very syscall; after that its pid (and so /proc/PID) may belong to another task.
bool id_valid(int listener, uint64_t id) {
    return ::ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

void respond_continue(int listener, seccomp_notif_resp *resp, size_t size, uint64_t id) {
    std::memset(resp, 0, size);
    resp->id = id;
    resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    while (::ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0) {
        if (errno == EINTR)
            continue;
        // ENOENT: the task died or a signal interrupted its syscall meanwhile.
        log::debug("audit notify: answer notification {}: {}", id, errno_name(errno));
        return;
    }
}

} // namespace

const std::vector<std::string> &notify_audited_syscalls() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> v;
        for (const auto &c : kCalls)
            v.emplace_back(c.name);
        return v;
    }();
    return names;
}

void add_notify_rules(oci::Seccomp &s) {
    bool default_permits = permits(s.default_action);
    std::vector<oci::SeccompSyscall> added;
    std::vector<bool> emptied(s.syscalls.size(), false);
    for (const auto &name : notify_audited_syscalls()) {
        bool other = false, notify = false, allow = false, allow_if = false;
        for (const auto &rule : s.syscalls) {
            if (!names(rule, name))
                continue;
            if (rule.action == kNotify)
                notify = true;
            else if (permits(rule.action))
                (rule.args.empty() ? allow : allow_if) = true;
            else
                other = true;
        }
        if (other || notify)
            continue;
        // Denied by the default action: a NOTIFY+CONTINUE rule would let it through.
        if (!default_permits && !allow && !allow_if)
            continue;
        bool unconditional = default_permits || allow;
        for (size_t i = 0; i < s.syscalls.size(); ++i) {
            auto &rule = s.syscalls[i];
            if (!permits(rule.action) || !names(rule, name))
                continue;
            if (!unconditional) {
                oci::SeccompSyscall n = rule;
                n.names = {name};
                n.action = kNotify;
                added.push_back(std::move(n));
            }
            std::erase(rule.names, name);
            if (rule.names.empty())
                emptied[i] = true;
        }
        if (unconditional)
            added.push_back(oci::SeccompSyscall{{name}, kNotify, std::nullopt, {}});
    }
    std::vector<oci::SeccompSyscall> kept;
    for (size_t i = 0; i < s.syscalls.size(); ++i)
        if (!emptied[i])
            kept.push_back(std::move(s.syscalls[i]));
    for (auto &n : added)
        kept.push_back(std::move(n));
    s.syscalls = std::move(kept);
}

NotifySupervisor::NotifySupervisor(UniqueFd listener, Sink sink, NotifyOptions opts)
    : listener_(std::move(listener)), sink_(std::move(sink)), opts_(opts) {}

uint64_t NotifySupervisor::notifications() const { return notifications_.load(); }
uint64_t NotifySupervisor::recorded() const { return recorded_.load(); }

void NotifySupervisor::serve(int stop_fd) {
    // The kernel's structs may be larger than the ones this was built with.
    seccomp_notif_sizes sizes{};
    if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
        throw_errno("audit notify: SECCOMP_GET_NOTIF_SIZES");
    size_t req_size = std::max<size_t>(sizes.seccomp_notif, sizeof(seccomp_notif));
    size_t resp_size = std::max<size_t>(sizes.seccomp_notif_resp, sizeof(seccomp_notif_resp));
    std::vector<uint64_t> req_buf((req_size + 7) / 8), resp_buf((resp_size + 7) / 8);
    auto *req = reinterpret_cast<seccomp_notif *>(req_buf.data());
    auto *resp = reinterpret_cast<seccomp_notif_resp *>(resp_buf.data());

    int listener = listener_.get();
    TaskCache tasks;
    // Linux 6.6+: the notifying task and this thread hand the CPU to each
    // other (the wakeup runs the waiter on the waker's CPU) instead of waking
    // one another across CPUs.  Older kernels refuse it (EINVAL/ENOTTY): the
    // notifications are the same, only slower.
    constexpr unsigned long kSetFlags = SECCOMP_IOW(4, __u64); // SECCOMP_IOCTL_NOTIF_SET_FLAGS
    constexpr unsigned long kSyncWakeUp = 1;                   // SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
    if (::ioctl(listener, kSetFlags, kSyncWakeUp) < 0)
        log::debug("audit notify: synchronous wake-ups not available: {}", errno_name(errno));
    for (;;) {
        pollfd pfd[2] = {{listener, POLLIN, 0}, {stop_fd, POLLIN, 0}};
        if (::poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("audit notify: poll");
        }
        if (pfd[1].revents)
            return;
        if (pfd[0].revents & POLLNVAL)
            throw Error(EBADF, "audit notify: poll: the listener is not an open fd");
        if (!(pfd[0].revents & POLLIN)) {
            if (pfd[0].revents & (POLLHUP | POLLERR))
                return;
            continue;
        }

        std::memset(req, 0, req_size);
        if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
            // ENOENT: the task went away between poll and receive.
            if (errno == EINTR || errno == ENOENT)
                continue;
            throw_errno("audit notify: SECCOMP_IOCTL_NOTIF_RECV");
        }
        int64_t when = now_ns();
        const CallInfo *c = find_call(*req);
        bool exec = c && std::string_view(c->kind) == "exec";
        std::optional<Record> rec;
        if (c && (seen_exec_ || !opts_.skip_until_exec || exec)) {
            try {
                rec = describe(*req, *c, opts_, when, tasks);
            } catch (const std::exception &e) {
                log::debug("audit notify: {} of pid {}: {}", c->name, req->pid, e.what());
            }
            if (rec && !id_valid(listener, req->id)) {
                log::debug("audit notify: {} of pid {}: the task left the syscall, record dropped",
                           c->name, req->pid);
                rec.reset();
            }
        } else if (!c) {
            log::debug("audit notify: syscall {} (arch {:#x}) of pid {} is not one of ours",
                       req->data.nr, req->data.arch, req->pid);
        }
        if (exec) {
            seen_exec_ = true;
            tasks.erase(static_cast<pid_t>(req->pid)); // a new mm, if the exec succeeds
        }
        respond_continue(listener, resp, resp_size, req->id);
        ++notifications_;
        if (rec) {
            ++recorded_;
            sink_(std::move(*rec));
        }
    }
}

} // namespace mxc::audit
