// Follower: `mxc audit tail -f`.  Keeps a read offset per stream, moves to the
// next segment when one appears, and sleeps on inotify between reads (plain
// polling when inotify is unavailable, e.g. out of watches).
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "mxc/audit/stream.hpp"
#include "mxc/util/error.hpp"
#include "stream_internal.hpp"

namespace mxc::audit {

Follower::Follower(std::string base_dir, Filter filter, bool from_end)
    : base_(std::move(base_dir)), filter_(std::move(filter)) {
    inotify_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    watch(base_);
    if (!from_end)
        return;
    for (auto &id : list_streams(base_)) {
        auto segs = list_segments(base_ + "/" + id);
        if (segs.empty())
            continue;
        Cursor c;
        c.segment = detail::segment_number(segs.back());
        struct stat st {};
        if (::stat(segs.back().c_str(), &st) == 0)
            c.offset = static_cast<uint64_t>(st.st_size);
        cursors_[id] = c;
        watch(base_ + "/" + id);
    }
}

Follower::~Follower() = default;

void Follower::watch(const std::string &path) {
    if (!inotify_ || watches_.count(path))
        return;
    int wd = ::inotify_add_watch(inotify_.get(), path.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO);
    if (wd >= 0)
        watches_[path] = wd;
}

void Follower::read_stream(const std::string &identity, Cursor &c, std::vector<Record> &out) {
    std::string dir = base_ + "/" + identity;
    auto segs = list_segments(dir);
    if (segs.empty())
        return;
    if (c.segment == 0) {
        c.segment = detail::segment_number(segs.front());
        c.offset = 0;
    }
    auto drain = [&] {
        std::string path = dir + "/" + detail::segment_name(c.segment);
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd)
            return;
        char buf[65536];
        for (;;) {
            ssize_t n = ::pread(fd.get(), buf, sizeof buf, static_cast<off_t>(c.offset));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            c.offset += static_cast<uint64_t>(n);
            c.partial.append(buf, static_cast<size_t>(n));
        }
        size_t start = 0;
        for (size_t nl; (nl = c.partial.find('\n', start)) != std::string::npos; start = nl + 1) {
            try {
                Record r = parse_line(std::string_view(c.partial).substr(start, nl - start));
                if (matches(r, filter_))
                    out.push_back(std::move(r));
            } catch (const Error &) {
                // unreadable line: verify reports it
            }
        }
        c.partial.erase(0, start);
    };
    for (;;) {
        drain();
        // The writer finishes a segment before it creates the next, so once a
        // newer one exists, one more drain gets the rest of the current one.
        uint32_t next = 0;
        for (auto &s : list_segments(dir)) {
            uint32_t n = detail::segment_number(s);
            if (n > c.segment) {
                next = n;
                break;
            }
        }
        if (!next)
            return;
        drain();
        c.segment = next;
        c.offset = 0;
        c.partial.clear();
    }
}

void Follower::scan(std::vector<Record> &out) {
    watch(base_);
    for (auto &id : list_streams(base_)) {
        if (filter_.identity && id != *filter_.identity)
            continue;
        watch(base_ + "/" + id);
        read_stream(id, cursors_[id], out);
    }
}

std::vector<Record> Follower::poll(std::chrono::milliseconds timeout) {
    using clock = std::chrono::steady_clock;
    auto deadline = clock::now() + timeout;
    std::vector<Record> out;
    for (;;) {
        scan(out);
        if (!out.empty())
            return out;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0)
            return out;
        if (inotify_) {
            // Also wake every 500 ms: a watch may be missing (directory made
            // after the last scan, watch limit reached).
            struct pollfd p = {inotify_.get(), POLLIN, 0};
            int rc = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 500)));
            if (rc > 0) {
                char buf[4096];
                while (::read(inotify_.get(), buf, sizeof buf) > 0) {
                }
            }
        } else {
            std::this_thread::sleep_for(std::min(left, std::chrono::milliseconds(100)));
        }
    }
}

} // namespace mxc::audit
