// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0
/* mxc audit probes: exec/fork/exit from the scheduler tracepoints, file and
 * network syscalls from the raw syscall tracepoints.  Everything is filtered
 * in the kernel by cgroup (watched_cgroups, ancestors included) before any
 * argument is read; unwatched tasks cost one table load and, when anything is
 * watched, a few inlined array loads per cgroup level.  Layouts are in events.h. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"

/* The kernel only lets GPL-compatible programs use the probe_read helpers. */
char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* tp_btf hands us a trusted pt_regs pointer: plain loads (CO-RE relocated,
 * checked by the verifier) instead of a probe_read helper call per field,
 * which matters on a hook that runs for every syscall of every task. */
#if defined(__TARGET_ARCH_x86)
#define MXC_SYSCALL_NR(regs) ((regs)->orig_ax)
#define MXC_SYSCALL_ARG(regs, n) MXC_X86_ARG##n(regs)
#define MXC_X86_ARG1(r) ((r)->di)
#define MXC_X86_ARG2(r) ((r)->si)
#define MXC_X86_ARG3(r) ((r)->dx)
#define MXC_X86_ARG4(r) ((r)->r10)
#define MXC_X86_ARG5(r) ((r)->r8)
#define MXC_X86_ARG6(r) ((r)->r9)
#elif defined(__TARGET_ARCH_arm64)
#define MXC_SYSCALL_NR(regs) ((regs)->syscallno)
#define MXC_SYSCALL_ARG(regs, n) ((n) == 1 ? (regs)->orig_x0 : (regs)->regs[(n)-1])
#else
#error "mxc probes: unsupported __TARGET_ARCH"
#endif

#define MXC_S_IFMT 0170000
#define MXC_S_IFSOCK 0140000
#define MXC_AF_INET 2
#define MXC_AF_INET6 10
#define MXC_O_CREAT_WRONLY_TRUNC 01101

/* Filled by the loader before load: syscall number -> enum mxc_op, so the
 * same object works on every architecture libc knows the numbers of. */
const volatile __u8 mxc_syscall_op[MXC_NR_SYSCALLS] = {};
/* Number of watched cgroups, kept by the loader; 0 short-circuits the filter. */
volatile __u32 mxc_nr_watched = 0;

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 8 << 20);
} events SEC(".maps");

/* See struct mxc_watch_slot: open addressing, written by the loader only. */
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, MXC_WATCH_SLOTS);
    __type(key, __u32);
    __type(value, struct mxc_watch_slot);
} watched_cgroups SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MXC_MAX_IDENTITIES);
    __type(key, __u32);
    __type(value, __u64);
} losses SEC(".maps");

/* The file syscall a watched thread is in, between sys_enter and sys_exit:
 * task-local storage, filled in place (no copy into a hash map, no delete),
 * freed with the task.  hdr.rec is MXC_REC_FILE while one is in flight. */
struct {
    __uint(type, BPF_MAP_TYPE_TASK_STORAGE);
    __uint(map_flags, BPF_F_NO_PREALLOC);
    __type(key, int);
    __type(value, struct mxc_file_event);
} pending_file SEC(".maps");

/* In-flight network syscalls of watched threads, keyed by pid_tgid. */

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 4096);
    __type(key, __u64);
    __type(value, struct mxc_net_event);
} pending_net SEC(".maps");

/* Records are too big for the 512-byte BPF stack; build them here. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct mxc_net_event);
} net_scratch SEC(".maps");

/* Waking the collector for every record costs an irq_work IPI per event,
 * which under a hypervisor is a trap (an APIC MSR write) costing more than
 * the syscall it records.  Records go in without a wakeup; the collector
 * reads the ring on a short timer while anything is watched, and is woken
 * early only when the data waiting crosses mxc_wakeup_bytes (set by the
 * loader to a quarter of the ring), so a burst cannot fill the ring before
 * the timer fires. */
const volatile __u64 mxc_wakeup_bytes = 1 << 20;

