// Integration-test foundation: OCI bundles built from busybox-static plus the
// probe, a runner for the runtime binary (MXC_BIN) with a per-test --root and a
// hard timeout, and checks for anything a container left behind.
//
// The tests speak the runc CLI contract only, so they run unchanged against
// runc (MXC_BIN=/usr/sbin/runc) and against mxc.
//
// Environment (set by tests/meson.build):
//   MXC_BIN          the runtime under test
//   MXC_PROBE        the static probe program, copied into every rootfs as /probe
//   MXC_SOURCE_ROOT  the source tree
#pragma once

#include <gtest/gtest.h>

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace mxc::testing {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace std::chrono_literals;

// ---- environment ---------------------------------------------------------

std::string mxc_bin();       // $MXC_BIN, "" if unset
// {$MXC_BIN, "--root", root, args...}
std::vector<std::string> mxc_command(const fs::path& root, const std::vector<std::string>& args);
std::string probe_bin();     // $MXC_PROBE, "" if unset
std::string source_root();   // $MXC_SOURCE_ROOT, "" if unset
bool is_root();

// A container id unique across processes and runs: "<prefix>-<pid>-<n><rand>".
std::string unique_id(std::string_view prefix);

// Inode of the host's (this test process's) namespace of a kind ("net", "pid", ...).
unsigned long long host_ns_inode(const std::string& kind);

// ---- running programs ----------------------------------------------------

struct RunResult {
    // Exit status; 128+N when killed by signal N (what a shell reports);
    // -1 when the program was killed for running past its timeout.
    int status = -1;
    std::string out, err;
    bool timed_out = false;

    bool ok() const { return status == 0; }
    // One line for assertion messages: status, stdout and stderr.
    std::string describe() const;
};

// Runs argv[0] (a path) with stdin from `input`, stdout/stderr captured.
// stdout/stderr are files, not pipes: a detached container inherits them
// from `create` and keeps them open, and a pipe would never reach EOF.
// Past `timeout` the whole process group is SIGKILLed and a test failure
// is recorded.
RunResult run_program(const std::vector<std::string>& argv, const std::string& input = "",
                      std::chrono::milliseconds timeout = 30s);

// Runs `$MXC_BIN --root ROOT args...`.
RunResult run_mxc(const fs::path& root, const std::vector<std::string>& args,
                  const std::string& input = "", std::chrono::milliseconds timeout = 30s);

// Parses the probe's JSON output (the whole text, or else its last line that
// looks like an object).  Records a failure and returns null when neither parses.
Json probe_json(const std::string& out);
// The lines of text that parse as JSON objects (`mxc audit query --json`, ...).
std::vector<Json> json_lines(const std::string& text);

// An environment block: base, with each "K=V" (or "K", empty) of overrides
// replacing or adding to it.
std::vector<std::string> environment(std::map<std::string, std::string> base,
                                     const std::vector<std::string>& overrides);

// Polls `cond` every few milliseconds until it holds or `timeout` passes.
bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout = 10s);

std::string read_file(const fs::path& path);
void write_file(const fs::path& path, const std::string& text, fs::perms perms = fs::perms(0644));

// ---- leftovers -----------------------------------------------------------

// What a container left behind, one line per item (empty when clean):
//   - its state dir ROOT/<id>
//   - cgroup dirs named <id> in any hierarchy under /sys/fs/cgroup (v1
//     controllers and the unified v2 mount), including <hier>/mxc/<id>
//   - processes whose cmdline mentions the id or the bundle path, or whose
//     root, cwd or root mount lies inside the bundle
std::vector<std::string> leftovers(const fs::path& root, const std::string& id,
                                   const fs::path& bundle);

// Cgroup directories named `id` (searched a few levels deep) in every hierarchy.
std::vector<fs::path> cgroup_dirs_named(const std::string& id);

// The cgroup directory of `pid` for a controller ("memory", "pids", ...):
// the v1 hierarchy when that controller is mounted as v1 (hybrid hosts),
// else the v2 one (/sys/fs/cgroup/unified or /sys/fs/cgroup).  Empty if unknown.
fs::path cgroup_dir_of(int pid, const std::string& controller);

// Pids (other than ours) whose cmdline contains `needle`.
std::vector<int> pids_with_cmdline(const std::string& needle);

// ---- bundles ---------------------------------------------------------------

// An OCI bundle in `dir`: rootfs/ holds /bin/busybox with its applet symlinks
// and /probe; config.json mirrors `runc spec` (readonly root, pid/net/ipc/uts/
// mount namespaces, three capabilities, NOFILE 1024, noNewPrivileges) except
// that terminal is false and args are ["/probe"].  Edit json() and call write().
class Bundle {
public:
    explicit Bundle(fs::path dir);
    Bundle(const Bundle&) = delete;
    Bundle& operator=(const Bundle&) = delete;

    const fs::path& dir() const { return dir_; }
    fs::path rootfs() const { return dir_ / "rootfs"; }
    fs::path config_path() const { return dir_ / "config.json"; }

