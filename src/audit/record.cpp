// Audit records: JSON mapping, canonical bytes, chain hash, RFC 3339 times.
#include "mxc/audit/record.hpp"

#include <time.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <cctype>
#include <climits>
#include <cstdint>
#include <memory>

#include <fmt/format.h>

#include "mxc/util/crypto.hpp"
#include "mxc/util/error.hpp"

namespace mxc::audit {

using nlohmann::json;

bool valid_kind(std::string_view kind) {
    return std::find(std::begin(kKinds), std::end(kKinds), kind) != std::end(kKinds);
}

bool valid_outcome(std::string_view o) { return o.empty() || o == "allowed" || o == "denied" || o == "failed"; }

// ---- JSON -------------------------------------------------------------------

namespace {

// Keys that map to Record members; anything else goes to extra.
constexpr std::string_view kKnown[] = {"seq",  "time",  "identity", "sandbox", "kind",   "op",      "pid",
                                       "ppid", "uid",   "comm",     "exe",     "args",   "path",    "flags",
                                       "mode", "family", "addr",    "port",    "proto",  "domain",  "result",
                                       "outcome", "exit", "lost",   "probe",   "prev",   "hash"};

bool known(std::string_view k) { return std::find(std::begin(kKnown), std::end(kKnown), k) != std::end(kKnown); }

void put(json &j, const char *k, const std::string &v) {
    if (!v.empty())
        j[k] = v;
}
template <typename T> void put(json &j, const char *k, const std::optional<T> &v) {
    if (v)
        j[k] = *v;
}

[[noreturn]] void bad(const std::string &key, const char *what) {
    throw Error(fmt::format(".{}: expected {}", key, what));
}

std::string get_str(const json &j, const char *k) {
    auto it = j.find(k);
    if (it == j.end() || it->is_null())
        return {};
    if (!it->is_string())
        bad(k, "a string");
    return it->get<std::string>();
}

template <typename T> std::optional<T> get_int(const json &j, const char *k) {
    auto it = j.find(k);
    if (it == j.end() || it->is_null())
        return std::nullopt;
    if (!it->is_number_integer())
        bad(k, "an integer");
    if constexpr (std::is_unsigned_v<T>) {
        if (it->is_number_unsigned())
            return static_cast<T>(it->get<uint64_t>());
        if (it->get<int64_t>() < 0)
            bad(k, "an unsigned integer");
    }
    return static_cast<T>(it->get<int64_t>());
}

} // namespace

json to_json(const Record &r) {
    json j = json::object();
    if (r.extra.is_object())
        for (auto &[k, v] : r.extra.items())
            if (!known(k))
                j[k] = v;
    j["seq"] = r.seq;
    put(j, "time", r.time);
    put(j, "identity", r.identity);
    put(j, "sandbox", r.sandbox);
    put(j, "kind", r.kind);
    put(j, "op", r.op);
    put(j, "pid", r.pid);
    put(j, "ppid", r.ppid);
    put(j, "uid", r.uid);
    put(j, "comm", r.comm);
    put(j, "exe", r.exe);
    if (!r.args.empty())
        j["args"] = r.args;
    put(j, "path", r.path);
    put(j, "flags", r.flags);
    put(j, "mode", r.mode);
    put(j, "family", r.family);
    put(j, "addr", r.addr);
    put(j, "port", r.port);
    put(j, "proto", r.proto);
    put(j, "domain", r.domain);
    put(j, "result", r.result);
    put(j, "outcome", r.outcome);
    put(j, "exit", r.exit_code);
    put(j, "lost", r.lost);
    put(j, "probe", r.probe);
    put(j, "prev", r.prev);
    put(j, "hash", r.hash);
    return j;
}

Record from_json(const json &j) {
    if (!j.is_object())
        throw Error("expected a JSON object");
    Record r;
    auto seq = get_int<uint64_t>(j, "seq");
    if (!seq)
        throw Error(".seq: missing");
    r.seq = *seq;
    r.time = get_str(j, "time");
    r.identity = get_str(j, "identity");
    r.sandbox = get_str(j, "sandbox");
    r.kind = get_str(j, "kind");
    r.op = get_str(j, "op");
    r.pid = get_int<int64_t>(j, "pid");
    r.ppid = get_int<int64_t>(j, "ppid");
    r.uid = get_int<uint32_t>(j, "uid");
    r.comm = get_str(j, "comm");
    r.exe = get_str(j, "exe");
    if (auto it = j.find("args"); it != j.end() && !it->is_null()) {
        if (!it->is_array())
            bad("args", "an array of strings");
        for (auto &a : *it) {
            if (!a.is_string())
                bad("args", "an array of strings");
            r.args.push_back(a.get<std::string>());
        }
    }
    r.path = get_str(j, "path");
    r.flags = get_int<uint64_t>(j, "flags");
    r.mode = get_int<uint32_t>(j, "mode");
    r.family = get_str(j, "family");
    r.addr = get_str(j, "addr");
    r.port = get_int<uint32_t>(j, "port");
    r.proto = get_str(j, "proto");
    r.domain = get_str(j, "domain");
    r.result = get_str(j, "result");
    r.outcome = get_str(j, "outcome");
    r.exit_code = get_int<int64_t>(j, "exit");
    r.lost = get_int<uint64_t>(j, "lost");
    r.probe = get_str(j, "probe");
    r.prev = get_str(j, "prev");
    r.hash = get_str(j, "hash");
    for (auto &[k, v] : j.items())
        if (!known(k)) {
            if (r.extra.is_null())
                r.extra = json::object();
            r.extra[k] = v;
        }
    return r;
}

namespace {
// Invalid UTF-8 (paths are bytes) becomes U+FFFD: the stored line must parse
// back to the same canonical bytes.
std::string dump(const json &j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
} // namespace

std::string canonical(const json &j) {
    if (!j.contains("hash"))
        return dump(j);
    json c = j;
    c.erase("hash");
    return dump(c);
}

// ---- direct serialisation -----------------------------------------------------
//
// The collector writes hundreds of thousands of records a second: building a
// JSON tree per record and dumping it twice dominated its time.  Records are
// written directly instead, byte for byte what dump(to_json(r)) gives (keys in
// std::string order, nlohmann's escapes); strings that are not valid UTF-8
// take nlohmann's path, which replaces the bad bytes.  test_audit_stream
// checks the equivalence.

namespace {

// Length of the valid UTF-8 sequence at s[i], 0 when it is not one.
size_t utf8_len(std::string_view s, size_t i) {
    auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char c = b(i);
    auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF)
        return cont(i + 1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(i + 1) || !cont(i + 2))
            return 0;
        if (c == 0xE0 && b(i + 1) < 0xA0)
            return 0; // overlong
        if (c == 0xED && b(i + 1) >= 0xA0)
            return 0; // surrogate
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3))
            return 0;
        if (c == 0xF0 && b(i + 1) < 0x90)
            return 0;
        if (c == 0xF4 && b(i + 1) >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

// Bytes that go into a JSON string as they are.
constexpr std::array<bool, 256> kPlain = [] {
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 0x80; ++c)
        t[static_cast<size_t>(c)] = c != '"' && c != '\\';
    return t;
}();

// True when none of the 8 bytes at p needs escaping (no control byte, '"',
// '\\' or byte >= 0x80).  May say false for a plain run (then the bytes are
// looked at one by one), never true for one that is not.
bool plain8(const unsigned char *p) {
    constexpr uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t x;
    std::memcpy(&x, p, 8);
    uint64_t ctrl = (x - ones * 0x20) & ~x & high;
    uint64_t q = x ^ (ones * '"'), quote = (q - ones) & ~q & high;
    uint64_t bs = x ^ (ones * '\\'), back = (bs - ones) & ~bs & high;
    return ((x & high) | ctrl | quote | back) == 0;
}

void put_string(std::string &out, std::string_view s) {
    size_t start = out.size();
    out.reserve(start + s.size() + 2);
    out += '"';
    const auto *b = reinterpret_cast<const unsigned char *>(s.data());
    for (size_t i = 0; i < s.size();) {
        // Runs of bytes that need nothing go in at once; 8 at a time first.
        size_t j = i;
        while (j + 8 <= s.size() && plain8(b + j))
            j += 8;
        while (j < s.size() && kPlain[b[j]])
            ++j;
        out.append(s.data() + i, j - i);
        i = j;
        if (i == s.size())
            break;
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x80) {
            size_t n = utf8_len(s, i);
            if (n == 0) {
                // Not UTF-8: nlohmann's replacement rules, not ours.
                out.resize(start);
                out += dump(json(std::string(s)));
                return;
            }
            out.append(s.data() + i, n);
            i += n;
            continue;
        }
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default: {
            static constexpr char hexd[] = "0123456789abcdef";
            char u[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
            out.append(u, 6);
        }
        }
        ++i;
    }
    out += '"';
}

