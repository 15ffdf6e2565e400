// Agent sandbox (`mxc run [flags] -- CMD`), issue 3: every claim is proved
// from inside the sandbox with host programs (/bin/sh, coreutils, curl,
// python3), against fixtures the test makes and removes again.
//
// Each test has its own directory under /var/tmp (outside /tmp, so that the
// host paths it uses are visible inside the sandbox through the read-only
// host root): the workspace, a fake HOME, MXC_STATE_DIR (identities) and
// MXC_PROFILE_PATH.  mxc runs with an environment the test writes in full, so
// nothing of the caller's environment leaks into the checks.  Every run gets
// a --name and is checked for leftovers (state dir, cgroups) afterwards.
//
// Root only: the tests create fixtures in /run, /mnt and /tmp and read the
// v1 memory cgroup.
#include <fcntl.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "fixture.hpp"

namespace mxc::testing {
namespace {

using Clock = std::chrono::steady_clock;

const char *const kPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const char *const kPython = "/usr/bin/python3";
const char *const kCurl = "/usr/bin/curl";

bool contains(const std::string &hay, const std::string &needle) { return hay.find(needle) != std::string::npos; }

std::vector<std::string> lines_of(const std::string &s)
{
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

// NAME=VALUE lines (env(1) output) -> map.
std::map<std::string, std::string> env_map(const std::string &out)
{
    std::map<std::string, std::string> m;
    for (const auto &l : lines_of(out)) {
        auto eq = l.find('=');
        if (eq != std::string::npos && eq > 0)
            m[l.substr(0, eq)] = l.substr(eq + 1);
    }
    return m;
}

// write_file, making the parent directories first.
void put(const fs::path &path, const std::string &text, fs::perms perms = fs::perms(0644))
{
    fs::create_directories(path.parent_path());
    write_file(path, text, perms);
}

// A unix socket bound at `path` (the listening end of a fake desktop socket).
// The fd is closed and the file removed by the destructor.
class UnixSocketFile {
public:
    explicit UnixSocketFile(fs::path path) : path_(std::move(path))
    {
        fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
        if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a) < 0 || listen(fd_, 4) < 0)
            throw std::runtime_error("unix socket " + path_.string() + ": " + std::strerror(errno));
    }
    ~UnixSocketFile()
    {
        close(fd_);
        unlink(path_.c_str());
    }
    UnixSocketFile(const UnixSocketFile &) = delete;
    UnixSocketFile &operator=(const UnixSocketFile &) = delete;

private:
    fs::path path_;
    int fd_ = -1;
};

// Host fixtures outside the test's own directory (/run/WSL, /mnt/c, ...):
// made only where nothing exists, and undone in reverse order.
class HostFixtures {
public:
    ~HostFixtures()
    {
        for (auto it = undo_.rbegin(); it != undo_.rend(); ++it)
            (*it)();
    }
    // Creates `dir` (and missing parents) if it does not exist; false (and
    // nothing made) when it exists already.
    bool make_dir(const fs::path &dir)
    {
        std::error_code ec;
        if (fs::exists(fs::symlink_status(dir, ec)))
            return false;
        std::vector<fs::path> made;
        for (fs::path p = dir; !p.empty() && !fs::exists(fs::symlink_status(p, ec)); p = p.parent_path())
            made.push_back(p);
        for (auto it = made.rbegin(); it != made.rend(); ++it) {
            if (mkdir(it->c_str(), 0755) < 0)
                throw std::runtime_error("mkdir " + it->string() + ": " + std::strerror(errno));
            fs::path p = *it;
            undo_.push_back([p] {
                std::error_code e;
                fs::remove_all(p, e);
            });
        }
        return true;
    }
    void mount_tmpfs(const fs::path &dir, const std::string &source)
    {
        if (mount(source.c_str(), dir.c_str(), "tmpfs", 0, "mode=755,size=1m") < 0)
            throw std::runtime_error("mount tmpfs on " + dir.string() + ": " + std::strerror(errno));
        undo_.push_back([dir] { umount2(dir.c_str(), MNT_DETACH); });
    }
    void write(const fs::path &file, const std::string &text)
    {
        put(file, text);
        undo_.push_back([file] { unlink(file.c_str()); });
    }
    void socket(const fs::path &file) { sockets_.push_back(std::make_unique<UnixSocketFile>(file)); }

private:
    std::vector<std::function<void()>> undo_;
    std::vector<std::unique_ptr<UnixSocketFile>> sockets_;
};

// ---- the fixture -----------------------------------------------------------

class AgentTest : public IntegrationTest {
protected:
    void SetUp() override
    {
        IntegrationTest::SetUp();
        if (IsSkipped() || HasFatalFailure())
            return;
        MXC_REQUIRE_ROOT();
        char tmpl[] = "/var/tmp/mxc-agent-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr) << std::strerror(errno);
        base_ = tmpl;
        fs::permissions(base_, fs::perms(0755));
        for (const char *d : {"ws", "home", "state", "profiles"})
            fs::create_directories(base_ / d);
    }
    void TearDown() override
    {
        IntegrationTest::TearDown();
        if (!base_.empty()) {
            std::error_code ec;
            fs::remove_all(base_, ec);
        }
    }

    const fs::path &base() const { return base_; }
    fs::path ws() const { return base_ / "ws"; }
    fs::path home() const { return base_ / "home"; }
    fs::path state_dir() const { return base_ / "state"; }
    fs::path profiles() const { return base_ / "profiles"; }

    // mxc's whole environment: fixed, plus `extra` (NAME=VALUE, overriding).
    std::vector<std::string> mxc_env(const std::vector<std::string> &extra = {}) const
    {
        std::map<std::string, std::string> m = {
            {"PATH", kPath},
            {"HOME", home().string()},
            {"USER", "root"},
            {"LANG", "C.UTF-8"},
            {"TERM", "xterm"},
            {"MXC_STATE_DIR", state_dir().string()},
            {"MXC_PROFILE_PATH", profiles().string()},
            // Not the host's mxcd (README's first command starts one): the
            // sandboxes here use the backends each test asks for.
            {"MXC_MXCD_SOCKET", (base_ / "no-mxcd.sock").string()},
        };
        return environment(std::move(m), extra);
    }

    // `mxc --root ROOT args...` with mxc_env(extra).
    std::vector<std::string> mxc_argv(const std::vector<std::string> &args) const
    {
        return mxc_command(root_dir(), args);
    }
    RunResult mxc(const std::vector<std::string> &args, const std::vector<std::string> &extra_env = {},
                  std::chrono::milliseconds timeout = 20s) const
    {
        Child c(mxc_argv(args), mxc_env(extra_env));
        return c.wait(timeout);
    }

