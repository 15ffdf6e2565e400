#include "fixture.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

namespace mxc::testing {

namespace {

std::string env_or_empty(const char* name)
{
    const char* v = std::getenv(name);
    return v ? v : "";
}

// An anonymous file for a child's stdio (see run_program for why not a pipe).
int anon_file(const char* name)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0)
        throw std::runtime_error(std::string("memfd_create: ") + std::strerror(errno));
    return fd;
}

std::string shorten(const std::string& s, size_t max = 2000)
{
    if (s.size() <= max)
        return s;
    return s.substr(0, max) + "...(" + std::to_string(s.size() - max) + " more bytes)";
}

// `busybox --list` once per test binary: the applet set never changes.
const std::vector<std::string>& busybox_applets()
{
    static std::once_flag once;
    static std::vector<std::string> applets;
    std::call_once(once, [] {
        RunResult r = run_program({"/bin/busybox", "--list"}, "", 10s);
        std::istringstream in(r.out);
        for (std::string line; std::getline(in, line);)
            if (!line.empty() && line.find('/') == std::string::npos)
                applets.push_back(line);
    });
    return applets;
}

}  // namespace

std::string read_all_fd(int fd)
{
    std::string s;
    char buf[65536];
    off_t off = 0;
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof buf, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        s.append(buf, static_cast<size_t>(n));
        off += n;
    }
    return s;
}


std::string mxc_bin() { return env_or_empty("MXC_BIN"); }
std::string probe_bin() { return env_or_empty("MXC_PROBE"); }
std::string source_root() { return env_or_empty("MXC_SOURCE_ROOT"); }
bool is_root() { return geteuid() == 0; }

std::string unique_id(std::string_view prefix)
{
    static std::atomic<unsigned> counter{0};
    static const unsigned salt = std::random_device{}() & 0xffff;
    char buf[32];
    std::snprintf(buf, sizeof buf, "-%d-%u%04x", static_cast<int>(getpid()), counter++, salt);
    return std::string(prefix) + buf;
}

unsigned long long host_ns_inode(const std::string& kind)
{
    struct stat st{};
    if (stat(("/proc/self/ns/" + kind).c_str(), &st) != 0)
        return 0;
    return st.st_ino;
}

std::string RunResult::describe() const
{
    std::ostringstream o;
    o << "status=" << status << (timed_out ? " (timed out)" : "") << "\n--- stdout:\n"
      << shorten(out) << "\n--- stderr:\n"
      << shorten(err);
    return o.str();
}

// One runner for both: `who` null runs argv as we are, with our environment.
static RunResult run_impl(const RunAs* who, const std::vector<std::string>& argv,
                          const std::string& input, std::chrono::milliseconds timeout);

RunResult run_program(const std::vector<std::string>& argv, const std::string& input,
                      std::chrono::milliseconds timeout)
{
    return run_impl(nullptr, argv, input, timeout);
}

RunResult run_mxc(const fs::path& root, const std::vector<std::string>& args,
                  const std::string& input, std::chrono::milliseconds timeout)
{
    return run_program(mxc_command(root, args), input, timeout);
}

std::vector<Json> json_lines(const std::string& text)
{
    std::vector<Json> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
            line.pop_back();
        if (line.empty() || line[0] != '{')
            continue;
        if (Json j = Json::parse(line, nullptr, false); j.is_object())
            out.push_back(std::move(j));
    }
    return out;
}

Json probe_json(const std::string& out)
{
    Json j = Json::parse(out, nullptr, false);
    if (!j.is_discarded())
        return j;
    // Something else shared stdout: take the last line that parses as an object.
    std::istringstream in(out);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
        if (it->empty() || (*it)[0] != '{')
            continue;
        j = Json::parse(*it, nullptr, false);
        if (!j.is_discarded())
            return j;
    }
    ADD_FAILURE() << "probe output is not JSON:\n" << shorten(out);
    return Json();
}

