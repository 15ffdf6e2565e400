// state, list, ps, events, spec, features, doctor.
#include <unistd.h>

#include <cstdio>

#include "cli.hpp"
#include "mxc/host/host.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

namespace mxc::cli {

namespace {

void print_json(const nlohmann::json &j) { std::printf("%s\n", j.dump(2).c_str()); }

std::string cmdline_of(pid_t pid) {
    try {
        std::string s = read_file(fmt::format("/proc/{}/cmdline", pid));
        for (auto &c : s)
            if (c == '\0')
                c = ' ';
        while (!s.empty() && s.back() == ' ')
            s.pop_back();
        return s;
    } catch (const Error &) {
        return "?";
    }
}

} // namespace

void add_info_commands(CLI::App &app, Context &ctx) {
    if (ctx.wants("state")) {
        auto id = std::make_shared<std::string>();
        auto *c = app.add_subcommand("state", "Print the state of a container as JSON");
        c->add_option("id", *id, "Container id")->required();
        c->callback([&ctx, id] { run_command(ctx, [&] { print_json(runtime::state(ctx.global(), *id)); return 0; }); });
    }
    if (ctx.wants("list", "ls")) {
        auto format = std::make_shared<std::string>("table");
        auto quiet = std::make_shared<bool>(false);
        auto *c = app.add_subcommand("list", "List containers");
        c->alias("ls");
        c->add_option("-f,--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
        c->add_flag("-q,--quiet", *quiet, "Print only the ids");
        c->callback([&ctx, format, quiet] {
            run_command(ctx, [&] {
                auto entries = runtime::list(ctx.global());
                if (*quiet) {
                    for (const auto &e : entries)
                        std::printf("%s\n", e.state.id.c_str());
                } else if (*format == "json") {
                    nlohmann::json arr = nlohmann::json::array();
                    for (const auto &e : entries)
                        arr.push_back(runtime::state_json(e.state, e.status));
                    std::printf("%s\n", arr.dump().c_str());
                } else {
                    std::printf("%-20s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
                    for (const auto &e : entries)
                        std::printf("%-20s %-8d %-10s %-40s %-32s %s\n", e.state.id.c_str(),
                                    e.status == runtime::Status::stopped ? 0 : e.state.pid,
                                    runtime::status_name(e.status), e.state.bundle.c_str(), e.state.created.c_str(),
                                    e.state.owner.c_str());
                }
                return 0;
            });
        });
    }
    if (ctx.wants("ps")) {
        auto id = std::make_shared<std::string>();
        auto format = std::make_shared<std::string>("table");
        auto extra = std::make_shared<std::vector<std::string>>();
        auto *c = app.add_subcommand("ps", "List the processes of a container");
        c->add_option("-f,--format", *format, "table or json")->check(CLI::IsMember({"table", "json"}));
        c->add_option("id", *id, "Container id")->required();
        c->add_option("ps-args", *extra, "Ignored (runc passes these to ps(1))");
        c->callback([&ctx, id, format, extra] {
            run_command(ctx, [&] {
                auto pids = runtime::ps(ctx.global(), *id);
                if (*format == "json") {
                    std::printf("%s\n", nlohmann::json(pids).dump().c_str());
                } else {
                    std::printf("%-8s %s\n", "PID", "CMD");
                    for (pid_t p : pids)
                        std::printf("%-8d %s\n", p, cmdline_of(p).c_str());
                }
                return 0;
            });
        });
    }
    if (ctx.wants("events")) {
        auto id = std::make_shared<std::string>();
        auto stats = std::make_shared<bool>(false);
        auto interval = std::make_shared<int>(5);
        auto *c = app.add_subcommand("events", "Print container resource usage as JSON lines");
        c->add_flag("--stats", *stats, "Print one stats object and exit");
        c->add_option("--interval", *interval, "Seconds between stats lines (default 5)");
        c->add_option("id", *id, "Container id")->required();
        c->callback([&ctx, id, stats, interval] {
            run_command(ctx, [&] { runtime::events(ctx.global(), *id, *interval, *stats); return 0; });
        });
    }
    if (ctx.wants("spec")) {
        auto rootless = std::make_shared<bool>(false);
        auto bundle = std::make_shared<std::string>(".");
        auto *c = app.add_subcommand("spec", "Write a default config.json into the bundle");
        c->add_flag("--rootless", *rootless, "A spec for a rootless container");
        c->add_option("-b,--bundle", *bundle, "Bundle directory (default: current directory)");
        c->callback([&ctx, rootless, bundle] {
            run_command(ctx, [&] {
                std::string path = *bundle + "/config.json";
                if (path_exists(path))
                    throw_error("spec: {} exists; remove it first", path);
                auto j = oci::to_json(oci::default_spec(*rootless));
                with_context("spec", [&] { write_file(path, j.dump(4) + "\n", 0, 0644); });
                return 0;
            });
        });
    }
    if (ctx.wants("features")) {
        auto *c = app.add_subcommand("features", "Print what this runtime supports (runtime-spec features.md)");
        c->callback([&ctx] { run_command(ctx, [&] { print_json(host::features()); return 0; }); });
    }
    if (ctx.wants("doctor")) {
        auto json = std::make_shared<bool>(false);
        auto *c = app.add_subcommand("doctor", "Check what this host supports, by trying");
        c->add_flag("--json", *json, "Machine-readable report");
        c->callback([&ctx, json] {
            run_command(ctx, [&] {
                host::DoctorOptions o;
                auto report = host::doctor(o);
                if (*json)
                    print_json(report);
                else
                    std::fputs(host::doctor_text(report).c_str(), stdout);
                return 0;
            });
        });
    }
}

} // namespace mxc::cli
