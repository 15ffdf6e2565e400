#include "mxc/util/self_exec.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace mxc::self_exec {

namespace {
// Set once by init() from main(), before anything else runs.
char **g_argv = nullptr;
bool g_sealed = false;
} // namespace

void init(int, char **argv) {
    g_argv = argv;
    g_sealed = std::getenv("_MXC_SEALED") != nullptr;
    ::unsetenv("_MXC_SEALED");
}

bool sealed() { return g_sealed; }

// The commands that put our code inside a container run from a sealed
// in-memory copy of the binary: a container process that reaches
// /proc/<pid>/exe of ours (e.g. through a "#!/proc/self/exe" script run by
// `exec`) finds a memfd it cannot write, not the host's mxc (CVE-2019-5736).
std::string reexec_sealed() {
    if (g_sealed || !g_argv)
        return "";
    char **argv = g_argv;
    std::string why;
    if (::geteuid() == 0) {
        // Cheap for root: a private read-only bind of our own binary.  The
        // exe link then points into a read-only mount: reopening it for
        // writing fails with EROFS, and nothing is copied.
        int tree = static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, "/proc/self/exe",
                                              OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        struct mount_attr ro = {};
        ro.attr_set = MOUNT_ATTR_RDONLY;
        if (tree < 0) {
            why = std::string("open_tree(/proc/self/exe): ") + std::strerror(errno) + "; ";
        } else if (::syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &ro, sizeof ro) == 0) {
            ::setenv("_MXC_SEALED", "1", 1);
            ::syscall(SYS_execveat, tree, "", argv, environ, AT_EMPTY_PATH);
            why = std::string("execveat of a read-only bind: ") + std::strerror(errno) + "; ";
            ::unsetenv("_MXC_SEALED");
        } else {
            why = std::string("mount_setattr(MOUNT_ATTR_RDONLY): ") + std::strerror(errno) + "; ";
        }
        if (tree >= 0)
            ::close(tree);
    } else if (::access("/proc/self/exe", W_OK) != 0) {
        return ""; // a binary we cannot write, the container cannot either
    }
    // Otherwise a sealed in-memory copy (as runc does).
    auto fail = [&](const char *what) { return why + what + ": " + std::strerror(errno); };
    int src = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return fail("open /proc/self/exe");
    int mfd = static_cast<int>(::syscall(SYS_memfd_create, "mxc", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    struct stat st;
    if (mfd < 0 || ::fstat(src, &st) < 0) {
        std::string e = fail(mfd < 0 ? "memfd_create" : "fstat /proc/self/exe");
        ::close(src);
        if (mfd >= 0)
            ::close(mfd);
        return e;
    }
    off_t off = 0;
    while (off < st.st_size)
        if (::sendfile(mfd, src, &off, static_cast<size_t>(st.st_size - off)) <= 0)
            break;
    ::close(src);
    if (off != st.st_size ||
        ::fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
        std::string e = fail(off != st.st_size ? "copy into a memfd" : "seal the memfd");
        ::close(mfd);
        return e;
    }
    ::setenv("_MXC_SEALED", "1", 1);
    ::fexecve(mfd, argv, environ);
    std::string e = fail("fexecve of the sealed copy");
    ::unsetenv("_MXC_SEALED");
    ::close(mfd);
    return e;
}

} // namespace mxc::self_exec
