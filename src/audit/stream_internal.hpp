// Helpers shared by the stream sources (not part of the public API).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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
struct Head {
    uint64_t checkpoint = 0; // seq of the checkpoint record; 0: none yet
    std::string hash;        // the hash it signs (of seq checkpoint-1)
    std::string sig, key, signer, public_key, segment;
};
// nullopt when there is no head.json; throws when it does not parse.
std::optional<Head> read_head(const std::string &dir);

// Refuses what callers may not append (writer-only kinds, bad outcome,
// another identity's record).
void check_appendable(const Record &r, const std::string &identity);

} // namespace mxc::audit::detail