static __always_inline __u64 wake_flags(__u64 size)
{
    __u64 before = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
    return before < mxc_wakeup_bytes && before + size + 16 >= mxc_wakeup_bytes ? BPF_RB_FORCE_WAKEUP
                                                                               : BPF_RB_NO_WAKEUP;
}

/* For a record already reserved (counted in the data waiting). */
static __always_inline __u64 wake_flags_reserved(__u64 size)
{
    __u64 after = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);
    return after >= mxc_wakeup_bytes && after < mxc_wakeup_bytes + size + 16 ? BPF_RB_FORCE_WAKEUP
                                                                             : BPF_RB_NO_WAKEUP;
}

static __always_inline void count_loss(__u32 identity)
{
    __u64 *n = bpf_map_lookup_elem(&losses, &identity);
    if (n)
        (*n)++;
}

static __always_inline struct mxc_watch_slot *watch_slot(__u64 cgroup_id)
{
#pragma unroll
    for (__u32 i = 0; i < MXC_WATCH_PROBES; i++) {
        __u32 k = (__u32)(cgroup_id + i) & (MXC_WATCH_SLOTS - 1);
        struct mxc_watch_slot *s = bpf_map_lookup_elem(&watched_cgroups, &k);
        if (s && s->cgroup_id == cgroup_id)
            return s;
    }
    return NULL;
}

/* The nearest watched cgroup among the current one and its ancestors wins,
 * so a sandbox nested in another one is attributed to the inner identity.
 * The current cgroup is read through BTF (what bpf_get_current_cgroup_id
 * returns, without the call): this runs for every probed syscall of every
 * task on the host while anything is watched. */
static __always_inline bool watched(__u32 *identity, __u64 *cgroup_id)
{
    if (!mxc_nr_watched)
        return false;
    struct cgroup *cgrp = bpf_get_current_task_btf()->cgroups->dfl_cgrp;
    __u64 self = cgrp->kn->id;
    if (!self)
        self = bpf_get_current_cgroup_id();
    int depth = cgrp->level; /* the levels above: 0 .. depth - 1 */
    *cgroup_id = self;
    struct mxc_watch_slot *s = watch_slot(self);
    if (s) {
        *identity = s->identity;
        return true;
    }
    bool found = false;
    for (int level = 1; level < MXC_MAX_CGROUP_DEPTH && level < depth; level++) {
        __u64 anc = bpf_get_current_ancestor_cgroup_id(level);
        if (!anc || anc == self)
            break;
        s = watch_slot(anc);
        if (s) {
            *identity = s->identity;
            found = true;
        }
    }
    return found;
}

static __always_inline void fill_hdr(struct mxc_event_hdr *h, __u16 rec, __u16 kind, __u16 op,
                                     __u32 identity, __u64 cgroup_id)
{
    /* Loads through BTF rather than helper calls: the same values
     * (global pids, uids as seen from the initial user namespace). */
    struct task_struct *task = bpf_get_current_task_btf();
    const struct cred *cred = task->cred;

    h->rec = rec;
    h->kind = kind;
    h->op = op;
    h->abi = MXC_ABI_VERSION;
    h->identity = identity;
    h->flags = 0;
    h->boot_ns = 0; /* set when the record is emitted (a clock read is ~0.1 us here) */
    h->cgroup_id = cgroup_id;
    h->pid = task->tgid;
    h->tid = task->pid;
    h->ppid = task->real_parent->tgid;
    h->uid = cred->uid.val;
    h->gid = cred->gid.val;
    h->pad0 = 0;
    h->result = 0;
    /* task->comm is always NUL-terminated within its 16 bytes. */
    _Static_assert(MXC_COMM_LEN == 16, "comm: two 8-byte loads");
    __builtin_memcpy(h->comm, (const void *)task->comm, 16);
}

