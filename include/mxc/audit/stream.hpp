// Per-identity audit streams: writing (hash chain, rotation, signed
// checkpoints), verification, queries, live follow, statistics and export.
//
// Layout: <base>/<identity>/seg-000001.jsonl, seg-000002.jsonl, ... (0600, dir
// 0700) and <base>/<identity>/head.json, a copy of the last signed checkpoint
// that lets verify notice a stream cut short.  Format: mxc-audit(5).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sys/types.h>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mxc/audit/record.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::audit {

// ---- signing ----------------------------------------------------------------

// Who signs checkpoints: the host key (mxcd) or the identity's key (rootless
// fallback).  sign returns the raw 64-byte Ed25519 signature of its input.
struct Signer {
    std::string name;            // "host", or the identity name
    std::string public_key_pem;  // SubjectPublicKeyInfo
    std::function<std::string(std::string_view)> sign;
};
// A Signer that signs with an identity of the store (identity::sign).
Signer identity_signer(const identity::IdentityStore &store, const std::string &name);
// SHA-256 of the DER public key, lower-case hex (the same as identity fingerprints).
std::string key_fingerprint(const std::string &public_key_pem);
// Standard base64 (with padding), as used for "sig".
std::string base64_encode(std::string_view bytes);
std::string base64_decode(std::string_view text); // throws mxc::Error on bad input

// <state>/audit: $MXC_STATE_DIR/audit when set; root: /var/lib/mxc/audit;
// others: $XDG_DATA_HOME/mxc/audit (default ~/.local/share/mxc/audit).
std::string default_base_dir();

// ---- writing ----------------------------------------------------------------

struct WriterOptions {
    std::string base_dir;                       // the stream is <base_dir>/<identity>/
    std::string identity;                       // identity::valid_name
    uint64_t segment_bytes = 64ull << 20;       // rotate before a segment would exceed this
    uint64_t checkpoint_records = 1000;         // checkpoint after this many records (0: never by count)
    std::chrono::seconds checkpoint_interval{60}; // ... or this long since the last one (0: never by time)
    // Checkpoints by count no closer together than this: under a flood one
    // covers more records instead of fsync'ing hundreds of times a second.
    std::chrono::milliseconds checkpoint_min_gap{0};
    std::optional<Signer> signer;               // none: no checkpoints (verify reports an unsigned stream)
    std::string backend;                        // header: "bpf", "seccomp-notify", "none", ...
    std::string host;                           // header; empty: gethostname()
    std::string version;                        // header; empty: MXC_VERSION
    nlohmann::json header_extra;                // more header fields (hooks, probes, ...)
    // mxcd writes a user's stream as root: the user's group may read it
    // (dir 0750, files 0640), never write it.  Unset: 0700/0600.
    std::optional<gid_t> reader_gid;
};

class StreamWriter {
public:
    // Creates the stream (and writes its header) or reopens it: reads the last
    // record of the last segment to continue seq and chain, and checks the
    // tail against head.json.  Throws mxc::Error when the tail is damaged.
    explicit StreamWriter(WriterOptions opts);
    ~StreamWriter(); // close(), errors swallowed
    StreamWriter(const StreamWriter &) = delete;
    StreamWriter &operator=(const StreamWriter &) = delete;

    // Fills seq, time (when empty), identity (when empty), prev and hash;
    // writes the line; returns the record as written.  Throws on a bad kind
    // (header/checkpoint are refused), a bad outcome or an identity mismatch.
    Record append(Record r);
    // One write() for many records; returns their seqs' last value.
    // lines_out: receives each line as written (with its '\n').
    // The records are sealed in place (seq, prev, hash filled in).
    uint64_t append_batch(std::span<Record> records, std::vector<std::string> *lines_out = nullptr);
    // Writes a signed checkpoint now (no-op without a signer or with nothing new).
    void checkpoint();
    // Time-based checkpoint for callers with a timer: checkpoints when the
    // interval has passed and records were written since the last one.
    void tick();
    // Final checkpoint and close; later appends throw.
    void close();

    std::string dir() const;     // <base>/<identity>
    uint64_t last_seq() const;
    std::string last_hash() const;

private:
    void open_or_create();
    void write_header();
    Record seal(Record r, std::string *line);      // needs mu_; line: as stored
    void seal_into(Record &r, std::string &out);   // needs mu_; appends the line
    void write_lines(const std::string &lines, uint64_t nrecords);
    void checkpoint_locked();
    const std::string &signer_fingerprint();
    bool gap_passed() const;
    void maybe_checkpoint_locked();
    void open_segment(uint32_t n);
    void share(const std::string &path, int fd, bool dir) const;
    void write_head(const nlohmann::json &head);
    void rewrite_head(const nlohmann::json &head);

    WriterOptions opts_;
    std::string dir_;
    mutable std::mutex mu_;
    UniqueFd fd_;
    uint32_t segment_ = 0;
    uint64_t segment_size_ = 0;
    uint64_t seq_ = 0;
    std::string hash_;
    uint64_t since_checkpoint_ = 0;
    int64_t last_checkpoint_ns_ = 0;
    bool closed_ = false;
    std::string key_fp_; // fingerprint of the signer's key, computed once
    UniqueFd head_fd_;   // head.json in its two-slot form, open once written
    int head_next_ = -1; // the slot the next checkpoint overwrites; -1: rewrite the file
};

