// Stream directories, segment files, head.json.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <variant>

#include <fmt/format.h>

#include "mxc/audit/stream.hpp"
#include "mxc/util/crypto.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "stream_internal.hpp"

namespace mxc::audit {

namespace detail {

std::string segment_name(uint32_t n) { return fmt::format("seg-{:06}.jsonl", n); }

uint32_t segment_number(std::string_view path) {
    auto slash = path.rfind('/');
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    constexpr std::string_view pre = "seg-", suf = ".jsonl";
    if (name.size() <= pre.size() + suf.size() || name.substr(0, pre.size()) != pre ||
        name.substr(name.size() - suf.size()) != suf)
        return 0;
    std::string_view num = name.substr(pre.size(), name.size() - pre.size() - suf.size());
    uint64_t v = 0;
    for (char c : num) {
        if (c < '0' || c > '9' || v > 0xffffffffull / 10)
            return 0;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return static_cast<uint32_t>(v);
}

std::optional<std::string> read_last_line(const std::string &path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        throw_errno("open {}", path);
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0)
        throw_errno("stat {}", path);
    off_t size = st.st_size;
    if (size == 0)
        return std::nullopt;
    // Read backwards in growing chunks until the line before the last '\n'
    // is whole.
    std::string tail;
    off_t pos = size;
    size_t chunk = 4096;
    for (;;) {
        size_t n = static_cast<size_t>(std::min<off_t>(pos, static_cast<off_t>(chunk)));
        pos -= static_cast<off_t>(n);
        std::string buf(n, '\0');
        size_t got = 0;
        while (got < n) {
            ssize_t r = ::pread(fd.get(), buf.data() + got, n - got, pos + static_cast<off_t>(got));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                throw_errno("read {}", path);
            got += static_cast<size_t>(r);
        }
        tail.insert(0, buf);
        if (tail.back() != '\n')
            throw Error(fmt::format("{}: the last line is incomplete (a torn write)", path));
        size_t start = tail.rfind('\n', tail.size() - 2);
        if (start != std::string::npos)
            return tail.substr(start + 1, tail.size() - start - 2);
        if (pos == 0)
            return tail.substr(0, tail.size() - 1);
        chunk *= 2;
    }
}

namespace {

Head head_from(const nlohmann::json &j, const std::string &path) {
    if (!j.is_object() || !j.contains("checkpoint") || !j["checkpoint"].is_number_unsigned())
        throw Error(fmt::format("{}: not a head record", path));
    Head h;
    h.checkpoint = j["checkpoint"].get<uint64_t>();
    auto str = [&](const char *k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : std::string(); };
    h.hash = str("hash");
    h.sig = str("sig");
    h.key = str("key");
    h.signer = str("signer");
    h.public_key = str("public_key");
    h.segment = str("segment");
    return h;
}

// The slot's object when its sum matches; why not otherwise.
std::variant<nlohmann::json, std::string> parse_slot(std::string_view text) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return std::string("does not parse");
    if (!j.contains("sum") || !j["sum"].is_string())
        return std::string("has no sum");
    std::string sum = j["sum"].get<std::string>();
    j.erase("sum");
    if (crypto::sha256_hex(j.dump()) != sum)
        return std::string("does not match its sum");
    return j;
}

} // namespace

std::string head_slot(nlohmann::json head) {
    head.erase("sum");
    head["sum"] = crypto::sha256_hex(head.dump());
    std::string text = head.dump();
    if (text.size() >= kHeadSlot)
        throw Error(fmt::format("head record of {} bytes does not fit a {}-byte slot", text.size(), kHeadSlot));
    text.resize(kHeadSlot - 1, ' ');
    text += '\n';
    return text;
}

std::optional<Head> read_head(const std::string &dir) {
    std::string path = dir + "/" + kHeadFile;
    if (!path_exists(path))
        return std::nullopt;
    std::string text = read_file(path);
    if (text.size() != 2 * kHeadSlot) {
        // The one-object form.
        auto j = nlohmann::json::parse(text, nullptr, false);
        if (j.is_discarded())
            throw Error(fmt::format("{}: not a head record", path));
        return head_from(j, path);
    }
    std::optional<Head> best;
    std::vector<std::string> notes;
    for (int slot = 0; slot < 2; ++slot) {
        auto parsed = parse_slot(std::string_view(text).substr(slot * kHeadSlot, kHeadSlot));
        if (auto *why = std::get_if<std::string>(&parsed)) {
            notes.push_back(fmt::format("{} slot {} {} (a write cut short by a crash leaves this; "
                                        "the other slot is used)", kHeadFile, slot, *why));
            continue;
        }
        Head h = head_from(std::get<nlohmann::json>(parsed), path);
        h.slot = slot;
        if (!best || h.checkpoint > best->checkpoint)
            best = std::move(h);
    }
    if (!best)
        throw Error(fmt::format("{}: not a head record (neither slot checks out)", path));
    best->notes = std::move(notes);
    return best;
}

void check_appendable(const Record &r, const std::string &identity) {
    if (!valid_kind(r.kind))
        throw Error(fmt::format("audit record: unknown kind \"{}\"", r.kind));
    if (r.kind == "header" || r.kind == "checkpoint")
        throw Error(fmt::format("audit record: kind \"{}\" is written by the stream itself", r.kind));
    if (!valid_outcome(r.outcome))
        throw Error(fmt::format("audit record: unknown outcome \"{}\"", r.outcome));
    if (!r.identity.empty() && r.identity != identity)
        throw Error(fmt::format("audit record: identity \"{}\" does not belong in the stream of \"{}\"", r.identity,
                                identity));
}

} // namespace detail

namespace {
std::vector<std::string> dir_entries(const std::string &dir) {
    std::vector<std::string> out;
    DIR *d = ::opendir(dir.c_str());
    if (!d) {
        if (errno == ENOENT)
            return out;
        throw_errno("open {}", dir);
    }
    while (struct dirent *de = ::readdir(d)) {
        std::string n = de->d_name;
        if (n != "." && n != "..")
            out.push_back(std::move(n));
    }
    ::closedir(d);
    return out;
}
} // namespace

std::vector<std::string> list_segments(const std::string &dir) {
    std::vector<std::pair<uint32_t, std::string>> segs;
    for (auto &n : dir_entries(dir))
        if (uint32_t k = detail::segment_number(n))
            segs.emplace_back(k, dir + "/" + n);
    std::sort(segs.begin(), segs.end());
    std::vector<std::string> out;
    for (auto &s : segs)
        out.push_back(std::move(s.second));
    return out;
}

std::vector<std::string> list_streams(const std::string &base_dir) {
    std::vector<std::string> out;
    for (auto &n : dir_entries(base_dir)) {
        struct stat st {};
        std::string p = base_dir + "/" + n;
        if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
            (path_exists(p + "/" + detail::kHeadFile) || !list_segments(p).empty()))
            out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace mxc::audit
