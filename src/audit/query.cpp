// Reading streams: filters, queries across identities, statistics.
#include <algorithm>

#include <fmt/format.h>

#include "mxc/audit/stream.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "stream_internal.hpp"

namespace mxc::audit {

using nlohmann::json;

namespace {

bool meta(const Record &r) { return r.kind == "header" || r.kind == "checkpoint"; }

bool under(std::string_view path, std::string_view prefix) {
    if (prefix.empty())
        return true;
    if (path.substr(0, prefix.size()) != prefix)
        return false;
    return path.size() == prefix.size() || prefix.back() == '/' || path[prefix.size()] == '/';
}

// Records of one stream, in file order; stops when fn returns false.
bool each_in_stream(const std::string &dir, const std::function<bool(const Record &)> &fn) {
    for (auto &seg : list_segments(dir)) {
        std::string data = read_file(seg);
        std::string_view rest(data);
        while (!rest.empty()) {
            size_t nl = rest.find('\n');
            if (nl == std::string_view::npos)
                break; // a line still being written
            std::string_view line = rest.substr(0, nl);
            rest.remove_prefix(nl + 1);
            Record r;
            try {
                r = parse_line(line);
            } catch (const Error &) {
                continue; // verify reports it; a query shows what it can read
            }
            if (!fn(r))
                return false;
        }
    }
    return true;
}

} // namespace

bool matches(const Record &r, const Filter &f) {
    if (f.identity && r.identity != *f.identity)
        return false;
    if (f.sandbox && r.sandbox != *f.sandbox)
        return false;
    if (f.kinds.empty()) {
        if (meta(r) && !f.include_meta)
            return false;
    } else if (std::find(f.kinds.begin(), f.kinds.end(), r.kind) == f.kinds.end()) {
        return false;
    }
    if (f.since_ns || f.until_ns) {
        int64_t t = 0;
        try {
            t = parse_time(r.time);
        } catch (const Error &) {
            return false;
        }
        if ((f.since_ns && t < *f.since_ns) || (f.until_ns && t > *f.until_ns))
            return false;
    }
    if (f.path_prefix && (r.path.empty() || !under(r.path, *f.path_prefix)))
        return false;
    if (f.denied_only && r.outcome != "denied")
        return false;
    return true;
}

void for_each_record(const std::string &base_dir, const Filter &f, const std::function<bool(const Record &)> &fn) {
    std::vector<std::string> ids;
    if (f.identity) {
        if (identity::valid_name(*f.identity) && path_exists(base_dir + "/" + *f.identity))
            ids.push_back(*f.identity);
    } else {
        ids = list_streams(base_dir);
    }
    for (auto &id : ids) {
        bool go = each_in_stream(base_dir + "/" + id, [&](const Record &r) { return !matches(r, f) || fn(r); });
        if (!go)
            return;
    }
}

std::vector<Record> query(const std::string &base_dir, const Filter &f) {
    std::vector<std::pair<int64_t, Record>> found;
    for_each_record(base_dir, f, [&](const Record &r) {
        int64_t t = 0;
        try {
            t = parse_time(r.time);
        } catch (const Error &) {
        }
        found.emplace_back(t, r);
        return true;
    });
    std::stable_sort(found.begin(), found.end(), [](const auto &a, const auto &b) {
        if (a.first != b.first)
            return a.first < b.first;
        if (a.second.identity != b.second.identity)
            return a.second.identity < b.second.identity;
        return a.second.seq < b.second.seq;
    });
    std::vector<Record> out;
    out.reserve(found.size());
    for (auto &p : found)
        out.push_back(std::move(p.second));
    return out;
}

std::vector<Record> tail(const std::string &base_dir, const Filter &f, size_t n) {
    auto all = query(base_dir, f);
    if (all.size() > n)
        all.erase(all.begin(), all.end() - static_cast<std::ptrdiff_t>(n));
    return all;
}

Stats stats(const std::string &base_dir, const Filter &f) {
    Stats s;
    std::vector<std::string> ids = f.identity ? std::vector<std::string>{*f.identity} : list_streams(base_dir);
    Filter all = f;
    all.include_meta = true;
    all.kinds.clear();
    for (auto &id : ids) {
        IdentityStats is;
        is.identity = id;
        is.segments = list_segments(base_dir + "/" + id).size();
        for_each_record(base_dir, [&] {
            Filter g = all;
            g.identity = id;
            return g;
        }(), [&](const Record &r) {
            if (r.kind == "header") {
                auto str = [&](const char *k) {
                    return r.extra.is_object() && r.extra.contains(k) && r.extra[k].is_string()
                               ? r.extra[k].get<std::string>()
                               : std::string();
                };
                is.backend = str("backend");
                is.host = str("host");
                is.version = str("version");
                return true;
            }
            if (meta(r) || (!f.kinds.empty() && std::find(f.kinds.begin(), f.kinds.end(), r.kind) == f.kinds.end()))
                return true;
            ++is.records;
            ++is.by_kind[r.kind];
            if (r.outcome == "denied")
                ++is.denied;
            if (r.kind == "loss") {
                uint64_t n = r.lost.value_or(0);
                is.lost += n;
                is.lost_by_probe[r.probe.empty() ? "unknown" : r.probe] += n;
            }
            if (is.first_time.empty())
                is.first_time = r.time;
            is.last_time = r.time;
            return true;
        });
        for (auto &[k, n] : is.by_kind)
            s.by_kind[k] += n;
        s.records += is.records;
        s.lost += is.lost;
        s.identities.push_back(std::move(is));
    }
    return s;
}

json to_json(const Stats &s) {
    json ids = json::array();
    for (auto &i : s.identities)
        ids.push_back({{"identity", i.identity},
                       {"records", i.records},
                       {"by_kind", i.by_kind},
                       {"lost", i.lost},
                       {"lost_by_probe", i.lost_by_probe},
                       {"denied", i.denied},
                       {"backend", i.backend},
                       {"host", i.host},
                       {"version", i.version},
                       {"first_time", i.first_time},
                       {"last_time", i.last_time},
                       {"segments", i.segments}});
    return {{"records", s.records}, {"by_kind", s.by_kind}, {"lost", s.lost}, {"identities", ids}};
}

} // namespace mxc::audit