// One member: its key and where its value's text sits in the buffer.
struct Member {
    std::string_view key;
    size_t at, len;
    bool plain_key; // a known key: written as it is, no escaping to check
};

bool key_less(const Member &a, const Member &b) { return a.key < b.key; }

// Collects a record's members, then writes them as one JSON object in key
// order.  One per thread, reused: a record costs no allocation once the
// buffers have grown.
class Writer {
public:
    void reset() {
        buf_.clear();
        members_.clear();
        sorted_ = true;
    }
    void str(std::string_view k, const std::string &v) {
        if (v.empty())
            return;
        size_t at = buf_.size();
        put_string(buf_, v);
        add({k, at, buf_.size() - at, true});
    }
    template <typename T> void num(std::string_view k, const std::optional<T> &v) {
        if (v)
            num(k, *v);
    }
    template <typename T> void num(std::string_view k, T v) {
        char text[24];
        auto res = std::to_chars(text, text + sizeof text, v);
        size_t at = buf_.size();
        buf_.append(text, res.ptr);
        add({k, at, buf_.size() - at, true});
    }
    void strings(std::string_view k, const std::vector<std::string> &v) {
        if (v.empty())
            return;
        size_t at = buf_.size();
        buf_ += '[';
        for (size_t i = 0; i < v.size(); ++i) {
            if (i)
                buf_ += ',';
            put_string(buf_, v[i]);
        }
        buf_ += ']';
        add({k, at, buf_.size() - at, true});
    }
    // A member of extra: any key, any JSON value.
    void raw(std::string_view k, const std::string &text) {
        size_t at = buf_.size();
        buf_ += text;
        add({k, at, buf_.size() - at, false});
    }
    void unordered() { sorted_ = false; }
    void sort() {
        if (!sorted_)
            std::sort(members_.begin(), members_.end(), key_less);
        sorted_ = true;
    }
    // Where a member with key k goes in the sorted list.
    size_t position(std::string_view k) const {
        return static_cast<size_t>(std::lower_bound(members_.begin(), members_.end(), Member{k, 0, 0, true}, key_less) -
                                   members_.begin());
    }
    size_t size() const { return members_.size(); }
    // Appends the sorted members as an object; *split (when given) receives
    // the offset in out right after member split_at - 1 (after '{' for 0).
    void join_into(std::string &out, size_t split_at = 0, size_t *split = nullptr) const {
        size_t start = out.size(), total = 2;
        bool all_plain = true;
        for (const Member &m : members_) {
            total += m.key.size() + 4 + m.len; // "key":value,
            all_plain = all_plain && m.plain_key;
        }
        if (!all_plain) {
            join_escaped(out, split_at, split);
            return;
        }
        // Known keys need no escaping: one resize, then plain copies.
        out.resize(start + total - (members_.empty() ? 0 : 1));
        char *o = out.data() + start;
        *o++ = '{';
        if (split && split_at == 0)
            *split = static_cast<size_t>(o - out.data());
        for (size_t i = 0; i < members_.size(); ++i) {
            const Member &m = members_[i];
            if (i)
                *o++ = ',';
            *o++ = '"';
            std::memcpy(o, m.key.data(), m.key.size());
            o += m.key.size();
            *o++ = '"';
            *o++ = ':';
            std::memcpy(o, buf_.data() + m.at, m.len);
            o += m.len;
            if (split && i + 1 == split_at)
                *split = static_cast<size_t>(o - out.data());
        }
        *o++ = '}';
        out.resize(static_cast<size_t>(o - out.data()));
    }
    void join_escaped(std::string &out, size_t split_at, size_t *split) const {
        out += '{';
        if (split && split_at == 0)
            *split = out.size();
        for (size_t i = 0; i < members_.size(); ++i) {
            if (i)
                out += ',';
            const Member &m = members_[i];
            put_string(out, m.key);
            out += ':';
            out.append(buf_, m.at, m.len);
            if (split && i + 1 == split_at)
                *split = out.size();
        }
        out += '}';
    }

private:
    // Known members come in key order (fill); extra members mark the list
    // for sorting, and so does unordered() before a known member added late.
    void add(const Member &m) {
        if (!m.plain_key)
            sorted_ = false;
        members_.push_back(m);
    }
    std::string buf_;
    std::vector<Member> members_;
    bool sorted_ = true;
};

