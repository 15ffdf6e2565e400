#include "mxc/util/user.hpp"

#include <pwd.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <vector>

namespace mxc {

std::optional<UserEntry> user_entry(uid_t uid) {
    static std::mutex mu;
    static std::map<uid_t, std::optional<UserEntry>> known;
    std::lock_guard lk(mu);
    if (auto it = known.find(uid); it != known.end())
        return it->second;
    long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
    std::vector<char> buf(size > 0 ? static_cast<size_t>(size) : 16384);
    struct passwd pw {}, *res = nullptr;
    std::optional<UserEntry> e;
    if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &res) == 0 && res)
        e = UserEntry{pw.pw_name ? pw.pw_name : "", pw.pw_dir ? pw.pw_dir : ""};
    known.emplace(uid, e);
    return e;
}

} // namespace mxc