/* ---- process lifecycle ------------------------------------------------ */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(mxc_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
    __u32 identity;
    __u64 cgroup_id;

    if (!watched(&identity, &cgroup_id))
        return 0;
    struct mxc_exec_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_loss(identity);
        return 0;
    }
    fill_hdr(&e->hdr, MXC_REC_EXEC, MXC_KIND_EXEC, MXC_OP_EXEC, identity, cgroup_id);
    e->argc = BPF_CORE_READ(bprm, argc);
    e->nargs = 0;
    long n = bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), BPF_CORE_READ(bprm, filename));
    if (n < 0)
        e->filename[0] = 0;
    else if (n == sizeof(e->filename))
        e->hdr.flags |= MXC_F_PATH_TRUNC;

    /* The new image's argv is already on its stack: mm->arg_start..arg_end. */
    struct mm_struct *mm = BPF_CORE_READ(task, mm);
    unsigned long p = BPF_CORE_READ(mm, arg_start);
    unsigned long end = BPF_CORE_READ(mm, arg_end);
    for (int i = 0; i < MXC_ARGS_MAX; i++) {
        e->args[i][0] = 0;
        if (p >= end)
            continue;
        n = bpf_probe_read_user_str(e->args[i], MXC_ARG_LEN, (const void *)p);
        if (n <= 0) {
            p = end;
            continue;
        }
        e->nargs = i + 1;
        if (n == MXC_ARG_LEN) {
            char last = 1;
            bpf_probe_read_user(&last, 1, (const void *)(p + MXC_ARG_LEN - 1));
            if (last) {
                /* Where the cut argument ends is unknown; stop here. */
                e->hdr.flags |= MXC_F_ARGS_TRUNC;
                p = end;
                continue;
            }
        }
        p += n;
    }
    if (e->argc > e->nargs)
        e->hdr.flags |= MXC_F_ARGS_TRUNC;
    e->hdr.boot_ns = bpf_ktime_get_boot_ns();
    bpf_ringbuf_submit(e, wake_flags_reserved(sizeof(*e)));
    return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(mxc_fork, struct task_struct *parent, struct task_struct *child)
{
    __u32 identity;
    __u64 cgroup_id;

    if (BPF_CORE_READ(child, pid) != BPF_CORE_READ(child, tgid))
        return 0; /* a thread, not a process */
    if (!watched(&identity, &cgroup_id))
        return 0;
    struct mxc_proc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_loss(identity);
        return 0;
    }
    fill_hdr(&e->hdr, MXC_REC_PROC, MXC_KIND_PROCESS, MXC_OP_FORK, identity, cgroup_id);
    e->child_pid = BPF_CORE_READ(child, tgid);
    e->exit_code = 0;
    e->hdr.result = e->child_pid;
    e->hdr.boot_ns = bpf_ktime_get_boot_ns();
    bpf_ringbuf_submit(e, wake_flags_reserved(sizeof(*e)));
    return 0;
}

/* Only the task argument is read: 6.16 added group_dead, older kernels lack it. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(mxc_exit, struct task_struct *task)
{
    __u32 identity;
    __u64 cgroup_id;
    __u64 key = bpf_get_current_pid_tgid();

    /* A thread killed inside a syscall never reaches sys_exit (its
     * pending_file goes with the task). */
    bpf_map_delete_elem(&pending_net, &key);

    if (BPF_CORE_READ(task, signal, live.counter) != 0)
        return 0; /* other threads remain: not the process's exit yet */
    if (!watched(&identity, &cgroup_id))
        return 0;
    struct mxc_proc_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
        count_loss(identity);
        return 0;
    }
    fill_hdr(&e->hdr, MXC_REC_PROC, MXC_KIND_PROCESS, MXC_OP_EXIT, identity, cgroup_id);
    e->child_pid = 0;
    e->exit_code = BPF_CORE_READ(task, exit_code);
    e->hdr.result = e->exit_code;
    e->hdr.boot_ns = bpf_ktime_get_boot_ns();
    bpf_ringbuf_submit(e, wake_flags_reserved(sizeof(*e)));
    return 0;
}

#include "syscalls.bpf.h"
