// Stream directories, segment files, head.json.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "mxc/audit/stream.hpp"
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

std::optional<Head> read_head(const std::string &dir) {
    std::string path = dir + "/" + kHeadFile;
    if (!path_exists(path))
        return std::nullopt;
    auto j = nlohmann::json::parse(read_file(path), nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("checkpoint") || !j["checkpoint"].is_number_unsigned())
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
