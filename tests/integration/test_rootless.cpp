// Rootless containers: mxc run by an unprivileged user the tests create
// (mxctest, with subordinate ids 200000:65536), on a bundle that user owns,
// with the config `mxc spec --rootless` writes.  Setting the user up needs
// root; the containers themselves run with the user's credentials only.
#include "fixture.hpp"
#include "mxc/util/fd.hpp"

#include <grp.h>
#include <signal.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <sstream>

using namespace mxc::testing;

namespace {

constexpr const char* kUser = "mxctest";
constexpr unsigned kSubStart = 200000;
constexpr unsigned kSubCount = 65536;

bool contains(const std::string& hay, const std::string& needle)
{
    return hay.find(needle) != std::string::npos;
}

size_t count_of(const std::string& hay, const std::string& needle)
{
    size_t n = 0;
    for (size_t pos = hay.find(needle); pos != std::string::npos; pos = hay.find(needle, pos + 1))
        n++;
    return n;
}

bool executable(const char* path) { return access(path, X_OK) == 0; }

// Adds "user:start:count" to an /etc/sub[ug]id file unless that exact range is there.
void ensure_subid_range(const fs::path& file, const std::string& line)
{
    std::string text = read_file(file);
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        if (l == line)
            return;
    std::ofstream o(file, std::ios::app);
    if (!text.empty() && text.back() != '\n')
        o << '\n';
    o << line << '\n';
}

// Creates the test user once per process; "" on success, else why not.
std::string ensure_user()
{
    static std::once_flag once;
    static std::string why_not;
    std::call_once(once, [] {
        if (!getpwnam(kUser)) {
            RunResult r = run_program({"/usr/sbin/useradd", "-m", "-s", "/bin/sh", kUser}, "", 30s);
            if (r.status != 0 || !getpwnam(kUser)) {
                why_not = "useradd " + std::string(kUser) + " failed: " + r.describe();
                return;
            }
        }
        const std::string range =
            std::string(kUser) + ":" + std::to_string(kSubStart) + ":" + std::to_string(kSubCount);
        ensure_subid_range("/etc/subuid", range);
        ensure_subid_range("/etc/subgid", range);
    });
    return why_not;
}

void chown_tree(const fs::path& dir, uid_t uid, gid_t gid)
{
    lchown(dir.c_str(), uid, gid);
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
         !ec && it != end; it.increment(ec))
        lchown(it->path().c_str(), uid, gid);
}

class Rootless : public IntegrationTest {
protected:
    void SetUp() override
    {
        IntegrationTest::SetUp();
        if (IsSkipped())
            return;
        if (!is_root())
            GTEST_SKIP() << "needs root to create the unprivileged test user " << kUser
                         << " and its /etc/subuid ranges";
        for (const char* tool : {"/usr/sbin/useradd", "/usr/bin/newuidmap", "/usr/bin/newgidmap"})
            if (!executable(tool))
                GTEST_SKIP() << tool << " is missing (packages passwd / uidmap)";
        if (std::atoi(read_file("/proc/sys/user/max_user_namespaces").c_str()) <= 0)
            GTEST_SKIP() << "user namespaces are disabled (user.max_user_namespaces = 0)";
        if (read_file("/proc/sys/kernel/unprivileged_userns_clone").rfind("0", 0) == 0)
            GTEST_SKIP() << "unprivileged user namespaces are disabled "
                            "(kernel.unprivileged_userns_clone = 0)";
        std::string why = ensure_user();
        if (!why.empty())
            GTEST_SKIP() << why;
        const struct passwd* pw = getpwnam(kUser);
        ASSERT_NE(pw, nullptr);
        uid_ = pw->pw_uid;
        gid_ = pw->pw_gid;

        // The user's own corner of the test's temp dir: HOME, XDG_RUNTIME_DIR
        // and the runtime's --root.
        home_ = tmp() / "user-home";
        xdg_ = tmp() / "user-run";
        uroot_ = xdg_ / "mxc";
        for (const auto& d : {home_, xdg_})
            fs::create_directories(d);
        fs::permissions(xdg_, fs::perms(0700));
        chown_tree(home_, uid_, gid_);
        chown_tree(xdg_, uid_, gid_);

        who_.uid = uid_;
        who_.gid = gid_;
        who_.groups = {static_cast<unsigned>(gid_)};
        // MXC_MXCD_SOCKET: not the host's mxcd (README's first command starts
        // one); the test that wants one starts its own and names it.
        who_.env = {"HOME=" + home_.string(), "XDG_RUNTIME_DIR=" + xdg_.string(),
                    "USER=" + std::string(kUser), "LOGNAME=" + std::string(kUser),
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "MXC_MXCD_SOCKET=" + (home_ / "no-mxcd.sock").string()};

        // The build tree may not be reachable by the user: then run a copy.
        bin_ = mxc_bin();
        RunResult v = run_program_as(who_, {bin_, "--version"}, "", 10s);
        if (v.status == 126 || v.status == 127) {
            fs::path copy = home_ / "mxc";
            fs::copy_file(bin_, copy, fs::copy_options::overwrite_existing);
            fs::permissions(copy, fs::perms(0755));
            bin_ = copy.string();
            v = run_program_as(who_, {bin_, "--version"}, "", 10s);
        }
        ASSERT_EQ(v.status, 0) << "mxc --version as " << kUser << ": " << v.describe();
    }

