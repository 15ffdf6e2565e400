// Process attributes and credentials of the container process, applied in the
// container child just before exec.
//
// apply_process_attributes runs first, while the child is still root with a
// full capability set: raising a hard rlimit needs CAP_SYS_RESOURCE, a
// real-time scheduler or a lower nice value needs CAP_SYS_NICE, and a
// negative oom_score_adj needs CAP_SYS_RESOURCE.  apply_credentials then
// switches the user and reduces the capabilities; see the order below.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <string_view>

#include <fmt/ranges.h>
#include <utility>

#include "mxc/sandbox/process_setup.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"

namespace mxc::sandbox {
namespace {

template <typename T> struct Named {
    std::string_view name;
    T value;
};

template <typename T, size_t N>
const T *lookup(const Named<T> (&table)[N], std::string_view name) {
    for (const auto &e : table)
        if (e.name == name)
            return &e.value;
    return nullptr;
}

constexpr Named<int> kRlimits[] = {
    {"RLIMIT_AS", RLIMIT_AS},         {"RLIMIT_CORE", RLIMIT_CORE},
    {"RLIMIT_CPU", RLIMIT_CPU},       {"RLIMIT_DATA", RLIMIT_DATA},
    {"RLIMIT_FSIZE", RLIMIT_FSIZE},   {"RLIMIT_LOCKS", RLIMIT_LOCKS},
    {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
    {"RLIMIT_NICE", RLIMIT_NICE},     {"RLIMIT_NOFILE", RLIMIT_NOFILE},
    {"RLIMIT_NPROC", RLIMIT_NPROC},   {"RLIMIT_RSS", RLIMIT_RSS},
    {"RLIMIT_RTPRIO", RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", RLIMIT_RTTIME},
    {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING}, {"RLIMIT_STACK", RLIMIT_STACK},
};

// sched(7) policies; SCHED_DEADLINE is not in glibc's <sched.h>.
constexpr Named<uint32_t> kPolicies[] = {
    {"SCHED_OTHER", 0}, {"SCHED_FIFO", 1}, {"SCHED_RR", 2},     {"SCHED_BATCH", 3},
    {"SCHED_ISO", 4},   {"SCHED_IDLE", 5}, {"SCHED_DEADLINE", 6},
};
constexpr Named<uint64_t> kSchedFlags[] = {
    {"SCHED_FLAG_RESET_ON_FORK", 0x01},  {"SCHED_FLAG_RECLAIM", 0x02},
    {"SCHED_FLAG_DL_OVERRUN", 0x04},     {"SCHED_FLAG_KEEP_POLICY", 0x08},
    {"SCHED_FLAG_KEEP_PARAMS", 0x10},    {"SCHED_FLAG_UTIL_CLAMP_MIN", 0x20},
    {"SCHED_FLAG_UTIL_CLAMP_MAX", 0x40},
};

// ioprio_set(2): the class sits above a 13-bit priority field.
constexpr Named<int> kIoClasses[] = {
    {"IOPRIO_CLASS_RT", 1}, {"IOPRIO_CLASS_BE", 2}, {"IOPRIO_CLASS_IDLE", 3}};
constexpr int kIoprioClassShift = 13;
constexpr int kIoprioWhoProcess = 1;

constexpr Named<unsigned long> kPersonalityDomains[] = {{"LINUX", PER_LINUX}, {"LINUX32", PER_LINUX32}};
constexpr Named<unsigned long> kPersonalityFlags[] = {
    {"UNAME26", UNAME26},
    {"ADDR_NO_RANDOMIZE", ADDR_NO_RANDOMIZE},
    {"FDPIC_FUNCPTRS", FDPIC_FUNCPTRS},
    {"MMAP_PAGE_ZERO", MMAP_PAGE_ZERO},
    {"ADDR_COMPAT_LAYOUT", ADDR_COMPAT_LAYOUT},
    {"READ_IMPLIES_EXEC", READ_IMPLIES_EXEC},
    {"ADDR_LIMIT_32BIT", ADDR_LIMIT_32BIT},
    {"SHORT_INODE", SHORT_INODE},
    {"WHOLE_SECONDS", WHOLE_SECONDS},
    {"STICKY_TIMEOUTS", STICKY_TIMEOUTS},
    {"ADDR_LIMIT_3GB", ADDR_LIMIT_3GB},
};

// struct sched_attr of sched_setattr(2), SCHED_ATTR_SIZE_VER1 (glibc 2.36
// has no wrapper and no type).
struct SchedAttr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min;
    uint32_t sched_util_max;
};
static_assert(sizeof(SchedAttr) == 56);

std::string limit_text(uint64_t v) {
    return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v);
}

void apply_rlimits(const std::vector<oci::Rlimit> &rlimits) {
    for (size_t i = 0; i < rlimits.size(); ++i) {
        const auto &r = rlimits[i];
        int res = with_context(fmt::format(".process.rlimits[{}].type", i), [&] { return rlimit_from_name(r.type); });
        struct rlimit rl{static_cast<rlim_t>(r.soft), static_cast<rlim_t>(r.hard)};
        if (r.soft > r.hard)
            throw_error(".process.rlimits[{}]: {} soft limit {} is above the hard limit {}", i, r.type,
                        limit_text(r.soft), limit_text(r.hard));
        if (::setrlimit(static_cast<__rlimit_resource_t>(res), &rl) != 0) {
            int err = errno;
            std::string hint;
            if (err == EPERM)
                hint = " (raising a hard limit needs CAP_SYS_RESOURCE)";
            throw Error(err, fmt::format("setrlimit {} soft={} hard={}{}", r.type, limit_text(r.soft),
                                         limit_text(r.hard), hint));
        }
    }
}

void apply_oom_score_adj(int adj) {
    with_context(fmt::format("set oom_score_adj to {}", adj),
                 [&] { write_file_at(AT_FDCWD, "/proc/self/oom_score_adj", std::to_string(adj)); });
}

void apply_scheduler(const oci::Scheduler &s) {
    SchedAttr attr{};
    attr.size = sizeof attr;
    const uint32_t *policy = lookup(kPolicies, s.policy);
    if (!policy)
        throw_error(".process.scheduler.policy: unknown policy \"{}\"", s.policy);
    attr.sched_policy = *policy;
    for (size_t i = 0; i < s.flags.size(); ++i) {
        const uint64_t *f = lookup(kSchedFlags, s.flags[i]);
        if (!f)
            throw_error(".process.scheduler.flags[{}]: unknown flag \"{}\"", i, s.flags[i]);
        attr.sched_flags |= *f;
    }
    attr.sched_nice = s.nice;
    attr.sched_priority = static_cast<uint32_t>(s.priority);
    attr.sched_runtime = s.runtime;
    attr.sched_deadline = s.deadline;
    attr.sched_period = s.period;
    // The OCI scheduler carries no clamp values: with UTIL_CLAMP_MAX, ask for
    // the full range rather than a clamp to zero.
    if (attr.sched_flags & 0x40)
        attr.sched_util_max = 1024;
    if (::syscall(SYS_sched_setattr, 0, &attr, 0) != 0)
        throw_errno("sched_setattr policy={} nice={} priority={} runtime={} deadline={} period={}", s.policy, s.nice,
                    s.priority, s.runtime, s.deadline, s.period);
}

void apply_io_priority(const oci::IoPriority &io) {
    const int *cls = lookup(kIoClasses, io.io_class);
    if (!cls)
        throw_error(".process.ioPriority.class: unknown class \"{}\"", io.io_class);
    if (io.priority < 0 || io.priority > 7)
        throw_error(".process.ioPriority.priority: {} is out of range 0..7", io.priority);
    int value = (*cls << kIoprioClassShift) | io.priority;
    if (::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, value) != 0)
        throw_errno("ioprio_set {} priority {}", io.io_class, io.priority);
}

void apply_personality(const oci::Personality &p) {
    const unsigned long *domain = lookup(kPersonalityDomains, p.domain);
    if (!domain)
        throw_error(".linux.personality.domain: unknown domain \"{}\" (LINUX or LINUX32)", p.domain);
    unsigned long persona = *domain;
    for (size_t i = 0; i < p.flags.size(); ++i) {
        const unsigned long *f = lookup(kPersonalityFlags, p.flags[i]);
        if (!f)
            throw_error(".linux.personality.flags[{}]: unknown personality flag \"{}\"", i, p.flags[i]);
        persona |= *f;
    }
    // personality(2) returns the previous persona, -1 on error.
    if (::personality(persona) == -1)
        throw_errno("personality {:#x}", persona);
}

} // namespace

