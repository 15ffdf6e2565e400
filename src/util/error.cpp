#include "mxc/util/error.hpp"

#include <cstring>

namespace mxc {

std::string errno_name(int err) {
    // strerrorname_np is glibc >= 2.32 (Debian 12 has 2.36).
    if (const char *n = strerrorname_np(err))
        return n;
    return fmt::format("E{}", err);
}

void Error::render() {
    std::string out;
    for (const auto &c : context_) {
        out += c;
        out += ": ";
    }
    out += message_;
    if (err_ != 0 && !raw_)
        out += fmt::format(": {} ({})", std::strerror(err_), errno_name(err_));
    rendered_ = std::move(out);
}

} // namespace mxc