Writer &writer_for_thread() {
    thread_local Writer w;
    w.reset();
    return w;
}

void fill(Writer &w, const Record &r);

std::string serialize(const Record &r, bool with_hash) {
    Writer &w = writer_for_thread();
    fill(w, r);
    if (with_hash) {
        w.unordered();
        w.str("hash", r.hash);
    }
    w.sort();
    std::string out;
    w.join_into(out);
    return out;
}

// Known members in key order (std::string order), so that a record without
// extra members needs no sort.
void fill(Writer &w, const Record &r) {
    w.str("addr", r.addr);
    w.strings("args", r.args);
    w.str("comm", r.comm);
    w.str("domain", r.domain);
    w.str("exe", r.exe);
    w.num("exit", r.exit_code);
    w.str("family", r.family);
    w.num("flags", r.flags);
    w.str("identity", r.identity);
    w.str("kind", r.kind);
    w.num("lost", r.lost);
    w.num("mode", r.mode);
    w.str("op", r.op);
    w.str("outcome", r.outcome);
    w.str("path", r.path);
    w.num("pid", r.pid);
    w.num("port", r.port);
    w.num("ppid", r.ppid);
    w.str("prev", r.prev);
    w.str("probe", r.probe);
    w.str("proto", r.proto);
    w.str("result", r.result);
    w.str("sandbox", r.sandbox);
    w.num("seq", r.seq);
    w.str("time", r.time);
    w.num("uid", r.uid);
    if (r.extra.is_object())
        for (const auto &[k, v] : r.extra.items())
            if (!known(k))
                w.raw(k, dump(v));
}

} // namespace

