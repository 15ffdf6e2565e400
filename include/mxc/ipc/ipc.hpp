// The mxc <-> mxcd wire protocol: one JSON object per line over a unix stream
// socket.  Requests carry "op"; responses carry "ok" (and "error" when false).
// The daemon trusts a caller by its kernel peer credentials (SO_PEERCRED),
// never by what the request says.  See mxcd(8).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "mxc/util/fd.hpp"

namespace mxc::ipc {

// $MXC_MXCD_SOCKET, or /run/mxc/mxcd.sock.
std::string default_socket();

struct Peer {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
};
Peer peer_credentials(int fd);

// A bound, listening unix socket at path (a stale socket file is replaced;
// its directory is created 0755).  mode: the socket file's permissions.
UniqueFd listen_unix(const std::string &path, mode_t mode);

// Line-framed JSON over one connected socket.
class Channel {
public:
    explicit Channel(UniqueFd fd) : fd_(std::move(fd)) {}
    int fd() const { return fd_.get(); }
    // The next message; nullopt at end of stream.  Throws on a bad line or
    // when timeout passes with no complete line (-1: wait forever).
    std::optional<nlohmann::json> read(std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));
    // Only what is already buffered or readable now; nullopt when no complete
    // line is there yet.  Sets *eof at end of stream.
    std::optional<nlohmann::json> read_ready(bool *eof);
    void write(const nlohmann::json &msg);
    // Without waiting: false when the peer's buffer is full (a server drops
    // such a peer rather than stall for it).
    bool try_write(const nlohmann::json &msg);

private:
    UniqueFd fd_;
    std::string buf_;
};

// The client side, used by mxc.
class Client {
public:
    // nullopt when nothing listens at path (no socket file, connection refused).
    static std::optional<Client> connect(const std::string &path = default_socket());
    // Sends req and waits for the response; throws mxc::Error carrying the
    // daemon's "error" when ok is false, or when the daemon does not answer.
    nlohmann::json call(const nlohmann::json &req, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    Channel &channel() { return ch_; }

private:
    explicit Client(UniqueFd fd) : ch_(std::move(fd)) {}
    Channel ch_;
};

} // namespace mxc::ipc