    // `mxc run --name NAME --workspace WS flags... -- cmd...`
    std::vector<std::string> run_args(const std::string &name, const std::vector<std::string> &flags,
                                      const std::vector<std::string> &cmd) const
    {
        std::vector<std::string> a{"run", "--name", name, "--workspace", ws().string()};
        a.insert(a.end(), flags.begin(), flags.end());
        a.push_back("--");
        a.insert(a.end(), cmd.begin(), cmd.end());
        return a;
    }

    // Runs a sandbox to the end and checks that it left nothing behind.
    RunResult sandbox(const std::vector<std::string> &flags, const std::vector<std::string> &cmd,
                      const std::vector<std::string> &extra_env = {}, std::chrono::milliseconds timeout = 20s)
    {
        std::string name = new_id("ag");
        RunResult r = mxc(run_args(name, flags, cmd), extra_env, timeout);
        expect_clean(name);
        return r;
    }
    RunResult sh(const std::string &script, const std::vector<std::string> &flags = {},
                 const std::vector<std::string> &extra_env = {}, std::chrono::milliseconds timeout = 20s)
    {
        return sandbox(flags, {"/bin/sh", "-c", script}, extra_env, timeout);
    }

    void expect_clean(const std::string &name) const
    {
        // The sandbox's cgroups go away asynchronously on some kernels.
        std::vector<std::string> left;
        wait_for([&] { return (left = leftovers(name)).empty(); }, 3s);
        std::string all;
        for (const auto &l : left)
            all += "\n  " + l;
        EXPECT_TRUE(left.empty()) << "sandbox " << name << " left behind:" << all;
    }

    // A script fragment that waits (up to ~10 s) for the file `go` in the
    // workspace (the working directory): how a test holds a sandbox running.
    static std::string wait_go() { return "i=0; while [ ! -e go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done"; }

    std::string status_in(const std::string &name) const
    {
        RunResult r = mxc({"state", name}, {}, 10s);
        if (r.status != 0)
            return "";
        Json j = Json::parse(r.out, nullptr, false);
        return j.is_object() && j.contains("status") && j["status"].is_string() ? j["status"].get<std::string>() : "";
    }

private:
    fs::path base_;
};

// ---- filesystem --------------------------------------------------------------

TEST_F(AgentTest, WritesOutsideWorkspaceFailAndInsideSucceed)
{
    fs::path outside = base() / "outside";
    fs::create_directories(outside);
    fs::permissions(outside, fs::perms(0777));
    RunResult r = sh("echo from-inside > made-inside; echo ws=$?; "
                     "echo x > " + (outside / "new").string() + "; echo outside=$?; "
                     "touch /usr/mxc-agent-test-file; echo usr=$?; "
                     "touch " + home().string() + "/f; echo home=$?");
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "ws=0")) << r.describe();
    EXPECT_TRUE(contains(r.out, "outside=1") || contains(r.out, "outside=2")) << r.describe();
    EXPECT_TRUE(contains(r.out, "usr=1")) << r.describe();
    EXPECT_TRUE(contains(r.out, "home=1")) << "the home directory is read-only by default\n" << r.describe();
    // EROFS, not a permission problem: the host root is mounted read-only.
    EXPECT_TRUE(contains(r.err, "Read-only file system")) << r.describe();
    EXPECT_EQ(read_file(ws() / "made-inside"), "from-inside\n") << "the workspace write is visible on the host";
    EXPECT_FALSE(fs::exists(outside / "new"));
    EXPECT_FALSE(fs::exists("/usr/mxc-agent-test-file"));
    EXPECT_FALSE(fs::exists(home() / "f"));
}

TEST_F(AgentTest, TmpIsPrivate)
{
    const std::string tag = unique_id("mxc-agent-tmp");
    fs::path host_file = fs::path("/tmp") / (tag + "-host");
    fs::path inner_file = fs::path("/tmp") / (tag + "-inside");
    put(host_file, "host\n");
    RunResult r = sh("if [ -e " + host_file.string() + " ]; then echo host-file-visible; else echo host-file-absent; fi; "
                     "echo inner > " + inner_file.string() + " && echo wrote-tmp; ls -A /tmp | wc -l");
    std::error_code ec;
    fs::remove(host_file, ec);
    bool leaked = fs::exists(inner_file);
    fs::remove(inner_file, ec);
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "host-file-absent")) << r.describe();
    EXPECT_TRUE(contains(r.out, "wrote-tmp")) << "/tmp is writable inside\n" << r.describe();
    EXPECT_FALSE(leaked) << "a file made in the sandbox's /tmp appeared on the host";
}

TEST_F(AgentTest, DeniedPathsAreUnreadable)
{
    fs::create_directories(ws() / "secret");
    put(ws() / "secret" / "key", "TOPSECRET-DIR\n");
    fs::path token = base() / "token.txt"; // a file outside the workspace: covered by /dev/null
    put(token, "TOPSECRET-FILE\n");
    RunResult r = sh("cat secret/key; echo cat=$?; ls secret; echo ls=$?; cat " + token.string() + "; echo tok=$?",
                     {"--deny", (ws() / "secret").string(), "--deny", token.string()});
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_FALSE(contains(r.out, "TOPSECRET")) << r.describe();
    EXPECT_TRUE(contains(r.out, "cat=1")) << r.describe();
    EXPECT_TRUE(contains(r.out, "ls=2")) << r.describe();
    EXPECT_EQ(read_file(ws() / "secret" / "key"), "TOPSECRET-DIR\n") << "the host file is untouched";
}

TEST_F(AgentTest, MostSpecificRuleWins)
{
    fs::path data = base() / "data";
    fs::create_directories(data / "secret");
    fs::create_directories(data / "open");
    put(data / "secret" / "key", "TOPSECRET\n");
    RunResult r = sh("cd " + data.string() + " && echo a > open/new && echo open-ok; echo b > top && echo top-ok; "
                     "cat secret/key; echo secret=$?; echo c > secret/x; echo secretw=$?",
                     {"--rw", data.string(), "--deny", (data / "secret").string()});
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "open-ok")) << r.describe();
    EXPECT_TRUE(contains(r.out, "top-ok")) << r.describe();
    EXPECT_FALSE(contains(r.out, "TOPSECRET")) << r.describe();
    EXPECT_FALSE(contains(r.out, "secret=0")) << r.describe();
    EXPECT_FALSE(contains(r.out, "secretw=0")) << r.describe();
    EXPECT_EQ(read_file(data / "open" / "new"), "a\n");
    EXPECT_EQ(read_file(data / "top"), "b\n");
    EXPECT_FALSE(fs::exists(data / "secret" / "x"));
}

