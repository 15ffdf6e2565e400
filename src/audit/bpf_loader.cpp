// Loads ebpf/mxc.bpf.c through its bpftool skeleton, attaches each probe on
// its own (so that one hook the kernel refuses is reported, not fatal), and
// reads the ring buffer.  The kernel-side filter is the watched_cgroups map.
#include "mxc/audit/bpf.hpp"

#include <dirent.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <algorithm>
#include <set>
#include <tuple>


#include "mxc/util/crypto.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"

#include "events.h"
#include "mxc.skel.h"

namespace mxc::audit {

namespace {

struct SkelDeleter {
    void operator()(mxc_bpf *s) const noexcept { mxc_bpf__destroy(s); }
};
struct RingDeleter {
    void operator()(ring_buffer *rb) const noexcept { ring_buffer__free(rb); }
};
using SkelPtr = std::unique_ptr<mxc_bpf, SkelDeleter>;
using RingPtr = std::unique_ptr<ring_buffer, RingDeleter>;

// libbpf reports through one process-wide print hook.  While loading, keep its
// warnings (the verifier log among them) so a failure can say why.
std::mutex g_print_mu;
std::string *g_capture = nullptr;

int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
    if (level == LIBBPF_DEBUG)
        return 0;
    char buf[1024];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    std::lock_guard lock(g_print_mu);
    if (g_capture) {
        g_capture->append(buf);
        if (g_capture->size() > 16384)
            g_capture->erase(0, g_capture->size() - 16384);
    } else {
        std::string msg(buf);
        while (!msg.empty() && msg.back() == '\n')
            msg.pop_back();
        log::debug("libbpf: {}", msg);
    }
    return n;
}

class CaptureLibbpf {
public:
    CaptureLibbpf() {
        std::lock_guard lock(g_print_mu);
        g_capture = &text_;
        libbpf_set_print(libbpf_print);
    }
    ~CaptureLibbpf() {
        std::lock_guard lock(g_print_mu);
        g_capture = nullptr;
    }
    // The last few lines: where the verifier stopped.
    std::string tail(size_t lines = 6) const {
        std::lock_guard lock(g_print_mu);
        std::vector<std::string> all;
        size_t start = 0;
        while (start < text_.size()) {
            size_t end = text_.find('\n', start);
            if (end == std::string::npos)
                end = text_.size();
            if (end > start)
                all.emplace_back(text_.substr(start, end - start));
            start = end + 1;
        }
        std::string out;
        for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
            out += (out.empty() ? "" : " | ") + all[i];
        return out;
    }

private:
    std::string text_;
};

// Syscall numbers come from this libc's headers, so the object carries no
// per-architecture table; syscalls an architecture lacks (open on arm64) are
// simply absent.
void fill_syscall_table(volatile __u8 *table) {
    struct Entry {
        long nr;
        mxc_op op;
    };
    static const Entry entries[] = {
#define MXC_SYS(name, op) {SYS_##name, op},
#ifdef SYS_execve
        MXC_SYS(execve, MXC_OP_EXECVE)
#endif
#ifdef SYS_execveat
        MXC_SYS(execveat, MXC_OP_EXECVEAT)
#endif
#ifdef SYS_open
        MXC_SYS(open, MXC_OP_OPEN)
#endif
        MXC_SYS(openat, MXC_OP_OPENAT)
#ifdef SYS_openat2
        MXC_SYS(openat2, MXC_OP_OPENAT2)
#endif
#ifdef SYS_creat
        MXC_SYS(creat, MXC_OP_CREAT)
#endif
        MXC_SYS(truncate, MXC_OP_TRUNCATE)
#ifdef SYS_unlink
        MXC_SYS(unlink, MXC_OP_UNLINK)
#endif
        MXC_SYS(unlinkat, MXC_OP_UNLINKAT)
#ifdef SYS_rename
        MXC_SYS(rename, MXC_OP_RENAME)
#endif
#ifdef SYS_renameat
        MXC_SYS(renameat, MXC_OP_RENAMEAT)
#endif
#ifdef SYS_renameat2
        MXC_SYS(renameat2, MXC_OP_RENAMEAT2)
#endif
#ifdef SYS_mkdir
        MXC_SYS(mkdir, MXC_OP_MKDIR)
#endif
        MXC_SYS(mkdirat, MXC_OP_MKDIRAT)
#ifdef SYS_rmdir
        MXC_SYS(rmdir, MXC_OP_RMDIR)
#endif
#ifdef SYS_link
        MXC_SYS(link, MXC_OP_LINK)
#endif
        MXC_SYS(linkat, MXC_OP_LINKAT)
#ifdef SYS_symlink
        MXC_SYS(symlink, MXC_OP_SYMLINK)
#endif
        MXC_SYS(symlinkat, MXC_OP_SYMLINKAT)
#ifdef SYS_chmod
        MXC_SYS(chmod, MXC_OP_CHMOD)
#endif
        MXC_SYS(fchmodat, MXC_OP_FCHMODAT)
#ifdef SYS_fchmodat2
        MXC_SYS(fchmodat2, MXC_OP_FCHMODAT2)
#elif defined(__x86_64__) || defined(__aarch64__)
        {452, MXC_OP_FCHMODAT2}, // Linux 6.6; older libc headers lack the name
#endif
#ifdef SYS_chown
        MXC_SYS(chown, MXC_OP_CHOWN)
#endif
#ifdef SYS_lchown
        MXC_SYS(lchown, MXC_OP_LCHOWN)
#endif
        MXC_SYS(fchownat, MXC_OP_FCHOWNAT)
        MXC_SYS(connect, MXC_OP_CONNECT)
        MXC_SYS(bind, MXC_OP_BIND)
        MXC_SYS(listen, MXC_OP_LISTEN)
#ifdef SYS_accept
        MXC_SYS(accept, MXC_OP_ACCEPT)
#endif
        MXC_SYS(accept4, MXC_OP_ACCEPT4)
        MXC_SYS(sendto, MXC_OP_SENDTO)
        MXC_SYS(sendmsg, MXC_OP_SENDMSG)
#undef MXC_SYS
    };
    for (const auto &e : entries)
        if (e.nr >= 0 && e.nr < MXC_NR_SYSCALLS)
            table[e.nr] = static_cast<__u8>(e.op);
}

int64_t boot_to_realtime_offset() {
    timespec rt{}, bt{};
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_BOOTTIME, &bt);
    return (int64_t(rt.tv_sec) - bt.tv_sec) * 1'000'000'000 + (int64_t(rt.tv_nsec) - bt.tv_nsec);
}

