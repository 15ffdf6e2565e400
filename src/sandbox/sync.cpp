#include "mxc/sandbox/sync.hpp"

#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "mxc/util/error.hpp"

namespace mxc::sandbox {

namespace {
struct Header {
    uint32_t type;
    int32_t value;
};
constexpr size_t kMaxText = 8192;
} // namespace

std::pair<SyncChannel, SyncChannel> SyncChannel::make_pair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        throw_errno("socketpair");
    return {SyncChannel(UniqueFd(sv[0])), SyncChannel(UniqueFd(sv[1]))};
}

void SyncChannel::send(Msg type, int32_t value, const std::string &text, int fd) {
    std::vector<char> buf(sizeof(Header) + std::min(text.size(), kMaxText));
    Header h{static_cast<uint32_t>(type), value};
    std::memcpy(buf.data(), &h, sizeof h);
    std::memcpy(buf.data() + sizeof h, text.data(), buf.size() - sizeof h);
    struct iovec iov = {buf.data(), buf.size()};
    struct msghdr mh = {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    if (fd >= 0) {
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof cbuf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    for (;;) {
        if (::sendmsg(fd_.get(), &mh, MSG_NOSIGNAL) >= 0)
            return;
        if (errno != EINTR)
            throw_errno("sync channel send");
    }
}

Message SyncChannel::recv() {
    std::vector<char> buf(sizeof(Header) + kMaxText);
    struct iovec iov = {buf.data(), buf.size()};
    struct msghdr mh = {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    ssize_t n;
    do {
        n = ::recvmsg(fd_.get(), &mh, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        throw_errno("sync channel receive");
    if (n == 0)
        throw Error(0, "container setup process exited without reporting");
    if (static_cast<size_t>(n) < sizeof(Header))
        throw Error(EPROTO, "sync channel: short message");
    Message m;
    Header h;
    std::memcpy(&h, buf.data(), sizeof h);
    m.type = static_cast<Msg>(h.type);
    m.value = h.value;
    m.text.assign(buf.data() + sizeof h, static_cast<size_t>(n) - sizeof h);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
            m.fd.reset(fd);
        }
    }
    return m;
}

Message SyncChannel::expect(Msg type, const char *what) {
    Message m;
    try {
        m = recv();
    } catch (Error &e) {
        e.add_context(what);
        throw;
    }
    if (m.type == Msg::error)
        throw Error::rendered(m.value, m.text);
    if (m.type != type)
        throw Error(EPROTO, fmt::format("{}: unexpected message {} (wanted {})", what,
                                        static_cast<uint32_t>(m.type), static_cast<uint32_t>(type)));
    return m;
}

void send_fd(int sock, int fd, const std::string &payload) {
    std::string data = payload.empty() ? std::string("\0", 1) : payload;
    struct iovec iov = {data.data(), data.size()};
    struct msghdr mh = {};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))];
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof cbuf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
    if (::sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
        throw_errno("send fd");
}

} // namespace mxc::sandbox
