#include "daemon.hpp"

#include <linux/magic.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "mxc/cgroup/cgroup.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/fd.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"

namespace mxc::daemon {

using nlohmann::json;

namespace {

constexpr const char *kHostKey = "host";
// Per ordinary user, of the kernel filter's 1024 cgroups and 4096 identities.
constexpr long kMaxSandboxesPerUser = 256;
constexpr long kMaxIdentitiesPerUser = 256;

json error_reply(const std::string &msg, int err = EPERM) { return {{"ok", false}, {"error", msg}, {"errno", err}}; }

// The cgroup v2 directory a caller names: it must exist on a cgroup2 mount;
// its inode number is the cgroup id the probes see.
std::pair<std::string, uint64_t> cgroup_of(const std::string &dir) {
    char *real = ::realpath(dir.c_str(), nullptr);
    if (!real)
        throw_errno("cgroup {}", dir);
    std::string path(real);
    ::free(real);
    struct statfs sf;
    if (::statfs(path.c_str(), &sf) < 0)
        throw_errno("cgroup {}", path);
    if (sf.f_type != CGROUP2_SUPER_MAGIC)
        throw_error("cgroup {}: not on a cgroup2 file system", path);
    struct stat st;
    if (::stat(path.c_str(), &st) < 0)
        throw_errno("cgroup {}", path);
    return {path, static_cast<uint64_t>(st.st_ino)};
}

uid_t owner_of(const std::string &path) {
    struct stat st;
    if (::stat(path.c_str(), &st) < 0)
        throw_errno("{}", path);
    return st.st_uid;
}

} // namespace

Daemon::Daemon(Options o) : o_(std::move(o)) {
    if (o_.socket.empty())
        o_.socket = ipc::default_socket();
    if (o_.audit_dir.empty())
        o_.audit_dir = audit::default_base_dir();
    mkdir_p(o_.state_dir, 0700);
    mkdir_p(o_.run_dir, 0700);
    mkdir_p(o_.audit_dir, 0755);

    // The host key signs every checkpoint; made on the first start.
    identity::IdentityStore keys{o_.state_dir + "/keys", 0};
    mkdir_p(keys.dir, 0700);
    if (!path_exists(keys.dir + "/" + kHostKey))
        identity::create(keys, kHostKey);
    signer_ = audit::identity_signer(keys, kHostKey);
    signer_->name = "host";

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    ::sigprocmask(SIG_BLOCK, &set, nullptr);
    signals_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!signals_)
        throw_errno("signalfd");

    audit::LoadOptions lo;
    lo.ring_bytes = o_.ring_bytes;
    lo.pin_dir = o_.pin_dir;
    lo.syscall_probes = false; // on while a sandbox is watched (update_syscall_probes)
    probes_ = audit::BpfProbes::load(lo);
    log::info("mxcd: probes {} (build {}), hooks: {}", probes_->adopted() ? "adopted from " + o_.pin_dir : "loaded",
              audit::BpfProbes::build_id(), fmt::join(probes_->active_hooks(), ", "));
    v2_mount_ = cgroup::detect().v2_mount;
    load_registry();
    if (auto dir = std::filesystem::path(o_.socket).parent_path(); !dir.empty())
        mkdir_p(dir.string(), 0755);
    listen_ = ipc::listen_unix(o_.socket, 0666);
    log::info("mxcd: listening on {}", o_.socket);
}

Daemon::~Daemon() = default;

// ---- registry ---------------------------------------------------------------

