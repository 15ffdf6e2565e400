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
#include "mxc/util/log.hpp"

namespace mxc::cli {

runtime::Global Context::global() const {
    runtime::Global g;
    g.rootless = runtime::resolve_rootless(rootless);
    g.root = root.empty() ? runtime::default_root() : root;
    g.systemd_cgroup = systemd_cgroup;
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

// The commands that put our code inside a container run from a sealed
// in-memory copy of the binary: a container process that reaches
// /proc/<pid>/exe of ours (e.g. through a "#!/proc/self/exe" script run by
// `exec`) finds a memfd it cannot write, not the host's mxc (CVE-2019-5736).
void reexec_from_sealed_copy(int argc, char **argv) {
    static const char *const kCommands[] = {"create", "run", "exec", "start"};
    bool needed = false;
    for (int i = 1; i < argc && !needed; ++i)
        for (const char *c : kCommands)
            needed |= std::strcmp(argv[i], c) == 0;
    if (!needed || std::getenv("_MXC_SEALED"))
        return;
    if (::geteuid() == 0) {
        // Cheap for root: a private read-only bind of our own binary.  The
        // exe link then points into a read-only mount: reopening it for
        // writing fails with EROFS, and nothing is copied.
        int tree = static_cast<int>(::syscall(SYS_open_tree, AT_FDCWD, "/proc/self/exe",
                                              OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
        struct mount_attr ro = {};
        ro.attr_set = MOUNT_ATTR_RDONLY;
        if (tree >= 0 &&
            ::syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &ro, sizeof ro) == 0) {
            ::setenv("_MXC_SEALED", "1", 1);
            ::syscall(SYS_execveat, tree, "", argv, environ, AT_EMPTY_PATH);
            ::unsetenv("_MXC_SEALED");
        }
        if (tree >= 0)
            ::close(tree);
    } else if (::access("/proc/self/exe", W_OK) != 0) {
        return; // a binary we cannot write, the container cannot either
    }
    // Otherwise a sealed in-memory copy (as runc does).
    int src = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return;
    int mfd = static_cast<int>(::syscall(SYS_memfd_create, "mxc", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    struct stat st;
    if (mfd < 0 || ::fstat(src, &st) < 0) {
        ::close(src);
        return;
    }
    off_t off = 0;
    while (off < st.st_size)
        if (::sendfile(mfd, src, &off, static_cast<size_t>(st.st_size - off)) <= 0)
            break;
    ::close(src);
    if (off != st.st_size ||
        ::fcntl(mfd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0) {
        ::close(mfd);
        return;
    }
    ::setenv("_MXC_SEALED", "1", 1);
    ::fexecve(mfd, argv, environ);
    // Could not exec the copy: carry on from the file, as before.
    ::unsetenv("_MXC_SEALED");
    ::close(mfd);
}

// `mxc exec [OPTIONS] ID CMD ARGS...`: everything after ID belongs to CMD.
// CLI11 would read `sh -c x` as our -c, so a "--" goes in after the id.
// Returns the arguments in CLI11's order (reversed, without argv[0]).
std::vector<std::string> exec_args_with_separator(int argc, char **argv) {
    static const std::set<std::string> with_value = {
        "-p", "--process", "--pid-file", "--console-socket", "-e", "--env", "--cwd", "-u", "--user",
        "-g", "--additional-gids", "-c", "--cap", "--preserve-fds", "--apparmor", "--process-label",
        "--root", "--log", "--log-format", "--rootless", "--criu"};
    std::vector<std::string> out(argv + 1, argv + argc);
    size_t i = 0;
    for (; i < out.size() && out[i] != "exec"; ++i)
        if (with_value.count(out[i]))
            ++i;
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
    reexec_from_sealed_copy(argc, argv);
    ::unsetenv("_MXC_SEALED");
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
    app.add_option("--rootless", ctx.rootless, "Rootless mode: auto, true or false")
        ->check(CLI::IsMember({"auto", "true", "false"}));
    app.add_option("--criu", "Accepted for runc compatibility; checkpointing is not supported");

    cli::add_lifecycle_commands(app, ctx);
    cli::add_info_commands(app, ctx);
    cli::add_identity_commands(app, ctx);
    cli::add_profile_commands(app, ctx);
    cli::add_audit_commands(app, ctx);

    // `run ... -- CMD` is the agent sandbox; `run ID` the OCI command.
    for (int i = 1, run_at = 0; i < argc; ++i) {
        std::string_view a = argv[i];
        if (!run_at && a == "run")
            run_at = i;
        else if (run_at && a == "--") {
            ctx.agent_mode = true;
            break;
        }
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
