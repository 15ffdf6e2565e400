// What this host supports, found by trying (mxc doctor), and the OCI
// features document (mxc features).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mxc::host {

struct DoctorOptions {
    // Prefix for every host path read by detection (tests point it at a fixture
    // tree with a fake /proc/sys/kernel/osrelease, /run/WSL, /mnt/wslg...,
    // /proc/self/mountinfo).  Probes that are syscalls (unshare, seccomp,
    // landlock, bpf, clone3, openat2, mount_setattr) test the running kernel
    // whatever the root; cgroup mkdir probes refuse a directory that is not
    // cgroupfs, so a fixture never reports a cgroup as creatable.
    std::string root = "";
    bool probe_bpf = true; // try loading BPF programs (needs privilege)
    // Environment to inspect (WSL_INTEROP, DISPLAY, PATH for newuidmap...);
    // nullptr: the process environment.
    const char *const *envp = nullptr;
};

// Every check: {"area":..., "name":..., "ok": bool, "detail": "..."} in
// report["checks"], in area order: cgroup (mode, controllers, create_v2/v1),
// userns, namespaces, seccomp (+notify), landlock (abi), bpf (prog.<type> that
// load, map.ringbuf, btf_vmlinux, bpffs, tracefs), syscalls, mounts (idmap),
// lsm, wsl (detected, what would be hidden).  The facts behind them are in
// report[<area>], e.g. report["cgroup"]["mode"], report["landlock"]["abi"],
// report["bpf"]["prog_types"]["tp_btf"], report["wsl"]["hidden"].
nlohmann::json doctor(const DoctorOptions &opts);
// Human rendering of doctor() output.
std::string doctor_text(const nlohmann::json &report);

// WSL detection from a root prefix: osrelease contains "microsoft"/"WSL",
// WSL_DISTRO_NAME set, or /run/WSL present.
struct WslInfo {
    bool detected = false;
    std::string reason;      // which signal detected it
    std::string distro;      // WSL_DISTRO_NAME when set
    bool wslg = false;       // /mnt/wslg
    bool interop = false;    // /run/WSL or WSL_INTEROP
    std::vector<std::string> windows_drives; // /mnt/c ...
};
// envp nullptr: no environment.  windows_drives lists /mnt/<letter> that are
// drvfs mounts (root+/proc/self/mountinfo) or hold Windows top-level dirs.
WslInfo detect_wsl(const std::string &root, const char *const *envp);

// `mxc features` (runtime-spec features.md), honest about this build and host.
nlohmann::json features();

} // namespace mxc::host
