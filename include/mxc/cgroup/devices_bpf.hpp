// cgroup v2 device controller: the OCI .linux.resources.devices rules as a
// BPF_PROG_TYPE_CGROUP_DEVICE program (what runc calls its devicefilter).
//
// Semantics are those of the v1 devices.allow/devices.deny lists as runc
// emulates them on v2: rules are evaluated in order and the last matching rule
// wins (the program checks them in reverse and returns on the first match); an
// access no rule matches is denied.  A rule matches when its type is "a" or the
// device's type, its major/minor are absent (or negative) or equal, and, for an
// allow rule, the requested access is a subset of its access letters (r, w, m);
// a deny rule matches when the requested access has any of its letters.  The
// kernel asks for r and w in one check on open(O_RDWR), so with subset matching
// for deny rules too, [allow a, deny c 1:3 w] would let O_RDWR write to 1:3; v1
// devices.deny denies it, and so does this.
#pragma once

#include <linux/bpf.h>

#include <cstdint>
#include <vector>

#include "mxc/oci/spec.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::cgroup {

// The program for rules.  Throws mxc::Error naming .linux.resources.devices[i]
// on a bad type, bad access or a major/minor out of range.  Every jump is
// forward and lands inside the program; there are no loops.
std::vector<struct bpf_insn> compile_device_filter(const std::vector<oci::DeviceRule> &rules);

// BPF_PROG_LOAD as BPF_PROG_TYPE_CGROUP_DEVICE (license "Apache", expected attach
// type BPF_CGROUP_DEVICE).  On failure the error carries the verifier's log.
UniqueFd load_device_filter(const std::vector<struct bpf_insn> &insns);

// Attach prog_fd to the cgroup v2 directory cgroup_dir_fd (BPF_CGROUP_DEVICE,
// BPF_F_ALLOW_MULTI) and then detach whatever device programs were attached to
// that cgroup before, so that calling it again replaces the filter (update).
// When the cgroup already holds a program attached without BPF_F_ALLOW_MULTI,
// the new one is attached with that program's flags, which replaces it.
void attach_device_filter(int cgroup_dir_fd, int prog_fd);

// Ids of the device programs attached to this very cgroup (not inherited ones).
std::vector<uint32_t> query_device_filters(int cgroup_dir_fd);

// compile + load + attach.
void apply_device_filter(int cgroup_dir_fd, const std::vector<oci::DeviceRule> &rules);

} // namespace mxc::cgroup