TEST_F(AgentTest, ReadOnlyBeatsReadWriteOnTheSamePath)
{
    fs::path data = base() / "data";
    fs::create_directories(data);
    put(data / "readme", "readable\n");
    for (bool ro_first : {true, false}) {
        SCOPED_TRACE(ro_first ? "--ro before --rw" : "--rw before --ro");
        std::vector<std::string> flags = ro_first
            ? std::vector<std::string>{"--ro", data.string(), "--rw", data.string()}
            : std::vector<std::string>{"--rw", data.string(), "--ro", data.string()};
        RunResult r = sh("cat " + (data / "readme").string() + "; touch " + (data / "w").string() + "; echo w=$?", flags);
        ASSERT_EQ(r.status, 0) << r.describe();
        EXPECT_TRUE(contains(r.out, "readable")) << r.describe();
        EXPECT_TRUE(contains(r.out, "w=1")) << r.describe();
        EXPECT_TRUE(contains(r.err, "Read-only file system")) << r.describe();
        EXPECT_FALSE(fs::exists(data / "w"));
    }
}

// A deny inside the read-write workspace cannot be carried off by renaming
// the directory above it, which would leave the next run nothing to hide at
// the denied path and the files readable under the new name.
TEST_F(AgentTest, DenyBelowTheWorkspaceSurvivesRenamesOfItsParents)
{
    fs::create_directories(ws() / "a" / "secrets");
    put(ws() / "a" / "secrets" / "key", "TOPSECRET\n");
    const std::string denied = (ws() / "a" / "secrets").string();
    RunResult r = sh("mv a b 2>&1; echo mv=$?; ls", {"--deny", denied});
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "Device or resource busy")) << r.describe();
    EXPECT_FALSE(contains(r.out, "mv=0")) << r.describe();
    EXPECT_TRUE(fs::exists(ws() / "a" / "secrets" / "key")) << "the denied directory moved";
    RunResult again = sh("cat a/secrets/key b/secrets/key 2>&1; true", {"--deny", denied});
    ASSERT_EQ(again.status, 0) << again.describe();
    EXPECT_FALSE(contains(again.out, "TOPSECRET")) << again.describe();
}

TEST_F(AgentTest, DenyAppliesToEverySymlinkAlias)
{
    fs::create_directories(ws() / "real");
    put(ws() / "real" / "key", "TOPSECRET\n");
    put(ws() / "plain", "plain\n");
    fs::create_symlink("real", ws() / "link");
    fs::path outer_link = base() / "outer-link"; // outside the workspace, pointing into it
    fs::create_symlink(ws() / "real", outer_link);
    const std::string probe = "cat link/key; echo vialink=$?; cat real/key; echo viareal=$?; cat " +
                              (outer_link / "key").string() + "; echo viaouter=$?; cat plain";
    for (const std::string &denied : std::vector<std::string>{(ws() / "real").string(), (ws() / "link").string(), outer_link.string()}) {
        SCOPED_TRACE("--deny " + denied);
        RunResult r = sh(probe, {"--deny", denied});
        ASSERT_EQ(r.status, 0) << r.describe();
        EXPECT_FALSE(contains(r.out, "TOPSECRET")) << r.describe();
        EXPECT_TRUE(contains(r.out, "vialink=1")) << r.describe();
        EXPECT_TRUE(contains(r.out, "viareal=1")) << r.describe();
        EXPECT_TRUE(contains(r.out, "viaouter=1")) << r.describe();
        EXPECT_TRUE(contains(r.out, "plain")) << "the rest of the workspace stays readable\n" << r.describe();
    }
}

// ---- credentials, desktop, WSL ----------------------------------------------------

TEST_F(AgentTest, CredentialsInHomeAreHidden)
{
    put(home() / ".ssh" / "id_rsa", "SECRET-SSH-KEY\n", fs::perms(0600));
    put(home() / ".aws" / "credentials", "SECRET-AWS\n", fs::perms(0600));
    put(home() / ".netrc", "SECRET-NETRC\n", fs::perms(0600));
    put(home() / ".kube" / "config", "SECRET-KUBE\n", fs::perms(0600));
    put(home() / ".bashrc", "ordinary-dotfile\n");
    RunResult r = sh("echo HOME=$HOME; cat ~/.bashrc; for f in ~/.ssh/id_rsa ~/.aws/credentials ~/.netrc ~/.kube/config; "
                     "do cat $f; done; ls ~/.ssh; echo lsssh=$?");
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "HOME=" + home().string())) << r.describe();
    EXPECT_TRUE(contains(r.out, "ordinary-dotfile")) << "the fake home is visible (read-only)\n" << r.describe();
    EXPECT_FALSE(contains(r.out, "SECRET")) << r.describe();
    EXPECT_FALSE(contains(r.out, "id_rsa")) << r.describe();
    EXPECT_FALSE(contains(r.out, "lsssh=0")) << r.describe();
}

TEST_F(AgentTest, DesktopSocketsAndVariablesAreAbsent)
{
    HostFixtures fx;
    // X11: a socket in the host's /tmp/.X11-unix.
    const fs::path x11 = "/tmp/.X11-unix/X99";
    fx.make_dir("/tmp/.X11-unix");
    std::error_code ec;
    bool made_x11 = !fs::exists(fs::symlink_status(x11, ec));
    if (made_x11)
        fx.socket(x11);
    // The session bus, in /run/user/<uid> (uid 0 here).
    const fs::path rundir = "/run/user/0";
    fx.make_dir(rundir);
    const fs::path bus = rundir / (unique_id("mxc-agent-bus") + ".sock");
    fx.socket(bus);
    put(home() / ".Xauthority", "SECRET-XAUTH\n", fs::perms(0600));

    RunResult r = sandbox({"--keep-env", "DISPLAY", "--keep-env", "SSH_AUTH_SOCK", "--keep-env", "WSL*",
                           "--keep-env", "DBUS_SESSION_BUS_ADDRESS", "--keep-env", "XDG_RUNTIME_DIR"},
                          {"/bin/sh", "-c",
                           "env; for f in " + x11.string() + " " + bus.string() + " " + rundir.string() +
                               "; do if [ -e $f ] && ls $f >/dev/null 2>&1; then echo visible:$f; fi; done"},
                          {"DISPLAY=:99", "XAUTHORITY=" + (home() / ".Xauthority").string(),
                           "DBUS_SESSION_BUS_ADDRESS=unix:path=" + bus.string(), "SSH_AUTH_SOCK=" + bus.string(),
                           "WSL_INTEROP=/run/WSL/1_interop", "WSLENV=PATH/l", "WSL_DISTRO_NAME=Test",
                           "XDG_RUNTIME_DIR=" + rundir.string()});
    ASSERT_EQ(r.status, 0) << r.describe();
    auto env = env_map(r.out);
    for (const char *v : {"DISPLAY", "XAUTHORITY", "DBUS_SESSION_BUS_ADDRESS", "SSH_AUTH_SOCK", "WSL_INTEROP",
                          "WSLENV", "WSL_DISTRO_NAME", "XDG_RUNTIME_DIR"})
        EXPECT_EQ(env.count(v), 0u) << v << " leaked into the sandbox (kept with --keep-env)\n" << r.describe();
    EXPECT_FALSE(contains(r.out, "visible:")) << r.describe();
    if (!made_x11)
        std::cerr << "note: " << x11 << " existed already; checked the existing one\n";
}