void Daemon::load_registry() {
    std::string path = o_.run_dir + "/registry.json";
    json reg = json::object();
    if (path_exists(path)) {
        try {
            reg = json::parse(read_file(path));
        } catch (const std::exception &e) {
            log::warn("mxcd: {}: {}; starting with no registrations", path, e.what());
            reg = json::object();
        }
    }
    const json idents = reg.value("identities", json::object());
    const json sandboxes = reg.value("sandboxes", json::object());
    for (const auto &[name, j] : idents.items()) {
        Ident &id = idents_[name];
        id.index = j.value("index", 0u);
        id.owner = j.value("owner", 0u);
        // Fresh probes start their counters at zero.
        id.loss_reported = probes_->adopted() ? j.value("loss_reported", uint64_t{0}) : 0;
        by_index_[id.index] = name;
    }
    std::set<uint64_t> keep;
    for (const auto &[sid, j] : sandboxes.items()) {
        Sandbox s;
        s.id = sid;
        s.identity = j.value("identity", "");
        s.cgroup_dir = j.value("cgroup", "");
        s.cgroup_id = j.value("cgroup_id", uint64_t{0});
        s.owner = j.value("owner", 0u);
        if (!idents_.count(s.identity) || !path_exists(s.cgroup_dir)) {
            log::info("mxcd: sandbox {} is gone; dropping its registration", sid);
            continue;
        }
        probes_->watch(s.cgroup_id, idents_[s.identity].index);
        keep.insert(s.cgroup_id);
        by_cgroup_[s.cgroup_id] = sid;
        sandboxes_[sid] = std::move(s);
    }
    for (uint64_t cg : probes_->kernel_watched())
        if (!keep.count(cg))
            probes_->unwatch(cg);
    update_syscall_probes(false);
    save_registry();
}

// The syscall tracepoints slow down every syscall on the host: attached only
// while a sandbox is watched.
void Daemon::update_syscall_probes(bool linger) {
    if (!sandboxes_.empty()) {
        detach_at_.reset();
        probes_->syscall_probes(true);
    } else if (linger && o_.probes_linger_ms > 0) {
        if (!detach_at_)
            detach_at_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(o_.probes_linger_ms);
    } else {
        detach_at_.reset();
        probes_->syscall_probes(false);
    }
}

void Daemon::save_registry() {
    json reg = {{"identities", json::object()}, {"sandboxes", json::object()}};
    for (const auto &[name, id] : idents_)
        reg["identities"][name] = {{"index", id.index}, {"owner", id.owner}, {"loss_reported", id.loss_reported}};
    for (const auto &[sid, s] : sandboxes_)
        reg["sandboxes"][sid] = {
            {"identity", s.identity}, {"cgroup", s.cgroup_dir}, {"cgroup_id", s.cgroup_id}, {"owner", s.owner}};
    write_file_atomic(o_.run_dir + "/registry.json", reg.dump(2) + "\n", 0600);
}

Daemon::Ident &Daemon::ident(const std::string &name, uid_t owner) {
    auto it = idents_.find(name);
    if (it != idents_.end())
        return it->second;
    // Indexes are kept for the daemon's lifetime; the kernel's loss counter of
    // a reused index starts from where it is.
    uint32_t index = 0;
    while (by_index_.count(index))
        ++index;
    if (index >= audit::BpfProbes::max_identities())
        throw_error("too many identities (max {})", audit::BpfProbes::max_identities());
    Ident &id = idents_[name];
    id.index = index;
    id.owner = owner;
    id.loss_reported = probes_->loss_of(index);
    by_index_[index] = name;
    return id;
}

audit::StreamWriter &Daemon::writer(const std::string &name) {
    Ident &id = idents_.at(name);
    if (!id.writer) {
        audit::WriterOptions wo;
        wo.base_dir = o_.audit_dir;
        wo.identity = name;
        wo.signer = signer_;
        wo.backend = "bpf";
        wo.checkpoint_records = o_.checkpoint_records;
        wo.checkpoint_interval = std::chrono::seconds(o_.checkpoint_seconds);
        wo.checkpoint_min_gap = std::chrono::milliseconds(o_.checkpoint_min_gap_ms);
        wo.header_extra = {{"hooks", probes_->active_hooks()}, {"probes", audit::BpfProbes::build_id()},
                           {"owner_uid", id.owner}};
        if (id.owner != 0)
            if (struct passwd *pw = ::getpwuid(id.owner))
                wo.reader_gid = pw->pw_gid;
        id.writer = std::make_unique<audit::StreamWriter>(std::move(wo));
    }
    return *id.writer;
}

// ---- events -----------------------------------------------------------------