int rlimit_from_name(const std::string &name) {
    if (const int *r = lookup(kRlimits, name))
        return *r;
    throw_error("unknown rlimit \"{}\"", name);
}

void apply_process_attributes(const oci::Process &p, const oci::Linux *linux_) {
    apply_rlimits(p.rlimits);
    if (p.oom_score_adj)
        apply_oom_score_adj(*p.oom_score_adj);
    if (p.scheduler)
        apply_scheduler(*p.scheduler);
    if (p.io_priority)
        apply_io_priority(*p.io_priority);
    if (linux_ && linux_->personality)
        apply_personality(*linux_->personality);
}

// The order is forced by how the kernel treats capabilities across a uid
// change (capabilities(7), "Effect of user ID changes on capabilities"):
//  1. PR_SET_KEEPCAPS=1: otherwise setresuid from 0 to a non-zero uid clears
//     the permitted set and there would be nothing left to keep.
//  2. Bounding set: cap_drop_bound needs CAP_SETPCAP in the effective set,
//     which the switch to a non-zero uid clears (KEEPCAPS keeps only the
//     permitted set).
//  3. setgroups, then 4. setresgid: both need CAP_SETGID in the effective
//     set, so they come before setresuid; setgroups also always runs (with an
//     empty list when none is given) so that the runtime's own supplementary
//     groups never leak into the container.
//  5. setresuid.  6. umask (no privilege; here only to keep the user
//     settings together).
//  7. PR_SET_KEEPCAPS=0: the container process must not keep the flag
//     (a later setuid in the container should drop capabilities as usual).
//  8. permitted/effective/inheritable by capset: raising the effective set
//     again from the kept permitted set is what makes capabilities work for
//     a non-root uid.  9. Ambient last: a capability can only be raised in
//     the ambient set once it is both permitted and inheritable.
// 10. no_new_privs: affects only execve, so its place is free; it must
//     precede the seccomp filter that the caller installs next.
//
// An absent process.capabilities means five empty sets, as runc does
// (runc replaces a nil Capabilities by an empty one): the process runs with
// no capabilities rather than with whatever the runtime had.
void apply_credentials(const oci::Process &p, bool setgroups_allowed) {
    const oci::Capabilities caps = p.capabilities.value_or(oci::Capabilities{});
    const auto &u = p.user;

    // Validate every name before the first irreversible step.
    check_capability_names(caps, ".process.capabilities");

    if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        throw_errno("prctl PR_SET_KEEPCAPS 1");

    apply_bounding_set(caps);

    if (setgroups_allowed) {
        std::vector<gid_t> groups(u.additional_gids.begin(), u.additional_gids.end());
        if (::setgroups(groups.size(), groups.data()) != 0)
            throw_errno("setgroups {}", fmt::join(u.additional_gids, ","));
    } else if (!u.additional_gids.empty()) {
        throw_error(".process.user.additionalGids: setgroups is denied in this user namespace "
                    "(rootless with a single-id gid mapping); map a gid range (newgidmap) or drop additionalGids");
    }

    if (::setresgid(u.gid, u.gid, u.gid) != 0)
        throw_errno("setresgid {}", u.gid);
    if (::setresuid(u.uid, u.uid, u.uid) != 0)
        throw_errno("setresuid {}", u.uid);

    if (u.umask)
        ::umask(static_cast<mode_t>(*u.umask & 07777));

    if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0)
        throw_errno("prctl PR_SET_KEEPCAPS 0");

    apply_capability_sets(caps);

    if (p.no_new_privileges && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        throw_errno("prctl PR_SET_NO_NEW_PRIVS");
}

} // namespace mxc::sandbox