std::string canonical(const Record &r) { return serialize(r, false); }

std::string to_line(const Record &r) { return serialize(r, true) + '\n'; }

std::string seal_line(Record &r, const std::function<std::string(std::string_view)> &hash_of) {
    Writer &w = writer_for_thread();
    fill(w, r);
    w.sort();
    std::string canon;
    w.join_into(canon);
    r.hash = hash_of(canon);
    w.unordered();
    w.str("hash", r.hash);
    w.sort();
    std::string line;
    w.join_into(line);
    return line + '\n';
}

void append_sealed_line(Record &r, std::string &out) {
    Writer &w = writer_for_thread();
    fill(w, r);
    w.sort();
    // The canonical form goes into out; the hash member is then inserted
    // where it sorts, which is the line.
    size_t at = w.position("hash"), split = 0;
    size_t start = out.size();
    w.join_into(out, at, &split);
    r.hash = chain_hash(r.prev, std::string_view(out).substr(start));
    std::string member;
    member.reserve(r.hash.size() + 12);
    if (at > 0)
        member += ',';
    member += "\"hash\":";
    put_string(member, r.hash);
    if (at == 0 && w.size() > 0)
        member += ',';
    out.insert(split, member);
    out += '\n';
}

Record parse_line(std::string_view line) {
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
        line.remove_suffix(1);
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded())
        throw Error("not a JSON object");
    return from_json(j);
}

// ---- hashing ----------------------------------------------------------------

namespace {

std::string hex(const unsigned char *p, size_t n) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s(n * 2, '0');
    char *o = s.data();
    for (size_t i = 0; i < n; ++i) {
        o[2 * i] = digits[p[i] >> 4];
        o[2 * i + 1] = digits[p[i] & 15];
    }
    return s;
}

// Lower-case hex digits to their value, -1 for anything else (upper case is
// not canonical: a hash is written lower case).
constexpr std::array<signed char, 256> kNibble = [] {
    std::array<signed char, 256> t{};
    for (auto &v : t)
        v = -1;
    for (int c = '0'; c <= '9'; ++c)
        t[static_cast<size_t>(c)] = static_cast<signed char>(c - '0');
    for (int c = 'a'; c <= 'f'; ++c)
        t[static_cast<size_t>(c)] = static_cast<signed char>(c - 'a' + 10);
    return t;
}();