    Json& json() { return config_; }
    const Json& json() const { return config_; }

    Bundle& set_args(std::vector<std::string> args);
    Bundle& add_env(const std::string& kv);
    Bundle& add_mount(const std::string& destination, const std::string& type,
                      const std::string& source, std::vector<std::string> options = {});
    // A host directory bundle/<name> (mode 0777) bind-mounted read-write at
    // `destination`; returns the host path.  How a detached container hands
    // results back (e.g. `/probe report /out/report.json`).
    fs::path add_host_dir(const std::string& name, const std::string& destination);
    Bundle& set_readonly_root(bool ro);
    Bundle& remove_namespace(const std::string& type);
    Bundle& add_namespace(const std::string& type, const std::string& path = "");
    bool has_namespace(const std::string& type) const;

    // Writes config.json (pretty-printed).
    void write() const;

    static Json default_config();

private:
    fs::path dir_;
    Json config_;
};

// ---- the test fixture -------------------------------------------------------

// Each test gets a private temp dir holding the runtime's --root and its
// bundles.  SetUp skips the test when MXC_BIN or MXC_PROBE is unset; root-only
// tests start with MXC_REQUIRE_ROOT().  TearDown kills and force-deletes every container id the test
// asked for (new_id) and removes the temp dir.
class IntegrationTest : public ::testing::Test {
protected:
    void SetUp() override;
    void TearDown() override;

    const fs::path& tmp() const { return tmp_; }
    const fs::path& root_dir() const { return root_; }

    // A fresh bundle (config written) under tmp(), owned by the fixture.
    Bundle& new_bundle();
    // A unique container id, remembered for cleanup.
    std::string new_id(std::string_view prefix = "t");

    // `$MXC_BIN --root root_dir() args...`
    RunResult run_mxc(const std::vector<std::string>& args, const std::string& input = "",
                      std::chrono::milliseconds timeout = 30s) const;
    // `state ID` parsed; null (with a recorded failure) when it fails.
    Json state(const std::string& id) const;
    // `state ID`'s status, or "" when state fails (does not record a failure).
    std::string status_of(const std::string& id) const;
    bool wait_status(const std::string& id, const std::string& status,
                     std::chrono::milliseconds timeout = 10s) const;
    std::vector<std::string> leftovers(const std::string& id, const Bundle& bundle) const;
    // The same, checking processes against every bundle this test made.
    std::vector<std::string> leftovers(const std::string& id) const;

    // create + start, asserting both succeed (use with ASSERT_NO_FATAL_FAILURE).
    void create_and_start(const std::string& id, const Bundle& bundle);

private:
    fs::path tmp_, root_;
    std::vector<std::unique_ptr<Bundle>> bundles_;
    std::vector<std::string> ids_;
};

}  // namespace mxc::testing

#define MXC_REQUIRE_ROOT()                                                     \
    do {                                                                       \
        if (!::mxc::testing::is_root())                                        \
            GTEST_SKIP() << "needs root (runs real containers with namespaces, " \
                            "cgroups and mounts)";                             \
    } while (0)

// ---- running as another user (for the rootless tests) ----------------------

namespace mxc::testing {

struct RunAs {
    unsigned uid = 0, gid = 0;
    std::vector<unsigned> groups;  // supplementary groups, set with setgroups
    std::vector<std::string> env;  // the program's whole environment
};

// run_program, with the child switched to `who` (setgroups, setgid, setuid)
// and given exactly `who.env` before it execs argv[0].
// Everything written to fd so far, read from offset 0 (memfd-backed stdio).
std::string read_all_fd(int fd);

RunResult run_program_as(const RunAs& who, const std::vector<std::string>& argv,
                         const std::string& input = "", std::chrono::milliseconds timeout = 30s);

// ---- a child process, waited for later ----------------------------------------

// Like run_program, but with an explicit environment (the program's whole
// environment), and split in two (start, then wait) so that a test can look
// at a sandbox, or signal a program, while it runs.  stdin is /dev/null;
// stdout/stderr are memfds, readable while the child runs.  The destructor
// SIGKILLs and reaps a child that was not waited for.
class Child {
public:
    Child(const std::vector<std::string>& argv, const std::vector<std::string>& env);
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child();

    pid_t pid() const { return pid_; }
    std::string out() const { return read_all_fd(out_fd_); }
    std::string err() const { return read_all_fd(err_fd_); }
    // Whether it has exited (reaps it when it has).
    bool exited();
    // Waits; past `timeout` kills the process group and records a failure.
    RunResult wait(std::chrono::milliseconds timeout = 30s);
    // From start to exit (valid once exited).
    double seconds() const { return std::chrono::duration<double>(ended_ - started_).count(); }

private:
    void record(int wstatus);

    std::vector<std::string> argv_;
    pid_t pid_ = -1;
    int out_fd_ = -1, err_fd_ = -1;
    bool done_ = false;
    RunResult res_;
    std::chrono::steady_clock::time_point started_, ended_;
};

}  // namespace mxc::testing
