// policy: profile loading (shipped profiles, extends, errors naming the YAML
// path) and compile() on a fixture host tree (no privilege needed).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "mxc/oci/spec.hpp"
#include "mxc/policy/profile.hpp"
#include "mxc/seccomp/seccomp.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"

using namespace mxc;
using namespace mxc::policy;

namespace {

std::string make_temp_dir() {
    char tmpl[] = "/tmp/mxc-policy-XXXXXX";
    char *d = ::mkdtemp(tmpl);
    if (!d)
        throw std::runtime_error("mkdtemp");
    return d;
}

void write(const std::string &path, const std::string &text) {
    mkdir_p(path.substr(0, path.rfind('/')));
    std::ofstream(path) << text;
}

// Error text of fn, "" when it does not throw.
template <typename Fn>
std::string error_of(Fn &&fn) {
    try {
        fn();
    } catch (const Error &e) {
        return e.what();
    }
    return "";
}

bool has(const std::string &hay, const std::string &needle) { return hay.find(needle) != std::string::npos; }

// Every test gets the shipped profiles first in the search path and a HOME
// that holds no profiles of its own.
class PolicyEnv : public ::testing::Environment {
public:
    void SetUp() override {
        home_ = make_temp_dir();
        ::setenv("HOME", home_.c_str(), 1);
        ::unsetenv("XDG_CONFIG_HOME");
        ::setenv("MXC_PROFILE_PATH", builtin_profile_dir().c_str(), 1);
    }
    void TearDown() override { remove_tree(home_); }
    std::string home_;
};
const auto *const policy_env = ::testing::AddGlobalTestEnvironment(new PolicyEnv);

class TempDir : public ::testing::Test {
protected:
    void SetUp() override { dir = make_temp_dir(); }
    void TearDown() override { remove_tree(dir); }
    std::string file(const std::string &name, const std::string &text) {
        std::string p = dir + "/" + name;
        write(p, text);
        return p;
    }
    std::string dir;
};

// ---------------------------------------------------------------- units

TEST(PolicyUnits, Sizes) {
    EXPECT_EQ(parse_size("512M"), 512ULL << 20);
    EXPECT_EQ(parse_size("1.5G"), 3ULL << 29);
    EXPECT_EQ(parse_size("1024"), 1024U);
    EXPECT_EQ(parse_size("64KiB"), 64U * 1024);
    EXPECT_EQ(parse_size("2g"), 2ULL << 30);
    EXPECT_TRUE(has(error_of([] { parse_size("12Q"); }), "unknown unit"));
    EXPECT_FALSE(error_of([] { parse_size("M"); }).empty());
    EXPECT_FALSE(error_of([] { parse_size(""); }).empty());
}

TEST(PolicyUnits, Durations) {
    EXPECT_EQ(parse_duration_ms("30m"), 1'800'000U);
    EXPECT_EQ(parse_duration_ms("90s"), 90'000U);
    EXPECT_EQ(parse_duration_ms("1h30m"), 5'400'000U);
    EXPECT_EQ(parse_duration_ms("500ms"), 500U);
    EXPECT_EQ(parse_duration_ms("10"), 10'000U);
    EXPECT_FALSE(error_of([] { parse_duration_ms("10x"); }).empty());
    EXPECT_FALSE(error_of([] { parse_duration_ms("m"); }).empty());
    EXPECT_FALSE(error_of([] { parse_duration_ms("10 5s"); }).empty());
}

TEST(PolicyUnits, AllowEntries) {
    for (const char *ok : {"github.com", "*.githubusercontent.com", "pypi.org:443", "10.0.0.0/8", "[::1]:443",
                           "fd00::/8", "127.0.0.1", "127.0.0.1:8080", "::1", "[2001:db8::1]"})
        EXPECT_EQ(error_of([&] { check_allow_entry(ok); }), "") << ok;
    for (const char *bad : {"", "*foo.com", "a.*.com", "host:0", "host:99999", "host:http", "10.0.0.0/33",
                            "nothost/8", "[::1", "[::1]x", "-bad.com", "a..b"})
        EXPECT_NE(error_of([&] { check_allow_entry(bad); }), "") << bad;
}

// ---------------------------------------------------------------- shipped profiles

TEST(PolicyProfiles, ShippedProfilesLoad) {
    for (const char *name : {"agent", "strict", "dev", "build"}) {
        Profile p;
        ASSERT_NO_THROW(p = load_profile(name)) << name;
        EXPECT_EQ(p.name, name);
        EXPECT_FALSE(p.description.empty()) << name;
        EXPECT_NO_THROW(check_profile_file(builtin_profile_dir() + "/" + name + ".yaml")) << name;
        // Credentials are hidden in every shipped profile (agent's list is inherited).
        for (const char *cred : {"~/.ssh", "~/.gnupg", "~/.aws", "~/.azure", "~/.config/gcloud", "~/.kube",
                                 "~/.docker", "~/.netrc", "~/.git-credentials", "~/.local/share/keyrings",
                                 "~/.mozilla", "~/.config/google-chrome", "~/.config/chromium"})
            EXPECT_NE(std::find(p.filesystem.deny.begin(), p.filesystem.deny.end(), cred), p.filesystem.deny.end())
                << name << " " << cred;
    }
}

TEST(PolicyProfiles, AgentDefaults) {
    Profile p = load_profile("agent");
    EXPECT_EQ(p.network.mode.value_or(""), "none");
    EXPECT_EQ(p.seccomp.value_or(""), "default");
    EXPECT_EQ(p.chain, std::vector<std::string>{"agent"});
}

TEST(PolicyProfiles, ExtendsMerges) {
    Profile dev = load_profile("dev");
    EXPECT_EQ(dev.chain, (std::vector<std::string>{"dev", "agent"}));
    EXPECT_EQ(dev.network.mode.value_or(""), "allow");
    for (const char *h : {"deb.debian.org", "security.debian.org", "registry.npmjs.org", "pypi.org",
                          "files.pythonhosted.org", "github.com", "*.githubusercontent.com", "crates.io",
                          "static.crates.io", "proxy.golang.org"})
        EXPECT_NE(std::find(dev.network.allow.begin(), dev.network.allow.end(), h), dev.network.allow.end()) << h;
    // Lists appended: agent's keep first, then dev's.
    ASSERT_GE(dev.env.keep.size(), 2U);
    EXPECT_EQ(dev.env.keep.front(), "EDITOR");
    EXPECT_NE(std::find(dev.env.keep.begin(), dev.env.keep.end(), "PIP_*"), dev.env.keep.end());
    // Scalars inherited when not overridden.
    EXPECT_EQ(dev.limits.pids, load_profile("agent").limits.pids);

    Profile strict = load_profile("strict");
    EXPECT_EQ(strict.seccomp.value_or(""), "strict");
    EXPECT_EQ(strict.filesystem.home.value_or(""), "hidden");
    EXPECT_EQ(strict.network.mode.value_or(""), "none");
    EXPECT_LT(parse_size(*strict.limits.memory), parse_size(*load_profile("agent").limits.memory));

    Profile build = load_profile("build");
    EXPECT_GT(parse_size(*build.limits.memory), parse_size(*load_profile("agent").limits.memory));
    EXPECT_GT(*build.limits.pids, *load_profile("agent").limits.pids);
}

TEST(PolicyProfiles, ListProfiles) {
    auto list = list_profiles();
    std::set<std::string> names;
    for (const auto &i : list) {
        names.insert(i.name);
        EXPECT_TRUE(path_exists(i.path)) << i.path;
        if (i.name == "dev") {
            EXPECT_TRUE(has(i.description, "package registries"));
        }
    }
    for (const char *n : {"agent", "strict", "dev", "build"})
        EXPECT_TRUE(names.count(n)) << n;
}

TEST(PolicyProfiles, UnknownName) {
    std::string e = error_of([] { load_profile("no-such-profile"); });
    EXPECT_TRUE(has(e, "profile \"no-such-profile\" not found")) << e;
    EXPECT_TRUE(has(e, builtin_profile_dir())) << e;
    EXPECT_TRUE(has(error_of([] { load_profile("bad name!"); }), "profile name")) ;
}

// ---------------------------------------------------------------- bad profiles

using PolicyErrors = TempDir;

TEST_F(PolicyErrors, WrongTypeNamesFileAndPath) {
    std::string f = file("x.yaml", "filesystem:\n  readwrite: [/a, /b, {x: 1}]\n");
    EXPECT_EQ(error_of([&] { load_profile(f); }), f + ": .filesystem.readwrite[2]: expected a string");
    f = file("y.yaml", "filesystem:\n  readwrite: /a\n");
    EXPECT_EQ(error_of([&] { load_profile(f); }), f + ": .filesystem.readwrite: expected a list of strings");
    f = file("z.yaml", "limits:\n  pids: lots\n");
    EXPECT_EQ(error_of([&] { load_profile(f); }), f + ": .limits.pids: expected an integer");
    f = file("b.yaml", "identity:\n  env: maybe\n");
    EXPECT_EQ(error_of([&] { load_profile(f); }), f + ": .identity.env: expected true or false");
    f = file("c.yaml", "- a\n- b\n");
    EXPECT_EQ(error_of([&] { load_profile(f); }), f + ": .: expected a mapping");
}

TEST_F(PolicyErrors, UnknownKeys) {
    std::string f = file("x.yaml", "name: x\nfoo: 1\n");
    EXPECT_TRUE(has(error_of([&] { load_profile(f); }), f + ": .foo: unknown key"));
    f = file("y.yaml", "network:\n  mdoe: none\n");
    EXPECT_TRUE(has(error_of([&] { load_profile(f); }), f + ": .network.mdoe: unknown key"));
}

TEST_F(PolicyErrors, BadValues) {
    struct Case {
        const char *yaml, *expect;
    } cases[] = {
        {"network:\n  mode: wifi\n", ".network.mode: \"wifi\" is not one of: none, loopback, allow, host"},
        {"network:\n  allow: [\"*foo\"]\n", ".network.allow[0]: "},
        {"limits:\n  memory: 12Q\n", ".limits.memory: bad size"},
        {"limits:\n  timeout: soon\n", ".limits.timeout: bad duration"},
        {"limits:\n  cpu: 0\n", ".limits.cpu: must be"},
        {"filesystem:\n  home: shown\n", ".filesystem.home: \"shown\" is not one of"},
        {"filesystem:\n  deny: [relative/path]\n", ".filesystem.deny[0]: relative path"},
        {"filesystem:\n  deny: [\"${FOO}/x\"]\n", ".filesystem.deny[0]: unknown variable ${FOO}"},
        {"env:\n  keep: [\"BAD-NAME\"]\n", ".env.keep[0]: "},
        {"env:\n  set: {\"1X\": y}\n", ".env.set.1X: "},
        {"seccomp: bogus\n", ".seccomp: \"bogus\" is not default, strict"},
        {"seccomp: ./missing.json\n", ".seccomp: no such file"},
        {"audit: always\n", ".audit: \"always\" is not one of"},
        {"filesystem: [a]\n", ".filesystem: expected a mapping"},
    };
    int i = 0;
    for (const auto &c : cases) {
        std::string f = file(fmt::format("case{}.yaml", i++), c.yaml);
        std::string e = error_of([&] { load_profile(f); });
        EXPECT_TRUE(has(e, f + ": " + c.expect)) << c.yaml << " -> " << e;
    }
}

TEST_F(PolicyErrors, YamlSyntaxErrorHasLine) {
    std::string f = file("x.yaml", "name: x\nfilesystem: {readwrite: [a\n");
    std::string e = error_of([&] { load_profile(f); });
    EXPECT_TRUE(has(e, f + ": line ")) << e;
    // The line of the problem, counted from 1.
    f = file("y.yaml", "name: y\ndescription: a\n  audit: off\n");
    e = error_of([&] { load_profile(f); });
    EXPECT_TRUE(has(e, f + ": line 3: ")) << e;
    f = file("z.yaml", "name: z\naudit: *nowhere\n");
    e = error_of([&] { load_profile(f); });
    EXPECT_TRUE(has(e, f + ": line 2: ")) << e;
}

// A key written twice would leave one of the two values unused: refused, at
// the top and inside sections and env.set.
TEST_F(PolicyErrors, DuplicateKeysAreRefused) {
    std::string f = file("x.yaml", "name: x\naudit: off\naudit: required\n");
    EXPECT_EQ(error_of([&] { load_profile(f); }), f + ": .audit: duplicate key");
    f = file("y.yaml", "network:\n  mode: none\n  mode: host\n");
    EXPECT_EQ(error_of([&] { load_profile(f); }), f + ": .network.mode: duplicate key");
    f = file("z.yaml", "env:\n  set: {A: 1, A: 2}\n");
    EXPECT_EQ(error_of([&] { load_profile(f); }), f + ": .env.set.A: duplicate key");
}

// YAML's null (~, null, nothing) is "not set"; quoted, it is the string.
// Anchors and aliases give the same value twice.
TEST_F(PolicyErrors, NullsQuotesAndAliases) {
    std::string f = file("n.yaml", "name: n\nfilesystem:\nnetwork: ~\nlimits: null\nenv: {keep: [A], set: {}}\n");
    Profile p = load_profile(f);
    EXPECT_TRUE(p.filesystem.deny.empty());
    EXPECT_FALSE(p.network.mode);
    EXPECT_EQ(p.env.keep, std::vector<std::string>{"A"});
    f = file("q.yaml", "name: q\nenv: {set: {X: \"null\", Y: '~'}}\n");
    p = load_profile(f);
    EXPECT_EQ(p.env.set.at("X"), "null");
    EXPECT_EQ(p.env.set.at("Y"), "~");
    f = file("nn.yaml", "name: nn\nenv: {set: {X: ~}}\n");
    EXPECT_EQ(error_of([&] { load_profile(f); }), f + ": .env.set.X: expected a string");
    f = file("a.yaml", "name: a\nfilesystem:\n  deny: &d [/x, /y]\n  readonly: *d\n");
    p = load_profile(f);
    EXPECT_EQ(p.filesystem.deny, (std::vector<std::string>{"/x", "/y"}));
    EXPECT_EQ(p.filesystem.readonly, p.filesystem.deny);
    f = file("e.yaml", "");
    EXPECT_EQ(error_of([&] { load_profile(f); }), f + ": .: empty profile");
}

TEST_F(PolicyErrors, ExtendsCycle) {
    file("a.yaml", "name: a\nextends: ./b.yaml\n");
    file("b.yaml", "name: b\nextends: ./c.yaml\n");
    file("c.yaml", "name: c\nextends: a.yaml\n");
    std::string e = error_of([&] { load_profile(dir + "/a.yaml"); });
    EXPECT_TRUE(has(e, ".extends: cycle: a -> b -> c -> a")) << e;
    file("self.yaml", "extends: ./self.yaml\n");
    e = error_of([&] { check_profile_file(dir + "/self.yaml"); });
    EXPECT_TRUE(has(e, "cycle: self -> self")) << e;
}

TEST_F(PolicyErrors, ExtendsMissing) {
    std::string f = file("x.yaml", "extends: nothere\n");
    std::string e = error_of([&] { load_profile(f); });
    EXPECT_TRUE(has(e, f + ": .extends")) << e;
    EXPECT_TRUE(has(e, "\"nothere\" not found")) << e;
}

TEST_F(PolicyErrors, ChildOverridesAndAppends) {
    std::string f = file("child.yaml", "name: child\nextends: agent\n"
                                       "filesystem:\n  deny: [/opt/secret]\n  readwrite: [\"${WORKSPACE}/../shared\"]\n"
                                       "limits:\n  memory: 256M\n"
                                       "env:\n  set: {A: \"1\"}\n");
    Profile p = load_profile(f);
    EXPECT_EQ(p.name, "child");
    EXPECT_EQ(p.chain, (std::vector<std::string>{"child", "agent"}));
    EXPECT_EQ(p.filesystem.deny.front(), "~/.ssh");
    EXPECT_EQ(p.filesystem.deny.back(), "/opt/secret");
    EXPECT_EQ(p.limits.memory.value_or(""), "256M");
    EXPECT_EQ(p.limits.pids, load_profile("agent").limits.pids);
    EXPECT_EQ(p.env.set.at("A"), "1");
    EXPECT_EQ(p.network.mode.value_or(""), "none");
}

// ---------------------------------------------------------------- compile

class PolicyCompile : public TempDir {
protected:
    void SetUp() override {
        TempDir::SetUp();
        root = dir;
        for (const char *d : {"/home/u/.ssh", "/home/u/.gnupg", "/home/u/ws/secret", "/home/u/ws/sub", "/run/user/1000",
                              "/mnt/c/Windows", "/mnt/c/Users/u/proj", "/mnt/wslg", "/run/WSL", "/usr/lib/wsl",
                              "/usr/bin", "/data/x", "/data/ro", "/opt/tool", "/etc", "/tmp", "/proc", "/dev",
                              "/run/dbus"})
            mkdir_p(root + d);
        for (const char *f : {"/home/u/.netrc", "/home/u/.ssh/id_ed25519", "/run/user/1000/bus",
                              "/run/dbus/system_bus_socket", "/etc/passwd"})
            write(root + f, "x");
        // Aliases: an absolute symlink (taken inside the root) and a relative one.
        ::symlink("/home/u/.ssh", (root + "/home/u/ssh-link").c_str());
        ::symlink("../../data/x", (root + "/home/u/data-link").c_str());
        ::symlink("/run", (root + "/var-run").c_str());

        ctx.home = "/home/u";
        ctx.user = "u";
        ctx.cwd = "/home/u/ws";
        ctx.uid = 1000;
        ctx.gid = 1000;
        ctx.root = false;
        ctx.environ = {"PATH=/usr/bin:/bin", "HOME=/root", "USER=other", "LANG=C.UTF-8", "LC_ALL=C",
                       "TERM=xterm", "DISPLAY=:0", "SSH_AUTH_SOCK=/tmp/agent.sock", "WSL_INTEROP=/run/WSL/1_interop",
                       "FOO=bar", "EDITOR=vi", "AWS_SECRET_ACCESS_KEY=s3cret"};
        ctx.host_root = root;
        ctx.wsl = true;
        ctx.windows_drives = {"/mnt/c"};
        ctx.access = [](const std::string &, int) { return 0; };

        req.command = {"/bin/true"};
        req.container_id = "0123456789abcdef0123";
        req.identity_name = "alice";
        agent = load_profile("agent");
    }

    Plan run(const Profile &p) {
        Plan plan = compile(p, req, ctx);
        check_spec(plan);
        return plan;
    }

    // Every compiled spec is valid and survives JSON both ways; no mount
    // names the fixture prefix.
    void check_spec(const Plan &plan) {
        EXPECT_NO_THROW(oci::validate(plan.spec, "plan"));
        nlohmann::json j = oci::to_json(plan.spec);
        oci::Spec back;
        ASSERT_NO_THROW(back = oci::parse_spec_json(j, "plan.json")) << j.dump(2);
        EXPECT_EQ(oci::to_json(back), j);
        for (const auto &m : plan.spec.mounts) {
            EXPECT_FALSE(has(m.destination, root)) << m.destination;
            EXPECT_FALSE(has(m.source, root)) << m.source;
        }
    }

    static int index_of(const Plan &p, const std::string &dest) {
        for (size_t i = 0; i < p.spec.mounts.size(); ++i)
            if (p.spec.mounts[i].destination == dest)
                return static_cast<int>(i);
        return -1;
    }
    static int count_of(const Plan &p, const std::string &dest) {
        return static_cast<int>(std::count_if(p.spec.mounts.begin(), p.spec.mounts.end(),
                                              [&](const oci::Mount &m) { return m.destination == dest; }));
    }
    static const oci::Mount &mount(const Plan &p, const std::string &dest) {
        int i = index_of(p, dest);
        if (i < 0)
            throw std::runtime_error("no mount on " + dest);
        return p.spec.mounts[static_cast<size_t>(i)];
    }
    static bool has_opt(const oci::Mount &m, const std::string &o) {
        return std::find(m.options.begin(), m.options.end(), o) != m.options.end();
    }
    static bool hidden(const Plan &p, const std::string &dest) {
        int i = index_of(p, dest);
        if (i < 0)
            return false;
        const oci::Mount &m = p.spec.mounts[static_cast<size_t>(i)];
        return (m.type == "tmpfs" && has_opt(m, "mode=000")) || (m.source == "/dev/null" && has_opt(m, "ro"));
    }
    static std::string env(const Plan &p, const std::string &name) {
        for (const auto &kv : p.spec.process->env)
            if (kv.compare(0, name.size() + 1, name + "=") == 0)
                return kv.substr(name.size() + 1);
        return "<unset>";
    }
    static bool noted(const Plan &p, const std::string &text) {
        return std::any_of(p.notes.begin(), p.notes.end(), [&](const std::string &n) { return has(n, text); });
    }

    std::string root;
    HostContext ctx;
    RunRequest req;
    Profile agent;
};

TEST_F(PolicyCompile, AgentShape) {
    Plan p = run(agent);
    const oci::Spec &s = p.spec;
    EXPECT_EQ(s.root->path, "/");
    EXPECT_TRUE(s.root->readonly);
    EXPECT_EQ(s.process->args, req.command);
    EXPECT_EQ(s.process->cwd, "/home/u/ws");
    EXPECT_FALSE(s.process->terminal);
    EXPECT_EQ(s.process->user.uid, 1000U);
    EXPECT_EQ(s.process->user.gid, 1000U);
    EXPECT_TRUE(s.process->no_new_privileges);
    ASSERT_TRUE(s.process->capabilities);
    EXPECT_TRUE(s.process->capabilities->bounding.empty());
    EXPECT_TRUE(s.process->capabilities->effective.empty());
    EXPECT_TRUE(s.process->capabilities->permitted.empty());
    EXPECT_TRUE(s.process->capabilities->inheritable.empty());
    EXPECT_TRUE(s.process->capabilities->ambient.empty());
    EXPECT_TRUE(s.process->rlimits.empty());
    EXPECT_EQ(s.hostname, "mxc-0123456789ab");
    EXPECT_EQ(s.annotations.at("org.mxc.identity"), "alice");
    EXPECT_EQ(s.annotations.at("org.mxc.profile"), "agent");
    EXPECT_EQ(s.annotations.at("org.mxc.sandbox"), "true");

    std::vector<std::string> ns;
    for (const auto &n : s.linux_->namespaces)
        ns.push_back(n.type);
    EXPECT_EQ(ns, (std::vector<std::string>{"user", "mount", "pid", "ipc", "uts", "cgroup", "network"}));
    ASSERT_EQ(s.linux_->uid_mappings.size(), 1U);
    EXPECT_EQ(s.linux_->uid_mappings[0].container_id, 1000U);
    EXPECT_EQ(s.linux_->uid_mappings[0].host_id, 1000U);
    EXPECT_EQ(s.linux_->uid_mappings[0].size, 1U);
    EXPECT_EQ(s.linux_->gid_mappings[0].host_id, 1000U);
    EXPECT_EQ(s.linux_->masked_paths, oci::default_spec(false).linux_->masked_paths);
    EXPECT_EQ(s.linux_->readonly_paths, oci::default_spec(false).linux_->readonly_paths);
    ASSERT_TRUE(s.linux_->seccomp);
    EXPECT_EQ(oci::to_json(s)["linux"]["seccomp"], oci::to_json([] {
                  oci::Spec x = oci::default_spec(false);
                  x.linux_->seccomp = seccomp::default_agent_profile();
                  return x;
              }())["linux"]["seccomp"]);

    // Base mounts in order.
    std::vector<std::string> first;
    for (size_t i = 0; i < 6; ++i)
        first.push_back(s.mounts[i].destination);
    EXPECT_EQ(first, (std::vector<std::string>{"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/tmp"}));
    EXPECT_FALSE(has_opt(mount(p, "/dev/pts"), "gid=5")); // not mapped rootless
    EXPECT_EQ(mount(p, "/tmp").type, "tmpfs");

    // Workspace read-write.
    const oci::Mount &ws = mount(p, "/home/u/ws");
    EXPECT_EQ(ws.type, "bind");
    EXPECT_EQ(ws.source, "/home/u/ws");
    EXPECT_TRUE(has_opt(ws, "rbind") && has_opt(ws, "rw"));

    EXPECT_EQ(p.network_mode, "none");
    EXPECT_EQ(p.audit, "required");
    EXPECT_FALSE(p.limits_required);
    EXPECT_FALSE(p.timeout_ms);
    EXPECT_NE(std::find_if(p.landlock_rules.begin(), p.landlock_rules.end(),
                           [](const FsRule &r) { return r.path == "/home/u/ws" && r.access == "rw"; }),
              p.landlock_rules.end());
    EXPECT_NE(std::find_if(p.landlock_rules.begin(), p.landlock_rules.end(),
                           [](const FsRule &r) { return r.path == "/" && r.access == "ro"; }),
              p.landlock_rules.end());
}

TEST_F(PolicyCompile, CredentialsDesktopAndWslHidden) {
    Plan p = run(agent);
    EXPECT_TRUE(hidden(p, "/home/u/.ssh"));
    EXPECT_TRUE(has_opt(mount(p, "/home/u/.ssh"), "ro"));
    EXPECT_TRUE(hidden(p, "/home/u/.gnupg"));
    EXPECT_EQ(mount(p, "/home/u/.netrc").source, "/dev/null"); // a file: /dev/null over it
    EXPECT_TRUE(hidden(p, "/run/user/1000"));
    EXPECT_TRUE(hidden(p, "/run/dbus/system_bus_socket"));
    EXPECT_TRUE(hidden(p, "/run/WSL"));
    EXPECT_TRUE(hidden(p, "/mnt/wslg"));
    EXPECT_TRUE(hidden(p, "/mnt/c"));
    EXPECT_TRUE(hidden(p, "/usr/lib/wsl"));
    // Missing credential paths are skipped and said so.
    EXPECT_EQ(index_of(p, "/home/u/.aws"), -1);
    EXPECT_TRUE(noted(p, "not present, nothing to hide: ~/.aws"));
    EXPECT_TRUE(noted(p, "hidden ~/.ssh"));
}

TEST_F(PolicyCompile, GrantsLeaveBuiltinHidesOpen) {
    req.gpu = true;
    req.ro = {"/mnt/c"};
    Plan p = run(agent);
    EXPECT_EQ(index_of(p, "/usr/lib/wsl"), -1);
    EXPECT_EQ(index_of(p, "/mnt/c"), -1); // ro below the read-only root needs no mount
    EXPECT_TRUE(noted(p, "/mnt/c left visible"));
    EXPECT_TRUE(hidden(p, "/run/WSL"));
}

TEST_F(PolicyCompile, WorkspaceOnWindowsDriveIsShownBelowTheHiddenDrive) {
    req.workspace = "/mnt/c/Users/u/proj";
    Plan p = run(agent);
    int drive = index_of(p, "/mnt/c"), ws = index_of(p, "/mnt/c/Users/u/proj");
    ASSERT_GE(drive, 0);
    ASSERT_GE(ws, 0);
    EXPECT_LT(drive, ws);
    // The hiding tmpfs is left writable so that the mount point can be made.
    EXPECT_FALSE(has_opt(mount(p, "/mnt/c"), "ro"));
    EXPECT_EQ(p.spec.process->cwd, "/mnt/c/Users/u/proj");
}

TEST_F(PolicyCompile, MostSpecificWins) {
    req.deny = {"/home/u/ws/secret"};
    req.rw = {"/data"};
    req.ro = {"/data/ro"};
    Plan p = run(agent);
    int ws = index_of(p, "/home/u/ws"), secret = index_of(p, "/home/u/ws/secret");
    ASSERT_GE(ws, 0);
    ASSERT_GE(secret, 0);
    EXPECT_LT(ws, secret);
    EXPECT_TRUE(hidden(p, "/home/u/ws/secret"));
    int data = index_of(p, "/data"), ro = index_of(p, "/data/ro");
    ASSERT_GE(data, 0);
    ASSERT_GE(ro, 0);
    EXPECT_LT(data, ro);
    EXPECT_TRUE(has_opt(mount(p, "/data/ro"), "ro"));
    // Parents before children across the whole policy part.
    for (size_t i = 7; i < p.spec.mounts.size(); ++i)
        for (size_t j = i + 1; j < p.spec.mounts.size(); ++j) {
            const std::string &a = p.spec.mounts[i].destination, &b = p.spec.mounts[j].destination;
            EXPECT_FALSE(a.size() > b.size() && a.compare(0, b.size() + 1, b + "/") == 0)
                << a << " mounted before its parent " << b;
        }
}

// A directory between a read-write grant and a restriction below it is bound
// onto itself before the restriction is mounted: rename(2) refuses to move a
// mount point, so the restriction cannot be carried off to another name.
TEST_F(PolicyCompile, DirectoriesBetweenAGrantAndARestrictionArePinned) {
    mkdir_p(root + "/home/u/ws/sub/deeper/keys");
    mkdir_p(root + "/data/x/y");
    req.deny = {"/home/u/ws/sub/deeper/keys", "/home/u/ws/secret"};
    req.rw = {"/data"};
    req.ro = {"/data/x/y"};
    Plan p = run(agent);
    for (const char *pin : {"/home/u/ws/sub", "/home/u/ws/sub/deeper", "/data/x"}) {
        int i = index_of(p, pin);
        ASSERT_GE(i, 0) << pin << " is not pinned";
        const oci::Mount &m = mount(p, pin);
        EXPECT_EQ(m.source, pin);
        EXPECT_TRUE(has_opt(m, "bind") && !has_opt(m, "rbind")) << pin;
    }
    EXPECT_LT(index_of(p, "/home/u/ws"), index_of(p, "/home/u/ws/sub"));
    EXPECT_LT(index_of(p, "/home/u/ws/sub"), index_of(p, "/home/u/ws/sub/deeper"));
    EXPECT_LT(index_of(p, "/home/u/ws/sub/deeper"), index_of(p, "/home/u/ws/sub/deeper/keys"));
    EXPECT_LT(index_of(p, "/data/x"), index_of(p, "/data/x/y"));
    // A restriction right below the grant is a mount point itself: nothing to pin.
    EXPECT_EQ(count_of(p, "/home/u/ws/secret"), 1);
    EXPECT_TRUE(noted(p, "cannot be renamed"));
    // Under a read-only view nothing can be renamed: no pins.
    req = RunRequest{};
    req.command = {"/bin/true"};
    req.container_id = "0123456789abcdef0123";
    req.identity_name = "alice";
    req.ro = {"/opt"};
    req.deny = {"/opt/tool"};
    Plan q = run(agent);
    EXPECT_FALSE(noted(q, "cannot be renamed"));
}

TEST_F(PolicyCompile, SamePathDenyOverRoOverRw) {
    req.rw = {"/data"};
    req.ro = {"/data"};
    Plan p = run(agent);
    EXPECT_EQ(count_of(p, "/data"), 0); // ro wins; ro below the read-only root needs no mount
    EXPECT_TRUE(noted(p, "/data: read-only (--ro) wins over read-write (--rw)"));

    req.deny = {"/data"};
    p = run(agent);
    EXPECT_EQ(count_of(p, "/data"), 1);
    EXPECT_TRUE(hidden(p, "/data"));

    req.deny.clear();
    req.ro.clear();
    req.rw = {"/opt/tool"};
    req.ro = {"/opt/tool/."};
    req.deny = {};
    p = run(agent);
    EXPECT_EQ(count_of(p, "/opt/tool"), 0);

    // A grant below a rw parent is mounted ro.
    req.ro = {"/home/u/ws/sub"};
    p = run(agent);
    EXPECT_TRUE(has_opt(mount(p, "/home/u/ws/sub"), "ro"));
}

TEST_F(PolicyCompile, SymlinkAliasGetsMostRestrictiveRule) {
    // rw asked through a symlink to ~/.ssh, which agent denies: deny wins.
    req.rw = {"/home/u/ssh-link"};
    Plan p = run(agent);
    EXPECT_EQ(count_of(p, "/home/u/.ssh"), 1);
    EXPECT_TRUE(hidden(p, "/home/u/.ssh"));
    EXPECT_EQ(index_of(p, "/home/u/ssh-link"), -1);
    EXPECT_TRUE(noted(p, "/home/u/ssh-link resolves to /home/u/.ssh"));

    // A rule on a relative symlink applies to its target.
    req.rw = {"/data"};
    req.deny = {"~/data-link"};
    p = run(agent);
    EXPECT_TRUE(hidden(p, "/data/x"));
    EXPECT_LT(index_of(p, "/data"), index_of(p, "/data/x"));

    // A path through a symlinked directory component.
    req.rw.clear();
    req.deny = {"/var-run/user/1000/bus"};
    p = run(agent);
    EXPECT_TRUE(hidden(p, "/run/user/1000")); // the built-in hide already covers it
    EXPECT_EQ(index_of(p, "/run/user/1000/bus"), -1);
}

TEST_F(PolicyCompile, HomeHiddenThenWorkspaceRebound) {
    Profile strict = load_profile("strict");
    Plan p = run(strict);
    int home = index_of(p, "/home/u"), ws = index_of(p, "/home/u/ws");
    ASSERT_GE(home, 0);
    ASSERT_GE(ws, 0);
    EXPECT_LT(home, ws);
    EXPECT_EQ(mount(p, "/home/u").type, "tmpfs");
    // Everything below the hidden home is gone already; no mount per credential.
    EXPECT_EQ(index_of(p, "/home/u/.ssh"), -1);
    ASSERT_TRUE(p.spec.linux_->seccomp);
    EXPECT_GT(p.spec.linux_->seccomp->syscalls.size(), seccomp::default_agent_profile().syscalls.size());
    EXPECT_EQ(p.timeout_ms, 30U * 60 * 1000);
    EXPECT_TRUE(noted(p, "hidden /home/u: home replaced"));
}

TEST_F(PolicyCompile, GrantNeverExceedsCallerAccess) {
    ctx.access = [this](const std::string &path, int mode) {
        if (path == root + "/data" && (mode & W_OK))
            return -1;
        if (path == root + "/opt/tool" && (mode & R_OK))
            return -1;
        return 0;
    };
    req.rw = {"/data"};
    Plan p = run(agent);
    EXPECT_EQ(count_of(p, "/data"), 0); // degraded to ro, which the root already is
    EXPECT_TRUE(noted(p, "/data: read-write asked (--rw) but you cannot write it; granted read-only"));

    req.rw = {"/opt/tool"};
    EXPECT_EQ(error_of([&] { compile(agent, req, ctx); }), "cannot grant /opt/tool: you cannot read it");

    // Root is not checked.
    ctx.root = true;
    ctx.uid = 0;
    ctx.gid = 0;
    EXPECT_NO_THROW(run(agent));
}

TEST_F(PolicyCompile, MissingPaths) {
    req.rw = {"/nope"};
    EXPECT_EQ(error_of([&] { compile(agent, req, ctx); }), "--rw: /nope: no such file or directory");
    req.rw.clear();
    req.deny = {"/nope"};
    EXPECT_NO_THROW(run(agent));
    req.deny.clear();
    req.workspace = "/home/u/missing";
    EXPECT_TRUE(has(error_of([&] { compile(agent, req, ctx); }), "workspace /home/u/missing: not a directory"));
    req.workspace = "/";
    EXPECT_TRUE(has(error_of([&] { compile(agent, req, ctx); }), "whole host"));
    req.workspace = "sub"; // relative to cwd
    EXPECT_EQ(run(agent).spec.process->cwd, "/home/u/ws/sub");
    req.command.clear();
    EXPECT_EQ(error_of([&] { compile(agent, req, ctx); }), "no command to run");
}

TEST_F(PolicyCompile, EnvScrubbed) {
    req.keep_env = {"DISPLAY", "SSH_*", "FOO"};
    req.env_set = {"X=1", "PATH=/custom"};
    Plan p = run(agent);
    EXPECT_EQ(env(p, "DISPLAY"), "<unset>");
    EXPECT_EQ(env(p, "SSH_AUTH_SOCK"), "<unset>");
    EXPECT_EQ(env(p, "WSL_INTEROP"), "<unset>");
    EXPECT_EQ(env(p, "AWS_SECRET_ACCESS_KEY"), "<unset>");
    EXPECT_EQ(env(p, "FOO"), "bar");
    EXPECT_EQ(env(p, "EDITOR"), "vi"); // agent keeps it
    EXPECT_EQ(env(p, "LANG"), "C.UTF-8");
    EXPECT_EQ(env(p, "LC_ALL"), "C");
    EXPECT_EQ(env(p, "TERM"), "xterm");
    EXPECT_EQ(env(p, "HOME"), "/home/u");
    EXPECT_EQ(env(p, "USER"), "u");
    EXPECT_EQ(env(p, "PATH"), "/custom");
    EXPECT_EQ(env(p, "X"), "1");
    EXPECT_EQ(env(p, "MXC_IDENTITY"), "alice");
    EXPECT_EQ(env(p, "MXC_SANDBOX"), req.container_id);
    EXPECT_TRUE(noted(p, "env DISPLAY: not passed"));
    EXPECT_TRUE(noted(p, "env SSH_AUTH_SOCK: not passed"));

    Profile quiet = agent;
    quiet.identity_env = false;
    EXPECT_EQ(env(run(quiet), "MXC_IDENTITY"), "<unset>");
    req.env_set = {"novalue"};
    EXPECT_TRUE(has(error_of([&] { compile(agent, req, ctx); }), "--env novalue"));
}

TEST_F(PolicyCompile, Limits) {
    req.memory = "512M";
    req.pids = 100;
    req.cpus = 1.5;
    req.timeout = "30m";
    Plan p = run(agent);
    const auto &r = p.spec.linux_->resources;
    ASSERT_TRUE(r && r->memory && r->pids && r->cpu);
    EXPECT_EQ(r->memory->limit, 512LL << 20);
    EXPECT_EQ(r->pids->limit, 100);
    EXPECT_EQ(r->cpu->quota, 150000);
    EXPECT_EQ(r->cpu->period, 100000U);
    EXPECT_EQ(p.timeout_ms, 1'800'000U);

    // From the profile when the request says nothing.
    Profile b = load_profile("build");
    req = RunRequest{.command = {"make"}};
    p = run(b);
    EXPECT_EQ(p.spec.linux_->resources->memory->limit, 16LL << 30);
    EXPECT_EQ(p.spec.linux_->resources->pids->limit, 8192);
    EXPECT_FALSE(p.spec.linux_->resources->cpu);
    EXPECT_EQ(p.timeout_ms, 4ULL * 3600 * 1000);

    Profile none;
    none.name = "bare";
    none.limits.required = true;
    p = run(none);
    EXPECT_FALSE(p.spec.linux_->resources);
    EXPECT_TRUE(p.limits_required);

    req.memory = "lots";
    EXPECT_TRUE(has(error_of([&] { compile(agent, req, ctx); }), "--memory: bad size"));
}

TEST_F(PolicyCompile, Network) {
    auto has_netns = [](const Plan &p) { return p.spec.linux_->find_namespace("network") != nullptr; };
    req.net = "host";
    Plan p = run(agent);
    EXPECT_FALSE(has_netns(p));
    EXPECT_EQ(p.network_mode, "host");
    EXPECT_TRUE(noted(p, "abstract unix sockets"));

    req.net = "loopback";
    EXPECT_TRUE(has_netns(run(agent)));

    req.net.reset();
    req.allow = {"example.com:443"};
    p = run(load_profile("dev"));
    EXPECT_TRUE(has_netns(p));
    EXPECT_EQ(p.network_mode, "allow");
    EXPECT_EQ(p.allow.back(), "example.com:443");
    EXPECT_NE(std::find(p.allow.begin(), p.allow.end(), "pypi.org"), p.allow.end());

    req.allow = {"bad host"};
    EXPECT_TRUE(has(error_of([&] { compile(agent, req, ctx); }), "--allow"));
    req.allow.clear();
    req.net = "wifi";
    EXPECT_TRUE(has(error_of([&] { compile(agent, req, ctx); }), "--net wifi"));
}

TEST_F(PolicyCompile, RootRunsRootful) {
    ctx.root = true;
    ctx.uid = 0;
    ctx.gid = 0;
    Plan p = run(agent);
    EXPECT_EQ(p.spec.linux_->find_namespace("user"), nullptr);
    EXPECT_TRUE(p.spec.linux_->uid_mappings.empty());
    EXPECT_TRUE(has_opt(mount(p, "/dev/pts"), "gid=5"));
    EXPECT_TRUE(hidden(p, "/run/user/0") || index_of(p, "/run/user/0") == -1);
}

TEST_F(PolicyCompile, SeccompChoices) {
    // strict compiles with libseccomp.
    EXPECT_NO_THROW(seccomp::compile(strict_seccomp_profile(), "strict"));

    std::string json = dir + "/sc.json";
    write(json, R"({"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chdir"],"action":"SCMP_ACT_ERRNO"}]})");
    std::string f = dir + "/custom.yaml";
    write(f, "name: custom\nextends: agent\nseccomp: sc.json\n");
    Profile c = load_profile(f);
    EXPECT_EQ(c.seccomp.value_or(""), json); // resolved against the profile's directory
    Plan p = run(c);
    ASSERT_TRUE(p.spec.linux_->seccomp);
    EXPECT_EQ(p.spec.linux_->seccomp->syscalls.at(0).names, std::vector<std::string>{"chdir"});

    write(json, R"({"defaultAction":"SCMP_ACT_BOGUS"})");
    std::string e = error_of([&] { compile(c, req, ctx); });
    EXPECT_TRUE(has(e, "profile custom: seccomp")) << e;
    EXPECT_TRUE(has(e, json)) << e;
}

TEST_F(PolicyCompile, ProfileTmpfsAndPathVariables) {
    Profile t = agent;
    t.filesystem.tmpfs = {"${WORKSPACE}/sub", "/nothere"};
    t.filesystem.readonly = {"${HOME}/ws/secret"};
    Plan p = run(t);
    EXPECT_EQ(mount(p, "/home/u/ws/sub").type, "tmpfs");
    EXPECT_FALSE(hidden(p, "/home/u/ws/sub"));
    EXPECT_TRUE(has_opt(mount(p, "/home/u/ws/secret"), "ro"));
    EXPECT_TRUE(noted(p, "tmpfs /nothere: does not exist"));
}

// The EXAMPLE of man/mxc-profile.5.
TEST_F(PolicyCompile, ManPageExample) {
    std::string f = dir + "/review.yaml";
    write(f, "name: review\nextends: agent\nfilesystem:\n"
             "  readonly: [\"${WORKSPACE}\"]\n  readwrite: [\"${WORKSPACE}/out\"]\n  deny: [\"${WORKSPACE}/.env\"]\n"
             "network:\n  mode: allow\n  allow: [github.com, \"*.githubusercontent.com:443\"]\n"
             "limits: {memory: 2G, pids: 512, cpu: 2, timeout: 1h}\n"
             "env:\n  keep: [GIT_*]\n  set: {CI: \"1\"}\n");
    mkdir_p(root + "/home/u/ws/out");
    write(root + "/home/u/ws/.env", "TOKEN=x");
    Plan p = run(load_profile(f));
    EXPECT_EQ(count_of(p, "/home/u/ws"), 0); // ro wins over the workspace's rw
    EXPECT_TRUE(has_opt(mount(p, "/home/u/ws/out"), "rw"));
    EXPECT_EQ(mount(p, "/home/u/ws/.env").source, "/dev/null");
    EXPECT_EQ(env(p, "CI"), "1");
    EXPECT_EQ(p.network_mode, "allow");
}

TEST_F(PolicyCompile, EveryShippedProfileCompiles) {
    for (const auto &info : list_profiles()) {
        Profile prof = load_profile(info.path);
        for (bool root_ctx : {false, true}) {
            ctx.root = root_ctx;
            SCOPED_TRACE(info.name + (root_ctx ? " root" : " rootless"));
            Plan p = run(prof);
            EXPECT_TRUE(hidden(p, "/run/WSL"));
        }
    }
}

} // namespace