void Daemon::on_event(const audit::Event &e) {
    ++events_;
    Route &rt = route_;
    if (!rt.valid || rt.cgroup_id != e.cgroup_id || rt.index != e.identity) {
        auto idx = by_index_.find(e.identity);
        if (idx == by_index_.end()) {
            ++unmatched_;
            return;
        }
        rt = Route{};
        rt.cgroup_id = e.cgroup_id;
        rt.index = e.identity;
        rt.identity = &idx->second;
        if (auto it = by_cgroup_.find(e.cgroup_id); it != by_cgroup_.end()) {
            rt.sandbox = it->second;
        } else {
            // A cgroup below the registered one: the identity's only sandbox, if it has one.
            for (const auto &[sid, s] : sandboxes_)
                if (s.identity == idx->second)
                    rt.sandbox = rt.sandbox.empty() ? sid : "";
        }
        rt.id = &idents_[idx->second];
        if (auto it = sandboxes_.find(rt.sandbox); it != sandboxes_.end())
            rt.sb = &it->second;
        rt.valid = true;
    }
    Ident &id = *rt.id;
    // Records are built into the batch's slots, which keep their buffers.
    if (id.npending == id.pending.size())
        id.pending.emplace_back();
    audit::Record &r = id.pending[id.npending++];
    audit::record_from_event(e, *rt.identity, rt.sandbox, r);
    if (rt.sb) {
        size_t k = static_cast<size_t>(e.kind) % rt.counts.size();
        if (!rt.counts[k])
            rt.counts[k] = &rt.sb->counts[r.kind];
        ++*rt.counts[k];
    }
    // A full ring is hundreds of thousands of records: written in chunks, the
    // batch's memory stays small and warm in the cache.
    if (id.npending >= kFlushRecords)
        flush_one(*rt.identity, id);
}

void Daemon::collect(int timeout_ms) {
    route_.valid = false; // the maps may have changed since the last poll
    probes_->poll(timeout_ms, [this](const audit::Event &e) { on_event(e); });
    flush();
}

void Daemon::flush() {
    for (auto &[name, id] : idents_)
        flush_one(name, id);
}

void Daemon::flush_one(const std::string &name, Ident &id) {
    if (id.npending == 0)
        return;
    std::vector<std::string> lines;
    bool live = std::any_of(conns_.begin(), conns_.end(), [](const auto &kv) { return kv.second.subscriber; });
    try {
        ScopeExit done([&] { id.npending = 0; });
        writer(name).append_batch(std::span(id.pending.data(), id.npending), live ? &lines : nullptr);
    } catch (const Error &e) {
        log::error("mxcd: stream {}: {}", name, e.what());
        return;
    }
    if (live)
        publish(name, lines);
}

void Daemon::check_losses() {
    bool changed = false;
    for (auto &[name, id] : idents_) {
        uint64_t total = probes_->loss_of(id.index);
        if (total <= id.loss_reported)
            continue;
        audit::Record r;
        r.kind = "loss";
        r.op = "ringbuf";
        r.probe = "ringbuf";
        r.lost = total - id.loss_reported;
        id.loss_reported = total;
        append(name, std::move(r));
        changed = true;
    }
    if (changed)
        save_registry();
}

void Daemon::append(const std::string &identity, audit::Record r) {
    flush();
    audit::Record w = writer(identity).append(std::move(r));
    publish(identity, {audit::to_line(w)});
}

void Daemon::publish(const std::string &identity, const std::vector<std::string> &lines) {
    std::vector<int> dead;
    for (auto &[fd, c] : conns_) {
        if (!c.subscriber)
            continue;
        if (c.peer.uid != 0 && idents_.at(identity).owner != c.peer.uid)
            continue;
        std::string out;
        for (const auto &line : lines) {
            if (c.filter.identity || c.filter.sandbox || !c.filter.kinds.empty()) {
                auto r = audit::parse_line(line);
                if (!audit::matches(r, c.filter))
                    continue;
            }
            out += line;
        }
        if (out.empty())
            continue;
        // A subscriber that does not keep up is dropped, not waited for.
        ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n != static_cast<ssize_t>(out.size()))
            dead.push_back(fd);
    }
    for (int fd : dead) {
        log::warn("mxcd: subscriber (uid {}) does not keep up; disconnected", conns_.at(fd).peer.uid);
        conns_.erase(fd);
    }
}

