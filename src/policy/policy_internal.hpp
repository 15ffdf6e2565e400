// Helpers shared by the files of src/policy; not part of the public API.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "mxc/oci/spec.hpp"
#include "mxc/policy/profile.hpp"

namespace mxc::policy::detail {

// pw_dir of uid, "" when unknown.
std::string passwd_home(uid_t uid);
// Names of the *.yaml regular files in dir, sorted; none when dir is missing.
std::vector<std::string> yaml_files(const std::string &dir);

// realpath(3) inside a root prefix: absolute symlink targets are taken
// relative to root, ".." never climbs above it.  Returns the path without the
// prefix, or nullopt when a component does not exist.  Throws on ELOOP and on
// errors other than ENOENT/ENOTDIR.
std::optional<std::string> resolve_in_root(const std::string &root, const std::string &path);
// Lexical normalisation of an absolute path: no "." / "..", no "//", no trailing "/".
std::string normalize(const std::string &path);
// Whether `child` is `parent` or below it (both normalised).
bool is_under(const std::string &child, const std::string &parent);
// Number of components: "/" 0, "/a" 1, "/a/b" 2.
size_t depth(const std::string &path);
// "/a/b" -> "/a"; "/a" and "/" -> "".
std::string parent_of(const std::string &path);

// The canonical workspace: req.workspace (relative to ctx.cwd) or ctx.cwd; an
// existing directory other than "/".
std::string resolve_workspace(const RunRequest &req, const HostContext &ctx);

struct FsPlan {
    std::vector<oci::Mount> mounts; // in order, base mounts first
    std::vector<FsRule> landlock;
    std::vector<std::string> notes;
};
// Filesystem section of the profile + --rw/--ro/--deny + the built-in hiding
// of desktop and WSL paths -> mounts.  `workspace` is canonical.
FsPlan plan_filesystem(const Profile &p, const RunRequest &req, const HostContext &ctx,
                       const std::string &workspace, bool gpu);

// The scrubbed environment of the sandboxed process.
std::vector<std::string> build_env(const Profile &p, const RunRequest &req, const HostContext &ctx,
                                   std::vector<std::string> &notes);

} // namespace mxc::policy::detail
