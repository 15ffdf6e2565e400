// spec.mounts[].options -> mount(2) flags, propagation, recursive attributes
// and the data string.  The table follows runtime-spec config.md "mounts" and
// the words mount(8) knows; anything else is filesystem data, as in runc.
#include <sys/mount.h>

#include <string_view>
#include <unordered_map>

#include "rootfs_internal.hpp"

namespace mxc::sandbox {

namespace {

struct FlagWord {
    bool clear;
    unsigned long flag;
};

const std::unordered_map<std::string_view, FlagWord> &flag_words() {
    static const std::unordered_map<std::string_view, FlagWord> table = {
        {"defaults", {false, 0}},
        {"ro", {false, MS_RDONLY}},
        {"rw", {true, MS_RDONLY}},
        {"nosuid", {false, MS_NOSUID}},
        {"suid", {true, MS_NOSUID}},
        {"nodev", {false, MS_NODEV}},
        {"dev", {true, MS_NODEV}},
        {"noexec", {false, MS_NOEXEC}},
        {"exec", {true, MS_NOEXEC}},
        {"sync", {false, MS_SYNCHRONOUS}},
        {"async", {true, MS_SYNCHRONOUS}},
        {"dirsync", {false, MS_DIRSYNC}},
        {"remount", {false, MS_REMOUNT}},
        {"mand", {false, MS_MANDLOCK}},
        {"nomand", {true, MS_MANDLOCK}},
        {"atime", {true, MS_NOATIME}},
        {"noatime", {false, MS_NOATIME}},
        {"diratime", {true, MS_NODIRATIME}},
        {"nodiratime", {false, MS_NODIRATIME}},
        {"relatime", {false, MS_RELATIME}},
        {"norelatime", {true, MS_RELATIME}},
        {"strictatime", {false, MS_STRICTATIME}},
        {"nostrictatime", {true, MS_STRICTATIME}},
        {"lazytime", {false, MS_LAZYTIME}},
        {"nolazytime", {true, MS_LAZYTIME}},
        {"iversion", {false, MS_I_VERSION}},
        {"noiversion", {true, MS_I_VERSION}},
        {"silent", {false, MS_SILENT}},
        {"loud", {true, MS_SILENT}},
        {"bind", {false, MS_BIND}},
        {"rbind", {false, MS_BIND | MS_REC}},
    };
    return table;
}

const std::unordered_map<std::string_view, unsigned long> &propagation_words() {
    static const std::unordered_map<std::string_view, unsigned long> table = {
        {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
        {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
        {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
        {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
    };
    return table;
}

struct AttrWord {
    bool clear;
    uint64_t attr;
};

// Recursive attributes (runtime-spec v1.1 "rro", "rnosuid", ...), applied with
// mount_setattr(AT_RECURSIVE).  The atime family is one field in the kernel:
// setting one value means clearing MOUNT_ATTR__ATIME first.
const std::unordered_map<std::string_view, AttrWord> &attr_words() {
    static const std::unordered_map<std::string_view, AttrWord> table = {
        {"rro", {false, MOUNT_ATTR_RDONLY}},          {"rrw", {true, MOUNT_ATTR_RDONLY}},
        {"rnosuid", {false, MOUNT_ATTR_NOSUID}},      {"rsuid", {true, MOUNT_ATTR_NOSUID}},
        {"rnodev", {false, MOUNT_ATTR_NODEV}},        {"rdev", {true, MOUNT_ATTR_NODEV}},
        {"rnoexec", {false, MOUNT_ATTR_NOEXEC}},      {"rexec", {true, MOUNT_ATTR_NOEXEC}},
        {"rnodiratime", {false, MOUNT_ATTR_NODIRATIME}}, {"rdiratime", {true, MOUNT_ATTR_NODIRATIME}},
    };
    return table;
}

} // namespace

bool MountFlags::is_bind() const { return (flags & MS_BIND) != 0; }
bool MountFlags::is_recursive_bind() const { return (flags & (MS_BIND | MS_REC)) == (MS_BIND | MS_REC); }

MountFlags parse_mount_options(const std::vector<std::string> &options) {
    MountFlags out;
    auto set_atime = [&](uint64_t value) {
        out.attr_clr |= MOUNT_ATTR__ATIME;
        out.attr_set = (out.attr_set & ~static_cast<uint64_t>(MOUNT_ATTR__ATIME)) | value;
    };
    for (const auto &opt : options) {
        if (auto it = flag_words().find(opt); it != flag_words().end()) {
            if (it->second.clear) {
                out.flags &= ~it->second.flag;
                out.cleared |= it->second.flag;
            } else {
                out.flags |= it->second.flag;
                out.cleared &= ~it->second.flag;
            }
        } else if (auto p = propagation_words().find(opt); p != propagation_words().end()) {
            out.propagation.push_back(p->second);
        } else if (auto a = attr_words().find(opt); a != attr_words().end()) {
            if (a->second.clear) {
                out.attr_set &= ~a->second.attr;
                out.attr_clr |= a->second.attr;
            } else {
                out.attr_set |= a->second.attr;
                out.attr_clr &= ~a->second.attr;
            }
        } else if (opt == "rnoatime") {
            set_atime(MOUNT_ATTR_NOATIME);
        } else if (opt == "ratime" || opt == "rrelatime") {
            set_atime(MOUNT_ATTR_RELATIME);
        } else if (opt == "rstrictatime") {
            set_atime(MOUNT_ATTR_STRICTATIME);
        } else if (opt == "idmap" || opt == "ridmap") {
            out.idmap = true;
            out.recursive_idmap = out.recursive_idmap || opt == "ridmap";
        } else if (opt == "tmpcopyup") {
            // crun's extension (copy the image's content into the tmpfs); podman
            // only sends it to crun.  Not implemented: ignoring it keeps the mount.
            continue;
        } else {
            if (!out.data.empty())
                out.data += ',';
            out.data += opt;
        }
    }
    return out;
}

namespace detail {

void ms_to_mount_attr(unsigned long set, unsigned long cleared, struct mount_attr &attr) {
    const struct {
        unsigned long ms;
        uint64_t attr;
    } simple[] = {
        {MS_RDONLY, MOUNT_ATTR_RDONLY},
        {MS_NOSUID, MOUNT_ATTR_NOSUID},
        {MS_NODEV, MOUNT_ATTR_NODEV},
        {MS_NOEXEC, MOUNT_ATTR_NOEXEC},
        {MS_NODIRATIME, MOUNT_ATTR_NODIRATIME},
    };
    for (const auto &s : simple) {
        if (set & s.ms)
            attr.attr_set |= s.attr;
        else if (cleared & s.ms)
            attr.attr_clr |= s.attr;
    }
    uint64_t atime = ~0ULL;
    if (set & MS_NOATIME)
        atime = MOUNT_ATTR_NOATIME;
    else if (set & MS_STRICTATIME)
        atime = MOUNT_ATTR_STRICTATIME;
    else if (set & MS_RELATIME)
        atime = MOUNT_ATTR_RELATIME;
    if (atime != ~0ULL) {
        attr.attr_clr |= MOUNT_ATTR__ATIME;
        attr.attr_set |= atime;
    }
}

} // namespace detail
} // namespace mxc::sandbox
