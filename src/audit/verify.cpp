// verify_stream: recompute the chain over every segment and check the signed
// checkpoints and head.json.  The first fault found is reported with the seq
// where the stream stops being trustworthy.
#include <fmt/format.h>

#include "mxc/audit/stream.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "stream_internal.hpp"

namespace mxc::audit {

using nlohmann::json;

namespace {

struct Verifier {
    std::string dir, identity, trusted_pem, trusted_fp;
    std::optional<detail::Head> head;
    VerifyResult v;
    uint64_t expected = 1;
    std::string hash = std::string(kZeroHash);
    uint64_t last_checkpoint = 0;
    bool head_matched = false;

    VerifyResult fail(uint64_t seq, std::string reason) {
        v.ok = false;
        v.first_bad_seq = seq;
        v.reason = std::move(reason);
        v.last_hash = hash;
        return v;
    }

    // A seq that is not the next one: name the likely tamper.
    std::string seq_fault(uint64_t seq, std::string_view rest_of_segment) const {
        if (seq > expected) {
            bool later = rest_of_segment.find(fmt::format("\"seq\":{},", expected)) != std::string_view::npos;
            if (later)
                return fmt::format("expected seq {}, found seq {}: records reordered", expected, seq);
            if (seq == expected + 1)
                return fmt::format("expected seq {}, found seq {}: record {} deleted", expected, seq, expected);
            return fmt::format("expected seq {}, found seq {}: records {}..{} deleted", expected, seq, expected,
                               seq - 1);
        }
        return fmt::format("expected seq {}, found seq {} again: record inserted or reordered", expected, seq);
    }

    // Returns a failure reason, or empty when the checkpoint is good.
    std::string check_checkpoint(const Record &r) {
        const json &x = r.extra;
        auto str = [&](const char *k) {
            return x.is_object() && x.contains(k) && x[k].is_string() ? x[k].get<std::string>() : std::string();
        };
        if (!x.is_object() || !x.contains("count") || !x["count"].is_number_unsigned())
            return "checkpoint has no count";
        uint64_t count = x["count"].get<uint64_t>();
        if (count != r.seq - 1)
            return fmt::format("checkpoint count {} but {} records precede it", count, r.seq - 1);
        std::string sig64 = str("sig"), key = str("key"), pem = str("public_key");
        if (sig64.empty() || key.empty() || pem.empty())
            return "checkpoint is not signed";
        try {
            if (key_fingerprint(pem) != key)
                return "checkpoint key fingerprint does not match its public key";
        } catch (const Error &e) {
            return fmt::format("checkpoint public key: {}", e.what());
        }
        if (!trusted_fp.empty() && key != trusted_fp)
            return fmt::format("checkpoint signed by key {} ({}), not by the trusted key {}", key.substr(0, 16),
                               str("signer"), trusted_fp.substr(0, 16));
        std::string sig;
        try {
            sig = base64_decode(sig64);
        } catch (const Error &) {
            return "checkpoint signature is not base64";
        }
        if (!identity::verify(trusted_pem.empty() ? pem : trusted_pem, r.prev, sig))
            return "checkpoint signature does not verify";
        if (head && head->checkpoint == r.seq)
            head_matched = head->hash == r.prev && head->sig == sig64;
        return {};
    }

    std::optional<VerifyResult> segment(const std::string &path) {
        std::string name = path.substr(path.rfind('/') + 1);
        std::string data = read_file(path);
        std::string_view rest(data);
        size_t lineno = 0;
        while (!rest.empty()) {
            ++lineno;
            size_t nl = rest.find('\n');
            if (nl == std::string_view::npos)
                return fail(expected, fmt::format("{}:{}: last line incomplete (truncated)", name, lineno));
            std::string_view line = rest.substr(0, nl);
            rest.remove_prefix(nl + 1);
            std::string where = fmt::format("{}:{}", name, lineno);
            json j = json::parse(line, nullptr, false);
            if (j.is_discarded() || !j.is_object())
                return fail(expected, fmt::format("{}: not a JSON object", where));
            Record r;
            try {
                r = from_json(j);
            } catch (const Error &e) {
                return fail(expected, fmt::format("{}: {}", where, e.what()));
            }
            if (r.seq != expected)
                return fail(r.seq + 1 == expected ? r.seq : expected,
                            fmt::format("{}: {}", where, seq_fault(r.seq, rest)));
            if (r.prev != hash)
                return fail(r.seq, fmt::format("{}: seq {}: prev does not match the hash of seq {}: record inserted, "
                                               "replaced or reordered",
                                               where, r.seq, r.seq - 1));
            std::string h = chain_hash(hash, canonical(j));
            if (r.hash != h)
                return fail(r.seq, fmt::format("{}: seq {}: hash mismatch: record edited", where, r.seq));
            if (r.seq == 1 && r.kind != "header")
                return fail(1, fmt::format("{}: seq 1 is not a header", where));
            if (!identity.empty() && r.identity != identity)
                return fail(r.seq, fmt::format("{}: seq {}: record of identity \"{}\" in the stream of \"{}\"", where,
                                               r.seq, r.identity, identity));
            if (r.kind == "checkpoint") {
                if (auto why = check_checkpoint(r); !why.empty())
                    return fail(r.seq, fmt::format("{}: seq {}: {}", where, r.seq, why));
                ++v.checkpoints;
                last_checkpoint = r.seq;
            }
            hash = h;
            ++expected;
            ++v.records;
        }
        return std::nullopt;
    }

