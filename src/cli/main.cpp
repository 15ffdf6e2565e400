#include <fcntl.h>
#include <linux/mount.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include <cstdio>

#include <seccomp.h>

#include "cli.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/self_exec.hpp"
#include "mxc/util/log.hpp"

namespace mxc::cli {

runtime::Global Context::global() const {
    runtime::Global g;
    g.rootless = runtime::resolve_rootless(rootless);
    g.root = root.empty() ? runtime::default_root() : root;
    g.systemd_cgroup = systemd_cgroup;
    g.audit_identity = audit_identity;
    return g;
}

void run_command(Context &ctx, const std::function<int()> &fn) {
    log::Options lo;
    lo.file = ctx.log_file;
    lo.json = ctx.log_format == "json";
    lo.debug = ctx.debug;
    log::configure(lo);
    ctx.exit_code = fn();
}

} // namespace mxc::cli

namespace {

// The global options that take a value (mxc [GLOBAL...] COMMAND ...).
const std::set<std::string> kGlobalWithValue = {"--root", "--log", "--log-format", "--rootless", "--criu",
                                                "--audit-identity"};

// Index in argv of the command (the first word that is not a global option
// or its value); argc when there is none.  Only that word names the command:
// `mxc run -- echo exec` is not `exec`.
int command_at(int argc, char **argv) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--")
            return argc;
        if (kGlobalWithValue.count(a)) {
            ++i;
            continue;
        }
        if (a.size() > 1 && a[0] == '-')
            continue;
        return i;
    }
    return argc;
}

// `mxc exec [OPTIONS] ID CMD ARGS...`: everything after ID belongs to CMD.
// CLI11 would read `sh -c x` as our -c, so a "--" goes in after the id.
// Returns the arguments in CLI11's order (reversed, without argv[0]).
std::vector<std::string> exec_args_with_separator(int argc, char **argv) {
    static const std::set<std::string> with_value = {
        "-p", "--process", "--pid-file", "--console-socket", "-e", "--env", "--cwd", "-u", "--user",
        "-g", "--additional-gids", "-c", "--cap", "--preserve-fds", "--apparmor", "--process-label",
        "--root", "--log", "--log-format", "--rootless", "--criu", "--audit-identity"};
    std::vector<std::string> out(argv + 1, argv + argc);
    int at = command_at(argc, argv);
    if (at >= argc || std::string_view(argv[at]) != "exec") {
        std::reverse(out.begin(), out.end());
        return out;
    }
    size_t i = static_cast<size_t>(at) - 1; // out has no argv[0]
    for (++i; i < out.size(); ++i) {
        const std::string &a = out[i];
        if (a == "--")
            break;
        if (with_value.count(a)) {
            ++i;
            continue;
        }
        if (a.size() > 1 && a[0] == '-')
            continue;
        if (i + 1 < out.size() && out[i + 1] != "--")
            out.insert(out.begin() + static_cast<long>(i) + 1, "--");
        break;
    }
    std::reverse(out.begin(), out.end());
    return out;
}

} // namespace

int main(int argc, char **argv) {
    using namespace mxc;
    // `exec` joins a container whose processes may already be waiting for a
    // runtime to show up: it always runs from a sealed copy of itself.  `create`
    // and `run` decide once they know whether the container has its own pid
    // namespace (runtime::create_impl).
    self_exec::init(argc, argv);
    const int cmd_at = command_at(argc, argv);
    const std::string_view command = cmd_at < argc ? argv[cmd_at] : "";
    if (command == "exec")
        if (std::string why = self_exec::reexec_sealed(); !why.empty()) {
            std::fprintf(stderr, "mxc: exec: cannot run from a copy of mxc the container cannot write (%s); refusing\n",
                         why.c_str());
            return 1;
        }
    cli::Context ctx;
    CLI::App app{"mxc: an OCI container runtime and agent sandbox"};
    app.name("mxc");
    app.require_subcommand(1);
    app.fallthrough();
    const auto *sv = seccomp_version();
    app.set_version_flag("-v,--version",
                         fmt::format("mxc version {}\nspec: 1.2.0\nlibseccomp: {}.{}.{}", MXC_VERSION, sv->major,
                                     sv->minor, sv->micro),
                         "Print the version and exit");
    app.add_option("--root", ctx.root, "Directory for container state (default /run/mxc as root, $XDG_RUNTIME_DIR/mxc otherwise)");
    app.add_option("--log", ctx.log_file, "Append the runtime log to this file");
    app.add_option("--log-format", ctx.log_format, "Log format")->check(CLI::IsMember({"text", "json"}));
    app.add_flag("--debug", ctx.debug, "Log debug messages");
    app.add_flag("--systemd-cgroup", ctx.systemd_cgroup, "Ask for systemd cgroup management (not supported: refused with a reason)");
    app.add_option("--audit-identity", ctx.audit_identity,
                   "Audit every bundle without an org.mxc.identity annotation under this identity (through mxcd; "
                   "create fails closed without it)")
        ->envname("MXC_AUDIT_IDENTITY");
    app.add_option("--rootless", ctx.rootless, "Rootless mode: auto, true or false")
        ->check(CLI::IsMember({"auto", "true", "false"}));
    app.add_option("--criu", "Accepted for runc compatibility; checkpointing is not supported");

    auto add_commands = [&] {
        cli::add_lifecycle_commands(app, ctx);
        cli::add_info_commands(app, ctx);
        cli::add_identity_commands(app, ctx);
        cli::add_profile_commands(app, ctx);
        cli::add_audit_commands(app, ctx);
    };
    // Only the command that runs; all of them for --help (and `mxc help`,
    // as runc has it).
    ctx.only = command == "help" ? std::string_view() : command;
    add_commands();
    if (command == "help") {
        std::fputs(app.help().c_str(), stdout);
        return 0;
    }
    if (!ctx.only.empty() && app.get_subcommands([](CLI::App *) { return true; }).empty()) {
        std::fprintf(stderr, "mxc: unknown command \"%.*s\" (see mxc --help)\n", static_cast<int>(command.size()),
                     command.data());
        return 2;
    }

    // `run ... -- CMD` is the agent sandbox; `run ID` the OCI command.
    if (command == "run")
        for (int i = cmd_at + 1; i < argc; ++i)
            if (std::string_view(argv[i]) == "--") {
                ctx.agent_mode = true;
                break;
            }

    std::vector<std::string> args = exec_args_with_separator(argc, argv);
    try {
        app.parse(args);
    } catch (const CLI::ParseError &e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    } catch (const Error &e) {
        log::error("{}", e.what());
        return ctx.exit_code ? ctx.exit_code : 1;
    } catch (const std::exception &e) {
        log::error("{}", e.what());
        return 1;
    }
    return ctx.exit_code;
}
