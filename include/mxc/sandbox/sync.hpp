// The typed channel between the runtime and the process it is setting up.
// A SOCK_SEQPACKET socketpair: one message per send, fds travel with
// SCM_RIGHTS, and an error from inside the new namespaces reaches the parent
// with the step, the path and the errno instead of "child exited 1".
#pragma once

#include <cstdint>
#include <string>

#include "mxc/util/fd.hpp"

namespace mxc::sandbox {

enum class Msg : uint32_t {
    go = 1,               // parent -> child: ids mapped, continue
    run_runtime_hooks,    // child -> parent: namespaces exist, run prestart + createRuntime (only with hooks)
    hooks_done,           // parent -> child
    pty_master,           // child -> parent, fd attached
    seccomp_fd,           // child -> parent, fd attached
    ready,                // child -> parent: waiting for start (or about to exec)
    pid,                  // intermediate -> parent: pid of the exec'd process (value)
    error,                // child -> parent: errno in value, text in payload
    listen_fd,            // child -> parent: a proxy listening socket made in the sandbox netns
    want_seccomp,         // child -> parent: send the compiled linux.seccomp filter
    seccomp_program,      // parent -> child: BPF in a sealed memfd, flags in value, "nnp" text
};

struct Message {
    Msg type{};
    int32_t value = 0;
    std::string text;
    UniqueFd fd;
};

class SyncChannel {
public:
    SyncChannel() = default;
    explicit SyncChannel(UniqueFd fd) : fd_(std::move(fd)) {}
    static std::pair<SyncChannel, SyncChannel> make_pair();

    void send(Msg type, int32_t value = 0, const std::string &text = "", int fd = -1);
    // Throws when the peer closed the channel (EOF) or on a receive error.
    Message recv();
    // Receive; if it is an error message, throw it as mxc::Error.  Returns the
    // message otherwise.  `what` names the peer for EOF errors.
    Message expect(Msg type, const char *what);
    int fd() const { return fd_.get(); }
    void close() { fd_.reset(); }

private:
    UniqueFd fd_;
};

// Send/receive one fd over a unix socket (for --console-socket).
void send_fd(int sock, int fd, const std::string &payload);

} // namespace mxc::sandbox