// ---- requests ---------------------------------------------------------------

const Daemon::Sandbox &Daemon::owned_sandbox(const Conn &c, const json &req) {
    std::string sid = req.value("sandbox", "");
    auto it = sandboxes_.find(sid);
    if (it == sandboxes_.end())
        throw Error(ENOENT, fmt::format("sandbox \"{}\" is not registered", sid));
    if (c.peer.uid != 0 && it->second.owner != c.peer.uid)
        throw Error(EPERM, fmt::format("sandbox \"{}\" belongs to uid {}", sid, it->second.owner));
    return it->second;
}

json Daemon::do_register(const Conn &c, const json &req) {
    std::string sid = req.value("sandbox", "");
    std::string name = req.value("identity", "");
    if (sid.empty() || sid.find('/') != std::string::npos)
        throw Error(EINVAL, "register: bad or missing \"sandbox\"");
    if (!identity::valid_name(name))
        throw Error(EINVAL, fmt::format("register: bad identity name \"{}\"", name));
    auto [dir, cgid] = cgroup_of(req.value("cgroup", ""));
    // A user audits only what is theirs: the sandbox's cgroup, and an
    // identity stream nobody else writes to.
    if (c.peer.uid != 0 && owner_of(dir) != c.peer.uid)
        throw Error(EPERM, fmt::format("cgroup {} is not owned by uid {}", dir, c.peer.uid));
    if (auto it = idents_.find(name); it != idents_.end() && c.peer.uid != 0 && it->second.owner != c.peer.uid)
        throw Error(EPERM, fmt::format("identity \"{}\" belongs to uid {}", name, it->second.owner));
    if (sandboxes_.count(sid))
        throw Error(EEXIST, fmt::format("sandbox \"{}\" is already registered", sid));
    // The kernel's tables are shared: one user may not fill them for all.
    if (c.peer.uid != 0) {
        auto mine = std::count_if(sandboxes_.begin(), sandboxes_.end(),
                                  [&](const auto &kv) { return kv.second.owner == c.peer.uid; });
        if (mine >= kMaxSandboxesPerUser)
            throw Error(EUSERS, fmt::format("uid {} has {} audited sandboxes already (the limit)", c.peer.uid, mine));
        auto idents = std::count_if(idents_.begin(), idents_.end(),
                                    [&](const auto &kv) { return kv.second.owner == c.peer.uid; });
        if (!idents_.count(name) && idents >= kMaxIdentitiesPerUser)
            throw Error(EUSERS, fmt::format("uid {} has {} audited identities already (the limit)", c.peer.uid, idents));
    }
    if (by_cgroup_.count(cgid))
        throw Error(EEXIST, fmt::format("cgroup {} is already registered (sandbox {})", dir, by_cgroup_[cgid]));
    const bool new_ident = !idents_.count(name);
    const uint32_t index = ident(name, c.peer.uid).index;
    try {
        writer(name); // a damaged stream refuses here, before anything is watched
        probes_->syscall_probes(true); // before the sandbox can run
        probes_->watch(cgid, index);
        by_cgroup_[cgid] = sid;
        sandboxes_[sid] = Sandbox{sid, name, dir, cgid, c.peer.uid, {}};
        save_registry();
        audit::Record r;
        r.kind = "policy";
        r.op = "register";
        r.sandbox = sid;
        r.uid = c.peer.uid;
        r.extra = {{"cgroup", dir}, {"cgroup_id", cgid}, {"backend", "bpf"}};
        if (req.contains("annotations"))
            r.extra["annotations"] = req["annotations"];
        append(name, std::move(r));
    } catch (...) {
        // A refused registration leaves nothing behind: the caller removes
        // the sandbox, and may retry under the same name.
        try {
            probes_->unwatch(cgid);
        } catch (const Error &e) {
            log::warn("mxcd: undo register {}: {}", sid, e.what());
        }
        by_cgroup_.erase(cgid);
        sandboxes_.erase(sid);
        if (new_ident) {
            by_index_.erase(index);
            idents_.erase(name);
        }
        try {
            update_syscall_probes(false);
            save_registry();
        } catch (const Error &e) {
            log::warn("mxcd: undo register {}: {}", sid, e.what());
        }
        throw;
    }
    log::info("mxcd: registered sandbox {} (identity {}, cgroup {}, uid {})", sid, name, dir, c.peer.uid);
    return {{"ok", true}, {"backend", "bpf"}, {"hooks", probes_->active_hooks()}, {"stream", o_.audit_dir + "/" + name}};
}

