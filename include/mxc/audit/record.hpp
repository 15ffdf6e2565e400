// One audit record and its canonical form (the bytes the hash chain covers).
//
// A record is one JSON object per line.  Optional fields are omitted when
// unset (empty string, empty vector, disengaged optional).  The canonical form
// is the object without "hash", keys sorted, no whitespace — exactly what
// nlohmann::json's dump() gives for its std::map-backed objects — with invalid
// UTF-8 replaced by U+FFFD so that every record can be written and re-read to
// the same bytes.  Chain: hash_n = hex(SHA-256(raw32(prev_n) || canonical_n)),
// prev_1 = 64 zeros, prev_n = hash_{n-1}.  See mxc-audit(5).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mxc::audit {

// kind values.  header and checkpoint are written by the StreamWriter only.
inline constexpr std::string_view kKinds[] = {"exec",   "file", "net",    "process",   "proxy",
                                              "loss",   "policy", "header", "checkpoint"};
bool valid_kind(std::string_view kind);
// outcome values: "allowed", "denied", "failed" (or empty).
bool valid_outcome(std::string_view outcome);

inline constexpr std::string_view kZeroHash = "0000000000000000000000000000000000000000000000000000000000000000";

struct Record {
    uint64_t seq = 0;        // 1 for the header, +1 per record; filled by the writer
    std::string time;        // RFC 3339 UTC with nanoseconds; filled by the writer when empty
    std::string identity;    // filled by the writer when empty; must match the stream
    std::string sandbox;
    std::string kind;        // see kKinds
    std::string op;          // exec, fork, exit, openat, unlink, connect, sendto, allow, ...
    std::optional<int64_t> pid, ppid;
    std::optional<uint32_t> uid;
    std::string comm, exe;
    std::vector<std::string> args;
    std::string path;
    std::optional<uint64_t> flags; // open flags etc., as the syscall got them
    std::optional<uint32_t> mode;
    std::string family;      // "inet", "inet6", "unix"
    std::string addr;
    std::optional<uint32_t> port;
    std::string proto;       // "tcp", "udp", ...
    std::string domain;      // DNS name (proxy decisions, DNS queries)
    std::string result;      // errno name ("EACCES"), "0" never written: empty on success
    std::string outcome;     // allowed | denied | failed
    std::optional<int64_t> exit_code;  // key "exit": process exit status
    std::optional<uint64_t> lost;      // kind "loss": events lost since the last loss record
    std::string probe;                 // kind "loss": which probe / ring lost them
    std::string prev, hash;            // filled by the writer
    // Kind-specific fields with no member above (header: backend, host,
    // version, hooks; checkpoint: count, sig, key, signer, public_key; ...).
    // Must be an object or null; known keys in it are ignored.
    nlohmann::json extra;
};

// The record as a JSON object, "hash" included when set.
nlohmann::json to_json(const Record &r);
// Throws mxc::Error naming the field: `.seq: expected an unsigned integer`.
Record from_json(const nlohmann::json &j);

// The canonical bytes of a record JSON object (its "hash" member ignored).
std::string canonical(const nlohmann::json &j);
std::string canonical(const Record &r);
// One line as written to a segment, with the trailing '\n'.
std::string to_line(const Record &r);
// Sets r.hash = hash_of(canonical(r)) and returns to_line(r), serialising once.
std::string seal_line(Record &r, const std::function<std::string(std::string_view canonical)> &hash_of);
// Chains r to r.prev (r.hash = chain_hash(r.prev, canonical(r))) and appends
// its line, '\n' included, to out: the same bytes as seal_line, serialised once.
void append_sealed_line(Record &r, std::string &out);
// Parses one line (without or with '\n').  Throws mxc::Error on bad JSON.
Record parse_line(std::string_view line);

// hex(SHA-256(raw32(prev_hex) || canonical)).  Throws when prev_hex is not 64 hex digits.
std::string chain_hash(std::string_view prev_hex, std::string_view canonical_bytes);
// hex(SHA-256(bytes)).
std::string sha256_hex(std::string_view bytes);

// ---- time -------------------------------------------------------------------

// Nanoseconds since the epoch, CLOCK_REALTIME.
int64_t now_ns();
// "2026-01-02T03:04:05.123456789Z"
std::string format_time(int64_t ns);
void format_time(int64_t ns, std::string &out); // the same, into out
// RFC 3339 (fraction optional, Z or ±hh:mm; a bare date means its midnight UTC)
// to nanoseconds since the epoch.  Throws mxc::Error on a malformed value.
int64_t parse_time(std::string_view text);

} // namespace mxc::audit
