// A user namespace that exists only to carry mappings for an idmapped mount
// (mount_setattr MOUNT_ATTR_IDMAP takes a userns fd).  A helper child
// unshares a user namespace, we write its maps from outside (allowed for a
// process with CAP_SETUID/CAP_SETGID over the parent namespace), keep an fd of
// /proc/PID/ns/user and let the child go.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "rootfs_internal.hpp"

namespace mxc::sandbox::detail {

namespace {

std::string map_text(const std::vector<oci::IdMapping> &maps) {
    std::string out;
    for (const auto &m : maps)
        out += fmt::format("{} {} {}\n", m.container_id, m.host_id, m.size);
    return out;
}

} // namespace

UniqueFd make_idmap_userns(const std::vector<oci::IdMapping> &uid, const std::vector<oci::IdMapping> &gid) {
    int ready[2], hold[2];
    if (::pipe2(ready, O_CLOEXEC) < 0)
        throw_errno("pipe");
    UniqueFd ready_r(ready[0]), ready_w(ready[1]);
    if (::pipe2(hold, O_CLOEXEC) < 0)
        throw_errno("pipe");
    UniqueFd hold_r(hold[0]), hold_w(hold[1]);

    pid_t pid = ::fork();
    if (pid < 0)
        throw_errno("fork idmap helper");
    if (pid == 0) {
        // Only async-signal-safe calls here.  Our copy of the write end must
        // go, or the read below would never see EOF.
        ::close(hold_w.release());
        ::close(ready_r.release());
        char ok = ::unshare(CLONE_NEWUSER) == 0 ? 1 : 0;
        (void)!::write(ready_w.get(), &ok, 1);
        char c;
        (void)!::read(hold_r.get(), &c, 1); // returns 0 when the parent closes hold_w
        ::_exit(0);
    }
    ScopeExit reap([&] {
        hold_w.reset();
        int status;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    });
    ready_w.reset();
    hold_r.reset();
    char ok = 0;
    if (::read(ready_r.get(), &ok, 1) != 1 || !ok)
        throw Error(EPERM, "idmap helper: unshare(CLONE_NEWUSER) failed");
    const std::string proc = "/proc/" + std::to_string(pid);
    with_context("write uid_map of idmap helper", [&] { write_file_at(AT_FDCWD, proc + "/uid_map", map_text(uid)); });
    with_context("write gid_map of idmap helper", [&] { write_file_at(AT_FDCWD, proc + "/gid_map", map_text(gid)); });
    UniqueFd ns(::open((proc + "/ns/user").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns)
        throw_errno("open {}/ns/user", proc);
    return ns;
}

} // namespace mxc::sandbox::detail