json Daemon::do_unregister(const Conn &c, const json &req) {
    Sandbox s = owned_sandbox(c, req);
    // What the sandbox did up to now is in the ring: take it all first.
    route_.valid = false;
    while (probes_->drain([this](const audit::Event &e) { on_event(e); }) > 0) {
    }
    flush();
    check_losses();
    probes_->unwatch(s.cgroup_id);
    s.counts = sandboxes_[s.id].counts;
    by_cgroup_.erase(s.cgroup_id);
    sandboxes_.erase(s.id);
    update_syscall_probes();
    save_registry();
    audit::Record r;
    r.kind = "policy";
    r.op = "unregister";
    r.sandbox = s.id;
    r.uid = c.peer.uid;
    r.extra = {{"counts", s.counts}};
    append(s.identity, std::move(r));
    writer(s.identity).checkpoint();
    uint64_t lost = probes_->loss_of(idents_[s.identity].index);
    log::info("mxcd: unregistered sandbox {}", s.id);
    return {{"ok", true}, {"counts", s.counts}, {"identity_lost_total", lost}};
}

json Daemon::do_record(const Conn &c, const json &req) {
    const Sandbox &s = owned_sandbox(c, req);
    audit::Record r = audit::from_json(req.at("record"));
    if (r.kind != "proxy")
        throw Error(EPERM, fmt::format("record: kind \"{}\" comes from the probes, not from clients", r.kind));
    r.identity = s.identity;
    r.sandbox = s.id;
    r.seq = 0;
    r.prev.clear();
    r.hash.clear();
    ++sandboxes_[s.id].counts[r.kind];
    append(s.identity, std::move(r));
    return {{"ok", true}};
}

json Daemon::do_status(const Conn &c) {
    json sbs = json::array();
    for (const auto &[sid, s] : sandboxes_)
        if (c.peer.uid == 0 || s.owner == c.peer.uid)
            sbs.push_back({{"sandbox", sid}, {"identity", s.identity}, {"cgroup", s.cgroup_dir}, {"counts", s.counts}});
    json losses = json::object();
    for (const auto &[name, id] : idents_)
        if (c.peer.uid == 0 || id.owner == c.peer.uid)
            losses[name] = probes_->loss_of(id.index);
    return {{"ok", true},           {"backend", "bpf"},        {"hooks", probes_->active_hooks()},
            {"probes", audit::BpfProbes::build_id()},          {"adopted", probes_->adopted()},
            {"events", events_},    {"undecodable", probes_->undecodable()},
            {"audit_dir", o_.audit_dir}, {"sandboxes", sbs},   {"lost", losses},
            {"subscribers", std::count_if(conns_.begin(), conns_.end(), [](const auto &kv) { return kv.second.subscriber; })}};
}

// ---- cgroups for rootless users -----------------------------------------------

namespace {

std::string user_base(uid_t uid) { return fmt::format("/mxc/user-{}", uid); }

uid_t real_uid_of(pid_t pid) {
    std::string status = read_file(fmt::format("/proc/{}/status", pid));
    auto pos = status.find("\nUid:");
    if (pos == std::string::npos)
        throw_error("pid {}: no Uid in its status", pid);
    return static_cast<uid_t>(std::stoul(status.substr(pos + 5)));
}

} // namespace