int nibble(char c) { return kNibble[static_cast<unsigned char>(c)]; }

std::string sha256(std::initializer_list<std::string_view> parts) {
    crypto::Sha256Stream h;
    for (auto p : parts)
        h.update(p);
    crypto::Sha256 md = h.finish();
    return hex(md.data(), md.size());
}

} // namespace

std::string chain_hash(std::string_view prev_hex, std::string_view canonical_bytes) {
    if (prev_hex.size() != 64)
        throw Error(fmt::format("prev hash has {} characters, expected 64", prev_hex.size()));
    std::array<char, 32> raw{};
    for (size_t i = 0; i < 32; ++i) {
        int hi = nibble(prev_hex[2 * i]), lo = nibble(prev_hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            throw Error("prev hash is not lower-case hex");
        raw[i] = static_cast<char>(hi << 4 | lo);
    }
    return sha256({std::string_view(raw.data(), raw.size()), canonical_bytes});
}

std::string sha256_hex(std::string_view bytes) { return sha256({bytes}); }

// ---- time -------------------------------------------------------------------

int64_t now_ns() {
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::string format_time(int64_t ns) {
    std::string out;
    format_time(ns, out);
    return out;
}

void format_time(int64_t ns, std::string &out) {
    int64_t sec = ns / 1'000'000'000, frac = ns % 1'000'000'000;
    if (frac < 0) {
        frac += 1'000'000'000;
        --sec;
    }
    // The collector formats many times within one second: the date and time
    // of day are made once per second and thread.
    thread_local int64_t cached_sec = INT64_MIN;
    thread_local char prefix[32];
    if (sec != cached_sec) {
        time_t t = static_cast<time_t>(sec);
        struct tm tm {};
        ::gmtime_r(&t, &tm);
        auto end = fmt::format_to_n(prefix, sizeof prefix - 1, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.", tm.tm_year + 1900,
                                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        *end.out = '\0';
        cached_sec = sec;
    }
    out.assign(prefix);
    char digits[10];
    for (int i = 8; i >= 0; --i, frac /= 10)
        digits[i] = static_cast<char>('0' + frac % 10);
    digits[9] = 'Z';
    out.append(digits, 10);
}

int64_t parse_time(std::string_view text) {
    auto fail = [&]() -> int64_t {
        throw Error(fmt::format("invalid RFC 3339 time \"{}\"", text));
    };
    size_t i = 0;
    auto digits = [&](size_t n) -> int {
        if (i + n > text.size())
            fail();
        int v = 0;
        for (size_t k = 0; k < n; ++k, ++i) {
            if (!std::isdigit(static_cast<unsigned char>(text[i])))
                fail();
            v = v * 10 + (text[i] - '0');
        }
        return v;
    };
    auto expect = [&](std::string_view chars) {
        if (i >= text.size() || chars.find(text[i]) == std::string_view::npos)
            fail();
        ++i;
    };
    struct tm tm {};
    tm.tm_year = digits(4) - 1900;
    expect("-");
    tm.tm_mon = digits(2) - 1;
    expect("-");
    tm.tm_mday = digits(2);
    int64_t frac = 0, offset = 0;
    if (i < text.size()) {
        expect("Tt ");
        tm.tm_hour = digits(2);
        expect(":");
        tm.tm_min = digits(2);
        expect(":");
        tm.tm_sec = digits(2);
        if (i < text.size() && text[i] == '.') {
            ++i;
            int64_t scale = 100'000'000;
            size_t start = i;
            while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
                frac += (text[i] - '0') * scale;
                scale /= 10;
                ++i;
            }
            if (i == start)
                fail();
        }
        if (i >= text.size())
            fail();
        if (text[i] == 'Z' || text[i] == 'z') {
            ++i;
        } else {
            int sign = text[i] == '-' ? -1 : 1;
            expect("+-");
            int h = digits(2);
            expect(":");
            int m = digits(2);
            offset = sign * (h * 3600 + m * 60);
        }
        if (i != text.size())
            fail();
    }
    if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60)
        fail();
    time_t t = ::timegm(&tm);
    return (static_cast<int64_t>(t) - offset) * 1'000'000'000 + frac;
}

} // namespace mxc::audit
