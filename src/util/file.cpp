#include "mxc/util/file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "mxc/util/error.hpp"

namespace mxc {

std::string read_file_at(int dirfd, const std::string &path) {
    UniqueFd fd(::openat(dirfd, path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw_errno("open {}", path);
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("read {}", path);
        }
        if (n == 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

std::string read_file(const std::string &path) { return read_file_at(AT_FDCWD, path); }

void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR)
                continue;
            throw_errno("write");
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
}

void write_file(const std::string &path, std::string_view data, int flags, int mode) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | (flags ? flags : O_CREAT | O_TRUNC), mode));
    if (!fd)
        throw_errno("open {}", path);
    with_context(fmt::format("write {}", path), [&] { write_all(fd.get(), data); });
}

void write_file_at(int dirfd, const std::string &path, std::string_view data) {
    UniqueFd fd(::openat(dirfd, path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd)
        throw_errno("open {}", path);
    // cgroup and proc files report errors on write, e.g. EINVAL for a bad value.
    ssize_t n = ::write(fd.get(), data.data(), data.size());
    if (n < 0)
        throw_errno("write {} to {}", data, path);
}

void write_file_atomic(const std::string &path, std::string_view data, int mode, bool durable) {
    std::random_device rd;
    std::string tmp = fmt::format("{}.tmp{:x}", path, rd());
    {
        UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
        if (!fd)
            throw_errno("create {}", tmp);
        try {
            write_all(fd.get(), data);
            if (durable && ::fsync(fd.get()) < 0)
                throw_errno("fsync {}", tmp);
        } catch (...) {
            ::unlink(tmp.c_str());
            throw;
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        throw Error(e, fmt::format("rename {} to {}", tmp, path));
    }
    if (!durable)
        return;
    // The rename is durable once the directory is: without this a crash
    // can bring back the old file after the new one was reported written.
    auto slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
    UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd || ::fsync(dfd.get()) < 0)
        throw_errno("fsync directory {}", dir);
}

std::string absolute_or(const std::string &p) {
    if (!p.empty() && p[0] == '/')
        return p;
    char cwd[4096];
    if (!::getcwd(cwd, sizeof cwd))
        throw_errno("getcwd");
    return std::string(cwd) + "/" + p;
}

bool path_exists(const std::string &path) {
    struct stat st;
    return ::lstat(path.c_str(), &st) == 0;
}

void mkdir_p(const std::string &path, int mode) {
    if (path.empty())
        return;
    std::string cur;
    size_t pos = 0;
    while (pos <= path.size()) {
        size_t next = path.find('/', pos);
        if (next == std::string::npos)
            next = path.size();
        cur = path.substr(0, next);
        pos = next + 1;
        if (cur.empty())
            continue;
        if (::mkdir(cur.c_str(), mode) < 0 && errno != EEXIST)
            throw_errno("mkdir {}", cur);
    }
}

static void remove_tree_at(int dirfd, const char *name) {
    if (::unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return;
    if (errno != EISDIR && errno != EPERM)
        throw_errno("unlink {}", name);
    UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd)
        throw_errno("open {}", name);
    DIR *d = ::fdopendir(fd.get());
    if (!d)
        throw_errno("opendir {}", name);
    int dfd = fd.release();
    (void)dfd;
    while (struct dirent *de = ::readdir(d)) {
        std::string_view n(de->d_name);
        if (n == "." || n == "..")
            continue;
        remove_tree_at(::dirfd(d), de->d_name);
    }
    ::closedir(d);
    if (::unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        throw_errno("rmdir {}", name);
}

void remove_tree(const std::string &path) { remove_tree_at(AT_FDCWD, path.c_str()); }

} // namespace mxc
