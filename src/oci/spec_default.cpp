// The config.json `mxc spec` writes: the same shape as `runc spec`, so that
// bundles made for runc work unchanged, and its --rootless variant.
#include "mxc/oci/spec.hpp"

#include <unistd.h>

#include <algorithm>

namespace mxc::oci {
namespace {

std::vector<Mount> default_mounts() {
    return {
        {"/proc", "proc", "proc", {}},
        {"/dev", "tmpfs", "tmpfs", {"nosuid", "strictatime", "mode=755", "size=65536k"}},
        {"/dev/pts", "devpts", "devpts",
         {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
        {"/dev/shm", "tmpfs", "shm", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
        {"/dev/mqueue", "mqueue", "mqueue", {"nosuid", "noexec", "nodev"}},
        {"/sys", "sysfs", "sysfs", {"nosuid", "noexec", "nodev", "ro"}},
        {"/sys/fs/cgroup", "cgroup", "cgroup", {"nosuid", "noexec", "nodev", "relatime", "ro"}},
    };
}

Process default_process() {
    Process p;
    p.terminal = true;
    p.args = {"sh"};
    p.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"};
    p.cwd = "/";
    Capabilities caps;
    caps.bounding = {"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
    caps.effective = caps.bounding;
    caps.permitted = caps.bounding;
    p.capabilities = caps;
    p.rlimits = {{"RLIMIT_NOFILE", 1024, 1024}};
    p.no_new_privileges = true;
    return p;
}

Linux default_linux() {
    Linux l;
    Resources r;
    r.devices = {DeviceRule{.allow = false, .type = "a", .major = std::nullopt, .minor = std::nullopt, .access = "rwm"}};
    l.resources = r;
    for (const char *t : {"pid", "network", "ipc", "uts", "mount", "cgroup"})
        l.namespaces.push_back({t, ""});
    l.masked_paths = {"/proc/acpi",          "/proc/asound",     "/proc/kcore",       "/proc/keys",
                      "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                      "/sys/firmware",       "/proc/scsi",       "/sys/devices/virtual/powercap"};
    l.readonly_paths = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
    return l;
}

// What `runc spec --rootless` changes: an own user namespace mapping the
// caller to root, no network namespace (nothing to configure it with), the
// host's /sys bound read-only (sysfs cannot be mounted without owning a
// network namespace), no gid=5 on devpts (gid 5 is not mapped), and no
// cgroup mount or limits (the caller may not own a cgroup).
void make_rootless(Spec &s) {
    Linux &l = *s.linux_;
    std::erase_if(l.namespaces, [](const Namespace &n) { return n.type == "network"; });
    l.namespaces.push_back({"user", ""});
    l.uid_mappings = {{0, static_cast<uint32_t>(geteuid()), 1}};
    l.gid_mappings = {{0, static_cast<uint32_t>(getegid()), 1}};
    l.resources.reset();
    std::erase_if(s.mounts, [](const Mount &m) { return m.destination == "/sys/fs/cgroup"; });
    for (Mount &m : s.mounts) {
        if (m.destination == "/sys") {
            m.type = "none";
            m.source = "/sys";
            m.options = {"rbind", "nosuid", "noexec", "nodev", "ro"};
        } else if (m.destination == "/dev/pts") {
            std::erase(m.options, "gid=5");
        }
    }
}

} // namespace

Spec default_spec(bool rootless) {
    Spec s;
    s.oci_version = "1.2.0";
    s.root = Root{"rootfs", true};
    s.process = default_process();
    s.hostname = "mxc";
    s.mounts = default_mounts();
    s.linux_ = default_linux();
    if (rootless)
        make_rootless(s);
    return s;
}

} // namespace mxc::oci
