// Path helpers: realpath inside a root prefix (so that compile() can run on a
// fixture tree), lexical normalisation, ancestry.
#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "mxc/util/user.hpp"
#include "mxc/util/error.hpp"
#include "policy_internal.hpp"

namespace mxc::policy::detail {
namespace {

void push_components(std::vector<std::string> &stack, const std::string &path) {
    // The stack is popped from the back, so components go in reversed.
    std::vector<std::string> comps;
    size_t i = 0;
    while (i <= path.size()) {
        size_t j = path.find('/', i);
        if (j == std::string::npos)
            j = path.size();
        if (j > i)
            comps.push_back(path.substr(i, j - i));
        i = j + 1;
    }
    for (auto it = comps.rbegin(); it != comps.rend(); ++it)
        stack.push_back(*it);
}

} // namespace

std::string parent_of(const std::string &p) {
    size_t slash = p.rfind('/');
    return slash == std::string::npos || slash == 0 ? "" : p.substr(0, slash);
}

std::string passwd_home(uid_t uid) {
    auto u = user_entry(uid);
    return u ? u->home : "";
}

std::vector<std::string> yaml_files(const std::string &dir) {
    std::vector<std::string> out;
    std::unique_ptr<DIR, int (*)(DIR *)> d(::opendir(dir.c_str()), ::closedir);
    if (!d)
        return out;
    while (struct dirent *e = ::readdir(d.get())) {
        std::string n = e->d_name;
        if (n.size() <= 5 || n.compare(n.size() - 5, 5, ".yaml") != 0 || n[0] == '.')
            continue;
        struct stat st {};
        if (::stat((dir + "/" + n).c_str(), &st) == 0 && S_ISREG(st.st_mode))
            out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::optional<std::string> resolve_in_root(const std::string &root, const std::string &path) {
    std::vector<std::string> todo;
    push_components(todo, path);
    std::string cur; // resolved so far, "" is "/"
    int links = 0;
    while (!todo.empty()) {
        std::string comp = std::move(todo.back());
        todo.pop_back();
        if (comp == ".")
            continue;
        if (comp == "..") {
            cur = parent_of(cur);
            continue;
        }
        std::string next = cur + "/" + comp;
        std::string host = root + next;
        struct stat st {};
        if (::lstat(host.c_str(), &st) < 0) {
            if (errno == ENOENT || errno == ENOTDIR)
                return std::nullopt;
            throw_errno("resolve {}", path);
        }
        if (!S_ISLNK(st.st_mode)) {
            if (!todo.empty() && !S_ISDIR(st.st_mode))
                return std::nullopt;
            cur = std::move(next);
            continue;
        }
        if (++links > 40) {
            errno = ELOOP;
            throw_errno("resolve {}", path);
        }
        std::vector<char> buf(static_cast<size_t>(st.st_size > 0 ? st.st_size : 255) + 1);
        ssize_t n = ::readlink(host.c_str(), buf.data(), buf.size());
        if (n < 0)
            throw_errno("readlink {}", next);
        std::string target(buf.data(), static_cast<size_t>(n));
        if (!target.empty() && target[0] == '/')
            cur.clear();
        push_components(todo, target);
    }
    return cur.empty() ? "/" : cur;
}

std::string normalize(const std::string &path) {
    std::vector<std::string> out;
    std::vector<std::string> todo;
    push_components(todo, path);
    while (!todo.empty()) {
        std::string c = std::move(todo.back());
        todo.pop_back();
        if (c == ".")
            continue;
        if (c == "..") {
            if (!out.empty())
                out.pop_back();
            continue;
        }
        out.push_back(std::move(c));
    }
    std::string s;
    for (const auto &c : out)
        s += "/" + c;
    return s.empty() ? "/" : s;
}

bool is_under(const std::string &child, const std::string &parent) {
    if (parent == "/")
        return true;
    return child.size() >= parent.size() && child.compare(0, parent.size(), parent) == 0 &&
           (child.size() == parent.size() || child[parent.size()] == '/');
}

size_t depth(const std::string &path) {
    if (path == "/")
        return 0;
    return static_cast<size_t>(std::count(path.begin(), path.end(), '/'));
}

} // namespace mxc::policy::detail
