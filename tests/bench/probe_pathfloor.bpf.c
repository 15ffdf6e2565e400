// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0
/* The path floor of tests/bench/audit_overhead.sh: the least a probe that
 * records which file was opened can cost on the hooks mxc's probes use.  On
 * sys_enter, for openat calls of tasks whose comm is the one the loader put in
 * `target`, it reads the path from user memory and puts it in a ring buffer
 * (no wakeup; the loader reads it on a timer, as mxcd does); sys_exit has an
 * empty program (a record of the result needs one there).  No cgroup filter,
 * no task fields, no clock, no result: anything an audit record needs beyond
 * the path costs more than this.  Built with the vmlinux.h of the running
 * kernel (bpftool btf dump), x86_64 only (orig_ax, si). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define PATHFLOOR_LEN 256

struct path_rec {
    __u32 len;
    char path[PATHFLOOR_LEN];
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 8 << 20);
} ring SEC(".maps");

/* The comm to record (16 bytes, NUL-padded), and the openat number. */
struct target {
    __u64 comm[2];
    __u64 nr;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct target);
} target SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct path_rec);
} scratch SEC(".maps");

SEC("tp_btf/sys_enter")
int BPF_PROG(pathfloor_sys_enter, struct pt_regs *regs, long id)
{
    __u32 zero = 0;
    struct target *t = bpf_map_lookup_elem(&target, &zero);
    if (!t || id != t->nr)
        return 0;
    struct task_struct *task = bpf_get_current_task_btf();
    __u64 comm[2];
    __builtin_memcpy(comm, (const void *)task->comm, 16);
    if (comm[0] != t->comm[0] || comm[1] != t->comm[1])
        return 0;
    struct path_rec *r = bpf_map_lookup_elem(&scratch, &zero);
    if (!r)
        return 0;
    long n = bpf_probe_read_user_str(r->path, PATHFLOOR_LEN, (const void *)regs->si);
    if (n <= 0)
        return 0;
    r->len = n;
    __u64 size = sizeof(r->len) + (__u64)n;
    if (size > sizeof(*r))
        size = sizeof(*r);
    bpf_ringbuf_output(&ring, r, size, BPF_RB_NO_WAKEUP);
    return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(pathfloor_sys_exit, struct pt_regs *regs, long ret)
{
    return 0;
}
