// mxc profile list | show NAME | check FILE | render NAME -- CMD
#include <cstdio>

#include "cli.hpp"
#include "mxc/oci/spec.hpp"
#include "mxc/policy/profile.hpp"
#include "mxc/runtime/agent.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

namespace mxc::cli {

void add_profile_commands(CLI::App &app, Context &ctx) {
    if (!ctx.wants("profile"))
        return;
    auto *p = app.add_subcommand("profile", "Agent sandbox profiles: list, show, check, render");
    p->require_subcommand(1);
    {
        auto *c = p->add_subcommand("list", "List the profiles in the search path");
        c->callback([&ctx] {
            run_command(ctx, [&] {
                for (const auto &i : policy::list_profiles())
                    std::printf("%-12s %-60s %s\n", i.name.c_str(), i.description.c_str(), i.path.c_str());
                return 0;
            });
        });
    }
    {
        auto name = std::make_shared<std::string>();
        auto *c = p->add_subcommand("show", "Print a profile's file");
        c->add_option("name", *name, "Profile name or file")->required();
        c->callback([&ctx, name] {
            run_command(ctx, [&] {
                auto prof = policy::load_profile(*name);
                std::printf("# %s (extends: ", prof.source.c_str());
                for (size_t i = 1; i < prof.chain.size(); ++i)
                    std::printf("%s%s", i > 1 ? " -> " : "", prof.chain[i].c_str());
                std::printf("%s)\n", prof.chain.size() > 1 ? "" : "none");
                std::fputs(read_file(prof.source).c_str(), stdout);
                return 0;
            });
        });
    }
    {
        auto file = std::make_shared<std::string>();
        auto *c = p->add_subcommand("check", "Validate a profile file (and what it extends)");
        c->add_option("file", *file, "Profile YAML file")->required();
        c->callback([&ctx, file] {
            run_command(ctx, [&] {
                policy::check_profile_file(*file);
                std::printf("%s: ok\n", file->c_str());
                return 0;
            });
        });
    }
    {
        auto a = std::make_shared<runtime::AgentOptions>();
        auto rest = std::make_shared<std::vector<std::string>>();
        auto *c = p->add_subcommand("render", "Print the OCI config.json a profile compiles to for a command");
        c->add_option("name", a->profile, "Profile name or file")->required();
        c->add_option("--workspace", a->req.workspace, "Read-write workspace (default: current directory)");
        c->add_option("--net", a->req.net, "Network mode")->check(CLI::IsMember({"none", "loopback", "allow", "host"}));
        c->add_option("cmd", *rest, "-- CMD [ARGS...]");
        c->callback([&ctx, a, rest] {
            run_command(ctx, [&] {
                a->req.command = *rest;
                if (a->name.empty())
                    a->name = "render";
                auto plan = runtime::plan_agent(ctx.global(), *a);
                auto j = oci::to_json(plan.spec);
                std::printf("%s\n", j.dump(2).c_str());
                for (const auto &n : plan.notes)
                    std::fprintf(stderr, "note: %s\n", n.c_str());
                return 0;
            });
        });
    }
}

} // namespace mxc::cli