json Daemon::do_delegate(const Conn &c) {
    if (c.peer.uid == 0)
        throw Error(EINVAL, "delegate: root manages cgroups itself");
    cgroup::Layout layout = cgroup::detect();
    cgroup::Manager m(layout, user_base(c.peer.uid));
    m.create();
    // The user's sub-tree: they create, limit and remove their sandboxes'
    // cgroups below it; moving processes in stays with us (attach).
    std::vector<std::string> dirs;
    if (!m.v2_dir().empty())
        dirs.push_back(m.v2_dir());
    for (const auto &[ctrl, dir] : m.v1_dirs())
        dirs.push_back(dir);
    for (const auto &dir : dirs)
        for (const char *f : {"", "/cgroup.procs", "/tasks", "/cgroup.subtree_control", "/cgroup.threads"})
            if (::chown((dir + f).c_str(), c.peer.uid, c.peer.gid) < 0 && errno != ENOENT)
                throw_errno("chown {}{}", dir, f);
    log::info("mxcd: delegated {} to uid {}", user_base(c.peer.uid), c.peer.uid);
    return {{"ok", true}, {"cgroup", user_base(c.peer.uid)}};
}

json Daemon::do_attach(const Conn &c, const json &req) {
    std::string path = req.value("cgroup", "");
    pid_t pid = req.value("pid", 0);
    std::string base = user_base(c.peer.uid) + "/";
    if (c.peer.uid != 0 && (path.rfind(base, 0) != 0 || path.find("/..") != std::string::npos || path.size() == base.size()))
        throw Error(EPERM, fmt::format("attach: {} is not below {}", path, base));
    if (pid <= 0)
        throw Error(EINVAL, "attach: bad or missing \"pid\"");
    if (c.peer.uid != 0 && real_uid_of(pid) != c.peer.uid)
        throw Error(EPERM, fmt::format("attach: pid {} does not belong to uid {}", pid, c.peer.uid));
    cgroup::Manager m(cgroup::detect(), path);
    m.add_pid(pid, false);
    return {{"ok", true}};
}

json Daemon::handle(Conn &c, const json &req) {
    std::string op = req.is_object() ? req.value("op", "") : "";
    try {
        if (op == "register")
            return do_register(c, req);
        if (op == "unregister")
            return do_unregister(c, req);
        if (op == "record")
            return do_record(c, req);
        if (op == "status")
            return do_status(c);
        if (op == "delegate")
            return do_delegate(c);
        if (op == "attach")
            return do_attach(c, req);
        if (op == "subscribe") {
            c.subscriber = true;
            if (req.contains("identity"))
                c.filter.identity = req["identity"].get<std::string>();
            if (req.contains("sandbox"))
                c.filter.sandbox = req["sandbox"].get<std::string>();
            if (req.contains("kinds"))
                c.filter.kinds = req["kinds"].get<std::vector<std::string>>();
            if (req.contains("kind"))
                c.filter.kinds.push_back(req["kind"].get<std::string>());
            return {{"ok", true}};
        }
        if (op == "ping")
            return {{"ok", true}};
        return error_reply(fmt::format("unknown op \"{}\"", op), EINVAL);
    } catch (const Error &e) {
        return error_reply(e.what(), e.code() ? e.code() : EINVAL);
    } catch (const std::exception &e) {
        return error_reply(e.what(), EINVAL);
    }
}

std::string Daemon::sandbox_of(pid_t pid) const {
    std::string text;
    try {
        text = read_file(fmt::format("/proc/{}/cgroup", pid));
    } catch (const Error &) {
        return "";
    }
    std::string path;
    for (size_t pos = 0; pos < text.size();) {
        size_t nl = text.find('\n', pos);
        std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        if (line.rfind("0::", 0) == 0)
            path = line.substr(3);
        pos = nl == std::string::npos ? text.size() : nl + 1;
    }
    if (path.empty())
        return "";
    std::string dir = v2_mount_ + (path == "/" ? "" : path);
    for (const auto &[sid, s] : sandboxes_)
        if (dir == s.cgroup_dir || dir.rfind(s.cgroup_dir + "/", 0) == 0)
            return sid;
    return "";
}