TEST_F(AgentTest, WslPathsAreHidden)
{
    HostFixtures fx;
    std::vector<fs::path> markers;
    std::vector<std::string> skipped;
    // /run/WSL (its presence also makes mxc treat the host as WSL), /mnt/wslg,
    // and a Windows drive: WSL mounts them as drvfs, which a tmpfs named
    // "drvfs" mimics in /proc/self/mountinfo.
    for (const char *d : {"/run/WSL", "/mnt/wslg", "/mnt/c"}) {
        if (!fx.make_dir(d)) {
            skipped.push_back(d);
            continue;
        }
        if (std::string(d) == "/mnt/c")
            fx.mount_tmpfs(d, "drvfs");
        fx.write(fs::path(d) / "marker", std::string("SECRET-") + d + "\n");
        markers.push_back(fs::path(d) / "marker");
    }
    if (markers.empty())
        GTEST_SKIP() << "/run/WSL, /mnt/wslg and /mnt/c all exist on this host: no fixtures made";
    std::string script;
    for (const auto &m : markers)
        script += "cat " + m.string() + "; ls " + m.parent_path().string() + "; ";
    RunResult r = sh(script + "true");
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_FALSE(contains(r.out, "SECRET")) << r.describe();
    EXPECT_FALSE(contains(r.out, "marker")) << r.describe();
    for (const auto &s : skipped)
        std::cerr << "note: " << s << " exists on this host: not tested\n";
}

// ---- network -------------------------------------------------------------------

TEST_F(AgentTest, NetNoneHasNoRouteButLoopback)
{
    RunResult r = sandbox({"--net", "none"},
                          {kPython, "-c",
                           "import socket, errno\n"
                           "s = socket.socket()\n"
                           "try:\n"
                           "    s.connect(('10.255.255.1', 80)); print('connected')\n"
                           "except OSError as e:\n"
                           "    print('connect', errno.errorcode.get(e.errno, e.errno))\n"
                           "l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n"
                           "c = socket.create_connection(l.getsockname(), timeout=2); a, _ = l.accept()\n"
                           "c.sendall(b'ping'); print('loopback', a.recv(4).decode())\n"
                           "print('ifaces', sorted(n for _, n in socket.if_nameindex()))\n"});
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "connect ENETUNREACH")) << r.describe();
    EXPECT_TRUE(contains(r.out, "loopback ping")) << r.describe();
    EXPECT_TRUE(contains(r.out, "ifaces ['lo']")) << r.describe();
}

// A python3 http.server on 127.0.0.1:<ephemeral> in the host's network
// namespace, serving a directory; port() once it listens.
class HttpServer {
public:
    explicit HttpServer(const fs::path &dir)
        : child_({kPython, "-c",
                  "import http.server, functools, sys\n"
                  "h = functools.partial(http.server.SimpleHTTPRequestHandler, directory=sys.argv[1])\n"
                  "s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), h)\n"
                  "print(s.server_address[1], flush=True)\n"
                  "s.serve_forever()\n",
                  dir.string()},
                 {std::string("PATH=") + kPath})
    {
        wait_for([&] { return child_.out().find('\n') != std::string::npos || child_.exited(); }, 10s);
        std::string o = child_.out();
        if (o.find('\n') != std::string::npos)
            port_ = std::stoi(o);
    }
    int port() const { return port_; }
    std::string log() const { return child_.err(); }

private:
    Child child_;
    int port_ = 0;
};

int free_port()
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
    close(fd);
    return ntohs(a.sin_port);
}

TEST_F(AgentTest, NetAllowReachesListedServerOnly)
{
    fs::path www = base() / "www";
    put(www / "file", "served-by-the-test\n");
    HttpServer server(www);
    ASSERT_GT(server.port(), 0) << "http.server did not start: " << server.log();
    const std::string port = std::to_string(server.port());
    const std::string unlisted = std::to_string(free_port());
    const std::string url = "http://127.0.0.1:" + port + "/file";
    RunResult r = sh(std::string(kCurl) + " --noproxy '' -sS --max-time 5 " + url + "; echo listed=$?; " +
                         kCurl + " --noproxy '' -s --max-time 5 -o /dev/null -w 'code=%{http_code}\\n' http://127.0.0.1:" +
                         unlisted + "/file; " + kCurl + " --noproxy '*' -sS --max-time 3 " + url + "; echo direct=$?; " +
                         kCurl + " --noproxy '*' -sS --max-time 3 http://10.255.255.1/; echo directout=$?; "
                         "echo proxy=$HTTP_PROXY",
                     {"--net", "allow", "--allow", "127.0.0.1:" + port});
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "served-by-the-test\nlisted=0")) << r.describe();
    EXPECT_TRUE(contains(r.out, "code=403")) << "an unlisted port is refused by the proxy\n" << r.describe();
    EXPECT_TRUE(contains(r.out, "direct=7")) << "a connect() bypassing the proxy must fail\n" << r.describe();
    EXPECT_TRUE(contains(r.out, "directout=7")) << r.describe();
    EXPECT_TRUE(contains(r.out, "proxy=http://127.0.0.1:")) << r.describe();
    EXPECT_TRUE(contains(r.err, "network allow (1 allowed, 1 denied)")) << r.describe();
    // The server saw exactly the one proxied request.
    const std::string log = server.log();
    EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
}

// ---- limits ----------------------------------------------------------------------

fs::path v1_memory_cgroup(int pid)
{
    fs::path d = cgroup_dir_of(pid, "memory");
    return fs::exists(d / "memory.failcnt") ? d : fs::path();
}

TEST_F(AgentTest, MemoryHogIsKilled)
{
    std::string name = new_id("ag");
    // The hog runs under a shell that reports its status and then waits, so
    // that the test can read the sandbox's memory cgroup from the host.
    Child c(mxc_argv(run_args(name, {"--memory", "64M"},
                              {"/bin/sh", "-c",
                               std::string(kPython) + " -c \"b = b'x' * (512 << 20); print('allocated')\"; "
                                                      "echo $? > hog.rc; " + wait_go()})),
            mxc_env());
    ASSERT_TRUE(wait_for([&] { return fs::exists(ws() / "hog.rc") || c.exited(); }, 15s)) << c.err();
    std::string limit, failcnt;
    if (Json st = Json::parse(mxc({"state", name}).out, nullptr, false); st.is_object() && st.contains("pid")) {
        fs::path cg = v1_memory_cgroup(st["pid"].get<int>());
        if (!cg.empty()) {
            limit = read_file(cg / "memory.limit_in_bytes");
            failcnt = read_file(cg / "memory.failcnt");
        }
    }
    put(ws() / "go", "");
    RunResult r = c.wait(15s);
    expect_clean(name);
    EXPECT_EQ(r.status, 0) << r.describe();
    EXPECT_FALSE(contains(r.out, "allocated")) << r.describe();
    EXPECT_EQ(read_file(ws() / "hog.rc"), "137\n") << "the hog was SIGKILLed (OOM)\n" << r.describe();
    if (limit.empty()) {
        std::cerr << "note: no v1 memory cgroup found for the sandbox; checked the exit status only\n";
    } else {
        EXPECT_EQ(std::stoll(limit), 64ll << 20);
        EXPECT_GT(std::stoll(failcnt), 0) << "memory.failcnt";
    }
}

