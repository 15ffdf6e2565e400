// mxc audit tail | query | verify | stats | export — reading the per-identity
// streams (format in mxc-audit(5)).
#include <chrono>
#include <cstdio>
#include <iostream>

#include "cli.hpp"
#include "mxc/ipc/ipc.hpp"
#include "mxc/seccomp/seccomp.hpp"
#include "mxc/audit/stream.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

namespace mxc::cli {

namespace {

struct FilterArgs {
    std::string base;
    std::string identity, sandbox, since, until, path_prefix;
    std::vector<std::string> kinds;
    bool denied = false;
    bool json = false;
};

void add_filter_flags(CLI::App *c, FilterArgs &a, bool time_range) {
    c->add_option("--dir", a.base, "Audit base directory (default: /var/lib/mxc/audit as root, ~/.local/share/mxc/audit)");
    c->add_option("--identity", a.identity, "Only this identity's stream");
    c->add_option("--sandbox", a.sandbox, "Only records of this sandbox");
    c->add_option("--kind", a.kinds, "Only this kind: exec|file|net|process|proxy|loss|policy (repeatable)")
        ->allow_extra_args(false);
    if (time_range) {
        c->add_option("--since", a.since, "From this time (RFC 3339)");
        c->add_option("--until", a.until, "Up to this time (RFC 3339)");
        c->add_option("--path-prefix", a.path_prefix, "Only file records at or below this path");
        c->add_flag("--denied", a.denied, "Only denied actions");
    }
}

audit::Filter to_filter(const FilterArgs &a) {
    audit::Filter f;
    if (!a.identity.empty())
        f.identity = a.identity;
    if (!a.sandbox.empty())
        f.sandbox = a.sandbox;
    f.kinds = a.kinds;
    for (const auto &k : a.kinds)
        if (!audit::valid_kind(k))
            throw_error("--kind: unknown kind \"{}\"", k);
    if (!a.since.empty())
        f.since_ns = with_context("--since", [&] { return audit::parse_time(a.since); });
    if (!a.until.empty())
        f.until_ns = with_context("--until", [&] { return audit::parse_time(a.until); });
    if (!a.path_prefix.empty())
        f.path_prefix = a.path_prefix;
    f.denied_only = a.denied;
    return f;
}

std::string base_of(const FilterArgs &a) { return a.base.empty() ? audit::default_base_dir() : a.base; }

void print_record(const audit::Record &r, bool json) {
    if (json) {
        std::string line = audit::to_line(r);
        if (line.empty() || line.back() != '\n')
            line += '\n';
        std::fputs(line.c_str(), stdout);
    }
    else
        std::printf("%s\n", audit::format_human(r).c_str());
}

} // namespace

void add_audit_commands(CLI::App &app, Context &ctx) {
    if (!ctx.wants("audit"))
        return;
    auto *audit_cmd = app.add_subcommand("audit", "Read, verify and export the per-identity audit streams");
    audit_cmd->require_subcommand(1);
    {
        auto a = std::make_shared<FilterArgs>();
        auto follow = std::make_shared<bool>(false);
        auto n = std::make_shared<size_t>(20);
        auto *c = audit_cmd->add_subcommand("tail", "Print the last records; -f follows new ones");
        add_filter_flags(c, *a, false);
        c->add_flag("-f,--follow", *follow, "Keep printing records as they are written");
        c->add_option("-n,--lines", *n, "How many of the last records (default 20)");
        c->add_flag("--json", a->json, "JSON lines instead of one human line per event");
        auto live = std::make_shared<bool>(false);
        c->add_flag("--live", *live,
                    "Follow mxcd's live feed instead of the files (as written; a user sees the identities they "
                    "registered); implies -f");
        c->callback([&ctx, a, follow, n, live] {
            run_command(ctx, [&] {
                auto f = to_filter(*a);
                if (*live) {
                    auto client = ipc::Client::connect();
                    if (!client)
                        throw_error("--live: mxcd is not running (nothing answers on {})", ipc::default_socket());
                    nlohmann::json req = {{"op", "subscribe"}};
                    if (f.identity)
                        req["identity"] = *f.identity;
                    if (f.sandbox)
                        req["sandbox"] = *f.sandbox;
                    if (!f.kinds.empty())
                        req["kinds"] = f.kinds;
                    client->call(req);
                    std::fflush(stdout);
                    while (auto msg = client->channel().read()) {
                        audit::Record r = audit::from_json(*msg);
                        if (audit::matches(r, f))
                            print_record(r, a->json);
                        std::fflush(stdout);
                    }
                    throw_error("--live: mxcd closed the feed");
                }
                for (const auto &r : audit::tail(base_of(*a), f, *n))
                    print_record(r, a->json);
                std::fflush(stdout);
                if (!*follow)
                    return 0;
                audit::Follower fol(base_of(*a), f, true);
                for (;;) {
                    for (const auto &r : fol.poll(std::chrono::milliseconds(1000)))
                        print_record(r, a->json);
                    std::fflush(stdout);
                }
            });
        });
    }
    {
        auto a = std::make_shared<FilterArgs>();
        auto *c = audit_cmd->add_subcommand("query", "Print the records that match, oldest first");
        add_filter_flags(c, *a, true);
        c->add_flag("--json", a->json, "JSON lines");
        c->callback([&ctx, a] {
            run_command(ctx, [&] {
                for (const auto &r : audit::query(base_of(*a), to_filter(*a)))
                    print_record(r, a->json);
                return 0;
            });
        });
    }
    {
        auto a = std::make_shared<FilterArgs>();
        auto key = std::make_shared<std::string>();
        auto *c = audit_cmd->add_subcommand("verify", "Check each stream's hash chain and signed checkpoints");
        c->add_option("--dir", a->base, "Audit base directory");
        c->add_option("--identity", a->identity, "Only this identity's stream");
        c->add_option("--key", *key, "Trusted public key (PEM) the checkpoints must be signed with");
        c->add_flag("--json", a->json, "Machine-readable result");
        c->callback([&ctx, a, key] {
            run_command(ctx, [&] {
                std::string trusted = key->empty() ? "" : read_file(*key);
                std::string base = base_of(*a);
                std::vector<std::string> dirs;
                if (!a->identity.empty())
                    dirs.push_back(base + "/" + a->identity);
                else
                    for (const auto &d : audit::list_streams(base))
                        dirs.push_back(d.empty() || d[0] == '/' ? d : base + "/" + d);
                if (dirs.empty())
                    throw_error("audit verify: no streams under {}", base);
                bool all_ok = true;
                nlohmann::json out = nlohmann::json::array();
                for (const auto &d : dirs) {
                    auto v = audit::verify_stream(d, trusted);
                    all_ok &= v.ok;
                    if (a->json) {
                        auto j = audit::to_json(v);
                        j["stream"] = d;
                        out.push_back(j);
                    } else if (v.ok) {
                        std::printf("%s: ok, %llu records, %llu checkpoints\n", d.c_str(),
                                    static_cast<unsigned long long>(v.records),
                                    static_cast<unsigned long long>(v.checkpoints));
                        for (const auto &note : v.notes)
                            std::printf("  note: %s\n", note.c_str());
                    } else {
                        std::printf("%s: FAILED at seq %llu: %s\n", d.c_str(),
                                    static_cast<unsigned long long>(v.first_bad_seq), v.reason.c_str());
                    }
                }
                if (a->json)
                    std::printf("%s\n", out.dump(2).c_str());
                return all_ok ? 0 : 1;
            });
        });
    }
    {
        auto a = std::make_shared<FilterArgs>();
        auto *c = audit_cmd->add_subcommand("stats", "Events per kind, loss per identity and probe, backend");
        c->add_option("--dir", a->base, "Audit base directory");
        c->add_option("--identity", a->identity, "Only this identity");
        c->add_flag("--json", a->json, "Machine-readable");
        c->callback([&ctx, a] {
            run_command(ctx, [&] {
                auto s = audit::stats(base_of(*a), to_filter(*a));
                // The backend a run would get now: mxcd's probes, or the fallback.
                nlohmann::json active = {{"backend", seccomp::notify_supported() ? "seccomp-notify" : "none"}};
                try {
                    if (auto c = ipc::Client::connect()) {
                        auto st = c->call({{"op", "status"}}, std::chrono::seconds(3));
                        active = {{"backend", "bpf"}, {"hooks", st["hooks"]}, {"lost", st["lost"]},
                                  {"probes", st["probes"]}, {"sandboxes", st["sandboxes"].size()}};
                    }
                } catch (const Error &e) {
                    active["mxcd_error"] = e.what();
                }
                if (a->json) {
                    auto j = audit::to_json(s);
                    j["active"] = active;
                    std::printf("%s\n", j.dump(2).c_str());
                    return 0;
                }
                std::printf("%llu records, %llu lost\n", static_cast<unsigned long long>(s.records),
                            static_cast<unsigned long long>(s.lost));
                for (const auto &[k, n] : s.by_kind)
                    std::printf("  %-10s %llu\n", k.c_str(), static_cast<unsigned long long>(n));
                for (const auto &i : s.identities)
                    std::printf("identity %s: %llu records, %llu lost, %llu denied, backend %s\n", i.identity.c_str(),
                                static_cast<unsigned long long>(i.records), static_cast<unsigned long long>(i.lost),
                                static_cast<unsigned long long>(i.denied), i.backend.c_str());
                if (active["backend"] == "bpf") {
                    std::printf("active backend: bpf via mxcd (%zu sandboxes watched; hooks:", active["sandboxes"].get<size_t>());
                    for (const auto &h : active["hooks"])
                        std::printf(" %s", h.get<std::string>().c_str());
                    std::printf(")\n");
                    for (const auto &[id, n] : active["lost"].items())
                        std::printf("  kernel ring loss, identity %s: %llu\n", id.c_str(),
                                    static_cast<unsigned long long>(n.get<uint64_t>()));
                } else {
                    std::printf("active backend: %s (mxcd is not running)\n", active["backend"].get<std::string>().c_str());
                }
                return 0;
            });
        });
    }
    {
        auto a = std::make_shared<FilterArgs>();
        auto format = std::make_shared<std::string>("jsonl");
        auto *c = audit_cmd->add_subcommand("export", "Export records as OCSF or JSON lines");
        add_filter_flags(c, *a, true);
        c->add_option("--format", *format, "ocsf or jsonl")->check(CLI::IsMember({"ocsf", "jsonl"}));
        c->callback([&ctx, a, format] {
            run_command(ctx, [&] {
                auto recs = audit::query(base_of(*a), to_filter(*a));
                audit::export_records(recs, audit::parse_export_format(*format), std::cout);
                std::cout.flush();
                return 0;
            });
        });
    }
}

} // namespace mxc::cli