void Daemon::accept_clients() {
    for (;;) {
        int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        ipc::Peer peer;
        try {
            peer = ipc::peer_credentials(fd);
        } catch (const Error &) {
            ::close(fd);
            continue;
        }
        // An audited process never talks to its auditor: it could silence
        // or forge its own stream.
        if (std::string sid = sandbox_of(peer.pid); !sid.empty()) {
            log::warn("mxcd: refused a connection from pid {} inside audited sandbox {}", peer.pid, sid);
            std::string msg = error_reply(fmt::format("refused: the caller runs inside audited sandbox \"{}\"", sid))
                                  .dump() + "\n";
            (void)!::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            ::close(fd);
            continue;
        }
        conns_.emplace(fd, Conn{ipc::Channel(UniqueFd(fd)), peer, false, {}});
    }
}

void Daemon::serve_client(int fd) {
    Conn &c = conns_.at(fd);
    for (;;) {
        bool eof = false;
        std::optional<json> req;
        try {
            req = c.ch.read_ready(&eof);
        } catch (const Error &e) {
            log::debug("mxcd: client uid {}: {}", c.peer.uid, e.what());
            eof = true;
        }
        if (eof) {
            conns_.erase(fd);
            return;
        }
        if (!req)
            return;
        json resp = handle(c, *req);
        // One thread serves everyone: a client that does not read its
        // answers is dropped, not waited for.
        if (!c.ch.try_write(resp)) {
            log::warn("mxcd: client uid {} does not read its answers; disconnected", c.peer.uid);
            conns_.erase(fd);
            return;
        }
    }
}

void Daemon::run() {
    auto last_tick = std::chrono::steady_clock::now();
    while (!stop_) {
        std::vector<pollfd> fds = {{signals_.get(), POLLIN, 0}, {listen_.get(), POLLIN, 0}, {probes_->ring_fd(), POLLIN, 0}};
        for (const auto &[fd, c] : conns_)
            fds.push_back({fd, POLLIN, 0});
        // While sandboxes are watched the ring is read on a short timer:
        // the probes do not wake us per record (see mxc.bpf.c).
        bool watching = !sandboxes_.empty();
        int timeout = watching ? kRingPollMs : 1000;
        if (detach_at_) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*detach_at_ - std::chrono::steady_clock::now());
            timeout = std::clamp(static_cast<int>(left.count()) + 1, 0, timeout);
        }
        int n = ::poll(fds.data(), fds.size(), timeout);
        if (n < 0 && errno != EINTR)
            throw_errno("poll");
        if (fds[0].revents & POLLIN) {
            signalfd_siginfo si;
            while (::read(signals_.get(), &si, sizeof si) == sizeof si) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
                    stop_ = true;
                else if (si.ssi_signo == SIGHUP)
                    log::reopen();
            }
        }
        if (watching || (fds[2].revents & POLLIN))
            collect(0);
        if (fds[1].revents & POLLIN)
            accept_clients();
        for (size_t i = 3; i < fds.size(); ++i)
            if (fds[i].revents & (POLLIN | POLLHUP | POLLERR))
                if (conns_.count(fds[i].fd))
                    serve_client(fds[i].fd);
        if (detach_at_ && sandboxes_.empty() && std::chrono::steady_clock::now() >= *detach_at_)
            update_syscall_probes(false);
        if (std::chrono::steady_clock::now() - last_tick >= std::chrono::seconds(1)) {
            last_tick = std::chrono::steady_clock::now();
            check_losses();
            for (auto &[name, id] : idents_)
                if (id.writer)
                    id.writer->tick();
        }
    }
    // A lingering attachment ends with us (an idle host pays nothing).
    if (detach_at_ && sandboxes_.empty())
        update_syscall_probes(false);
    // What is buffered now goes to the streams; what comes later waits in the
    // pinned ring for the next mxcd.
    route_.valid = false;
    while (probes_->drain([this](const audit::Event &e) { on_event(e); }) > 0) {
    }
    flush();
    check_losses();
    for (auto &[name, id] : idents_)
        if (id.writer)
            id.writer->close();
    save_registry();
    listen_.reset();
    ::unlink(o_.socket.c_str());
    log::info("mxcd: stopped; probes stay pinned under {}", o_.pin_dir);
}

} // namespace mxc::daemon
