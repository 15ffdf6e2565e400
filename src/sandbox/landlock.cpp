#include "mxc/sandbox/landlock.hpp"

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sys/stat.h>

#include <cerrno>

#include "mxc/util/error.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::sandbox {

namespace {

// Access rights by ABI version (landlock(7)); the kernel rejects bits it does
// not know, so the handled set is trimmed to the running ABI.
uint64_t fs_rights(int abi) {
    uint64_t r = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
                 LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
                 LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
                 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
                 LANDLOCK_ACCESS_FS_MAKE_SYM;
    if (abi >= 2)
        r |= 1ULL << 13; // LANDLOCK_ACCESS_FS_REFER
    if (abi >= 3)
        r |= 1ULL << 14; // LANDLOCK_ACCESS_FS_TRUNCATE
    if (abi >= 5)
        r |= 1ULL << 15; // LANDLOCK_ACCESS_FS_IOCTL_DEV
    return r;
}

constexpr uint64_t kReadRights =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;

} // namespace

int landlock_abi() {
    long v = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return v < 0 ? 0 : static_cast<int>(v);
}

UniqueFd build_landlock(const std::vector<LandlockRule> &rules, bool required) {
    int abi = landlock_abi();
    if (abi <= 0) {
        if (required)
            throw Error(EOPNOTSUPP, "landlock: not available on this kernel");
        return {};
    }
    uint64_t all = fs_rights(abi);
    struct landlock_ruleset_attr attr = {};
    attr.handled_access_fs = all;
    UniqueFd ruleset(static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0)));
    if (!ruleset)
        throw_errno("landlock: create ruleset");
    for (const auto &r : rules) {
        UniqueFd fd(::open(r.path.c_str(), O_PATH | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT)
                continue;
            throw_errno("landlock: open {}", r.path);
        }
        struct landlock_path_beneath_attr pb = {};
        pb.parent_fd = fd.get();
        pb.allowed_access = r.write ? all : kReadRights;
        // A file (not a directory) accepts only file rights.
        struct stat st;
        if (::fstat(fd.get(), &st) == 0 && !S_ISDIR(st.st_mode)) {
            uint64_t file_rights = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
                                   LANDLOCK_ACCESS_FS_WRITE_FILE | (abi >= 3 ? (1ULL << 14) : 0) |
                                   (abi >= 5 ? (1ULL << 15) : 0);
            pb.allowed_access &= file_rights;
        }
        if (::syscall(SYS_landlock_add_rule, ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
            throw_errno("landlock: add rule for {}", r.path);
    }
    return ruleset;
}

void restrict_landlock(const UniqueFd &ruleset) {
    if (::syscall(SYS_landlock_restrict_self, ruleset.get(), 0) < 0)
        throw_errno("landlock: restrict self");
}

bool apply_landlock(const std::vector<LandlockRule> &rules, bool required) {
    UniqueFd ruleset = build_landlock(rules, required);
    if (!ruleset)
        return false;
    restrict_landlock(ruleset);
    return true;
}

} // namespace mxc::sandbox
