// `mxc features`: the runtime-spec features document (features.md,
// features-linux.md).  Most of it is what this build understands; a few fields
// (capabilities up to the kernel's last, seccomp flags the kernel accepts,
// AppArmor/SELinux, idmapped mounts) are filled from the host so that callers
// such as podman do not ask for what would fail here.
#include <linux/seccomp.h>
#include <sys/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <seccomp.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>

#include <fmt/format.h>

#include "mxc/host/host.hpp"
#include "probe.hpp"

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

namespace mxc::host {

namespace {

// The words src/sandbox/mount_options.cpp understands (config.md "mounts"),
// plus the recursive mount_setattr forms and idmap.  Keep the two in step.
const std::vector<std::string> &mount_options() {
    static const std::vector<std::string> list = {
        "defaults", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
        "sync", "async", "dirsync", "remount", "mand", "nomand",
        "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime",
        "strictatime", "nostrictatime", "lazytime", "nolazytime", "iversion", "noiversion",
        "silent", "loud", "bind", "rbind",
        "shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable",
        "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
        "rnodiratime", "rdiratime", "rnoatime", "ratime", "rrelatime", "rstrictatime",
        "idmap", "ridmap",
    };
    return list;
}

nlohmann::json capabilities() {
    int last = CAP_LAST_CAP;
    if (auto v = detail::read_trimmed("/proc/sys/kernel/cap_last_cap")) {
        char *end = nullptr;
        long l = std::strtol(v->c_str(), &end, 10);
        if (end && *end == '\0' && l >= 0 && l < 64)
            last = static_cast<int>(l);
    }
    nlohmann::json caps = nlohmann::json::array();
    for (int i = 0; i <= last; ++i) {
        char *n = cap_to_name(static_cast<cap_value_t>(i));
        if (!n)
            continue;
        std::string name = n;
        cap_free(n);
        // libcap prints a number for a capability newer than itself: a name
        // we could not parse back in config.json, so leave it out.
        if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])))
            continue;
        for (auto &c : name)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        caps.push_back(name);
    }
    return caps;
}

nlohmann::json seccomp_archs() {
    static const std::pair<const char *, const char *> archs[] = {
        {"SCMP_ARCH_X86", "x86"},         {"SCMP_ARCH_X86_64", "x86_64"},       {"SCMP_ARCH_X32", "x32"},
        {"SCMP_ARCH_ARM", "arm"},         {"SCMP_ARCH_AARCH64", "aarch64"},     {"SCMP_ARCH_MIPS", "mips"},
        {"SCMP_ARCH_MIPS64", "mips64"},   {"SCMP_ARCH_MIPS64N32", "mips64n32"}, {"SCMP_ARCH_MIPSEL", "mipsel"},
        {"SCMP_ARCH_MIPSEL64", "mipsel64"}, {"SCMP_ARCH_MIPSEL64N32", "mipsel64n32"},
        {"SCMP_ARCH_PPC", "ppc"},         {"SCMP_ARCH_PPC64", "ppc64"},         {"SCMP_ARCH_PPC64LE", "ppc64le"},
        {"SCMP_ARCH_S390", "s390"},       {"SCMP_ARCH_S390X", "s390x"},         {"SCMP_ARCH_PARISC", "parisc"},
        {"SCMP_ARCH_PARISC64", "parisc64"}, {"SCMP_ARCH_RISCV64", "riscv64"},   {"SCMP_ARCH_LOONGARCH64", "loongarch64"},
        {"SCMP_ARCH_M68K", "m68k"},       {"SCMP_ARCH_SH", "sh"},               {"SCMP_ARCH_SHEB", "sheb"},
    };
    nlohmann::json out = nlohmann::json::array();
    for (auto [oci, lib] : archs)
        if (seccomp_arch_resolve_name(lib) != 0)
            out.push_back(oci);
    return out;
}

struct SeccompFlag {
    const char *name;
    unsigned long bit;
    bool libseccomp_can_set; // a filter attribute exists in the libseccomp we build against
};

const std::vector<SeccompFlag> &seccomp_flags() {
    static const std::vector<SeccompFlag> flags = {
        {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC, true},
        {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW, SCMP_VER_MAJOR > 2 || SCMP_VER_MINOR >= 4},
        {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG, SCMP_VER_MAJOR > 2 || SCMP_VER_MINOR >= 4},
        {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
         SCMP_VER_MAJOR > 2 || SCMP_VER_MINOR >= 6},
    };
    return flags;
}

// The kernel checks the flags before it reads the program: with a NULL program
// a known flag gives EFAULT and an unknown one EINVAL.
bool kernel_accepts_seccomp_flag(unsigned long bit) {
    unsigned long flags = bit;
    if (bit == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER; // only valid together
    long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, nullptr);
    return rc < 0 && errno == EFAULT;
}

nlohmann::json seccomp_features() {
    nlohmann::json known = nlohmann::json::array(), supported = nlohmann::json::array();
    for (const auto &f : seccomp_flags()) {
        known.push_back(f.name);
        if (f.libseccomp_can_set && kernel_accepts_seccomp_flag(f.bit))
            supported.push_back(f.name);
    }
    return {
        {"enabled", true},
        {"actions",
         {"SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO",
          "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"}},
        {"operators",
         {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT",
          "SCMP_CMP_MASKED_EQ"}},
        {"archs", seccomp_archs()},
        {"knownFlags", known},
        {"supportedFlags", supported},
    };
}

} // namespace

nlohmann::json features() {
#ifdef MXC_VERSION
    const char *version = MXC_VERSION;
#else
    const char *version = "unknown";
#endif
    const struct scmp_version *sv = seccomp_version();
    auto idmap = detail::probe_idmap();
    return {
        {"ociVersionMin", "1.0.0"},
        {"ociVersionMax", "1.2.0"},
        {"hooks", {"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}},
        {"mountOptions", mount_options()},
        {"linux",
         {
             {"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"}},
             {"capabilities", capabilities()},
             {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}, {"systemdUser", false}, {"rdma", false}}},
             {"seccomp", seccomp_features()},
             {"apparmor", {{"enabled", detail::apparmor_enabled("")}}},
             {"selinux", {{"enabled", detail::selinux_enabled("")}}},
             {"intelRdt", {{"enabled", false}}},
             {"mountExtensions", {{"idmap", {{"enabled", idmap.ok}}}}},
         }},
        {"annotations",
         {
             {"org.mxc.version", version},
             {"io.github.seccomp.libseccomp.version", fmt::format("{}.{}.{}", sv->major, sv->minor, sv->micro)},
         }},
    };
}

} // namespace mxc::host
