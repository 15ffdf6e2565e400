// StreamWriter: append-only, hash-chained JSON-lines segments with signed
// checkpoints.  Each line goes out in one O_APPEND write so that a reader
// never sees a record interleaved with another.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "mxc/audit/stream.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "stream_internal.hpp"

#ifndef MXC_VERSION
#define MXC_VERSION "unknown"
#endif

namespace mxc::audit {

using nlohmann::json;

StreamWriter::StreamWriter(WriterOptions opts) : opts_(std::move(opts)) {
    if (!identity::valid_name(opts_.identity))
        throw Error(fmt::format("audit stream: invalid identity name \"{}\"", opts_.identity));
    if (opts_.base_dir.empty())
        throw Error("audit stream: no base directory");
    if (opts_.segment_bytes < 4096)
        opts_.segment_bytes = 4096;
    if (opts_.host.empty()) {
        char buf[256] = {};
        if (::gethostname(buf, sizeof buf - 1) == 0)
            opts_.host = buf;
    }
    if (opts_.version.empty())
        opts_.version = MXC_VERSION;
    if (opts_.signer && !opts_.signer->sign)
        throw Error("audit stream: signer has no sign function");
    dir_ = opts_.base_dir + "/" + opts_.identity;
    with_context(fmt::format("audit stream {}", dir_), [&] { open_or_create(); });
}

StreamWriter::~StreamWriter() {
    try {
        close();
    } catch (...) {
        // A destructor cannot report; the unsigned tail shows in verify.
    }
}

std::string StreamWriter::dir() const { return dir_; }

uint64_t StreamWriter::last_seq() const {
    std::lock_guard lk(mu_);
    return seq_;
}

std::string StreamWriter::last_hash() const {
    std::lock_guard lk(mu_);
    return hash_;
}

// The stream's owner may read it (group reader_gid), never write it.
void StreamWriter::share(const std::string &path, int fd, bool dir) const {
    if (!opts_.reader_gid)
        return;
    int rc = fd >= 0 ? ::fchown(fd, static_cast<uid_t>(-1), *opts_.reader_gid)
                     : ::chown(path.c_str(), static_cast<uid_t>(-1), *opts_.reader_gid);
    if (rc == 0)
        rc = fd >= 0 ? ::fchmod(fd, dir ? 0750 : 0640) : ::chmod(path.c_str(), dir ? 0750 : 0640);
    if (rc < 0)
        throw_errno("share {} with group {}", path, *opts_.reader_gid);
}

void StreamWriter::open_segment(uint32_t n) {
    std::string path = dir_ + "/" + detail::segment_name(n);
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW));
    bool created = false;
    if (!fd && errno == ENOENT) {
        fd.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        created = true;
    }
    if (!fd)
        throw_errno("open {}", path);
    share(path, fd.get(), false);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0)
        throw_errno("stat {}", path);
    fd_ = std::move(fd);
    segment_ = n;
    segment_size_ = static_cast<uint64_t>(st.st_size);
    // A new name must survive a crash as much as the lines in it do (an
    // existing one already has: ≈ 0.3 ms less per sandbox start).
    if (!created)
        return;
    UniqueFd dfd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dfd)
        ::fsync(dfd.get());
}

void StreamWriter::open_or_create() {
    mkdir_p(opts_.base_dir, 0700);
    if (::mkdir(dir_.c_str(), 0700) < 0 && errno != EEXIST)
        throw_errno("mkdir {}", dir_);
    share(dir_, -1, true);
    struct stat st {};
    if (::lstat(dir_.c_str(), &st) < 0)
        throw_errno("stat {}", dir_);
    if (!S_ISDIR(st.st_mode))
        throw Error("not a directory");

    auto head = detail::read_head(dir_);
    auto segments = list_segments(dir_);
    if (segments.empty()) {
        if (head && head->checkpoint > 0)
            throw Error(fmt::format("head.json names checkpoint seq {} but no segment is left; refusing to start "
                                    "a new chain over a deleted stream",
                                    head->checkpoint));
        seq_ = 0;
        hash_ = std::string(kZeroHash);
        open_segment(1);
        rewrite_head(json{{"checkpoint", 0}});
        write_header();
        return;
    }
    head_next_ = head && head->slot >= 0 ? 1 - head->slot : -1;

    // The last record: from the last non-empty segment (a crash may leave a
    // freshly rotated, empty one).
    std::optional<std::string> last;
    for (auto it = segments.rbegin(); it != segments.rend() && !last; ++it)
        last = detail::read_last_line(*it);
    open_segment(detail::segment_number(segments.back()));
    if (!last) {
        seq_ = 0;
        hash_ = std::string(kZeroHash);
        write_header();
        return;
    }
    Record r;
    try {
        r = parse_line(*last);
    } catch (Error &e) {
        e.add_context("last record");
        throw;
    }
    if (r.prev.size() != 64 || chain_hash(r.prev, canonical(r)) != r.hash)
        throw Error(fmt::format("last record (seq {}) does not match its hash; run `mxc audit verify`", r.seq));
    seq_ = r.seq;
    hash_ = r.hash;
    if (head && head->checkpoint > seq_)
        throw Error(fmt::format("head.json names checkpoint seq {} but the stream ends at seq {}: truncated; run "
                                "`mxc audit verify`",
                                head->checkpoint, seq_));
    since_checkpoint_ = head && head->checkpoint > 0 ? seq_ - head->checkpoint : seq_;
    last_checkpoint_ns_ = now_ns();
}

