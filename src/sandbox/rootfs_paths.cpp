// Path resolution inside the container's root.  Every lookup is relative to
// an fd of the rootfs and never leaves it: openat2(RESOLVE_IN_ROOT) for plain
// opens, and a component-by-component walk with O_NOFOLLOW for mkdir -p, where
// symlinks are read and spliced in by us so they resolve against the rootfs.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <vector>

#include "mxc/util/error.hpp"
#include "rootfs_internal.hpp"

namespace mxc::sandbox {

namespace {

constexpr int kMaxSymlinks = 40; // same limit as the kernel's MAXSYMLINKS

std::deque<std::string> split_path(const std::string &path) {
    std::deque<std::string> parts;
    size_t i = 0;
    while (i <= path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos)
            j = path.size();
        if (j > i)
            parts.emplace_back(path.substr(i, j - i));
        i = j + 1;
    }
    return parts;
}

std::string read_link_at(int dirfd, const std::string &name) {
    std::string buf(PATH_MAX, '\0');
    ssize_t n = ::readlinkat(dirfd, name.c_str(), buf.data(), buf.size());
    if (n < 0)
        throw_errno("readlink {}", name);
    buf.resize(static_cast<size_t>(n));
    return buf;
}

} // namespace

namespace detail {
std::string fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }
} // namespace detail

int try_open_in_root(int rootfs_fd, const std::string &path, int flags) {
    // Kernels before 5.6 have no openat2; they would need the same manual walk
    // as mkdir_in_root below.  Everything we support (and this host) has it.
    struct open_how how {};
    how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    const char *rel = path.empty() ? "." : path.c_str();
    for (int attempt = 0;; ++attempt) {
        long fd = ::syscall(SYS_openat2, rootfs_fd, rel, &how, sizeof(how));
        if (fd >= 0)
            return static_cast<int>(fd);
        // EAGAIN: a rename raced with the lookup somewhere under the root.
        if (errno == EAGAIN && attempt < 32)
            continue;
        return -errno;
    }
}

int open_in_root(int rootfs_fd, const std::string &path, int flags) {
    int fd = try_open_in_root(rootfs_fd, path, flags);
    if (fd < 0)
        throw Error(-fd, fmt::format("open {} in rootfs", path));
    return fd;
}

int mkdir_in_root(int rootfs_fd, const std::string &path, bool is_dir) {
    std::vector<UniqueFd> stack; // directories walked so far; stack[0] is the root
    {
        int root = ::fcntl(rootfs_fd, F_DUPFD_CLOEXEC, 3);
        if (root < 0)
            throw_errno("dup rootfs fd");
        stack.emplace_back(root);
    }
    std::deque<std::string> rest = split_path(path);
    if (rest.empty()) {
        int fd = ::openat(stack.back().get(), ".", O_PATH | O_CLOEXEC);
        if (fd < 0)
            throw_errno("open / in rootfs");
        return fd;
    }
    int links = 0;
    while (!rest.empty()) {
        std::string name = std::move(rest.front());
        rest.pop_front();
        const bool last = rest.empty();
        int cur = stack.back().get();
        if (name == ".") {
            if (last)
                return ::fcntl(cur, F_DUPFD_CLOEXEC, 3);
            continue;
        }
        if (name == "..") {
            if (stack.size() > 1) // ".." at the root stays at the root
                stack.pop_back();
            if (last)
                return ::fcntl(stack.back().get(), F_DUPFD_CLOEXEC, 3);
            continue;
        }
        struct stat st {};
        if (::fstatat(cur, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                throw_errno("stat {} in rootfs (component {})", path, name);
            if (!last || is_dir) {
                if (::mkdirat(cur, name.c_str(), 0755) < 0 && errno != EEXIST)
                    throw_errno("mkdir {} in rootfs (component {})", path, name);
            } else {
                int f = ::openat(cur, name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (f < 0 && errno != EEXIST)
                    throw_errno("create {} in rootfs", path);
                if (f >= 0)
                    ::close(f);
            }
            // Re-examine what is there now (it may have been created by someone else).
            rest.push_front(std::move(name));
            continue;
        }
        if (S_ISLNK(st.st_mode)) {
            if (++links > kMaxSymlinks)
                throw Error(ELOOP, "resolve " + path + " in rootfs: too many symlinks");
            std::string target = read_link_at(cur, name);
            if (!target.empty() && target[0] == '/')
                stack.resize(1); // absolute links are relative to the container's root
            auto parts = split_path(target);
            rest.insert(rest.begin(), parts.begin(), parts.end());
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            // O_NOFOLLOW|O_DIRECTORY: if it became a symlink meanwhile we fail
            // instead of following it.
            int fd = ::openat(cur, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0)
                throw_errno("open {} in rootfs (component {})", path, name);
            stack.emplace_back(fd);
            if (last)
                return ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
            continue;
        }
        if (!last)
            throw Error(ENOTDIR, "resolve " + path + " in rootfs: " + name + " is not a directory");
        int fd = ::openat(cur, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            throw_errno("open {} in rootfs", path);
        struct stat fst {};
        if (::fstat(fd, &fst) < 0 || S_ISLNK(fst.st_mode)) {
            ::close(fd);
            throw Error(ELOOP, "open " + path + " in rootfs: changed while resolving");
        }
        return fd;
    }
    return ::fcntl(stack.back().get(), F_DUPFD_CLOEXEC, 3);
}

} // namespace mxc::sandbox