// Removes a pin directory tree (bpffs holds only pins and directories).
int remove_pins(const std::string &dir) {
    int removed = 0;
    DIR *d = ::opendir(dir.c_str());
    if (!d)
        return 0;
    while (dirent *e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name == "." || name == "..")
            continue;
        std::string path = dir + "/" + name;
        struct stat st;
        if (::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
            removed += remove_pins(path);
            ::rmdir(path.c_str());
        } else if (::unlink(path.c_str()) == 0) {
            ++removed;
        }
    }
    ::closedir(d);
    return removed;
}

// bpffs at /sys/fs/bpf, mounted when the host has not.
void ensure_bpffs(const std::string &pin_dir) {
    if (pin_dir.rfind("/sys/fs/bpf/", 0) != 0)
        return;
    struct statfs sf;
    if (::statfs("/sys/fs/bpf", &sf) == 0 && sf.f_type == BPF_FS_MAGIC)
        return;
    if (::mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0)
        throw_errno("mount bpffs on /sys/fs/bpf");
}

} // namespace

struct BpfProbes::Impl {
    SkelPtr skel;
    RingPtr ring;
    std::vector<std::string> hooks;
    std::set<uint64_t> watched;
    std::set<uint32_t> identities; // ever watched: where losses may be
    // Set for the duration of one poll().
    const std::function<void(const Event &)> *cb = nullptr;
    std::exception_ptr cb_error;
    int64_t rt_offset = 0;
    uint64_t undecodable = 0;
    Event event; // decoded into, record after record
    bool adopted = false;
    std::string pins; // <pin_dir>/<build id>, or ""

    static int on_sample(void *ctx, void *data, size_t size) {
        auto *self = static_cast<Impl *>(ctx);
        Event &ev = self->event;
        if (!decode_event(data, size, ev)) {
            ++self->undecodable;
            return 0;
        }
        ev.realtime_ns = static_cast<int64_t>(ev.boot_ns) + self->rt_offset;
        try {
            (*self->cb)(ev);
        } catch (...) {
            // Exceptions must not unwind through libbpf's C frames.
            self->cb_error = std::current_exception();
            return -ECANCELED;
        }
        return 0;
    }
};

