// The mxc command: CLI11 wiring only; the work is in libmxc.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "mxc/runtime/runtime.hpp"

namespace mxc::cli {

struct Context {
    std::string root;
    std::string log_file;
    std::string log_format = "text";
    bool debug = false;
    bool systemd_cgroup = false;
    std::string audit_identity;
    std::string rootless = "auto";
    int exit_code = 0;
    bool agent_mode = false;  // `run ... -- CMD`
    // The command word of argv; empty: define every command (--help, or a
    // word that names none).  Defining only the one that runs saves building
    // ~30 commands' options on every start (≈ 2 M instructions).
    std::string_view only;

    bool wants(std::string_view name, std::string_view alias = {}) const {
        return only.empty() || only == name || (!alias.empty() && only == alias);
    }

    runtime::Global global() const;
};

// Each registers its subcommands; the callback runs after parsing and sets ctx.exit_code.
void add_lifecycle_commands(CLI::App &app, Context &ctx);
void add_info_commands(CLI::App &app, Context &ctx);
void add_identity_commands(CLI::App &app, Context &ctx);
void add_profile_commands(CLI::App &app, Context &ctx);
void add_audit_commands(CLI::App &app, Context &ctx);

} // namespace mxc::cli

namespace mxc::cli {
// Configure logging from the global flags, then run fn (inside a subcommand callback).
void run_command(Context &ctx, const std::function<int()> &fn);
} // namespace mxc::cli
