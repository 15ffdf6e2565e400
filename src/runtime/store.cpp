#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "mxc/cgroup/cgroup.hpp"
#include "mxc/runtime/runtime.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/proc.hpp"

namespace mxc::runtime {

std::string default_root() {
    if (::geteuid() == 0)
        return "/run/mxc";
    if (const char *x = ::getenv("XDG_RUNTIME_DIR"); x && *x)
        return std::string(x) + "/mxc";
    return fmt::format("/tmp/mxc-{}", ::geteuid());
}

bool resolve_rootless(const std::string &mode) {
    if (mode == "true")
        return true;
    if (mode == "false")
        return false;
    if (mode == "auto" || mode.empty())
        return ::geteuid() != 0;
    throw_error("--rootless: expected auto, true or false, got \"{}\"", mode);
}

const char *status_name(Status s) {
    switch (s) {
    case Status::created: return "created";
    case Status::running: return "running";
    case Status::paused: return "paused";
    case Status::stopped: return "stopped";
    }
    return "unknown";
}

void check_id(const std::string &id) {
    if (id.empty())
        throw_error("container id is empty");
    if (id.size() > 1024)
        throw_error("container id is longer than 1024 characters");
    if (!std::isalnum(static_cast<unsigned char>(id[0])))
        throw_error("invalid container id \"{}\": must start with a letter or digit", id);
    for (char c : id)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
            throw_error("invalid container id \"{}\": only letters, digits, '_', '.' and '-' are allowed", id);
}

bool Store::exists(const std::string &id) const { return path_exists(dir(id) + "/state.json"); }

State Store::load(const std::string &id) const {
    check_id(id);
    std::string text;
    try {
        text = read_file(dir(id) + "/state.json");
    } catch (const Error &e) {
        if (e.code() == ENOENT)
            throw Error(ENOENT, fmt::format("container \"{}\" does not exist", id));
        throw;
    }
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded())
        throw_error("{}/state.json: corrupt state file", dir(id));
    State s;
    s.id = j.value("id", id);
    s.pid = j.value("pid", 0);
    s.pid_start = j.value("pid_start", uint64_t{0});
    s.bundle = j.value("bundle", "");
    s.rootfs = j.value("rootfs", "");
    s.created = j.value("created", "");
    s.owner = j.value("owner", "");
    s.owner_uid = j.value("owner_uid", 0u);
    s.annotations = j.value("annotations", std::map<std::string, std::string>{});
    s.cgroup_path = j.value("cgroup_path", "");
    s.rootless = j.value("rootless", false);
    s.started = j.value("started", false);
    s.config = j.value("config", nlohmann::json::object());
    if (j.contains("landlock"))
        s.landlock = j["landlock"].get<std::vector<std::pair<std::string, bool>>>();
    if (j.contains("audit"))
        s.audit = j["audit"];
    s.cgroup_via_mxcd = j.value("cgroup_via_mxcd", false);
    return s;
}

void Store::save(const State &s) const {
    nlohmann::json j = {
        {"id", s.id}, {"pid", s.pid}, {"pid_start", s.pid_start}, {"bundle", s.bundle}, {"rootfs", s.rootfs},
        {"created", s.created}, {"owner", s.owner}, {"owner_uid", s.owner_uid}, {"annotations", s.annotations},
        {"cgroup_path", s.cgroup_path}, {"rootless", s.rootless}, {"started", s.started}, {"config", s.config},
    };
    if (!s.landlock.empty())
        j["landlock"] = s.landlock;
    if (!s.audit.is_null())
        j["audit"] = s.audit;
    if (s.cgroup_via_mxcd)
        j["cgroup_via_mxcd"] = true;
    write_file_atomic(dir(s.id) + "/state.json", j.dump(), 0600);
}

std::vector<std::string> Store::ids() const {
    std::vector<std::string> out;
    DIR *d = ::opendir(root_.c_str());
    if (!d)
        return out;
    while (struct dirent *de = ::readdir(d)) {
        std::string n = de->d_name;
        if (n == "." || n == "..")
            continue;
        if (path_exists(root_ + "/" + n + "/state.json"))
            out.push_back(n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
}

void Store::remove(const std::string &id) const { remove_tree(dir(id)); }

static bool process_alive(const State &s) {
    if (s.pid <= 0)
        return false;
    auto st = process_start_time(s.pid);
    if (!st || *st != s.pid_start)
        return false;
    char c = process_state(s.pid);
    return c != 0 && c != 'Z' && c != 'X';
}

Status status_of(const Store &store, const State &s) {
    if (!process_alive(s))
        return Status::stopped;
    if (!s.cgroup_path.empty()) {
        try {
            cgroup::Manager m(cgroup::detect_once(), s.cgroup_path);
            if (m.frozen())
                return Status::paused;
        } catch (const Error &) {
        }
    }
    if (!s.started && path_exists(store.fifo(s.id)))
        return Status::created;
    return Status::running;
}

nlohmann::json state_json(const State &s, Status st) {
    nlohmann::json j = {
        {"ociVersion", s.config.is_object() ? s.config.value("ociVersion", "1.2.0") : "1.2.0"},
        {"id", s.id},
        {"status", status_name(st)},
        {"bundle", s.bundle},
        {"rootfs", s.rootfs},
        {"created", s.created},
        {"owner", s.owner},
    };
    j["pid"] = st == Status::stopped ? 0 : s.pid;
    j["annotations"] = s.annotations;
    return j;
}

} // namespace mxc::runtime