    // `$MXC_BIN --root <the user's root> args...` as the test user.
    RunResult run_user_mxc(const std::vector<std::string>& args, const std::string& input = "",
                           std::chrono::milliseconds timeout = 30s) const
    {
        std::vector<std::string> argv{bin_, "--root", uroot_.string()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_program_as(who_, argv, input, timeout);
    }

    // `mxc spec --rootless` as the user: the config it writes.
    Json rootless_spec()
    {
        fs::path dir = home_ / ("spec-" + std::to_string(spec_count_++));
        fs::create_directories(dir);
        chown_tree(dir, uid_, gid_);
        RunResult s = run_user_mxc({"spec", "--rootless", "--bundle", dir.string()});
        EXPECT_EQ(s.status, 0) << s.describe();
        Json j = Json::parse(read_file(dir / "config.json"), nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << "mxc spec --rootless wrote no JSON";
        return j.is_discarded() ? Json() : j;
    }

    // A bundle owned by the user, with the rootless spec, args, no terminal.
    Bundle& user_bundle(std::vector<std::string> args = {"/probe"})
    {
        Bundle& b = new_bundle();
        Json spec = rootless_spec();
        if (spec.is_object()) {
            spec["process"]["args"] = std::move(args);
            spec["process"]["terminal"] = false;
            b.json() = spec;
        }
        b.write();
        chown_tree(b.dir(), uid_, gid_);
        return b;
    }

    void write_owned(Bundle& b)
    {
        b.write();
        chown_tree(b.dir(), uid_, gid_);
    }

    std::vector<std::string> user_leftovers(const std::string& id, const Bundle& b) const
    {
        return mxc::testing::leftovers(uroot_, id, b.dir());
    }

    std::string user_status(const std::string& id) const
    {
        RunResult r = run_user_mxc({"state", id});
        Json j = Json::parse(r.out, nullptr, false);
        if (r.status != 0 || j.is_discarded())
            return "";
        return j.value("status", "");
    }

    void TearDown() override
    {
        for (const auto& id : user_ids_) {
            run_user_mxc({"kill", id, "KILL"}, "", 10s);
            run_user_mxc({"delete", "--force", id}, "", 20s);
        }
        IntegrationTest::TearDown();
    }

    std::string user_id(std::string_view prefix)
    {
        user_ids_.push_back(unique_id(prefix));
        return user_ids_.back();
    }

    uid_t uid_ = 0;
    gid_t gid_ = 0;
    RunAs who_;
    std::string bin_;
    fs::path home_, xdg_, uroot_;
    int spec_count_ = 0;
    std::vector<std::string> user_ids_;
};

// ---- the basics ---------------------------------------------------------------

TEST_F(Rootless, RunIsRootInANewUserNamespace)
{
    Bundle& b = user_bundle({"/bin/sh", "-c", "/probe; /probe read /proc/self/uid_map; "
                                              "/probe read /proc/self/gid_map"});
    std::string id = user_id("rl-run");
    RunResult r = run_user_mxc({"run", "--bundle", b.dir().string(), id});
    ASSERT_EQ(r.status, 0) << r.describe();
    auto out = json_lines(r.out);
    ASSERT_EQ(out.size(), 3u) << r.describe();
    const Json& p = out[0];
    EXPECT_EQ(p["uid"], 0);
    EXPECT_EQ(p["euid"], 0);
    EXPECT_EQ(p["gid"], 0);
    EXPECT_NE(p["namespaces"]["user"].get<unsigned long long>(), host_ns_inode("user"));
    // The own-id mapping needs no helper: 0 -> the user's uid, one id.
    std::istringstream um(out[1].value("content", ""));
    unsigned inside = 99, outside = 0, count = 0;
    um >> inside >> outside >> count;
    EXPECT_EQ(inside, 0u) << out[1].dump();
    EXPECT_EQ(outside, static_cast<unsigned>(uid_)) << out[1].dump();
    EXPECT_EQ(count, 1u) << out[1].dump();
    std::istringstream gm(out[2].value("content", ""));
    inside = 99, outside = 0, count = 0;
    gm >> inside >> outside >> count;
    EXPECT_EQ(inside, 0u) << out[2].dump();
    EXPECT_EQ(outside, static_cast<unsigned>(gid_)) << out[2].dump();
    EXPECT_TRUE(user_leftovers(id, b).empty()) << ::testing::PrintToString(user_leftovers(id, b));
}

TEST_F(Rootless, ContainerProcessRunsWithTheUsersHostIdentity)
{
    // Seen from the host, the container's root is the user, nothing more.
    Bundle& b = user_bundle({"/probe", "sleep", "60"});
    std::string id = user_id("rl-ident");
    ASSERT_EQ(run_user_mxc({"create", "--bundle", b.dir().string(), id}).status, 0);
    ASSERT_EQ(run_user_mxc({"start", id}).status, 0);
    RunResult s = run_user_mxc({"state", id});
    ASSERT_EQ(s.status, 0) << s.describe();
    int pid = Json::parse(s.out, nullptr, false).value("pid", 0);
    ASSERT_GT(pid, 0);
    struct stat st{};
    ASSERT_EQ(stat(("/proc/" + std::to_string(pid)).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, uid_);
    std::string status = read_file("/proc/" + std::to_string(pid) + "/status");
    EXPECT_TRUE(contains(status, "\nUid:\t" + std::to_string(uid_) + "\t")) << status;
}

TEST_F(Rootless, CreateStartStateKillDelete)
{
    Bundle& b = user_bundle({"/probe", "sleep", "60"});
    std::string id = user_id("rl-life");
    RunResult c = run_user_mxc({"create", "--bundle", b.dir().string(), id});
    ASSERT_EQ(c.status, 0) << c.describe();
    RunResult s = run_user_mxc({"state", id});
    ASSERT_EQ(s.status, 0) << s.describe();
    Json st = Json::parse(s.out, nullptr, false);
    ASSERT_TRUE(st.is_object()) << s.describe();
    EXPECT_EQ(st["status"], "created");
    EXPECT_EQ(st["id"], id);
    EXPECT_GT(st.value("pid", 0), 0);

    RunResult start = run_user_mxc({"start", id});
    ASSERT_EQ(start.status, 0) << start.describe();
    EXPECT_EQ(user_status(id), "running");
    RunResult l = run_user_mxc({"list", "-q"});
    EXPECT_EQ(l.out, id + "\n") << l.describe();

    RunResult k = run_user_mxc({"kill", id, "TERM"});
    ASSERT_EQ(k.status, 0) << k.describe();
    EXPECT_TRUE(wait_for([&] { return user_status(id) == "stopped"; }, 10s))
        << "status: " << user_status(id);
    RunResult d = run_user_mxc({"delete", id});
    ASSERT_EQ(d.status, 0) << d.describe();
    EXPECT_NE(run_user_mxc({"state", id}).status, 0);
    EXPECT_TRUE(wait_for([&] { return user_leftovers(id, b).empty(); }, 5s))
        << ::testing::PrintToString(user_leftovers(id, b));
}

TEST_F(Rootless, ExecJoinsTheContainer)
{
    Bundle& b = user_bundle({"/probe", "sleep", "60"});
    std::string id = user_id("rl-exec");
    ASSERT_EQ(run_user_mxc({"create", "--bundle", b.dir().string(), id}).status, 0);
    ASSERT_EQ(run_user_mxc({"start", id}).status, 0);
    RunResult e = run_user_mxc({"exec", id, "/probe"});
    ASSERT_EQ(e.status, 0) << e.describe();
    Json p = probe_json(e.out);
    EXPECT_EQ(p["uid"], 0);
    EXPECT_NE(p["pid"], 1);
    EXPECT_NE(p["namespaces"]["user"].get<unsigned long long>(), host_ns_inode("user"));
    ASSERT_EQ(run_user_mxc({"delete", "--force", id}).status, 0);
    EXPECT_TRUE(wait_for([&] { return user_leftovers(id, b).empty(); }, 5s))
        << ::testing::PrintToString(user_leftovers(id, b));
}

// ---- id ranges through newuidmap/newgidmap ------------------------------------------

TEST_F(Rootless, SubordinateRangeMapsRootTo200000)
{
    Bundle& b = user_bundle({"/bin/sh", "-c",
                             "/probe write /out/by-root inside; /probe read /proc/self/uid_map; /probe"});
    const Json range = Json::array({{{"containerID", 0}, {"hostID", kSubStart}, {"size", kSubCount}}});
    b.json()["linux"]["uidMappings"] = range;
    b.json()["linux"]["gidMappings"] = range;
    // A host directory owned by the container's root (host uid 200000).
    fs::path out = b.dir() / "out";
    fs::create_directories(out);
    fs::create_directories(b.rootfs() / "out");  // the mount point
    b.add_mount("/out", "bind", out.string(), {"rbind", "rw"});
    write_owned(b);
    ASSERT_EQ(chown(out.c_str(), kSubStart, kSubStart), 0);

    std::string id = user_id("rl-range");
    RunResult r = run_user_mxc({"run", "--bundle", b.dir().string(), id});
    ASSERT_EQ(r.status, 0) << r.describe();
    auto lines = json_lines(r.out);
    ASSERT_EQ(lines.size(), 3u) << r.describe();
    EXPECT_EQ(lines[0]["ok"], true) << lines[0].dump();
    std::istringstream um(lines[1].value("content", ""));
    unsigned inside = 99, outside = 0, count = 0;
    um >> inside >> outside >> count;
    EXPECT_EQ(inside, 0u) << lines[1].dump();
    EXPECT_EQ(outside, kSubStart) << lines[1].dump();
    EXPECT_EQ(count, kSubCount) << lines[1].dump();
    EXPECT_EQ(lines[2]["uid"], 0);

    struct stat st{};
    ASSERT_EQ(stat((out / "by-root").c_str(), &st), 0) << "the file is not on the host";
    EXPECT_EQ(st.st_uid, kSubStart);
    EXPECT_EQ(st.st_gid, kSubStart);
    EXPECT_TRUE(user_leftovers(id, b).empty()) << ::testing::PrintToString(user_leftovers(id, b));
}

TEST_F(Rootless, OwnIdAsRootPlusSubordinateRange)
{
    // The usual podman layout: 0 -> the user, 1..65536 -> 200000...
    Bundle& b = user_bundle({"/probe", "write", "/out/by-1000", "x"});
    b.json()["linux"]["uidMappings"] = Json::array(
        {{{"containerID", 0}, {"hostID", uid_}, {"size", 1}},
         {{"containerID", 1}, {"hostID", kSubStart}, {"size", kSubCount}}});
    b.json()["linux"]["gidMappings"] = Json::array(
        {{{"containerID", 0}, {"hostID", gid_}, {"size", 1}},
         {{"containerID", 1}, {"hostID", kSubStart}, {"size", kSubCount}}});
    b.json()["process"]["user"] = {{"uid", 1000}, {"gid", 1000}};
    fs::path out = b.dir() / "out";
    fs::create_directories(out);
    fs::create_directories(b.rootfs() / "out");  // the mount point
    b.add_mount("/out", "bind", out.string(), {"rbind", "rw"});
    write_owned(b);
    fs::permissions(out, fs::perms(0777));

    std::string id = user_id("rl-range2");
    RunResult r = run_user_mxc({"run", "--bundle", b.dir().string(), id});
    ASSERT_EQ(r.status, 0) << r.describe();
    Json p = probe_json(r.out);
    EXPECT_EQ(p["ok"], true) << p.dump();
    struct stat st{};
    ASSERT_EQ(stat((out / "by-1000").c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, kSubStart + 999);
    EXPECT_EQ(st.st_gid, kSubStart + 999);
}

TEST_F(Rootless, RangeOutsideTheUsersSubuidIsRefused)
{
    Bundle& b = user_bundle();
    const Json range = Json::array({{{"containerID", 0}, {"hostID", 500000}, {"size", 1000}}});
    b.json()["linux"]["uidMappings"] = range;
    b.json()["linux"]["gidMappings"] = range;
    write_owned(b);
    std::string id = user_id("rl-badrange");
    RunResult r = run_user_mxc({"run", "--bundle", b.dir().string(), id});
    EXPECT_NE(r.status, 0) << r.describe();
    EXPECT_TRUE(contains(r.err, "uid")) << r.describe();
    run_user_mxc({"delete", "--force", id});
    EXPECT_TRUE(wait_for([&] { return user_leftovers(id, b).empty(); }, 5s))
        << ::testing::PrintToString(user_leftovers(id, b));
}

// ---- the spec, and limits without a delegated cgroup ----------------------------------

TEST_F(Rootless, SpecRootlessRunsUnmodifiedExceptArgs)
{
    Bundle& b = new_bundle();
    fs::remove(b.config_path());
    chown_tree(b.dir(), uid_, gid_);
    RunResult s = run_user_mxc({"spec", "--rootless", "--bundle", b.dir().string()});
    ASSERT_EQ(s.status, 0) << s.describe();
    Json spec = Json::parse(read_file(b.config_path()), nullptr, false);
    ASSERT_TRUE(spec.is_object());
    spec["process"]["args"] = {"/probe"};
    write_file(b.config_path(), spec.dump(2));
    chown_tree(b.dir(), uid_, gid_);

    std::string id = user_id("rl-spec");
    RunResult r = run_user_mxc({"run", "--bundle", b.dir().string(), id});
    ASSERT_EQ(r.status, 0) << r.describe();
    auto lines = json_lines(r.out);
    ASSERT_FALSE(lines.empty()) << r.describe();
    EXPECT_EQ(lines.back()["uid"], 0);
    EXPECT_NE(lines.back()["namespaces"]["user"].get<unsigned long long>(), host_ns_inode("user"));
    EXPECT_TRUE(user_leftovers(id, b).empty()) << ::testing::PrintToString(user_leftovers(id, b));
}

TEST_F(Rootless, MemoryLimitWithoutDelegationWarnsOnceAndRuns)
{
    Bundle& b = user_bundle();
    b.json()["linux"]["resources"] = {{"memory", {{"limit", 64ll << 20}}}};
    write_owned(b);
    std::string id = user_id("rl-mem");
    RunResult r = run_user_mxc({"run", "--bundle", b.dir().string(), id});
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_EQ(count_of(r.err, "running without resource limits"), 1u) << r.describe();
    Json p = probe_json(r.out);
    EXPECT_EQ(p["uid"], 0);
    EXPECT_TRUE(user_leftovers(id, b).empty()) << ::testing::PrintToString(user_leftovers(id, b));
    // No cgroup was made for it anywhere.
    EXPECT_TRUE(cgroup_dirs_named(id).empty());
}

TEST_F(Rootless, MemoryLimitWarningAlsoOnCreateOnly)
{
    // create warns; start, state and delete stay quiet about it.
    Bundle& b = user_bundle({"/probe", "sleep", "60"});
    b.json()["linux"]["resources"] = {{"memory", {{"limit", 64ll << 20}}}};
    write_owned(b);
    std::string id = user_id("rl-mem2");
    RunResult c = run_user_mxc({"create", "--bundle", b.dir().string(), id});
    ASSERT_EQ(c.status, 0) << c.describe();
    EXPECT_EQ(count_of(c.err, "running without resource limits"), 1u) << c.describe();
    RunResult s = run_user_mxc({"start", id});
    ASSERT_EQ(s.status, 0) << s.describe();
    EXPECT_EQ(count_of(s.err, "resource limits"), 0u) << s.describe();
    RunResult d = run_user_mxc({"delete", "--force", id});
    EXPECT_EQ(d.status, 0) << d.describe();
    EXPECT_EQ(count_of(d.err, "resource limits"), 0u) << d.describe();
    EXPECT_TRUE(wait_for([&] { return user_leftovers(id, b).empty(); }, 5s))
        << ::testing::PrintToString(user_leftovers(id, b));
}

TEST_F(Rootless, DefaultRootIsUnderXdgRuntimeDir)
{
    Bundle& b = user_bundle({"/probe", "sleep", "60"});
    std::string id = user_id("rl-xdg");  // --root $XDG_RUNTIME_DIR/mxc for cleanup
    std::vector<std::string> argv{bin_, "create", "--bundle", b.dir().string(), id};
    RunResult c = run_program_as(who_, argv);
    ASSERT_EQ(c.status, 0) << c.describe();
    EXPECT_TRUE(fs::exists(xdg_ / "mxc" / id)) << "state not under $XDG_RUNTIME_DIR/mxc";
    RunResult d = run_program_as(who_, {bin_, "delete", "--force", id});
    EXPECT_EQ(d.status, 0) << d.describe();
    EXPECT_TRUE(wait_for([&] { return mxc::testing::leftovers(xdg_ / "mxc", id, b.dir()).empty(); },
                         5s));
}

TEST_F(Rootless, CannotTouchAnotherUsersContainer)
{
    // A container of root's, in the user's --root: refused, not hijacked.
    Bundle& b = new_bundle();
    b.set_args({"/probe", "sleep", "60"});
    b.write();
    std::string id = new_id("rl-roots");
    RunResult c = run_mxc({"create", "--bundle", b.dir().string(), id});
    ASSERT_EQ(c.status, 0) << c.describe();
    int pid = state(id).value("pid", 0);
    ASSERT_GT(pid, 0);
    std::vector<std::string> argv{bin_, "--root", root_dir().string(), "kill", id, "KILL"};
    RunResult k = run_program_as(who_, argv);
    EXPECT_NE(k.status, 0) << k.describe();
    EXPECT_EQ(kill(pid, 0), 0) << "the user killed root's container";
}

}  // namespace

// ---- the agent sandbox as an ordinary user ----------------------------------

namespace {
std::string source_profiles()
{
    const char* src = std::getenv("MXC_SOURCE_ROOT");
    return src ? std::string(src) + "/profiles" : "";
}
}  // namespace

TEST_F(Rootless, AgentSandboxIsolatesAnOrdinaryUser)
{
    fs::path ws = home_ / "ws";
    fs::create_directories(ws / "secret");
    write_file(ws / "secret" / "key", "hidden\n");
    write_file(home_ / "outside", "x\n");
    fs::create_directories(home_ / ".ssh");
    write_file(home_ / ".ssh" / "id_rsa", "PRIVATE\n");
    chown_tree(home_, uid_, gid_);
    RunAs who = who_;
    who.env.push_back("MXC_PROFILE_PATH=" + source_profiles());
    who.env.push_back("MXC_STATE_DIR=" + (home_ / "state").string());
    who.env.push_back("DISPLAY=:0");
    std::string id = user_id("agent-rl");
    RunResult r = run_program_as(
        who,
        {bin_, "--root", uroot_.string(), "run", "--quiet", "--name", id, "--workspace", ws.string(),
         "--deny", (ws / "secret").string(), "--", "/bin/sh", "-c",
         "id -u; touch ok && echo ws-writable; echo y > " + home_.string() +
             "/outside 2>/dev/null; touch " + home_.string() + "/created-inside 2>/dev/null; cat secret/key 2>/dev/null || echo secret-hidden; "
             "cat ~/.ssh/id_rsa 2>/dev/null || echo ssh-hidden; echo display=${DISPLAY:-unset}; "
             "grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"});
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_NE(r.out.find(std::to_string(uid_) + "\n"), std::string::npos) << r.out;  // uid maps to itself
    EXPECT_NE(r.out.find("ws-writable"), std::string::npos) << r.out;
    // Outside the workspace nothing reaches the host (the test's home lies
    // under /tmp, which is private in the sandbox, or read-only otherwise).
    EXPECT_EQ(read_file(home_ / "outside"), "x\n");
    EXPECT_FALSE(fs::exists(home_ / "created-inside"));
    EXPECT_NE(r.out.find("secret-hidden"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("ssh-hidden"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("display=unset"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("CapEff:\t0000000000000000"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("NoNewPrivs:\t1"), std::string::npos) << r.out;
    EXPECT_TRUE(fs::exists(ws / "ok"));
    // No delegated cgroup here: limits are dropped with one warning.
    EXPECT_NE(r.err.find("running without resource limits"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(uroot_ / id)) << "state left behind";
}

// A rootless sandbox's init stays dumpable (the user's `mxc exec` joins its
// namespaces through a pidfd), so the command can write to the pipe the init
// reports the command's end on.  Such a report, while the sandbox still runs,
// is ignored: the audit goes on, and the stream ends after the command.
TEST_F(Rootless, AForgedEndOfCommandReportIsIgnored)
{
    fs::path ws = home_ / "ws-forge";
    fs::create_directories(ws);
    chown_tree(home_, uid_, gid_);
    RunAs who = who_;
    who.env.push_back("MXC_PROFILE_PATH=" + source_profiles());
    who.env.push_back("MXC_STATE_DIR=" + (home_ / "state").string());
    std::string id = user_id("agent-forge");
    RunResult r = run_program_as(
        who, {bin_, "--root", uroot_.string(), "run", "--quiet", "--name", id, "--workspace", ws.string(),
              "--audit-backend", "seccomp", "--", "/bin/sh", "-c",
              "for f in /proc/1/fd/*; do printf abcd > $f 2>/dev/null; done; sleep 0.3; "
              "cat /etc/hostname > /dev/null && echo opened-after; touch after-forge && echo wrote-after"});
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_NE(r.out.find("opened-after"), std::string::npos) << r.describe();
    EXPECT_NE(r.out.find("wrote-after"), std::string::npos) << r.describe();
    EXPECT_NE(r.err.find("while the sandbox still runs; ignored"), std::string::npos) << r.describe();
    // The stream holds what the command did after the forged report, and ends
    // with the sandbox's unregister.
    fs::path audit = home_ / "state" / "audit";
    RunResult q = run_program_as(who, {bin_, "audit", "query", "--dir", audit.string(), "--sandbox", id, "--json"});
    ASSERT_EQ(q.status, 0) << q.describe();
    bool after = false;
    std::string last;
    for (const auto &j : json_lines(q.out)) {
        if (j.value("path", "").find("after-forge") != std::string::npos)
            after = true;
        last = j.value("op", "");
    }
    EXPECT_TRUE(after) << "no record of the file made after the forged report\n" << q.out;
    EXPECT_EQ(last, "unregister") << q.out;
    EXPECT_FALSE(fs::exists(uroot_ / id)) << "state left behind";
}

TEST_F(Rootless, AgentSandboxRefusesWhenLimitsAreRequiredButUnenforceable)
{
    fs::path prof = home_ / "needs-limits.yaml";
    write_file(prof, "name: needs-limits\nextends: agent\nlimits:\n  memory: 256M\n  required: true\n");
    chown_tree(home_, uid_, gid_);
    RunAs who = who_;
    who.env.push_back("MXC_PROFILE_PATH=" + source_profiles());
    who.env.push_back("MXC_STATE_DIR=" + (home_ / "state").string());
    std::string id = user_id("agent-req");
    RunResult r = run_program_as(who, {bin_, "--root", uroot_.string(), "run", "--name", id, "--profile",
                                       prof.string(), "--workspace", home_.string(), "--", "/bin/true"});
    EXPECT_NE(r.status, 0) << r.describe();
    EXPECT_NE(r.err.find("requires its limits"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(uroot_ / id)) << "state left behind";
}

// With mxcd: an ordinary user's sandbox gets a cgroup below the sub-tree mxcd
// delegates (/mxc/user-<uid>), its limits, and the eBPF audit.
TEST_F(Rootless, AgentSandboxGetsLimitsAndAuditThroughMxcd)
{
    const char* mxcd = std::getenv("MXCD_BIN");
    if (!mxcd || !*mxcd)
        GTEST_SKIP() << "MXCD_BIN is not set: mxcd is built only with the eBPF probes";
    // mxcd's own corner, readable where the user must reach it (the socket).
    fs::path d = tmp() / "mxcd";
    for (const char* sub : {"sock", "audit", "state", "run"})
        fs::create_directories(d / sub);
    fs::permissions(d, fs::perms(0755));
    fs::permissions(d / "sock", fs::perms(0755));
    const std::string sock = (d / "sock" / "mxcd.sock").string();
    const std::string pins = "/sys/fs/bpf/mxc-rl-" + std::to_string(getpid());
    RunResult started = run_program({mxcd, "--daemon", "--pid-file", (d / "pid").string(), "--socket", sock,
                                     "--audit-dir", (d / "audit").string(), "--state-dir", (d / "state").string(),
                                     "--run-dir", (d / "run").string(), "--pin-dir", pins},
                                    "", 60s);
    ASSERT_EQ(started.status, 0) << started.describe();
    mxc::ScopeExit stop([&] {
        pid_t pid = std::atoi(read_file(d / "pid").c_str());
        if (pid > 0) {
            kill(pid, SIGTERM);
            wait_for([&] { return kill(pid, 0) != 0; }, 10s);
        }
        run_program({mxcd, "--unload", "--pin-dir", pins}, "", 30s);
    });

    fs::path ws = home_ / "ws-mxcd";
    fs::create_directories(ws);
    chown_tree(home_, uid_, gid_);
    RunAs who = who_;
    who.env.push_back("MXC_PROFILE_PATH=" + source_profiles());
    who.env.push_back("MXC_STATE_DIR=" + (home_ / "state").string());
    std::erase_if(who.env, [](const std::string &e) { return e.rfind("MXC_MXCD_SOCKET=", 0) == 0; });
    who.env.push_back("MXC_MXCD_SOCKET=" + sock);
    std::string id = user_id("agent-mxcd");
    RunResult r = run_program_as(who, {bin_, "--root", uroot_.string(), "run", "--name", id, "--memory", "64M",
                                       "--pids", "50", "--workspace", ws.string(), "--", "/bin/sh", "-c",
                                       "grep '^0::' /proc/self/cgroup; touch made-by-agent; cd /sys/fs/cgroup; "
                                       "cat memory/mxc/user-" + std::to_string(uid_) + "/" + id +
                                           "/memory.limit_in_bytes pids/mxc/user-" + std::to_string(uid_) + "/" + id +
                                           "/pids.max"},
                                 "", 60s);
    ASSERT_EQ(r.status, 0) << r.describe();
    EXPECT_EQ(r.err.find("running without resource limits"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("audit: bpf via mxcd"), std::string::npos) << r.err;
    // The cgroup namespace shows the sandbox's own cgroup as its root; its
    // limits are in the v1 controllers below the delegated sub-tree.
    EXPECT_NE(r.out.find("0::/"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("67108864\n50\n"), std::string::npos) << r.describe();
    // The stream (written by mxcd as root, readable by the user's group) has
    // the agent's file action, attributed to this sandbox.
    std::string stream;
    for (const auto& seg : fs::directory_iterator(d / "audit"))
        for (const auto& f : fs::directory_iterator(seg.path()))
            if (f.path().extension() == ".jsonl")
                stream += read_file(f.path());
    EXPECT_NE(stream.find((ws / "made-by-agent").string()), std::string::npos) << "no record of the touch";
    EXPECT_NE(stream.find("\"sandbox\":\"" + id + "\""), std::string::npos);
    // The delegated sub-tree belongs to the user; the sandbox's cgroup is gone.
    struct stat st {};
    ASSERT_EQ(stat(("/sys/fs/cgroup/unified/mxc/user-" + std::to_string(uid_)).c_str(), &st), 0)
        << "mxcd delegated /mxc/user-" << uid_;
    EXPECT_EQ(st.st_uid, uid_);
    EXPECT_FALSE(fs::exists("/sys/fs/cgroup/unified/mxc/user-" + std::to_string(uid_) + "/" + id));
    EXPECT_FALSE(fs::exists(uroot_ / id)) << "state left behind";
}