// The sandbox is in its own cgroups (on a hybrid host: v2 and the v1
// controllers) before its cgroup namespace is made, so every hierarchy shows
// as "/" inside and nothing of the host's cgroup tree shows through.
TEST_F(AgentTest, CgroupNamespaceIsRootedAtTheSandboxCgroups)
{
    std::string name = new_id("ag");
    Child c(mxc_argv(run_args(name, {}, {"/bin/sh", "-c", "cat /proc/self/cgroup > cg.tmp && mv cg.tmp cg.txt; " +
                                                             wait_go()})),
            mxc_env());
    ASSERT_TRUE(wait_for([&] { return fs::exists(ws() / "cg.txt") || c.exited(); }, 15s)) << c.err();
    std::vector<std::string> outside;
    if (Json st = Json::parse(mxc({"state", name}).out, nullptr, false); st.is_object() && st.contains("pid")) {
        for (const char *ctrl : {"memory", "pids", "cpu", "devices", "freezer"}) {
            fs::path d = cgroup_dir_of(st["pid"].get<int>(), ctrl);
            if (!d.empty())
                outside.push_back(d.string());
        }
    }
    put(ws() / "go", "");
    RunResult r = c.wait(15s);
    expect_clean(name);
    ASSERT_EQ(r.status, 0) << r.describe();
    std::string inside = read_file(ws() / "cg.txt");
    ASSERT_FALSE(inside.empty());
    for (const auto &line : lines_of(inside)) {
        auto c2 = line.find(':', line.find(':') + 1);
        ASSERT_NE(c2, std::string::npos) << line;
        EXPECT_EQ(line.substr(c2 + 1), "/") << "inside the sandbox: " << line << "\n" << inside;
    }
    EXPECT_FALSE(outside.empty()) << "no cgroup of the sandbox found from the host";
    for (const auto &d : outside)
        EXPECT_TRUE(contains(d, "/" + name)) << "the sandbox is not in its own cgroup: " << d;
}

TEST_F(AgentTest, PidsLimitStopsForkBomb)
{
    auto t0 = Clock::now();
    RunResult r = sh("i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done; echo all-forked", {"--pids", "32"});
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    EXPECT_NE(r.status, 0) << r.describe();
    EXPECT_FALSE(contains(r.out, "all-forked")) << r.describe();
    EXPECT_TRUE(std::regex_search(r.err, std::regex("[Cc]an(no|')t fork|Resource temporarily unavailable")))
        << r.describe();
    EXPECT_LT(secs, 10.0) << "the sandbox must exit (its 30 s sleeps die with it)";
}

TEST_F(AgentTest, TimeoutKillsWith124)
{
    auto t0 = Clock::now();
    RunResult r = sandbox({"--timeout", "1s"}, {"/bin/sleep", "30"});
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    EXPECT_EQ(r.status, 124) << r.describe();
    EXPECT_TRUE(contains(r.err, "timed out")) << r.describe();
    EXPECT_LT(secs, 5.0);
    EXPECT_GE(secs, 0.9);
}

// ---- exit codes and signals ----------------------------------------------------------

TEST_F(AgentTest, ExitStatusIsTheCommands)
{
    RunResult r = sh("exit 7");
    EXPECT_EQ(r.status, 7) << r.describe();
    r = sandbox({"--quiet"}, {"/bin/true"});
    EXPECT_EQ(r.status, 0) << r.describe();
    EXPECT_EQ(r.err, "") << "--quiet: no summary line";
    r = sandbox({}, {"/nonexistent/mxc-agent-cmd"});
    EXPECT_NE(r.status, 0) << r.describe();
}

// When the command exits, whatever it left behind dies before the audit
// stream is closed (mxc closes it while the kernel still takes the sandbox's
// namespaces down): a leftover process neither acts later nor keeps mxc.
TEST_F(AgentTest, WhatTheCommandLeavesRunningDiesWithIt)
{
    std::string name = new_id("ag");
    auto t0 = Clock::now();
    RunResult r = mxc(run_args(name, {"--audit-backend", "seccomp", "--json"},
                               {"/bin/sh", "-c",
                                "(sleep 0.5; echo late > late.txt; cat /etc/hostname > /dev/null) & "
                                "(trap '' TERM HUP; exec sleep 60) & exit 5"}));
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    expect_clean(name);
    EXPECT_EQ(r.status, 5) << r.describe();
    EXPECT_LT(secs, 10.0) << "mxc waited for what the command left running\n" << r.describe();
    std::this_thread::sleep_for(800ms);
    EXPECT_FALSE(fs::exists(ws() / "late.txt")) << "a process of the sandbox outlived its command";

    RunResult q = mxc({"audit", "query", "--dir", (state_dir() / "audit").string(), "--sandbox", name, "--json"});
    ASSERT_EQ(q.status, 0) << q.describe();
    std::vector<Json> recs = json_lines(q.out);
    ASSERT_FALSE(recs.empty()) << q.describe();
    EXPECT_EQ(recs.back().value("op", ""), "unregister") << recs.back().dump();
    for (const auto &j : recs)
        EXPECT_NE(j.value("path", ""), "/etc/hostname") << j.dump();
    RunResult v = mxc({"audit", "verify", "--dir", (state_dir() / "audit").string()});
    EXPECT_EQ(v.status, 0) << v.describe();
}

TEST_F(AgentTest, CommandKilledBySignalGives128PlusN)
{
    // The command signals itself: the shell dies of SIGTERM -> 143.  (The
    // command is the first process of a new pid namespace; a process that is
    // that namespace's init ignores signals it has no handler for, so mxc
    // must not make the command its init.)  --timeout keeps a failure short.
    RunResult r = sandbox({"--timeout", "5s"}, {"/bin/sh", "-c", "kill -TERM $$; echo survived-SIGTERM"});
    EXPECT_EQ(r.status, 143) << r.describe();
    EXPECT_FALSE(contains(r.out, "survived")) << r.describe();
    r = sandbox({"--timeout", "5s"}, {"/bin/sh", "-c", "kill -KILL $$; echo survived-SIGKILL"});
    EXPECT_EQ(r.status, 137) << r.describe();
}

