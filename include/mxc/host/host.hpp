// What this host supports, found by trying (mxc doctor), and the OCI
// features document (mxc features).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mxc::host {

struct DoctorOptions {
    // Prefix for every host path read by detection (tests point it at a fixture
    // tree with a fake /proc/sys/kernel/osrelease, /run/WSL, /mnt/wslg...).
    std::string root = "";
    bool probe_bpf = true; // try loading BPF programs (needs privilege)
};

// Every check: {"name":..., "ok": bool, "detail": "..."} grouped by area:
// cgroup (mode, controllers), userns, seccomp (+notify), landlock (abi),
// bpf (prog types that load, ringbuf, btf), wsl (detected, what would be hidden).
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
WslInfo detect_wsl(const std::string &root, const char *const *envp);

// `mxc features` (runtime-spec features.md), honest about this build and host.
nlohmann::json features();

} // namespace mxc::host
