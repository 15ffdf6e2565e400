// Manager::stats(): runc's `events --stats` "data" object, read from whichever
// hierarchy carries each controller.  Missing files are left out rather than
// failing: the kernel config decides which statistics exist.
#include <dirent.h>
#include <unistd.h>

#include <limits>
#include <sstream>

#include "internal.hpp"
#include "mxc/cgroup/cgroup.hpp"
#include "mxc/util/error.hpp"

namespace mxc::cgroup {

namespace {

using nlohmann::json;

// "key value" lines (memory.stat, cpu.stat, cgroup.events, hugetlb events).
std::map<std::string, uint64_t> read_kv(const std::string &file) {
    std::map<std::string, uint64_t> out;
    auto text = detail::read_optional(file);
    if (!text)
        return out;
    for (const auto &l : detail::split(*text, '\n')) {
        auto f = detail::split(l, ' ');
        if (f.size() == 2)
            if (auto v = detail::parse_u64(f[1]))
                out[f[0]] = *v;
    }
    return out;
}

// A single number; "max" reads as the largest u64 as runc reports it.
std::optional<uint64_t> read_num(const std::string &file) {
    auto text = detail::read_optional(file);
    if (!text)
        return std::nullopt;
    if (*text == "max")
        return std::numeric_limits<uint64_t>::max();
    return detail::parse_u64(*text);
}

void set_num(json &j, const char *key, const std::string &file) {
    if (auto v = read_num(file))
        j[key] = *v;
}

std::vector<uint64_t> read_list(const std::string &file) {
    std::vector<uint64_t> out;
    if (auto text = detail::read_optional(file))
        for (const auto &f : detail::split(*text, ' '))
            if (auto v = detail::parse_u64(f))
                out.push_back(*v);
    return out;
}

// Page sizes from file names "hugetlb.<size>.<suffix>".
std::vector<std::string> hugepage_sizes(const std::string &dir, const std::string &suffix) {
    std::vector<std::string> out;
    DIR *d = ::opendir(dir.c_str());
    if (!d)
        return out;
    while (struct dirent *de = ::readdir(d)) {
        std::string n = de->d_name;
        if (n.rfind("hugetlb.", 0) != 0 || n.size() <= 8 + suffix.size() ||
            n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0)
            continue;
        std::string size = n.substr(8, n.size() - 8 - suffix.size());
        if (size.find('.') == std::string::npos)
            out.push_back(size);
    }
    ::closedir(d);
    return out;
}

// v1 "8:0 Read 4096" lines -> [{major, minor, op, value}].
json blkio_v1_entries(const std::string &file) {
    json arr = json::array();
    auto text = detail::read_optional(file);
    if (!text)
        return arr;
    for (const auto &l : detail::split(*text, '\n')) {
        auto f = detail::split(l, ' ');
        if (f.size() != 3)
            continue;
        auto mm = detail::split(f[0], ':');
        auto v = detail::parse_u64(f[2]);
        if (mm.size() != 2 || !v)
            continue;
        arr.push_back({{"major", detail::parse_u64(mm[0]).value_or(0)},
                       {"minor", detail::parse_u64(mm[1]).value_or(0)},
                       {"op", f[1]},
                       {"value", *v}});
    }
    return arr;
}

} // namespace

nlohmann::json Manager::stats() const {
    json data = json::object();
    const auto &v2c = layout_.v2_controllers;
    auto on_v2 = [&](const char *c) { return !v2_dir_.empty() && detail::contains(v2c, c); };
    auto v1 = [&](const char *c) -> std::string {
        auto it = v1_dirs_.find(c);
        return it == v1_dirs_.end() ? std::string() : it->second;
    };

    // cpu: cpu.stat exists on every v2 cgroup, even without the cpu controller.
    json cpu = json::object();
    if (!v2_dir_.empty() && v1("cpuacct").empty()) {
        auto st = read_kv(v2_dir_ + "/cpu.stat");
        cpu["usage"] = {{"total", st["usage_usec"] * 1000},
                        {"kernel", st["system_usec"] * 1000},
                        {"user", st["user_usec"] * 1000}};
        cpu["throttling"] = {{"periods", st["nr_periods"]},
                             {"throttled_periods", st["nr_throttled"]},
                             {"throttled_time", st["throttled_usec"] * 1000}};
    } else if (auto d = v1("cpuacct"); !d.empty()) {
        json usage = json::object();
        set_num(usage, "total", d + "/cpuacct.usage");
        usage["percpu"] = read_list(d + "/cpuacct.usage_percpu");
        usage["percpu_kernel"] = read_list(d + "/cpuacct.usage_percpu_sys");
        usage["percpu_user"] = read_list(d + "/cpuacct.usage_percpu_user");
        // cpuacct.stat is in USER_HZ ticks.
        auto st = read_kv(d + "/cpuacct.stat");
        uint64_t ns_per_tick = 1000000000ull / static_cast<uint64_t>(::sysconf(_SC_CLK_TCK));
        usage["kernel"] = st["system"] * ns_per_tick;
        usage["user"] = st["user"] * ns_per_tick;
        cpu["usage"] = usage;
    }
    if (auto d = v1("cpu"); !d.empty()) {
        auto st = read_kv(d + "/cpu.stat");
        cpu["throttling"] = {{"periods", st["nr_periods"]},
                             {"throttled_periods", st["nr_throttled"]},
                             {"throttled_time", st["throttled_time"]}};
    }
    if (!cpu.empty())
        data["cpu"] = cpu;

    // memory
    if (on_v2("memory")) {
        auto ev = read_kv(v2_dir_ + "/memory.events");
        json usage = json::object(), swap = json::object();
        set_num(usage, "usage", v2_dir_ + "/memory.current");
        set_num(usage, "limit", v2_dir_ + "/memory.max");
        set_num(usage, "max", v2_dir_ + "/memory.peak");
        usage["failcnt"] = ev["max"]; // v2 has no failcnt; "max" events count the same hits
        set_num(swap, "usage", v2_dir_ + "/memory.swap.current");
        set_num(swap, "limit", v2_dir_ + "/memory.swap.max");
        auto raw = read_kv(v2_dir_ + "/memory.stat");
        data["memory"] = {{"usage", usage}, {"swap_usage", swap}, {"cache", raw["file"]}, {"stats", raw}};
    } else if (auto d = v1("memory"); !d.empty()) {
        auto part = [&](const std::string &prefix) {
            json j = json::object();
            set_num(j, "usage", d + "/" + prefix + "usage_in_bytes");
            set_num(j, "limit", d + "/" + prefix + "limit_in_bytes");
            set_num(j, "max", d + "/" + prefix + "max_usage_in_bytes");
            set_num(j, "failcnt", d + "/" + prefix + "failcnt");
            return j;
        };
        auto raw = read_kv(d + "/memory.stat");
        data["memory"] = {{"usage", part("memory.")},
                          {"swap_usage", part("memory.memsw.")},
                          {"kernel_usage", part("memory.kmem.")},
                          {"cache", raw["cache"]},
                          {"stats", raw}};
    }

    // pids: runc reports an unlimited pids.max as 0.
    std::string pdir = on_v2("pids") ? v2_dir_ : v1("pids");
    if (!pdir.empty()) {
        json p = json::object();
        set_num(p, "current", pdir + "/pids.current");
        auto lim = read_num(pdir + "/pids.max");
        p["limit"] = lim && *lim != std::numeric_limits<uint64_t>::max() ? *lim : 0;
        data["pids"] = p;
    }

    // hugetlb
    json huge = json::object();
    if (on_v2("hugetlb")) {
        for (const auto &sz : hugepage_sizes(v2_dir_, ".max")) {
            std::string base = v2_dir_ + "/hugetlb." + sz;
            json h = json::object();
            set_num(h, "usage", base + ".current");
            h["failcnt"] = read_kv(base + ".events")["max"];
            huge[sz] = h;
        }
    } else if (auto d = v1("hugetlb"); !d.empty()) {
        for (const auto &sz : hugepage_sizes(d, ".limit_in_bytes")) {
            std::string base = d + "/hugetlb." + sz;
            json h = json::object();
            set_num(h, "usage", base + ".usage_in_bytes");
            set_num(h, "max", base + ".max_usage_in_bytes");
            set_num(h, "failcnt", base + ".failcnt");
            huge[sz] = h;
        }
    }
    if (!huge.empty())
        data["hugetlb"] = huge;

    // blkio
    if (on_v2("io")) {
        json bytes = json::array(), ios = json::array();
        if (auto text = detail::read_optional(v2_dir_ + "/io.stat")) {
            for (const auto &l : detail::split(*text, '\n')) {
                auto f = detail::split(l, ' ');
                if (f.empty())
                    continue;
                auto mm = detail::split(f[0], ':');
                if (mm.size() != 2)
                    continue;
                uint64_t maj = detail::parse_u64(mm[0]).value_or(0), min = detail::parse_u64(mm[1]).value_or(0);
                for (size_t i = 1; i < f.size(); ++i) {
                    auto kv = detail::split(f[i], '=');
                    if (kv.size() != 2)
                        continue;
                    uint64_t v = detail::parse_u64(kv[1]).value_or(0);
                    static const std::map<std::string, std::pair<bool, const char *>> keys = {
                        {"rbytes", {true, "Read"}}, {"wbytes", {true, "Write"}},
                        {"rios", {false, "Read"}},  {"wios", {false, "Write"}}};
                    auto it = keys.find(kv[0]);
                    if (it == keys.end())
                        continue;
                    json e = {{"major", maj}, {"minor", min}, {"op", it->second.second}, {"value", v}};
                    (it->second.first ? bytes : ios).push_back(e);
                }
            }
        }
        data["blkio"] = {{"ioServiceBytesRecursive", bytes}, {"ioServicedRecursive", ios}};
    } else if (auto d = v1("blkio"); !d.empty()) {
        data["blkio"] = {{"ioServiceBytesRecursive", blkio_v1_entries(d + "/blkio.throttle.io_service_bytes_recursive")},
                         {"ioServicedRecursive", blkio_v1_entries(d + "/blkio.throttle.io_serviced_recursive")}};
    }
    return data;
}

} // namespace mxc::cgroup