std::vector<std::string> mxc_command(const fs::path& root, const std::vector<std::string>& args)
{
    std::vector<std::string> argv{mxc_bin(), "--root", root.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

std::vector<std::string> environment(std::map<std::string, std::string> base,
                                     const std::vector<std::string>& overrides)
{
    for (const auto& kv : overrides) {
        auto eq = kv.find('=');
        base[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
    }
    std::vector<std::string> env;
    for (const auto& [k, v] : base)
        env.push_back(k + "=" + v);
    return env;
}

bool wait_for(const std::function<bool()>& cond, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (cond())
            return true;
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(10ms);
    }
}

std::string read_file(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const fs::path& path, const std::string& text, fs::perms perms)
{
    {
        std::ofstream o(path, std::ios::binary | std::ios::trunc);
        o << text;
        if (!o)
            throw std::runtime_error("write " + path.string());
    }
    fs::permissions(path, perms);
}

// ---- leftovers -------------------------------------------------------------

namespace {

void find_dirs_named(const fs::path& dir, const std::string& name, int depth,
                     std::vector<fs::path>& found)
{
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code tec;
        if (!it->is_directory(tec) || it->is_symlink(tec))
            continue;
        if (it->path().filename() == name)
            found.push_back(it->path());
        else if (depth > 1)
            find_dirs_named(it->path(), name, depth - 1, found);
    }
}

bool path_within(const std::string& p, const std::string& dir)
{
    return p == dir || (p.size() > dir.size() && p.compare(0, dir.size(), dir) == 0 &&
                        p[dir.size()] == '/');
}

std::string readlink_str(const fs::path& p)
{
    std::error_code ec;
    auto t = fs::read_symlink(p, ec);
    return ec ? "" : t.string();
}

std::string cmdline_of(const std::string& pid)
{
    std::string c = read_file("/proc/" + pid + "/cmdline");
    for (auto& ch : c)
        if (ch == '\0')
            ch = ' ';
    while (!c.empty() && c.back() == ' ')
        c.pop_back();
    return c;
}

// The "root" field of the mount at "/" in a process's mountinfo: for a
// container, the rootfs path inside its filesystem (readlink of
// /proc/PID/root says only "/" for a process in another mount namespace).
std::string root_mount_source(const std::string& pid)
{
    std::istringstream in(read_file("/proc/" + pid + "/mountinfo"));
    std::string root_field;
    for (std::string line; std::getline(in, line);) {
        std::istringstream f(line);
        std::string id, parent, devno, root, target;
        if (!(f >> id >> parent >> devno >> root >> target))
            continue;
        if (target == "/")
            root_field = root;  // the last mount on "/" is the visible one
    }
    return root_field;
}

}  // namespace

std::vector<fs::path> cgroup_dirs_named(const std::string& id)
{
    std::vector<fs::path> found;
    std::error_code ec;
    // Every v1 controller hierarchy and the v2 (unified) mount; on a pure v2
    // host /sys/fs/cgroup itself is the hierarchy.  Depth covers
    // <hier>/mxc/<id>, <hier>/<id> and a runtime nested in a parent cgroup.
    std::vector<fs::path> hierarchies;
    for (fs::directory_iterator it("/sys/fs/cgroup", ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code tec;
        if (it->is_directory(tec) && !it->is_symlink(tec))
            hierarchies.push_back(it->path());
    }
    if (fs::exists("/sys/fs/cgroup/cgroup.controllers", ec)) {
        // Pure v2: its top-level subdirs are cgroups; search them directly.
        for (const auto& h : hierarchies)
            if (h.filename() == id)
                found.push_back(h);
    }
    for (const auto& h : hierarchies)
        find_dirs_named(h, id, 5, found);
    return found;
}

fs::path cgroup_dir_of(int pid, const std::string& controller)
{
    std::istringstream in(read_file("/proc/" + std::to_string(pid) + "/cgroup"));
    std::string v2_path;
    for (std::string line; std::getline(in, line);) {
        // "ID:CONTROLLERS:PATH"; v2 has ID 0 and no controllers.
        auto c1 = line.find(':');
        auto c2 = line.find(':', c1 + 1);
        if (c1 == std::string::npos || c2 == std::string::npos)
            continue;
        std::string ctrls = line.substr(c1 + 1, c2 - c1 - 1);
        std::string path = line.substr(c2 + 1);
        if (ctrls.empty()) {
            v2_path = path;
            continue;
        }
        std::istringstream cs(ctrls);
        for (std::string c; std::getline(cs, c, ',');) {
            if (c != controller)
                continue;
            // Co-mounted controllers (cpu,cpuacct) sit in a dir named after
            // all of them, usually with per-controller symlinks.
            for (const fs::path& base : {fs::path("/sys/fs/cgroup") / controller,
                                        fs::path("/sys/fs/cgroup") / ctrls}) {
                std::error_code ec;
                if (fs::is_directory(base, ec))
                    return base / fs::path(path).relative_path();
            }
        }
    }
    if (v2_path.empty())
        return {};
    std::error_code ec;
    fs::path base = fs::exists("/sys/fs/cgroup/unified/cgroup.controllers", ec)
                        ? fs::path("/sys/fs/cgroup/unified")
                        : fs::path("/sys/fs/cgroup");
    return base / fs::path(v2_path).relative_path();
}

std::vector<int> pids_with_cmdline(const std::string& needle)
{
    std::vector<int> pids;
    std::error_code ec;
    const std::string self = std::to_string(getpid());
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
        std::string pid = it->path().filename().string();
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == self)
            continue;
        if (cmdline_of(pid).find(needle) != std::string::npos)
            pids.push_back(std::stoi(pid));
    }
    return pids;
}

