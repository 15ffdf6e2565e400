// What several unit tests share.
#pragma once

#include <stdlib.h>

#include <functional>
#include <string>

#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

namespace mxc::testing {

// The text of the mxc::Error that fn throws; "" when it throws none.
inline std::string error_of(const std::function<void()> &fn) {
    try {
        fn();
    } catch (const Error &e) {
        return e.what();
    }
    return "";
}

// A directory under /tmp, removed with everything in it at the end.
class TempDir {
public:
    explicit TempDir(const std::string &prefix = "mxc-test") {
        std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
        if (!::mkdtemp(tmpl.data()))
            throw_errno("mkdtemp {}", tmpl);
        path_ = tmpl;
    }
    ~TempDir() { remove_tree(path_); }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    const std::string &path() const { return path_; }

private:
    std::string path_;
};

} // namespace mxc::testing
