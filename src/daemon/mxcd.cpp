// mxcd — the privileged audit daemon.  See mxcd(8).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>

#include <CLI/CLI.hpp>

#include "daemon.hpp"
#include "mxc/audit/bpf.hpp"
#include "mxc/ipc/ipc.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"
#include "sha256_openssl.hpp"

#ifndef MXC_VERSION
#define MXC_VERSION "0"
#endif

namespace {

// --daemon: the parent returns once the child serves (or failed to start).
int daemonize(const std::string &pid_file, const std::function<void(int ready_fd, const std::function<void()> &detach)> &serve) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0)
        mxc::throw_errno("pipe");
    pid_t pid = ::fork();
    if (pid < 0)
        mxc::throw_errno("fork");
    if (pid > 0) {
        ::close(p[1]);
        char c = 0;
        ssize_t n = ::read(p[0], &c, 1);
        return n == 1 && c == 'R' ? 0 : 1;
    }
    ::close(p[0]);
    ::setsid();
    if (!pid_file.empty()) {
        // /run/mxc does not survive a reboot where /run is a tmpfs.
        if (auto dir = std::filesystem::path(pid_file).parent_path(); !dir.empty())
            mxc::mkdir_p(dir.string(), 0755);
        mxc::write_file_atomic(pid_file, std::to_string(::getpid()) + "\n", 0644);
    }
    // Detached from whoever started us: a pipe on stderr must not stay open
    // (start-up errors still reach the parent's terminal through it: see
    // serve, which reports them before the redirect).
    serve(p[1], [] {
        if (int null = ::open("/dev/null", O_RDWR | O_CLOEXEC); null >= 0) {
            ::dup2(null, STDIN_FILENO);
            ::dup2(null, STDOUT_FILENO);
            ::dup2(null, STDERR_FILENO);
            ::close(null);
        }
    });
    if (!pid_file.empty())
        ::unlink(pid_file.c_str());
    ::_exit(0);
}

} // namespace

int main(int argc, char **argv) {
    mxc::daemon::use_openssl_sha256();
    CLI::App app{"mxcd: the mxc audit daemon (eBPF probes, per-identity audit streams)", "mxcd"};
    mxc::daemon::Options o;
    bool daemon = false, unload = false, status = false, debug = false;
    std::string pid_file, log_file;
    app.add_option("--socket", o.socket, "Unix socket to listen on (default $MXC_MXCD_SOCKET or /run/mxc/mxcd.sock)");
    app.add_option("--audit-dir", o.audit_dir, "Where the per-identity streams go (default /var/lib/mxc/audit)");
    app.add_option("--state-dir", o.state_dir, "Host key and persistent state")->capture_default_str();
    app.add_option("--run-dir", o.run_dir, "Registry of audited sandboxes (kept across restarts)")->capture_default_str();
    app.add_option("--pin-dir", o.pin_dir, "bpffs directory for the pinned probes")->capture_default_str();
    app.add_option("--ring-bytes", o.ring_bytes, "Ring buffer size (power of two, at least a page)")->capture_default_str();
    app.add_option("--checkpoint-records", o.checkpoint_records, "Signed checkpoint every N records")->capture_default_str();
    app.add_option("--checkpoint-seconds", o.checkpoint_seconds, "... or every S seconds")->capture_default_str();
    app.add_option("--checkpoint-min-gap", o.checkpoint_min_gap_ms,
                   "Checkpoints by count at least MS milliseconds apart")->capture_default_str()->check(CLI::NonNegativeNumber);
    app.add_option("--probes-linger", o.probes_linger_ms,
                   "Keep the syscall tracepoints attached MS milliseconds after the last sandbox ends (0: detach at once)")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_flag("--daemon", daemon, "Run in the background once serving");
    app.add_option("--pid-file", pid_file, "With --daemon: write the daemon's pid here");
    app.add_option("--log", log_file, "Append the log to this file");
    app.add_flag("--debug", debug, "Log debug messages");
    app.add_flag("--unload", unload, "Remove the pinned probes (stops all auditing) and exit");
    app.add_flag("--status", status, "Ask the running mxcd for its status and print it");
    app.set_version_flag("--version", MXC_VERSION);
    CLI11_PARSE(app, argc, argv);

    mxc::log::Options lo;
    lo.file = log_file;
    lo.debug = debug;
    mxc::log::configure(lo);
    try {
        if (status) {
            auto c = mxc::ipc::Client::connect(o.socket.empty() ? mxc::ipc::default_socket() : o.socket);
            if (!c) {
                std::fprintf(stderr, "mxcd: not running (nothing listens on %s)\n",
                             (o.socket.empty() ? mxc::ipc::default_socket() : o.socket).c_str());
                return 1;
            }
            std::printf("%s\n", c->call({{"op", "status"}}).dump(2).c_str());
            return 0;
        }
        if (::geteuid() != 0)
            throw mxc::Error(EPERM, "mxcd must run as root (it loads BPF programs); rootless runs audit "
                                    "themselves with seccomp notification");
        if (unload) {
            int n = mxc::audit::BpfProbes::unpin_all(o.pin_dir);
            std::printf("mxcd: removed %d pins under %s\n", n, o.pin_dir.c_str());
            return 0;
        }
        if (daemon) {
            return daemonize(pid_file, [&](int ready, const std::function<void()> &detach) {
                try {
                    mxc::daemon::Daemon d(o);
                    detach();
                    (void)!::write(ready, "R", 1);
                    ::close(ready);
                    d.run();
                } catch (const std::exception &e) {
                    mxc::log::error("mxcd: {}", e.what());
                    ::_exit(1);
                }
            });
        }
        mxc::daemon::Daemon d(o);
        d.run();
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "mxcd: %s\n", e.what());
        return 1;
    }
}