BpfProbes::BpfProbes(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BpfProbes::~BpfProbes() = default;

uint32_t BpfProbes::max_identities() noexcept { return MXC_MAX_IDENTITIES; }

std::unique_ptr<BpfProbes> BpfProbes::load(const LoadOptions &opts) {
    auto impl = std::make_unique<Impl>();
    CaptureLibbpf capture;

    impl->skel.reset(mxc_bpf__open());
    if (!impl->skel)
        throw_errno("open BPF probes");
    auto *skel = impl->skel.get();
    fill_syscall_table(skel->rodata->mxc_syscall_op);
    skel->rodata->mxc_wakeup_bytes = opts.ring_bytes / 4;
    if (int err = bpf_map__set_max_entries(skel->maps.events, opts.ring_bytes))
        throw Error(-err, fmt::format("set ring buffer size to {} bytes", opts.ring_bytes));

    // Pinned: the maps that hold state (the ring and what it buffers, the
    // filter, loss counters, syscalls between enter and exit, the globals).
    std::string pins;
    if (!opts.pin_dir.empty()) {
        ensure_bpffs(opts.pin_dir);
        pins = opts.pin_dir + "/" + build_id();
        with_context(fmt::format("audit: pin directory {}", pins), [&] { mkdir_p(pins, 0700); });
        const std::pair<bpf_map *, const char *> pinned[] = {
            {skel->maps.events, "events"},         {skel->maps.watched_cgroups, "watched_cgroups"},
            {skel->maps.losses, "losses"},         {skel->maps.pending_file, "pending_file"},
            {skel->maps.pending_net, "pending_net"}, {skel->maps.bss, "globals"},
        };
        for (const auto &[map, name] : pinned)
            if (int err = bpf_map__set_pin_path(map, (pins + "/" + name).c_str()))
                throw Error(-err, fmt::format("audit: pin path for map {}", name));
        impl->adopted = path_exists(pins + "/link_sched_process_exec");
        impl->pins = pins;
    }

    if (int err = mxc_bpf__load(skel))
        throw Error(-err, fmt::format("not available here: loading the BPF probes failed: {}",
                                      capture.tail()));

    struct Hook {
        const char *name;
        bpf_program *prog;
        bpf_link **link;
    };
    const Hook hooks[] = {
        {"tp_btf/sched_process_exec", skel->progs.mxc_exec, &skel->links.mxc_exec},
        {"tp_btf/sched_process_fork", skel->progs.mxc_fork, &skel->links.mxc_fork},
        {"tp_btf/sched_process_exit", skel->progs.mxc_exit, &skel->links.mxc_exit},
        {"tp_btf/sys_enter", skel->progs.mxc_sys_enter, &skel->links.mxc_sys_enter},
        {"tp_btf/sys_exit", skel->progs.mxc_sys_exit, &skel->links.mxc_sys_exit},
    };
    std::string failed;
    for (const auto &h : hooks) {
        std::string pin = pins.empty() ? "" : pins + "/link_" + std::string(std::strchr(h.name, '/') + 1);
        bool syscall_hook = h.link == &skel->links.mxc_sys_enter || h.link == &skel->links.mxc_sys_exit;
        if (syscall_hook && !opts.syscall_probes && !(impl->adopted && path_exists(pin)))
            continue; // attached by syscall_probes(true) when a cgroup is watched
        if (impl->adopted && path_exists(pin)) {
            // Still attached from an earlier mxcd: keep it, attach nothing new.
            impl->hooks.emplace_back(h.name);
            continue;
        }
        bpf_link *link = bpf_program__attach(h.prog);
        if (!link) {
            int err = errno;
            failed += fmt::format("{}{}: {}", failed.empty() ? "" : ", ", h.name, errno_name(err));
            continue;
        }
        *h.link = link; // mxc_bpf__destroy detaches it, unless pinned
        if (!pin.empty())
            if (int err = bpf_link__pin(link, pin.c_str()))
                throw Error(-err, fmt::format("audit: pin {}", pin));
        impl->hooks.emplace_back(h.name);
    }
    if (impl->hooks.empty())
        throw Error(EOPNOTSUPP, "not available here: no BPF probe could be attached (" + failed + ")");
    if (!failed.empty())
        log::warn("audit: BPF hooks not available here: {}", failed);

    impl->ring.reset(ring_buffer__new(bpf_map__fd(skel->maps.events), &Impl::on_sample,
                                      impl.get(), nullptr));
    if (!impl->ring)
        throw_errno("create BPF ring buffer reader");
    // Other builds' probes: ours are attached now, theirs go.
    if (!pins.empty()) {
        DIR *d = ::opendir(opts.pin_dir.c_str());
        while (d && (true)) {
            dirent *e = ::readdir(d);
            if (!e)
                break;
            std::string name = e->d_name;
            if (name != "." && name != ".." && name != build_id() && e->d_type == DT_DIR) {
                int n = remove_pins(opts.pin_dir + "/" + name);
                ::rmdir((opts.pin_dir + "/" + name).c_str());
                log::info("audit: removed {} pins of an older probe build ({})", n, name);
            }
        }
        if (d)
            ::closedir(d);
    }
    return std::unique_ptr<BpfProbes>(new BpfProbes(std::move(impl)));
}

namespace {

// The probes' watched set is an open-addressed table (struct mxc_watch_slot):
// the slots a cgroup id may live in.
__u32 watch_slot_key(uint64_t cgroup_id, __u32 i) {
    return static_cast<__u32>(cgroup_id + i) & (MXC_WATCH_SLOTS - 1);
}

mxc_watch_slot read_slot(int fd, __u32 key) {
    mxc_watch_slot slot{};
    if (bpf_map_lookup_elem(fd, &key, &slot))
        throw_errno("audit: read watched-cgroup slot {}", key);
    return slot;
}

void write_slot(int fd, __u32 key, const mxc_watch_slot &slot) {
    if (bpf_map_update_elem(fd, &key, &slot, BPF_ANY))
        throw_errno("audit: write watched-cgroup slot {}", key);
}

} // namespace

void BpfProbes::watch(uint64_t cgroup_id, uint32_t identity_index) {
    if (identity_index >= MXC_MAX_IDENTITIES)
        throw_error("audit: identity index {} out of range (max {})", identity_index,
                    MXC_MAX_IDENTITIES - 1);
    if (cgroup_id == 0)
        throw_error("audit: cgroup id 0 cannot be watched");
    int fd = bpf_map__fd(impl_->skel->maps.watched_cgroups);
    std::optional<__u32> free_key, own_key;
    for (__u32 i = 0; i < MXC_WATCH_PROBES && !own_key; i++) {
        __u32 key = watch_slot_key(cgroup_id, i);
        mxc_watch_slot slot = read_slot(fd, key);
        if (slot.cgroup_id == cgroup_id)
            own_key = key;
        else if (slot.cgroup_id == 0 && !free_key)
            free_key = key;
    }
    if (!own_key && !free_key)
        throw Error(ENOSPC, fmt::format("audit: watch cgroup {}: its {} slots in the probes' table are "
                                        "taken by other sandboxes",
                                        cgroup_id, MXC_WATCH_PROBES));
    // The probes read slots while they are written.  A free slot may still
    // hold the identity of the sandbox it served: the identity goes in
    // before the id, so no reader pairs this cgroup with that identity.  A
    // slot already holding this cgroup is rewritten in one go (the id does
    // not change), so the cgroup is never briefly unwatched, as it would be
    // when mxcd re-registers its running sandboxes after a restart.
    __u32 key = own_key ? *own_key : *free_key;
    mxc_watch_slot slot{};
    slot.identity = identity_index;
    if (!own_key)
        write_slot(fd, key, slot);
    slot.cgroup_id = cgroup_id;
    write_slot(fd, key, slot);
    impl_->watched.insert(cgroup_id);
    impl_->identities.insert(identity_index);
    impl_->skel->bss->mxc_nr_watched = static_cast<__u32>(impl_->watched.size());
}

void BpfProbes::unwatch(uint64_t cgroup_id) {
    int fd = bpf_map__fd(impl_->skel->maps.watched_cgroups);
    for (__u32 i = 0; i < MXC_WATCH_PROBES && cgroup_id != 0; i++) {
        __u32 key = watch_slot_key(cgroup_id, i);
        mxc_watch_slot slot = read_slot(fd, key);
        if (slot.cgroup_id != cgroup_id)
            continue;
        slot.cgroup_id = 0; // the identity stays until the slot is reused
        write_slot(fd, key, slot);
    }
    impl_->watched.erase(cgroup_id);
    impl_->skel->bss->mxc_nr_watched = static_cast<__u32>(impl_->watched.size());
}

int BpfProbes::poll(int timeout_ms, const std::function<void(const Event &)> &cb) {
    impl_->cb = &cb;
    impl_->cb_error = nullptr;
    impl_->rt_offset = boot_to_realtime_offset();
    // The probes wake the reader only when much is waiting (mxc.bpf.c):
    // whatever is in the ring is read after the wait, woken or not.
    int n = ring_buffer__poll(impl_->ring.get(), timeout_ms);
    if (n >= 0 && !impl_->cb_error) {
        int more = ring_buffer__consume(impl_->ring.get());
        n = more < 0 ? more : n + more;
    }
    impl_->cb = nullptr;
    if (impl_->cb_error)
        std::rethrow_exception(impl_->cb_error);
    if (n == -EINTR)
        return 0;
    if (n < 0)
        throw Error(-n, "audit: poll BPF ring buffer");
    return n;
}

int BpfProbes::drain(const std::function<void(const Event &)> &cb) {
    impl_->cb = &cb;
    impl_->cb_error = nullptr;
    impl_->rt_offset = boot_to_realtime_offset();
    int n = ring_buffer__consume(impl_->ring.get());
    impl_->cb = nullptr;
    if (impl_->cb_error)
        std::rethrow_exception(impl_->cb_error);
    if (n < 0)
        throw Error(-n, "audit: consume BPF ring buffer");
    return n;
}

std::map<uint32_t, uint64_t> BpfProbes::losses() {
    int ncpu = libbpf_num_possible_cpus();
    if (ncpu <= 0)
        throw Error(-ncpu, "audit: count possible CPUs");
    std::vector<__u64> per_cpu(static_cast<size_t>(ncpu));
    std::map<uint32_t, uint64_t> out;
    for (uint32_t id : impl_->identities) {
        __u32 key = id;
        if (int err = bpf_map__lookup_elem(impl_->skel->maps.losses, &key, sizeof(key), per_cpu.data(),
                                           per_cpu.size() * sizeof(__u64), 0))
            throw Error(-err, fmt::format("audit: read loss counter of identity {}", id));
        uint64_t sum = 0;
        for (auto v : per_cpu)
            sum += v;
        if (sum)
            out[id] = sum;
    }
    return out;
}

bool BpfProbes::adopted() const noexcept { return impl_->adopted; }

void BpfProbes::syscall_probes(bool on) {
    auto *skel = impl_->skel.get();
    const std::tuple<const char *, bpf_program *, bpf_link **> sys[] = {
        {"tp_btf/sys_enter", skel->progs.mxc_sys_enter, &skel->links.mxc_sys_enter},
        {"tp_btf/sys_exit", skel->progs.mxc_sys_exit, &skel->links.mxc_sys_exit},
    };
    for (const auto &[name, prog, link] : sys) {
        std::string pin = impl_->pins.empty() ? "" : impl_->pins + "/link_" + std::string(std::strchr(name, '/') + 1);
        auto &hooks = impl_->hooks;
        bool attached = std::find(hooks.begin(), hooks.end(), name) != hooks.end();
        if (on && !attached) {
            bpf_link *l = bpf_program__attach(prog);
            if (!l)
                throw_errno("audit: attach {}", name);
            *link = l;
            if (!pin.empty())
                if (int err = bpf_link__pin(l, pin.c_str()))
                    throw Error(-err, fmt::format("audit: pin {}", pin));
            hooks.emplace_back(name);
        } else if (!on && attached) {
            // The pin (and our link, if we made it) hold the attachment.
            if (*link) {
                if (!pin.empty())
                    bpf_link__unpin(*link);
                bpf_link__destroy(*link);
                *link = nullptr;
            } else if (!pin.empty()) {
                ::unlink(pin.c_str());
            }
            hooks.erase(std::find(hooks.begin(), hooks.end(), name));
        }
    }
}

std::vector<uint64_t> BpfProbes::kernel_watched() {
    std::vector<uint64_t> out;
    int fd = bpf_map__fd(impl_->skel->maps.watched_cgroups);
    for (__u32 key = 0; key < MXC_WATCH_SLOTS; key++)
        if (uint64_t id = read_slot(fd, key).cgroup_id)
            out.push_back(id);
    return out;
}

uint64_t BpfProbes::loss_of(uint32_t identity_index) {
    impl_->identities.insert(identity_index);
    auto l = losses();
    auto it = l.find(identity_index);
    return it == l.end() ? 0 : it->second;
}

int BpfProbes::unpin_all(const std::string &pin_dir) {
    int n = remove_pins(pin_dir);
    ::rmdir(pin_dir.c_str());
    return n;
}

std::string BpfProbes::build_id() {
    static const std::string id = [] {
        size_t sz = 0;
        const void *elf = mxc_bpf__elf_bytes(&sz);
        return crypto::sha256_hex(std::string_view(static_cast<const char *>(elf), sz)).substr(0, 12);
    }();
    return id;
}

uint64_t BpfProbes::undecodable() const noexcept { return impl_->undecodable; }

std::vector<std::string> BpfProbes::active_hooks() { return impl_->hooks; }

int BpfProbes::ring_fd() { return ring_buffer__epoll_fd(impl_->ring.get()); }

} // namespace mxc::audit