// ---- verification -----------------------------------------------------------

struct VerifyResult {
    bool ok = false;
    uint64_t records = 0;         // records read (checkpoints and header included)
    uint64_t checkpoints = 0;     // valid signed checkpoints
    uint64_t first_bad_seq = 0;   // 0 when ok, or when the fault has no seq (e.g. head.json missing)
    std::string reason;           // why not ok; empty when ok
    uint64_t unsigned_tail = 0;   // records after the last checkpoint (not an error)
    std::string last_hash;        // hash of the last good record
    std::vector<std::string> notes; // e.g. "unsigned tail of 12 records"
};

// Recomputes the chain over all segments of one stream directory, in order,
// and checks seqs, prevs, hashes, checkpoint counts and signatures, and
// head.json.  trusted_public_key_pem: checkpoints must be signed with this key;
// empty: each checkpoint is checked against the key it carries.
VerifyResult verify_stream(const std::string &dir, const std::string &trusted_public_key_pem = "");
nlohmann::json to_json(const VerifyResult &v);

// The identities with a stream under base_dir, sorted.
std::vector<std::string> list_streams(const std::string &base_dir);
// seg-*.jsonl of a stream directory, sorted by number, full paths.
std::vector<std::string> list_segments(const std::string &dir);

// ---- queries ----------------------------------------------------------------

struct Filter {
    std::optional<std::string> identity;
    std::optional<std::string> sandbox;
    std::vector<std::string> kinds;          // any of these; empty: all but header/checkpoint
    std::optional<int64_t> since_ns, until_ns; // inclusive bounds (parse_time)
    std::optional<std::string> path_prefix;  // path equal to it or below it
    bool denied_only = false;                // outcome == "denied"
    bool include_meta = false;               // header and checkpoint records too
};
bool matches(const Record &r, const Filter &f);

// Calls fn for each matching record, identity by identity (sorted), in seq
// order.  fn returns false to stop.  Lines that do not parse are skipped.
void for_each_record(const std::string &base_dir, const Filter &f, const std::function<bool(const Record &)> &fn);
// All matching records, ordered by time (then identity, seq).
std::vector<Record> query(const std::string &base_dir, const Filter &f);
// The last n matching records of query().
std::vector<Record> tail(const std::string &base_dir, const Filter &f, size_t n);

// `mxc audit tail -f`: follows every stream under base_dir (new identities
// and new segments included) and returns records appended since the last
// call.  Uses inotify when it can, polling otherwise.
class Follower {
public:
    // from_end: start after what exists now; otherwise replay everything first.
    Follower(std::string base_dir, Filter filter, bool from_end = true);
    ~Follower();
    Follower(const Follower &) = delete;
    Follower &operator=(const Follower &) = delete;
    // Waits up to timeout for new matching records (returns early when some came).
    std::vector<Record> poll(std::chrono::milliseconds timeout);

private:
    struct Cursor {
        uint32_t segment = 0;   // 0: not opened yet
        uint64_t offset = 0;
        std::string partial;    // a line not yet terminated
    };
    void scan(std::vector<Record> &out);
    void read_stream(const std::string &identity, Cursor &c, std::vector<Record> &out);
    void watch(const std::string &path);

    std::string base_;
    Filter filter_;
    std::map<std::string, Cursor> cursors_;
    UniqueFd inotify_;
    std::map<std::string, int> watches_;
};

// ---- statistics -------------------------------------------------------------

struct IdentityStats {
    std::string identity;
    uint64_t records = 0;                       // header and checkpoints excluded
    std::map<std::string, uint64_t> by_kind;
    uint64_t lost = 0;                          // sum of "lost" in loss records
    std::map<std::string, uint64_t> lost_by_probe;
    uint64_t denied = 0;
    std::string backend, host, version;         // from the last header
    std::string first_time, last_time;
    uint64_t segments = 0;
};
struct Stats {
    std::map<std::string, uint64_t> by_kind;
    uint64_t records = 0;
    uint64_t lost = 0;
    std::vector<IdentityStats> identities;
};
Stats stats(const std::string &base_dir, const Filter &f = {});
nlohmann::json to_json(const Stats &s);

// ---- export -----------------------------------------------------------------

enum class ExportFormat { jsonl, ocsf };
// "jsonl" | "ocsf"; throws mxc::Error otherwise.
ExportFormat parse_export_format(std::string_view name);
// The OCSF 1.x event of a record: 1007 Process Activity (exec, process),
// 1001 File System Activity (file), 4001 Network Activity (net), 4003 DNS
// Activity (proxy, and net records to/from port 53 over UDP), 0 Base Event
// (loss, policy).  Null for header and checkpoint records.
nlohmann::json to_ocsf(const Record &r);
// One JSON object per line; jsonl is the records as stored (hash included).
// Returns the number of lines written.
size_t export_records(const std::vector<Record> &records, ExportFormat format, std::ostream &out);

// One human line per record for `mxc audit tail` without --json:
// "2026-01-02T03:04:05.123Z alice sbx1 file openat /etc/passwd denied EACCES pid=12 comm=cat"
std::string format_human(const Record &r);

} // namespace mxc::audit
