// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0
/* The floor of tests/bench/audit_overhead.sh: programs that do nothing, on the
 * two tracepoints mxc's file and network probes use (tp_btf sys_enter and
 * sys_exit).  Attaching anything there sends every syscall of every task
 * through the tracepoint slow path and one program call each way; what these
 * cost is the least any probe on these hooks can cost on this machine. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("tp_btf/sys_enter")
int floor_sys_enter(unsigned long long *ctx)
{
    return 0;
}

SEC("tp_btf/sys_exit")
int floor_sys_exit(unsigned long long *ctx)
{
    return 0;
}
