// The `strict` seccomp profile: the default agent filter plus what lets a
// process look into or re-arrange other processes and namespaces.
#include <sched.h>
#include <sys/stat.h>

#include <cerrno>

#include "mxc/policy/profile.hpp"
#include "mxc/seccomp/seccomp.hpp"

namespace mxc::policy {
namespace {

#if defined(__s390x__) || defined(__s390__)
constexpr uint32_t kCloneFlagsArg = 1; // s390 swaps the first two clone() arguments
#else
constexpr uint32_t kCloneFlagsArg = 0;
#endif

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

oci::SeccompSyscall errno_rule(std::vector<std::string> names, uint32_t err) {
    oci::SeccompSyscall s;
    s.names = std::move(names);
    s.action = "SCMP_ACT_ERRNO";
    s.errno_ret = err;
    return s;
}

// (arg & bits) == bits, one rule per bit: conditions on one index inside a
// rule would be AND-ed, separate rules are OR-ed.
void deny_bits(oci::Seccomp &s, const char *name, uint32_t index, std::initializer_list<uint64_t> bits) {
    for (uint64_t b : bits) {
        oci::SeccompSyscall r = errno_rule({name}, EPERM);
        r.args.push_back({index, b, b, "SCMP_CMP_MASKED_EQ"});
        s.syscalls.push_back(std::move(r));
    }
}

} // namespace

oci::Seccomp strict_seccomp_profile() {
    oci::Seccomp s = seccomp::default_agent_profile();
    s.syscalls.push_back(errno_rule({"ptrace", "process_vm_readv", "process_vm_writev", "unshare", "chroot",
                                     "vhangup", "mbind", "migrate_pages", "move_pages", "set_mempolicy"},
                                    EPERM));
    // clone3 passes its flags in memory seccomp cannot read; ENOSYS makes libc
    // fall back to clone(), whose flags are checked below.
    s.syscalls.push_back(errno_rule({"clone3"}, ENOSYS));
    deny_bits(s, "clone", kCloneFlagsArg,
              {CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
               CLONE_NEWCGROUP, CLONE_NEWTIME});
    // Device nodes: S_IFCHR and S_IFBLK share bits, so compare the whole type.
    for (uint64_t type : {static_cast<uint64_t>(S_IFCHR), static_cast<uint64_t>(S_IFBLK)}) {
        oci::SeccompSyscall a = errno_rule({"mknod"}, EPERM);
        a.args.push_back({1, S_IFMT, type, "SCMP_CMP_MASKED_EQ"});
        s.syscalls.push_back(std::move(a));
        oci::SeccompSyscall b = errno_rule({"mknodat"}, EPERM);
        b.args.push_back({2, S_IFMT, type, "SCMP_CMP_MASKED_EQ"});
        s.syscalls.push_back(std::move(b));
    }
    return s;
}

} // namespace mxc::policy
