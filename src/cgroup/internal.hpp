// Helpers shared by the cgroup manager's source files (not a public header).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mxc::cgroup::detail {

// Controllers a v1 hierarchy can carry; named hierarchies (name=systemd) are not managed.
bool is_v1_controller(std::string_view name);
std::string trim(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep);
// Contents of a cgroup file, trimmed; nullopt when it does not exist.
std::optional<std::string> read_optional(const std::string &file);
// Whole file, throwing an Error naming the file.
std::string read_trimmed(const std::string &file);
// One write of value to an existing file (O_TRUNC, no O_CREAT: a missing cgroup file
// means the controller or feature is missing, which must be reported, not papered over).
void write_value(const std::string &file, std::string_view value);
bool contains(const std::vector<std::string> &v, std::string_view s);
// Own cgroup per hierarchy from /proc/self/cgroup: key is the controller list
// ("cpu,cpuacct", "memory", "" for v2).
std::vector<std::pair<std::string, std::string>> parse_proc_cgroup(const std::string &text);
// u64 value, "max" -> nullopt.
std::optional<uint64_t> parse_u64(std::string_view s);

} // namespace mxc::cgroup::detail
