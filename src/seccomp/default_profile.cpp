// The default agent seccomp filter, as an OCI value (so that `mxc profile
// render` shows it and compile() is the only path to the kernel).
#include "mxc/seccomp/seccomp.hpp"

#include <cerrno>

namespace mxc::seccomp {

namespace {

constexpr const char *native_arch() {
#if defined(__x86_64__) && !defined(__ILP32__)
    return "SCMP_ARCH_X86_64";
#elif defined(__x86_64__)
    return "SCMP_ARCH_X32";
#elif defined(__i386__)
    return "SCMP_ARCH_X86";
#elif defined(__aarch64__)
    return "SCMP_ARCH_AARCH64";
#elif defined(__arm__)
    return "SCMP_ARCH_ARM";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return "SCMP_ARCH_PPC64LE";
#elif defined(__s390x__)
    return "SCMP_ARCH_S390X";
#elif defined(__riscv) && __riscv_xlen == 64
    return "SCMP_ARCH_RISCV64";
#else
#error "default_agent_profile: add this architecture"
#endif
}

// Syscalls that let an agent leave the sandbox, change the host, or act on
// files without a path the audit could record.
constexpr const char *kDenied[] = {
    // kernel programs, keys, modules, kexec
    "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load",
    "init_module", "finit_module", "delete_module", "create_module", "lookup_dcookie",
    // bypass path-based auditing
    "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at",
    "name_to_handle_at", "userfaultfd", "fanotify_init",
    // mounts, old and new API, and namespaces of other processes
    "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "mount_setattr", "setns",
    // host state
    "swapon", "swapoff", "reboot", "syslog", "acct", "settimeofday", "stime", "clock_settime",
    "clock_adjtime", "adjtimex", "quotactl", "quotactl_fd", "nfsservctl", "uselib",
    // hardware access
    "vm86", "vm86old", "iopl", "ioperm",
    // other processes' files and memory layout (docker allows these only with
    // CAP_SYS_PTRACE, which an agent never has)
    "pidfd_getfd", "kcmp", "process_madvise",
};

// personality(2) values docker allows: PER_LINUX, PER_LINUX32, UNAME26, both,
// and 0xffffffff (query).  OCI conditions cannot say "not in this set" (and
// conditions on one index are OR-ed, see compile()), so the complement is
// written as a union of single-condition EPERM rules on arg 0:
//   - anything above 32 bits;
//   - bit 31 clear and any bit other than 3 (PER_LINUX32) and 17 (UNAME26) set;
//   - bit 31 set and any lower bit clear (only the query has all 32 set).
void add_personality_rules(oci::Seccomp &s) {
    auto rule = [&](const char *op, uint64_t value, uint64_t value_two) {
        oci::SeccompSyscall sc;
        sc.names = {"personality"};
        sc.action = "SCMP_ACT_ERRNO";
        sc.errno_ret = EPERM;
        sc.args.push_back({0, value, value_two, op});
        s.syscalls.push_back(std::move(sc));
    };
    constexpr uint64_t bit31 = 1ULL << 31;
    rule("SCMP_CMP_GT", 0xffffffffULL, 0);
    for (unsigned b = 0; b < 31; ++b) {
        if (b != 3 && b != 17)
            rule("SCMP_CMP_MASKED_EQ", bit31 | (1ULL << b), 1ULL << b);
        rule("SCMP_CMP_MASKED_EQ", bit31 | (1ULL << b), bit31);
    }
}

} // namespace

oci::Seccomp default_agent_profile() {
    oci::Seccomp s;
    s.default_action = "SCMP_ACT_ALLOW";
    // Only the native ABI: libseccomp sends every other one (i386 through
    // int 0x80, x32 numbers on x86_64) to the bad-architecture action.
    s.architectures = {native_arch()};
    oci::SeccompSyscall deny;
    deny.action = "SCMP_ACT_ERRNO";
    deny.errno_ret = EPERM;
    for (const char *n : kDenied)
        deny.names.emplace_back(n);
    s.syscalls.push_back(std::move(deny));
    add_personality_rules(s);
    return s;
}

} // namespace mxc::seccomp