std::vector<std::string> leftovers(const fs::path& root, const std::string& id,
                                   const fs::path& bundle)
{
    std::vector<std::string> left;
    std::error_code ec;
    if (!root.empty() && fs::exists(root / id, ec))
        left.push_back("state dir " + (root / id).string());
    for (const auto& d : cgroup_dirs_named(id))
        left.push_back("cgroup " + d.string());

    const fs::path canon = fs::weakly_canonical(bundle, ec);
    const std::string b = canon.string();
    // "<tmpdir>/<bundle>/": how the bundle shows in a mountinfo root field
    // whatever filesystem it lives on (mkdtemp makes <tmpdir> unique).
    const std::string tail =
        "/" + canon.parent_path().filename().string() + "/" + canon.filename().string() + "/";
    const std::string self = std::to_string(getpid());
    for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
        std::string pid = it->path().filename().string();
        if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid == self)
            continue;
        std::string cmd = cmdline_of(pid);
        std::string rootlink = readlink_str(it->path() / "root");
        std::string cwd = readlink_str(it->path() / "cwd");
        std::string mroot = root_mount_source(pid);
        if (cmd.find(b) != std::string::npos || cmd.find(id) != std::string::npos ||
            path_within(rootlink, b) || path_within(cwd, b) ||
            mroot.find(tail) != std::string::npos)
            left.push_back("process " + pid + " (" + cmd + ") root=" + rootlink + " cwd=" + cwd +
                           " rootfs=" + mroot);
    }
    return left;
}

// ---- bundles -----------------------------------------------------------------

