// The eBPF audit probes (ebpf/mxc.bpf.c) as a C++ object: load them, tell the
// kernel which cgroups belong to which identity, read decoded events.  The
// collector (mxcd) owns one BpfProbes; the probes stay attached while it lives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mxc::audit {

enum class Kind : uint16_t { exec = 1, file = 2, net = 3, process = 4 };

// One value per probed action; names (op_name) are the stream's "op" field.
enum class Op : uint16_t {
    none = 0,
    exec = 1, fork, exit, execve, execveat,
    open = 16, openat, openat2, creat, truncate, unlink, unlinkat, rename, renameat,
    renameat2, mkdir, mkdirat, rmdir, link, linkat, symlink, symlinkat, chmod, fchmodat,
    fchmodat2, chown, lchown, fchownat,
    connect = 64, bind, listen, accept, accept4, sendto, sendmsg,
};

const char *kind_name(Kind k) noexcept;  // "exec", "file", "net", "process"
const char *op_name(Op op) noexcept;     // "openat", ...; "unknown" otherwise

struct Event {
    Kind kind = Kind::file;
    Op op = Op::none;
    uint32_t identity = 0;      // index given to watch()
    uint64_t boot_ns = 0;       // CLOCK_BOOTTIME of the event
    int64_t realtime_ns = 0;    // boot_ns mapped to CLOCK_REALTIME by poll()
    uint32_t pid = 0, tid = 0, ppid = 0, uid = 0, gid = 0;
    uint64_t cgroup_id = 0;
    std::string comm;
    // exec: the file executed; file ops: the (first) path as the task passed it,
    // relative to dirfd when not absolute (kAtFdcwd: the task's cwd).
    std::string path;
    std::string path2;          // rename/link destination, symlink linkpath
    int dirfd = kAtFdcwd, dirfd2 = kAtFdcwd;
    // Relative paths: the directory they start from (dirfd's or the cwd; for
    // symlinks, the link's), spelled out by the probe; "" when it could not.
    std::string dir;
    bool dir_truncated = false;
    std::vector<std::string> args;  // exec argv (bounded; see args_truncated)
    uint32_t argc = 0;              // exec: the real argc
    uint64_t flags = 0;         // open/at/rename flags; net: backlog or msg flags
    uint32_t mode = 0;
    uint32_t owner_uid = UINT32_MAX, owner_gid = UINT32_MAX;  // chown family
    int64_t length = 0;         // truncate length; sendto byte count
    // Syscalls: return value (negative errno on failure).  fork: child pid.
    // exit: wait status (WEXITSTATUS/WTERMSIG apply).
    int64_t result = 0;
    // net
    int fd = -1;
    int family = 0;             // AF_INET, AF_INET6, AF_UNIX, ...
    std::string addr;           // "127.0.0.1", "::1", a unix path ("@name" if abstract)
    uint16_t port = 0;
    std::string proto;          // "tcp", "udp", "unix-stream", "raw", ... or ""
    bool path_truncated = false, args_truncated = false, path_fault = false;

    static constexpr int kAtFdcwd = -100;
};

// Decodes one ring-buffer record; nullopt for a record too short, of an
// unknown layout or of another ABI version.  Pure: no kernel needed.
std::optional<Event> decode_event(const void *data, size_t size);
// The same into e, reusing its strings' buffers (the collector's hot path);
// false (e unspecified) where the other gives nullopt.
bool decode_event(const void *data, size_t size, Event &e);

// errno name of a negative result ("ENOENT"), "" for success.
std::string result_errno_name(const Event &e);

struct Record;
// "allowed" for result >= 0; "denied" for EACCES/EPERM/EROFS; "failed" otherwise.
std::string outcome_of(int64_t result);
// The stream record of an event (seq, prev, hash left to the writer).
// Relative paths are made absolute through /proc/<pid>/{cwd,fd/N} while the
// task exists; otherwise they stay as the task gave them.
Record record_from_event(const Event &e, const std::string &identity, const std::string &sandbox);
// The same into r (everything in it replaced), reusing its strings' buffers.
void record_from_event(const Event &e, const std::string &identity, const std::string &sandbox, Record &r);

struct LoadOptions {
    uint32_t ring_bytes = 32u << 20; // power of two, multiple of the page size
    // Pin the state maps and the links under <pin_dir>/<build id>/ so that the
    // probes keep recording, and the ring keeps what they record, when this
    // process exits.  A later load() with the same build adopts them; other
    // builds' pins under pin_dir are removed once this one is attached.
    // Empty: nothing pinned, the probes die with this object.
    std::string pin_dir;
    // Attach the syscall tracepoints now.  Enabled, they send every syscall of
    // the host through the kernel's slow path (about +20 % on a syscall-bound
    // loop here), watched or not: a collector turns them on while it watches
    // a cgroup (syscall_probes) and off when it watches none.
    bool syscall_probes = true;
};

class BpfProbes {
public:
    // Loads and attaches the probes.  Throws mxc::Error with the reason
    // ("not available here: ...") when the kernel refuses them.
    static std::unique_ptr<BpfProbes> load(const LoadOptions &opts = {});
    ~BpfProbes();
    BpfProbes(const BpfProbes &) = delete;
    BpfProbes &operator=(const BpfProbes &) = delete;

    // Events of tasks in cgroup_id or any cgroup below it are recorded under
    // identity_index (< max_identities()); the nearest watched ancestor wins.
    void watch(uint64_t cgroup_id, uint32_t identity_index);
    void unwatch(uint64_t cgroup_id);

    // Waits up to timeout_ms (-1: forever) and hands each event to cb.
    // Returns the number of events consumed; 0 on timeout or EINTR.
    int poll(int timeout_ms, const std::function<void(const Event &)> &cb);
    // Consumes what is already buffered without waiting.
    int drain(const std::function<void(const Event &)> &cb);

    // Events dropped in the kernel per identity (ring full, pending table full),
    // cumulative since load; identities with no loss are absent.
    std::map<uint32_t, uint64_t> losses();
    // Records the kernel emitted that user space could not decode.
    uint64_t undecodable() const noexcept;

    // "tp_btf/sched_process_exec", ... : the hooks attached.
    std::vector<std::string> active_hooks();
    // The ring buffer's epoll fd, for an event loop that waits on it.
    int ring_fd();

    static uint32_t max_identities() noexcept;

    // Attaches (pinned, when pinning) or detaches the sys_enter/sys_exit
    // probes; exec/fork/exit stay.  Idempotent.
    void syscall_probes(bool on);
    // Whether load() found and adopted pinned probes of this build.
    bool adopted() const noexcept;
    // The cgroup ids the kernel's filter map holds (adopted pins may hold
    // registrations this process does not know).
    std::vector<uint64_t> kernel_watched();
    // Cumulative kernel loss counter of one identity index (0 when none).
    uint64_t loss_of(uint32_t identity_index);
    // Removes every pin under pin_dir: the pinned probes detach.  Returns how
    // many pins were removed.
    static int unpin_all(const std::string &pin_dir);
    // Short hex id of the probe object built into this binary.
    static std::string build_id();

    struct Impl;

private:
    explicit BpfProbes(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

} // namespace mxc::audit
