// One error type for all of libmxc: an errno (0 when none applies) plus a
// chain of context, outermost first.  Library code throws mxc::Error; the CLI
// catches it once and prints what() on one line.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace mxc {

class Error : public std::exception {
public:
    Error(int err, std::string message) : err_(err), message_(std::move(message)) { render(); }
    explicit Error(std::string message) : Error(0, std::move(message)) {}
    // An error already rendered elsewhere (e.g. by the container process and
    // sent over the sync channel): keep its text as is, and its errno.
    static Error rendered(int err, std::string text) {
        Error e(err, std::string());
        e.message_ = text;
        e.raw_ = true;
        e.render();
        return e;
    }

    // errno of the first cause, 0 when the failure was not a syscall.
    int code() const noexcept { return err_; }
    // The innermost message without context or errno.
    const std::string &message() const noexcept { return message_; }
    const std::vector<std::string> &context() const noexcept { return context_; }
    const char *what() const noexcept override { return rendered_.c_str(); }

    // Add what the caller was doing; shown before the existing text.
    Error &add_context(std::string ctx) {
        context_.insert(context_.begin(), std::move(ctx));
        render();
        return *this;
    }

private:
    void render();

    int err_;
    std::string message_;
    std::vector<std::string> context_;
    std::string rendered_;
    bool raw_ = false;
};

// "ENOENT" for 2; "E123" when unknown.
std::string errno_name(int err);

// Throw Error(errno, formatted message) capturing errno before formatting.
template <typename... Args>
[[noreturn]] void throw_errno(fmt::format_string<Args...> f, Args &&...args) {
    int saved = errno;
    throw Error(saved, fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
[[noreturn]] void throw_error(fmt::format_string<Args...> f, Args &&...args) {
    throw Error(0, fmt::format(f, std::forward<Args>(args)...));
}

// Run fn; if it throws mxc::Error, prefix the context and rethrow.
template <typename Fn>
auto with_context(std::string_view ctx, Fn &&fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (Error &e) {
        e.add_context(std::string(ctx));
        throw;
    }
}

} // namespace mxc