Json Bundle::default_config()
{
    const std::vector<std::string> caps{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"};
    return Json{
        {"ociVersion", "1.0.2-dev"},
        {"process",
         {{"terminal", false},
          {"user", {{"uid", 0}, {"gid", 0}}},
          {"args", {"/probe"}},
          {"env", {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"}},
          {"cwd", "/"},
          {"capabilities",
           {{"bounding", caps}, {"effective", caps}, {"permitted", caps}, {"ambient", caps}}},
          {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
          {"noNewPrivileges", true}}},
        {"root", {{"path", "rootfs"}, {"readonly", true}}},
        {"hostname", "mxc-test"},
        {"mounts",
         {
             {{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
             {{"destination", "/dev"},
              {"type", "tmpfs"},
              {"source", "tmpfs"},
              {"options", {"nosuid", "strictatime", "mode=755", "size=65536k"}}},
             {{"destination", "/dev/pts"},
              {"type", "devpts"},
              {"source", "devpts"},
              {"options", {"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}}},
             {{"destination", "/dev/shm"},
              {"type", "tmpfs"},
              {"source", "shm"},
              {"options", {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}}},
             {{"destination", "/dev/mqueue"},
              {"type", "mqueue"},
              {"source", "mqueue"},
              {"options", {"nosuid", "noexec", "nodev"}}},
             {{"destination", "/sys"},
              {"type", "sysfs"},
              {"source", "sysfs"},
              {"options", {"nosuid", "noexec", "nodev", "ro"}}},
             {{"destination", "/sys/fs/cgroup"},
              {"type", "cgroup"},
              {"source", "cgroup"},
              {"options", {"nosuid", "noexec", "nodev", "relatime", "ro"}}},
         }},
        {"linux",
         {{"resources", {{"devices", {{{"allow", false}, {"access", "rwm"}}}}}},
          {"namespaces",
           {{{"type", "pid"}}, {{"type", "network"}}, {{"type", "ipc"}}, {{"type", "uts"}},
            {{"type", "mount"}}}},
          {"maskedPaths",
           {"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
            "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
            "/proc/scsi"}},
          {"readonlyPaths",
           {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"}}}},
    };
}

Bundle::Bundle(fs::path dir) : dir_(std::move(dir)), config_(default_config())
{
    const fs::path rfs = rootfs();
    fs::create_directories(rfs / "bin");
    for (const char* d : {"proc", "sys", "dev", "tmp", "etc", "root"})
        fs::create_directories(rfs / d);
    fs::permissions(dir_, fs::perms(0755));
    fs::permissions(rfs / "tmp", fs::perms(01777));

    fs::copy_file("/bin/busybox", rfs / "bin/busybox", fs::copy_options::overwrite_existing);
    fs::permissions(rfs / "bin/busybox", fs::perms(0755));
    for (const auto& applet : busybox_applets()) {
        std::error_code ec;
        fs::create_symlink("busybox", rfs / "bin" / applet, ec);
    }
    const std::string probe = probe_bin();
    if (!probe.empty()) {
        fs::copy_file(probe, rfs / "probe", fs::copy_options::overwrite_existing);
        fs::permissions(rfs / "probe", fs::perms(0755));
    }
    write_file(rfs / "etc/passwd",
               "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
    write_file(rfs / "etc/group", "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n");
    write_file(rfs / "etc/hostname", "mxc-test\n");
    write();
}

Bundle& Bundle::set_args(std::vector<std::string> args)
{
    config_["process"]["args"] = std::move(args);
    return *this;
}

Bundle& Bundle::add_env(const std::string& kv)
{
    config_["process"]["env"].push_back(kv);
    return *this;
}

Bundle& Bundle::add_mount(const std::string& destination, const std::string& type,
                          const std::string& source, std::vector<std::string> options)
{
    Json m{{"destination", destination}, {"type", type}, {"source", source}};
    if (!options.empty())
        m["options"] = std::move(options);
    config_["mounts"].push_back(std::move(m));
    return *this;
}

fs::path Bundle::add_host_dir(const std::string& name, const std::string& destination)
{
    fs::path host = dir_ / name;
    fs::create_directories(host);
    fs::permissions(host, fs::perms(0777));
    add_mount(destination, "bind", host.string(), {"rbind", "rw"});
    return host;
}

Bundle& Bundle::set_readonly_root(bool ro)
{
    config_["root"]["readonly"] = ro;
    return *this;
}

Bundle& Bundle::remove_namespace(const std::string& type)
{
    auto& ns = config_["linux"]["namespaces"];
    for (auto it = ns.begin(); it != ns.end();) {
        if ((*it)["type"] == type)
            it = ns.erase(it);
        else
            ++it;
    }
    return *this;
}

Bundle& Bundle::add_namespace(const std::string& type, const std::string& path)
{
    remove_namespace(type);
    Json n{{"type", type}};
    if (!path.empty())
        n["path"] = path;
    config_["linux"]["namespaces"].push_back(std::move(n));
    return *this;
}

bool Bundle::has_namespace(const std::string& type) const
{
    for (const auto& n : config_["linux"]["namespaces"])
        if (n["type"] == type)
            return true;
    return false;
}

void Bundle::write() const
{
    write_file(config_path(), config_.dump(2) + "\n");
}

// ---- fixture -------------------------------------------------------------------

void IntegrationTest::SetUp()
{
    if (mxc_bin().empty())
        GTEST_SKIP() << "MXC_BIN is not set (the runtime under test; meson test sets it)";
    if (probe_bin().empty())
        GTEST_SKIP() << "MXC_PROBE is not set (the static probe; meson test sets it)";
    char tmpl[] = "/tmp/mxc-it-XXXXXX";
    if (!mkdtemp(tmpl))
        FAIL() << "mkdtemp: " << std::strerror(errno);
    tmp_ = tmpl;
    // Containers running as non-root users must traverse into their bundle.
    fs::permissions(tmp_, fs::perms(0755));
    root_ = tmp_ / "root";
}

void IntegrationTest::TearDown()
{
    if (tmp_.empty())
        return;
    for (const auto& id : ids_) {
        // Quiet, short: most tests already deleted their containers.
        run_mxc({"kill", id, "KILL"}, "", 10s);
        run_mxc({"delete", "--force", id}, "", 20s);
    }
    if (!HasFailure() || std::getenv("MXC_KEEP_TMP") == nullptr) {
        std::error_code ec;
        fs::remove_all(tmp_, ec);
    }
}

Bundle& IntegrationTest::new_bundle()
{
    fs::path dir = tmp_ / ("bundle" + std::to_string(bundles_.size()));
    bundles_.push_back(std::make_unique<Bundle>(dir));
    return *bundles_.back();
}

std::string IntegrationTest::new_id(std::string_view prefix)
{
    ids_.push_back(unique_id(prefix));
    return ids_.back();
}

RunResult IntegrationTest::run_mxc(const std::vector<std::string>& args, const std::string& input,
                                   std::chrono::milliseconds timeout) const
{
    return mxc::testing::run_mxc(root_, args, input, timeout);
}

Json IntegrationTest::state(const std::string& id) const
{
    RunResult r = run_mxc({"state", id});
    if (r.status != 0) {
        ADD_FAILURE() << "state " << id << " failed: " << r.describe();
        return Json();
    }
    Json j = Json::parse(r.out, nullptr, false);
    if (j.is_discarded()) {
        ADD_FAILURE() << "state " << id << " printed no JSON: " << r.describe();
        return Json();
    }
    return j;
}

std::string IntegrationTest::status_of(const std::string& id) const
{
    RunResult r = run_mxc({"state", id});
    if (r.status != 0)
        return "";
    Json j = Json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.contains("status") || !j["status"].is_string())
        return "";
    return j["status"].get<std::string>();
}

bool IntegrationTest::wait_status(const std::string& id, const std::string& status,
                                  std::chrono::milliseconds timeout) const
{
    return wait_for([&] { return status_of(id) == status; }, timeout);
}

std::vector<std::string> IntegrationTest::leftovers(const std::string& id,
                                                    const Bundle& bundle) const
{
    return mxc::testing::leftovers(root_, id, bundle.dir());
}

std::vector<std::string> IntegrationTest::leftovers(const std::string& id) const
{
    std::vector<std::string> all;
    for (size_t i = 0; i < bundles_.size(); i++) {
        // State dir and cgroups do not depend on the bundle: report them once.
        auto l = mxc::testing::leftovers(i == 0 ? root_ : fs::path(), id, bundles_[i]->dir());
        for (auto& item : l)
            if (i == 0 || item.rfind("cgroup ", 0) != 0)
                all.push_back(std::move(item));
    }
    if (bundles_.empty()) {
        std::error_code ec;
        if (fs::exists(root_ / id, ec))
            all.push_back("state dir " + (root_ / id).string());
        for (const auto& d : cgroup_dirs_named(id))
            all.push_back("cgroup " + d.string());
    }
    return all;
}

void IntegrationTest::create_and_start(const std::string& id, const Bundle& bundle)
{
    RunResult c = run_mxc({"create", "--bundle", bundle.dir().string(), id});
    ASSERT_EQ(c.status, 0) << "create: " << c.describe();
    RunResult s = run_mxc({"start", id});
    ASSERT_EQ(s.status, 0) << "start: " << s.describe();
}

}  // namespace mxc::testing

// ---- running as another user -------------------------------------------------

#include <grp.h>

namespace mxc::testing {

RunResult run_program_as(const RunAs& who, const std::vector<std::string>& argv,
                         const std::string& input, std::chrono::milliseconds timeout)
{
    return run_impl(&who, argv, input, timeout);
}

static RunResult run_impl(const RunAs* who_p, const std::vector<std::string>& argv,
                          const std::string& input, std::chrono::milliseconds timeout)
{
    static const RunAs self{};
    const RunAs& who = who_p ? *who_p : self;
    RunResult res;
    int in_fd = anon_file("stdin");
    if (!input.empty() && pwrite(in_fd, input.data(), input.size(), 0) != (ssize_t)input.size())
        throw std::runtime_error("write stdin file");
    int out_fd = anon_file("stdout");
    int err_fd = anon_file("stderr");

    std::vector<char*> cargv, cenv;
    for (const auto& a : argv)
        cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : who.env)
        cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    // Without a user to switch to, the program gets our own environment.
    char* const* envp = who_p ? cenv.data() : environ;
    std::vector<gid_t> groups(who.groups.begin(), who.groups.end());

    pid_t pid = fork();
    if (pid < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        dup2(in_fd, 0);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        if (who_p && (setgroups(groups.size(), groups.data()) < 0 || setgid(who.gid) < 0 ||
                      setuid(who.uid) < 0)) {
            dprintf(2, "switch to uid %u gid %u: %s\n", who.uid, who.gid, std::strerror(errno));
            _exit(126);
        }
        execve(cargv[0], cargv.data(), envp);
        dprintf(2, "exec %s: %s\n", cargv[0], std::strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);

    auto deadline = std::chrono::steady_clock::now() + timeout;
    int wstatus = 0;
    for (;;) {
        pid_t w = waitpid(pid, &wstatus, WNOHANG);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR)
            break;
        if (std::chrono::steady_clock::now() >= deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &wstatus, 0);
            res.timed_out = true;
            break;
        }
        std::this_thread::sleep_for(2ms);
    }
    if (res.timed_out)
        res.status = -1;
    else if (WIFEXITED(wstatus))
        res.status = WEXITSTATUS(wstatus);
    else if (WIFSIGNALED(wstatus))
        res.status = 128 + WTERMSIG(wstatus);
    res.out = read_all_fd(out_fd);
    res.err = read_all_fd(err_fd);
    close(in_fd);
    close(out_fd);
    close(err_fd);
    if (res.timed_out) {
        std::string cmd;
        for (const auto& a : argv)
            cmd += a + " ";
        ADD_FAILURE() << "timed out after " << timeout.count() << "ms, killed"
                      << (who_p ? " (uid " + std::to_string(who.uid) + ")" : std::string()) << ": " << cmd
                      << "\n"
                      << res.describe();
    }
    return res;
}

// ---- a child process, waited for later -----------------------------------------

Child::Child(const std::vector<std::string>& argv, const std::vector<std::string>& env) : argv_(argv)
{
    out_fd_ = anon_file("stdout");
    err_fd_ = anon_file("stderr");
    int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in_fd < 0)
        throw std::runtime_error(std::string("open /dev/null: ") + std::strerror(errno));
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv)
        cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& e : env)
        cenv.push_back(const_cast<char*>(e.c_str()));
    cenv.push_back(nullptr);
    started_ = std::chrono::steady_clock::now();
    pid_ = fork();
    if (pid_ < 0)
        throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (pid_ == 0) {
        setpgid(0, 0);
        dup2(in_fd, 0);
        dup2(out_fd_, 1);
        dup2(err_fd_, 2);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, nullptr);
        execve(cargv[0], cargv.data(), cenv.data());
        dprintf(2, "exec %s: %s\n", cargv[0], std::strerror(errno));
        _exit(127);
    }
    setpgid(pid_, pid_);
    close(in_fd);
}

Child::~Child()
{
    if (pid_ > 0 && !done_) {
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
        int st;
        waitpid(pid_, &st, 0);
    }
    close(out_fd_);
    close(err_fd_);
}

bool Child::exited()
{
    if (done_)
        return true;
    int st;
    pid_t w = waitpid(pid_, &st, WNOHANG);
    if (w == pid_) {
        record(st);
        return true;
    }
    return false;
}

RunResult Child::wait(std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!exited()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            kill(-pid_, SIGKILL);
            kill(pid_, SIGKILL);
            int st;
            waitpid(pid_, &st, 0);
            done_ = true;
            ended_ = std::chrono::steady_clock::now();
            res_.status = -1;
            res_.timed_out = true;
            break;
        }
        std::this_thread::sleep_for(2ms);
    }
    res_.out = out();
    res_.err = err();
    if (res_.timed_out) {
        std::string cmd;
        for (const auto& a : argv_)
            cmd += a + " ";
        ADD_FAILURE() << "timed out after " << timeout.count() << "ms, killed: " << cmd << "\n"
                      << res_.describe();
    }
    return res_;
}

void Child::record(int st)
{
    done_ = true;
    ended_ = std::chrono::steady_clock::now();
    res_.status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

}  // namespace mxc::testing