    VerifyResult run() {
        try {
            head = detail::read_head(dir);
        } catch (const Error &e) {
            return fail(0, e.what());
        }
        auto segments = list_segments(dir);
        if (segments.empty())
            return fail(head && head->checkpoint ? 1 : 0, "no segments: the stream is missing");
        uint32_t prev_no = 0;
        for (auto &seg : segments) {
            uint32_t no = detail::segment_number(seg);
            if (no != prev_no + 1)
                return fail(expected, fmt::format("segment {} missing: records from seq {} on are gone",
                                                  detail::segment_name(prev_no + 1), expected));
            prev_no = no;
            if (auto bad = segment(seg))
                return *bad;
        }
        uint64_t last = expected - 1;
        v.last_hash = hash;
        if (!head)
            return fail(0, fmt::format("{} missing: cannot tell whether signed records were cut off",
                                       detail::kHeadFile));
        if (head->checkpoint > 0) {
            bool good = false;
            try {
                std::string pem = trusted_pem.empty() ? head->public_key : trusted_pem;
                good = !pem.empty() && (trusted_fp.empty() || head->key == trusted_fp) &&
                       identity::verify(pem, head->hash, base64_decode(head->sig));
            } catch (const Error &) {
                good = false;
            }
            if (!good)
                return fail(head->checkpoint, fmt::format("{}: signature does not verify", detail::kHeadFile));
            if (head->checkpoint > last)
                return fail(last + 1, fmt::format("truncated: the stream ends at seq {} but checkpoint seq {} was "
                                                  "signed ({}); records {}..{} are gone",
                                                  last, head->checkpoint, head->segment, last + 1, head->checkpoint));
            if (!head_matched)
                return fail(head->checkpoint, fmt::format("{} does not match the checkpoint at seq {}",
                                                          detail::kHeadFile, head->checkpoint));
        }
        for (const auto &n : head->notes)
            v.notes.push_back(n);
        v.unsigned_tail = last - last_checkpoint;
        if (last_checkpoint == 0)
            v.notes.push_back(fmt::format("no checkpoint: all {} records are unsigned", last));
        else if (v.unsigned_tail > 0)
            v.notes.push_back(
                fmt::format("unsigned tail of {} records (seq {}..{})", v.unsigned_tail, last_checkpoint + 1, last));
        v.ok = true;
        return v;
    }
};

} // namespace

VerifyResult verify_stream(const std::string &dir, const std::string &trusted_public_key_pem) {
    Verifier vf;
    vf.dir = dir;
    while (vf.dir.size() > 1 && vf.dir.back() == '/')
        vf.dir.pop_back();
    vf.identity = vf.dir.substr(vf.dir.rfind('/') + 1);
    if (!identity::valid_name(vf.identity))
        vf.identity.clear();
    vf.trusted_pem = trusted_public_key_pem;
    if (!trusted_public_key_pem.empty())
        vf.trusted_fp = with_context("trusted key", [&] { return key_fingerprint(trusted_public_key_pem); });
    try {
        return vf.run();
    } catch (const Error &e) {
        return vf.fail(vf.expected, e.what());
    }
}

json to_json(const VerifyResult &v) {
    json j = {{"ok", v.ok},
              {"records", v.records},
              {"checkpoints", v.checkpoints},
              {"unsigned_tail", v.unsigned_tail},
              {"last_hash", v.last_hash},
              {"notes", v.notes}};
    if (!v.ok) {
        j["first_bad_seq"] = v.first_bad_seq;
        j["reason"] = v.reason;
    }
    return j;
}

} // namespace mxc::audit