void StreamWriter::write_header() {
    Record h;
    h.kind = "header";
    h.extra = json::object();
    if (opts_.header_extra.is_object())
        h.extra = opts_.header_extra;
    h.extra["backend"] = opts_.backend.empty() ? "none" : opts_.backend;
    h.extra["host"] = opts_.host;
    h.extra["version"] = opts_.version;
    h.extra["format"] = 1;
    if (opts_.signer) {
        h.extra["signer"] = opts_.signer->name;
        h.extra["key"] = signer_fingerprint();
    }
    std::string line;
    seal(std::move(h), &line);
    write_lines(line, 1);
    last_checkpoint_ns_ = now_ns();
}

const std::string &StreamWriter::signer_fingerprint() {
    if (key_fp_.empty())
        key_fp_ = key_fingerprint(opts_.signer->public_key_pem);
    return key_fp_;
}

Record StreamWriter::seal(Record r, std::string *line) {
    std::string sealed;
    seal_into(r, sealed);
    if (line)
        *line = std::move(sealed);
    return r;
}

void StreamWriter::seal_into(Record &r, std::string &out) {
    r.seq = seq_ + 1;
    if (r.time.empty())
        r.time = format_time(now_ns());
    if (r.identity.empty())
        r.identity = opts_.identity;
    r.prev = hash_;
    r.hash.clear();
    append_sealed_line(r, out);
    seq_ = r.seq;
    hash_ = r.hash;
}

// lines holds whole records; it is split at record boundaries when a segment fills.
void StreamWriter::write_lines(const std::string &lines, uint64_t nrecords) {
    (void)nrecords;
    std::string_view rest(lines);
    try {
        while (!rest.empty()) {
            // Take as many whole lines as fit in the current segment (at least
            // one when the segment is empty: a record is never split).
            size_t take = 0;
            while (take < rest.size()) {
                size_t nl = rest.find('\n', take);
                size_t end = nl == std::string_view::npos ? rest.size() : nl + 1;
                if (segment_size_ + end > opts_.segment_bytes && (segment_size_ > 0 || take > 0))
                    break;
                take = end;
            }
            if (take == 0) {
                open_segment(segment_ + 1);
                continue;
            }
            write_all(fd_.get(), rest.substr(0, take));
            segment_size_ += take;
            rest.remove_prefix(take);
        }
    } catch (Error &e) {
        // seq and hash already moved on: the file and our state disagree.
        closed_ = true;
        fd_.reset();
        e.add_context(fmt::format("write {}/{}", dir_, detail::segment_name(segment_)));
        throw;
    }
}

Record StreamWriter::append(Record r) {
    std::lock_guard lk(mu_);
    if (closed_)
        throw Error(fmt::format("audit stream {}: closed", dir_));
    detail::check_appendable(r, opts_.identity);
    std::string line;
    Record out = seal(std::move(r), &line);
    write_lines(line, 1);
    ++since_checkpoint_;
    maybe_checkpoint_locked();
    return out;
}

uint64_t StreamWriter::append_batch(std::span<Record> records, std::vector<std::string> *lines_out) {
    std::lock_guard lk(mu_);
    if (closed_)
        throw Error(fmt::format("audit stream {}: closed", dir_));
    for (auto &r : records)
        detail::check_appendable(r, opts_.identity);
    std::string buf;
    buf.reserve(records.size() * 512);
    uint64_t n = 0;
    for (auto &r : records) {
        size_t at = buf.size();
        seal_into(r, buf);
        if (lines_out)
            lines_out->emplace_back(buf, at);
        ++n;
        ++since_checkpoint_;
        // With a minimum gap, the batch's end decides (one clock read per batch).
        if (opts_.signer && opts_.checkpoint_records && since_checkpoint_ >= opts_.checkpoint_records &&
            opts_.checkpoint_min_gap.count() <= 0) {
            write_lines(buf, n);
            buf.clear();
            n = 0;
            checkpoint_locked();
        }
    }
    if (!buf.empty())
        write_lines(buf, n);
    maybe_checkpoint_locked();
    return seq_;
}