TEST_F(AgentTest, SigtermToMxcIsForwarded)
{
    std::string name = new_id("ag");
    // --timeout is a safety net: a SIGTERM that is not forwarded gives 124.
    Child c(mxc_argv(run_args(name, {"--timeout", "6s"}, {"/bin/sleep", "30"})), mxc_env());
    ASSERT_TRUE(wait_for([&] { return status_in(name) == "running" || c.exited(); }, 10s)) << c.err();
    std::this_thread::sleep_for(200ms); // past the fifo handshake: sleep is exec'd
    auto t0 = Clock::now();
    kill(c.pid(), SIGTERM);
    RunResult r = c.wait(15s);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    expect_clean(name);
    EXPECT_EQ(r.status, 143) << r.describe();
    EXPECT_LT(secs, 3.0) << "SIGTERM did not end the sandbox promptly\n" << r.describe();
}

// ---- environment and identity --------------------------------------------------------

TEST_F(AgentTest, EnvironmentIsScrubbed)
{
    std::string name = new_id("ag");
    RunResult r = mxc(run_args(name, {"--env", "FOO=bar", "--keep-env", "KEEPME", "--env", "LANG=C"}, {"/usr/bin/env"}),
                      {"SECRET_TOKEN=hunter2", "AWS_SECRET_ACCESS_KEY=abc", "KEEPME=kept", "LC_ALL=C.UTF-8",
                       "TZ=UTC", "EDITOR=vi", "LD_PRELOAD=/nonexistent.so", "NOT_KEPT=1"});
    expect_clean(name);
    ASSERT_EQ(r.status, 0) << r.describe();
    auto env = env_map(r.out);
    const std::set<std::string> allowed = {"PATH", "HOME", "LANG", "TERM", "TZ", "USER", "MXC_IDENTITY", "MXC_SANDBOX",
                                           // --keep-env, --env, and the agent profile's env.keep
                                           "KEEPME", "FOO", "EDITOR", "PAGER", "COLORTERM"};
    for (const auto &[k, v] : env)
        EXPECT_TRUE(allowed.count(k) || k.rfind("LC_", 0) == 0) << "unexpected variable " << k << "=" << v;
    EXPECT_EQ(env["FOO"], "bar");
    EXPECT_EQ(env["KEEPME"], "kept");
    EXPECT_EQ(env["LANG"], "C") << "--env overrides";
    EXPECT_EQ(env["LC_ALL"], "C.UTF-8");
    EXPECT_EQ(env["TZ"], "UTC");
    EXPECT_EQ(env["HOME"], home().string());
    EXPECT_EQ(env["USER"], "root");
    EXPECT_EQ(env["PATH"], kPath);
    EXPECT_EQ(env["MXC_SANDBOX"], name);
    EXPECT_EQ(env["MXC_IDENTITY"], "default") << "the caller's default identity, made on first use";
    EXPECT_EQ(env.count("SECRET_TOKEN"), 0u);
    EXPECT_EQ(env.count("LD_PRELOAD"), 0u);
    EXPECT_EQ(env.count("NOT_KEPT"), 0u);
}

TEST_F(AgentTest, IdentityIsBoundToTheSandbox)
{
    RunResult made = mxc({"identity", "create", "alice"});
    ASSERT_EQ(made.status, 0) << made.describe();
    ASSERT_TRUE(fs::exists(state_dir() / "identities")) << "MXC_STATE_DIR is honoured";

    std::string name = new_id("ag");
    Child c(mxc_argv(run_args(name, {"--identity", "alice"},
                              {"/bin/sh", "-c", "echo identity=$MXC_IDENTITY; " + wait_go()})),
            mxc_env());
    ASSERT_TRUE(wait_for([&] { return status_in(name) == "running" || c.exited(); }, 10s)) << c.err();
    Json st = Json::parse(mxc({"state", name}).out, nullptr, false);
    put(ws() / "go", "");
    RunResult r = c.wait(15s);
    expect_clean(name);
    ASSERT_TRUE(st.is_object()) << "mxc state " << name;
    EXPECT_EQ(st["status"], "running");
    EXPECT_EQ(st["annotations"]["org.mxc.identity"], "alice") << st.dump(2);
    EXPECT_EQ(st["annotations"]["org.mxc.sandbox"], "true") << st.dump(2);
    EXPECT_TRUE(st["annotations"].contains("org.mxc.identity.uuid")) << st.dump(2);
    EXPECT_EQ(r.status, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "identity=alice")) << r.describe();
    EXPECT_TRUE(contains(r.err, "identity alice")) << "the summary names the identity\n" << r.describe();
}

TEST_F(AgentTest, UnknownIdentityIsRefusedAndLeavesNothing)
{
    std::string name = new_id("ag");
    RunResult r = mxc(run_args(name, {"--identity", "nosuchident"}, {"/bin/sh", "-c", "touch ran"}));
    EXPECT_NE(r.status, 0) << r.describe();
    EXPECT_TRUE(contains(r.err, "nosuchident")) << r.describe();
    EXPECT_FALSE(fs::exists(ws() / "ran")) << "the command must not run";
    expect_clean(name);
}

// The key is checked while the sandbox sets itself up: a pub.pem that does not
// match identity.json still stops the run before the command starts, with or
// without audit.
TEST_F(AgentTest, IdentityWithForeignKeyIsRefusedAndLeavesNothing)
{
    ASSERT_EQ(mxc({"identity", "create", "alice"}).status, 0);
    ASSERT_EQ(mxc({"identity", "create", "bob"}).status, 0);
    fs::path pub = state_dir() / "identities" / "alice" / "pub.pem";
    std::string bobs = read_file(state_dir() / "identities" / "bob" / "pub.pem");
    put(pub, bobs, fs::perms(0600));
    put(profiles() / "unaudited.yaml", "name: unaudited\nextends: agent\naudit: off\n");
    for (const std::vector<std::string> &flags : {std::vector<std::string>{"--identity", "alice"},
                                                  {"--identity", "alice", "--profile", "unaudited"}}) {
        std::string name = new_id("ag");
        std::vector<std::string> args = run_args(name, flags, {"/bin/sh", "-c", "touch ran"});
        RunResult r = mxc(args);
        EXPECT_NE(r.status, 0) << r.describe();
        EXPECT_TRUE(contains(r.err, "does not match the fingerprint")) << r.describe();
        EXPECT_FALSE(fs::exists(ws() / "ran")) << "the command must not run\n" << r.describe();
        expect_clean(name);
    }
}

