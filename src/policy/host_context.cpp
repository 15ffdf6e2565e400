// The caller and host facts compile() needs, read once from this process.
#include <pwd.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "mxc/util/user.hpp"
#include "mxc/policy/profile.hpp"
#include "policy_internal.hpp"

extern char **environ;

namespace mxc::policy {
namespace {

std::string slurp(const std::string &path) {
    std::ifstream f(path);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

bool contains_ci(std::string hay, const std::string &needle) {
    for (char &c : hay)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return hay.find(needle) != std::string::npos;
}

// WSL's Windows drives: /mnt/<letter> mounted as drvfs (9p or virtiofs with a
// drvfs source).  src/policy sits below src/host, so this is read here.
std::vector<std::string> find_windows_drives() {
    std::vector<std::string> out;
    std::istringstream in(slurp("/proc/self/mountinfo"));
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream f(line);
        std::string id, parent, devno, root, mountpoint, field;
        f >> id >> parent >> devno >> root >> mountpoint;
        if (mountpoint.size() != 6 || mountpoint.compare(0, 5, "/mnt/") != 0 || !std::isalpha(mountpoint[5]))
            continue;
        std::string rest;
        std::getline(f, rest);
        size_t sep = rest.find(" - ");
        if (sep != std::string::npos && (contains_ci(rest.substr(sep), "drvfs") || contains_ci(rest.substr(sep), " 9p ")))
            out.push_back(mountpoint);
    }
    return out;
}

} // namespace

HostContext HostContext::current() {
    HostContext c;
    c.uid = ::getuid();
    c.gid = ::getgid();
    c.root = ::geteuid() == 0;
    const char *home = std::getenv("HOME");
    c.home = home && *home == '/' ? home : detail::passwd_home(c.uid);
    if (auto u = user_entry(c.uid); u && !u->name.empty())
        c.user = u->name;
    else if (const char *u = std::getenv("USER"))
        c.user = u;
    if (char *cwd = ::getcwd(nullptr, 0)) {
        c.cwd = cwd;
        std::free(cwd);
    }
    for (char **e = ::environ; e && *e; ++e)
        c.environ.emplace_back(*e);
    struct stat st {};
    c.wsl = contains_ci(slurp("/proc/sys/kernel/osrelease"), "microsoft") || std::getenv("WSL_DISTRO_NAME") ||
            ::lstat("/run/WSL", &st) == 0;
    if (c.wsl)
        c.windows_drives = find_windows_drives();
    return c;
}

} // namespace mxc::policy
