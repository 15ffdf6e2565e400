// WSL detection.  Every signal is read under a root prefix so that tests can
// build a fake WSL tree; none of them needs privilege.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include <fmt/format.h>

#include "mxc/host/host.hpp"
#include "probe.hpp"

namespace mxc::host {

namespace {

using detail::under;

bool is_dir(const std::string &p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string &p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0;
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

// A Windows drive: mounted by WSL as drvfs (9p with aname=drvfs on WSL1-era
// kernels, "drvfs"/"virtiofs" later), or a directory whose top level looks like
// a Windows system drive.
bool is_windows_drive(const std::string &host_path, const std::string &path,
                      const std::vector<detail::MountEntry> &mounts) {
    for (const auto &m : mounts) {
        if (m.mountpoint != host_path)
            continue;
        if (m.fstype == "drvfs" || m.source == "drvfs" || m.super_opts.find("aname=drvfs") != std::string::npos)
            return true;
        if (m.fstype == "9p" && m.source.find("drvfs") != std::string::npos)
            return true;
    }
    for (const char *d : {"Windows", "Program Files", "Users/Public"})
        if (is_dir(path + "/" + d))
            return true;
    return false;
}

} // namespace

namespace detail {
const char *env_lookup(const char *const *envp, const char *name) {
    if (!envp)
        return nullptr;
    size_t n = std::strlen(name);
    for (const char *const *e = envp; *e; ++e)
        if (std::strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return nullptr;
}
} // namespace detail

using detail::env_lookup;

WslInfo detect_wsl(const std::string &root, const char *const *envp) {
    WslInfo info;
    std::vector<std::string> reasons;

    if (auto rel = detail::read_trimmed(under(root, "/proc/sys/kernel/osrelease"))) {
        std::string l = lower(*rel);
        if (l.find("microsoft") != std::string::npos || l.find("wsl") != std::string::npos)
            reasons.push_back(fmt::format("osrelease \"{}\"", *rel));
    }
    if (const char *d = env_lookup(envp, "WSL_DISTRO_NAME")) {
        info.distro = d;
        reasons.push_back(fmt::format("WSL_DISTRO_NAME={}", d));
    }
    bool run_wsl = exists(under(root, "/run/WSL"));
    if (run_wsl)
        reasons.push_back("/run/WSL exists");

    info.detected = !reasons.empty();
    for (size_t i = 0; i < reasons.size(); ++i)
        info.reason += (i ? "; " : "") + reasons[i];

    info.wslg = is_dir(under(root, "/mnt/wslg"));
    info.interop = run_wsl || env_lookup(envp, "WSL_INTEROP") != nullptr;

    auto mounts = detail::read_mountinfo(under(root, "/proc/self/mountinfo"));
    for (char c = 'a'; c <= 'z'; ++c) {
        std::string host_path = fmt::format("/mnt/{}", c);
        std::string p = under(root, host_path);
        if (is_dir(p) && is_windows_drive(host_path, p, mounts))
            info.windows_drives.push_back(host_path);
    }
    return info;
}

} // namespace mxc::host
