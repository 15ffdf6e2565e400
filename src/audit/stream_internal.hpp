// Helpers shared by the stream sources (not part of the public API).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mxc/audit/record.hpp"

namespace mxc::audit::detail {

inline constexpr const char *kHeadFile = "head.json";

// "seg-000042.jsonl"
std::string segment_name(uint32_t n);
// The number in a segment path or name; 0 when it is not one.
uint32_t segment_number(std::string_view path);

// The last complete line of a file (without '\n'); nullopt when the file is
// empty.  Throws when the file does not end with '\n' (a torn write).
std::optional<std::string> read_last_line(const std::string &path);

// head.json: a copy of the last signed checkpoint.
//
// Two slots of kHeadSlot bytes, each one JSON object padded with spaces to a
// line, with "sum", the SHA-256 of the object without it.  A checkpoint
// overwrites the older slot in place and flushes it (one fdatasync, where a
// new file renamed over the old one took three flushes); a write torn by a
// crash spoils that slot only, and the other still holds the previous
// checkpoint.  A head.json of one plain object (before 0.1.0's slots) is read
// as is, and rewritten as slots at the next checkpoint.
inline constexpr size_t kHeadSlot = 4096;
struct Head {
    uint64_t checkpoint = 0; // seq of the checkpoint record; 0: none yet
    std::string hash;        // the hash it signs (of seq checkpoint-1)
    std::string sig, key, signer, public_key, segment;
    int slot = -1;           // the slot it came from; -1: the one-object form
    std::vector<std::string> notes; // a slot that does not check out
};
// nullopt when there is no head.json; throws when it does not parse (or
// neither slot does).
std::optional<Head> read_head(const std::string &dir);
// One slot's bytes (kHeadSlot, ending in '\n') for a head object.
std::string head_slot(nlohmann::json head);

// Refuses what callers may not append (writer-only kinds, bad outcome,
// another identity's record).
void check_appendable(const Record &r, const std::string &identity);

} // namespace mxc::audit::detail