bool StreamWriter::gap_passed() const {
    return opts_.checkpoint_min_gap.count() <= 0 ||
           now_ns() - last_checkpoint_ns_ >= std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.checkpoint_min_gap).count();
}

void StreamWriter::maybe_checkpoint_locked() {
    if (!opts_.signer || since_checkpoint_ == 0)
        return;
    bool by_count = opts_.checkpoint_records && since_checkpoint_ >= opts_.checkpoint_records && gap_passed();
    bool by_time = opts_.checkpoint_interval.count() > 0 &&
                   now_ns() - last_checkpoint_ns_ >=
                       std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.checkpoint_interval).count();
    if (by_count || by_time)
        checkpoint_locked();
}

void StreamWriter::checkpoint_locked() {
    if (!opts_.signer || since_checkpoint_ == 0 || closed_)
        return;
    const Signer &s = *opts_.signer;
    std::string covered = hash_;
    std::string sig = s.sign(covered);
    Record c;
    c.kind = "checkpoint";
    c.extra = json::object();
    c.extra["count"] = seq_; // records before this one: seqs 1..seq_
    c.extra["sig"] = base64_encode(sig);
    c.extra["key"] = signer_fingerprint();
    c.extra["signer"] = s.name;
    c.extra["public_key"] = s.public_key_pem;
    std::string line;
    Record sealed = seal(std::move(c), &line);
    write_lines(line, 1);
    if (::fsync(fd_.get()) < 0)
        throw_errno("fsync {}/{}", dir_, detail::segment_name(segment_));
    json head = json::object();
    head["checkpoint"] = sealed.seq;
    head["hash"] = covered;
    head["sig"] = sealed.extra["sig"];
    head["key"] = sealed.extra["key"];
    head["signer"] = s.name;
    head["public_key"] = s.public_key_pem;
    head["segment"] = detail::segment_name(segment_);
    head["time"] = sealed.time;
    write_head(head);
    since_checkpoint_ = 0;
    last_checkpoint_ns_ = now_ns();
}

// The whole file, both slots the same, made anew and renamed over the old one
// (a new stream; a head.json of the one-object form; a head that cannot be
// opened).  Durable: file and directory are flushed.
void StreamWriter::rewrite_head(const json &head) {
    std::string path = dir_ + "/" + detail::kHeadFile;
    std::string slot = detail::head_slot(head);
    write_file_atomic(path, slot + slot, 0600, true);
    share(path, -1, false);
    head_fd_.reset(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
    head_next_ = head_fd_ ? 1 : -1;
}

// After the segment is flushed: the older slot is overwritten in place and
// flushed (the file's size and name do not change, so this is one flush of
// one block where the rename took three).
void StreamWriter::write_head(const json &head) {
    if (head_next_ < 0 || !head_fd_) {
        if (head_next_ >= 0)
            head_fd_.reset(::open((dir_ + "/" + detail::kHeadFile).c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
        if (!head_fd_) {
            rewrite_head(head);
            return;
        }
    }
    std::string slot = detail::head_slot(head);
    auto off = static_cast<off_t>(head_next_ * detail::kHeadSlot);
    ssize_t n = ::pwrite(head_fd_.get(), slot.data(), slot.size(), off);
    if (n < 0)
        throw_errno("write {}/{} slot {}", dir_, detail::kHeadFile, head_next_);
    if (n != static_cast<ssize_t>(slot.size())) // a full disk, most likely: the other slot still anchors
        throw_error("write {}/{} slot {}: {} of {} bytes written", dir_, detail::kHeadFile, head_next_, n,
                    slot.size());
    if (::fdatasync(head_fd_.get()) < 0)
        throw_errno("fsync {}/{}", dir_, detail::kHeadFile);
    head_next_ = 1 - head_next_;
}

void StreamWriter::checkpoint() {
    std::lock_guard lk(mu_);
    checkpoint_locked();
}

void StreamWriter::tick() {
    std::lock_guard lk(mu_);
    if (!closed_)
        maybe_checkpoint_locked();
}

void StreamWriter::close() {
    std::lock_guard lk(mu_);
    if (closed_)
        return;
    uint64_t before = since_checkpoint_;
    checkpoint_locked();
    // A checkpoint fsyncs the segment; without one (no signer, nothing new)
    // the records still have to reach the disk.
    if (fd_ && (before == 0 || since_checkpoint_ != 0))
        ::fsync(fd_.get());
    fd_.reset();
    closed_ = true;
}

} // namespace mxc::audit