// `mxc exec` into a running agent sandbox: the process it starts is held as
// the sandbox's own one is (Landlock, the seccomp filter, no_new_privs) and,
// with the seccomp-notify audit, recorded in the sandbox's stream.  It failed
// with "landlock: open /: Function not implemented (ENOSYS)": exec dropped
// the listener of the filter's NOTIFY rules, and the kernel answers ENOSYS
// for a notified syscall that nobody listens to.
TEST_F(AgentTest, ExecRunsConfinedAndAuditedLikeTheSandbox)
{
    std::string name = new_id("ag");
    fs::path outside = base() / "outside";
    fs::create_directories(outside);
    fs::permissions(outside, fs::perms(0777));
    // What the sandbox's own process sees of its confinement, then wait.
    const std::string status = "grep -E '^(NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status";
    Child c(mxc_argv(run_args(name, {"--audit-backend", "seccomp", "--json"},
                              {"/bin/sh", "-c", status + " > own.txt; " + wait_go()})),
            mxc_env());
    ASSERT_TRUE(wait_for([&] { return (status_in(name) == "running" && fs::exists(ws() / "own.txt")) || c.exited(); },
                         10s))
        << c.err();

    RunResult t = mxc({"exec", name, "/bin/true"});
    EXPECT_EQ(t.status, 0) << t.describe();
    // Landlock answers EACCES for a write the mounts would allow (/proc is
    // read-write); a read-only mount says EROFS.
    RunResult e = mxc({"exec", name, "/bin/sh", "-c",
                       "echo exec-marker > from-exec; echo ws=$?; "
                       "echo x > /proc/self/comm; echo comm=$?; "
                       "echo x > " + (outside / "from-exec").string() + "; echo outside=$?; " +
                           status + " > exec.txt"});
    put(ws() / "go", "");
    RunResult r = c.wait(15s);
    expect_clean(name);
    EXPECT_EQ(r.status, 0) << r.describe();
    ASSERT_EQ(e.status, 0) << e.describe();
    EXPECT_TRUE(contains(e.out, "ws=0")) << e.describe();
    EXPECT_EQ(read_file(ws() / "from-exec"), "exec-marker\n");
    EXPECT_TRUE(contains(e.out, "comm=2") || contains(e.out, "comm=1")) << e.describe();
    EXPECT_TRUE(contains(e.err, "Permission denied")) << "Landlock, not the mounts, refuses\n" << e.describe();
    EXPECT_FALSE(contains(e.out, "outside=0")) << e.describe();
    EXPECT_FALSE(fs::exists(outside / "from-exec"));
    std::string own = read_file(ws() / "own.txt");
    EXPECT_TRUE(contains(own, "NoNewPrivs:\t1")) << own;
    EXPECT_EQ(read_file(ws() / "exec.txt"), own) << "the exec'd process is confined as the sandbox's own";

    // The exec'd commands are in the sandbox's audit stream.
    RunResult q = mxc({"audit", "query", "--dir", (state_dir() / "audit").string(), "--sandbox", name, "--kind",
                       "exec", "--json"});
    ASSERT_EQ(q.status, 0) << q.describe();
    bool true_seen = false, sh_seen = false;
    for (const auto &l : lines_of(q.out)) {
        Json j = Json::parse(l, nullptr, false);
        if (!j.is_object())
            continue;
        true_seen |= j.value("path", "") == "/bin/true";
        sh_seen |= j.contains("args") && contains(j["args"].dump(), "exec-marker");
    }
    EXPECT_TRUE(true_seen) << q.describe();
    EXPECT_TRUE(sh_seen) << q.describe();
}

// `mxc exec` hands its listener over <state>/<id>/notify.sock.  A peer that
// connects there and says nothing must not hold up the end of the sandbox
// (the accept loop waited up to 10 s for it).
TEST_F(AgentTest, SilentPeerOnTheExecSocketDoesNotHoldUpTheEnd)
{
    std::string name = new_id("ag");
    Child c(mxc_argv(run_args(name, {"--audit-backend", "seccomp"}, {"/bin/sh", "-c", wait_go()})), mxc_env());
    fs::path sock = root_dir() / name / "notify.sock";
    ASSERT_TRUE(wait_for([&] { return fs::exists(sock) || c.exited(); }, 10s)) << c.err();
    int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(s, 0);
    struct CloseFd {
        int fd;
        ~CloseFd() { ::close(fd); }
    } close_s{s};
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, sock.c_str(), sizeof a.sun_path - 1);
    ASSERT_EQ(::connect(s, reinterpret_cast<sockaddr *>(&a), sizeof a), 0) << std::strerror(errno);
    std::this_thread::sleep_for(200ms); // accepted, waiting for a listener that never comes
    auto t0 = Clock::now();
    put(ws() / "go", "");
    RunResult r = c.wait(20s);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    expect_clean(name);
    EXPECT_EQ(r.status, 0) << r.describe();
    EXPECT_LT(secs, 5.0) << "a silent peer held up the sandbox's end\n" << r.describe();
}

TEST_F(AgentTest, SandboxShowsInListWhileRunning)
{
    std::string name = new_id("ag");
    Child c(mxc_argv(run_args(name, {}, {"/bin/sh", "-c", wait_go()})), mxc_env());
    ASSERT_TRUE(wait_for([&] { return status_in(name) == "running" || c.exited(); }, 10s)) << c.err();
    RunResult table = mxc({"list"});
    RunResult json = mxc({"list", "--format", "json"});
    RunResult ps = mxc({"ps", "--format", "json", name});
    put(ws() / "go", "");
    RunResult r = c.wait(15s);
    EXPECT_EQ(r.status, 0) << r.describe();
    bool listed = false;
    for (const auto &l : lines_of(table.out))
        if (l.rfind(name + " ", 0) == 0 && contains(l, "running"))
            listed = true;
    EXPECT_TRUE(listed) << table.describe();
    Json arr = Json::parse(json.out, nullptr, false);
    ASSERT_TRUE(arr.is_array()) << json.describe();
    bool in_json = false;
    for (const auto &e : arr)
        if (e.value("id", "") == name && e.value("status", "") == "running")
            in_json = true;
    EXPECT_TRUE(in_json) << json.describe();
    Json pids = Json::parse(ps.out, nullptr, false);
    EXPECT_TRUE(pids.is_array() && !pids.empty()) << ps.describe();
    expect_clean(name);
    RunResult after = mxc({"list", "--quiet"});
    EXPECT_FALSE(contains(after.out, name)) << "gone from the list once it exited\n" << after.describe();
}

// ---- profiles ---------------------------------------------------------------------

TEST_F(AgentTest, BadProfileNamesFileAndYamlPathAndLeavesNothing)
{
    fs::path bad = profiles() / "badprof.yaml";
    put(bad, "name: badprof\nfilesystem: {readwrite: [1, {a: b}]}\n");
    for (const std::string &given : {bad.string(), std::string("badprof")}) {
        SCOPED_TRACE("--profile " + given);
        std::string name = new_id("ag");
        RunResult r = mxc(run_args(name, {"--profile", given}, {"/bin/sh", "-c", "touch ran"}));
        EXPECT_NE(r.status, 0) << r.describe();
        EXPECT_TRUE(contains(r.err, bad.string())) << "the error names the file\n" << r.describe();
        EXPECT_TRUE(contains(r.err, ".filesystem.readwrite[1]")) << "the error names the YAML path\n" << r.describe();
        EXPECT_FALSE(fs::exists(ws() / "ran"));
        expect_clean(name);
    }
    RunResult check = mxc({"profile", "check", bad.string()});
    EXPECT_NE(check.status, 0) << check.describe();
    EXPECT_TRUE(contains(check.err, bad.string())) << check.describe();
    EXPECT_TRUE(contains(check.err, ".filesystem.readwrite[1]")) << check.describe();
    EXPECT_FALSE(contains(check.out, ": ok")) << check.describe();

    // And a good one passes.
    fs::path good = profiles() / "goodprof.yaml";
    put(good, "name: goodprof\nextends: agent\nfilesystem: {readwrite: [\"${WORKSPACE}\"]}\n");
    RunResult ok = mxc({"profile", "check", good.string()});
    EXPECT_EQ(ok.status, 0) << ok.describe();
}

TEST_F(AgentTest, ProfileRenderPrintsTheOciConfig)
{
    RunResult r = mxc({"profile", "render", "agent", "--workspace", ws().string(), "--", "true"});
    ASSERT_EQ(r.status, 0) << r.describe();
    Json j = Json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not JSON:\n" << r.describe();
    EXPECT_EQ(j["root"]["path"], "/") << j["root"].dump();
    EXPECT_EQ(j["root"]["readonly"], true) << j["root"].dump();
    ASSERT_TRUE(j["mounts"].is_array() && !j["mounts"].empty()) << j["mounts"].dump();
    EXPECT_EQ(j["process"]["args"], Json::array({"true"}));
    EXPECT_EQ(j["process"]["cwd"], ws().string());
    bool ws_rw = false, tmp = false;
    for (const auto &m : j["mounts"]) {
        if (m.value("destination", "") == ws().string() && contains(m["options"].dump(), "\"rw\""))
            ws_rw = true;
        if (m.value("destination", "") == "/tmp" && m.value("type", "") == "tmpfs")
            tmp = true;
    }
    EXPECT_TRUE(ws_rw) << "the workspace is bound read-write\n" << j["mounts"].dump(2);
    EXPECT_TRUE(tmp) << "/tmp is a private tmpfs\n" << j["mounts"].dump(2);
    EXPECT_EQ(j["annotations"]["org.mxc.profile"], "agent");
}

// ---- privileges ---------------------------------------------------------------------

TEST_F(AgentTest, NoCapabilitiesNoNewPrivsAndSeccomp)
{
    RunResult r = sh("grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status");
    ASSERT_EQ(r.status, 0) << r.describe();
    std::map<std::string, std::string> status;
    for (const auto &l : lines_of(r.out)) {
        auto colon = l.find(':');
        std::string v = l.substr(colon + 1);
        v.erase(0, v.find_first_not_of(" \t"));
        status[l.substr(0, colon)] = v;
    }
    for (const char *cap : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
        EXPECT_EQ(status[cap], "0000000000000000") << cap << "\n" << r.out;
    EXPECT_EQ(status["NoNewPrivs"], "1");
    EXPECT_EQ(status["Seccomp"], "2") << "a seccomp filter";
}

TEST_F(AgentTest, SeccompBlocksBpfAndFriends)
{
    struct utsname u{};
    uname(&u);
    if (std::string(u.machine) != "x86_64")
        GTEST_SKIP() << "syscall numbers below are x86_64's";
    // Each call with arguments that, unfiltered, fail with something other
    // than EPERM (EFAULT/EINVAL) or succeed; the filter makes them EPERM.
    const std::string script =
        "import ctypes, errno\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "calls = [('bpf', 321, (0, 0, 0)), ('keyctl', 250, (0, -3, 0)), ('io_uring_setup', 425, (1, 0)),\n"
        "         ('perf_event_open', 298, (0, 0, -1, -1, 0)), ('userfaultfd', 323, (0,)),\n"
        "         ('open_by_handle_at', 304, (-1, 0, 0)), ('kexec_load', 246, (0, 0, 0, 0)),\n"
        "         ('pidfd_getfd', 438, (-1, 0, 0)), ('kcmp', 312, (1, 1, 0, 0, 0)),\n"
        "         ('process_madvise', 440, (-1, 0, 0, 0, 0))]\n"
        "for name, nr, args in calls:\n"
        "    r = libc.syscall(nr, *args); e = ctypes.get_errno()\n"
        "    print(name, 'ok' if r >= 0 else errno.errorcode.get(e, e))\n";
    RunResult inside = sandbox({}, {kPython, "-c", script});
    RunResult host = run_program({kPython, "-c", script});
    ASSERT_EQ(inside.status, 0) << inside.describe();
    auto parse = [](const std::string &out) {
        std::map<std::string, std::string> m;
        for (const auto &l : lines_of(out))
            if (auto sp = l.find(' '); sp != std::string::npos)
                m[l.substr(0, sp)] = l.substr(sp + 1);
        return m;
    };
    auto in = parse(inside.out), out = parse(host.out);
    for (const char *name : {"bpf", "keyctl", "io_uring_setup", "perf_event_open", "userfaultfd", "open_by_handle_at",
                             "kexec_load", "pidfd_getfd", "kcmp", "process_madvise"})
        EXPECT_EQ(in[name], "EPERM") << name << " inside the sandbox (on the host: " << out[name] << ")\n"
                                     << inside.describe();
    // The control: on the host these do not all fail with EPERM, so the
    // EPERMs above come from the filter, not from missing capabilities alone.
    EXPECT_NE(out["keyctl"], "EPERM") << host.describe();
}

// The sandbox's init holds fds the command must not reach: the pipe it
// reports the command's end on and, in a run by root, the runtime's own v1
// cgroups' tasks files, through which a process would leave the sandbox's
// limits.  The init is dumpable only until the command has exec'd (the
// seccomp-notify audit reads that execve's arguments).
TEST_F(AgentTest, TheCommandCannotReachTheInitsFds)
{
    RunResult r = sandbox({"--audit-backend", "seccomp"},
                          {"/bin/sh", "-c",
                           "cat /proc/self/cgroup > before.txt; n=0; "
                           "for f in /proc/1/fd/*; do (echo 0 > $f) 2>/dev/null && n=$((n+1)); done; "
                           "echo reached=$n; cat /proc/self/cgroup > after.txt"});
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_TRUE(contains(r.out, "reached=0")) << r.describe();
    EXPECT_EQ(read_file(ws() / "before.txt"), read_file(ws() / "after.txt")) << "the command changed its cgroups";
    EXPECT_FALSE(contains(r.err, "while the sandbox still runs")) << r.describe();
}

// Only the command word names mxc's command: an argument "exec" or "run" of
// the sandboxed command is the command's own, passed through untouched.
TEST_F(AgentTest, CommandArgumentsNamedLikeMxcCommandsPassThrough)
{
    RunResult r = sandbox({}, {"/bin/echo", "exec", "-c", "x", "run", "--", "y"});
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_EQ(r.out, "exec -c x run -- y\n") << r.describe();
}


}  // namespace
}  // namespace mxc::testing
