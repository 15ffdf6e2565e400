// mxcd: owns the eBPF probes, keeps the registry of audited sandboxes, writes
// one stream per identity and serves the socket.  One thread, one poll loop:
// the ring buffer, the listening socket, clients, signals and a 1 s tick.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mxc/audit/bpf.hpp"
#include "mxc/audit/stream.hpp"
#include "mxc/ipc/ipc.hpp"
#include "mxc/util/fd.hpp"

namespace mxc::daemon {

struct Options {
    std::string socket;                         // ipc::default_socket()
    std::string audit_dir;                      // audit::default_base_dir()
    std::string state_dir = "/var/lib/mxc/mxcd"; // host key, stream owners
    std::string run_dir = "/run/mxc/mxcd";      // registry (survives restarts, not reboots)
    std::string pin_dir = "/sys/fs/bpf/mxc";
    uint32_t ring_bytes = 32u << 20;
    uint64_t checkpoint_records = 1000;
    int checkpoint_seconds = 60;
    int checkpoint_min_gap_ms = 100;
    // The syscall tracepoints stay attached this long after the last sandbox
    // ends: back-to-back runs skip a detach and an attach (≈ 0.3 ms each, on
    // the way out of one run and into the next).  0: detach at once.
    int probes_linger_ms = 2000;
};

class Daemon {
public:
    explicit Daemon(Options o);
    ~Daemon();
    // Serves until SIGTERM/SIGINT; then drains the ring, writes final
    // checkpoints and returns.  The probes stay pinned.
    void run();

private:
    struct Sandbox {
        std::string id, identity, cgroup_dir;
        uint64_t cgroup_id = 0;
        uid_t owner = 0;
        std::map<std::string, uint64_t> counts; // per kind, this run of the daemon
    };
    struct Ident {
        uint32_t index = 0;
        uid_t owner = 0;
        uint64_t loss_reported = 0;
        std::unique_ptr<audit::StreamWriter> writer;
        std::vector<audit::Record> pending; // slots; the first npending are waiting
        size_t npending = 0;
    };
    struct Conn {
        ipc::Channel ch;
        ipc::Peer peer;
        bool subscriber = false;
        audit::Filter filter;
    };

    // Where the events of one cgroup go, looked up once per poll and cgroup:
    // the maps do not change while the ring is read (requests are handled
    // between polls), so the pointers hold until the next poll.
    struct Route {
        bool valid = false;
        uint64_t cgroup_id = 0;
        uint32_t index = 0;
        const std::string *identity = nullptr;
        std::string sandbox;
        Ident *id = nullptr;
        Sandbox *sb = nullptr;
        std::array<uint64_t *, 8> counts{}; // by audit::Kind, into sb->counts
    };

    void load_registry();
    // Attach while a sandbox is watched; when none is, detach after the
    // linger (or at once).
    void update_syscall_probes(bool linger = true);
    void save_registry();
    Ident &ident(const std::string &name, uid_t owner);
    audit::StreamWriter &writer(const std::string &name);
    void on_event(const audit::Event &e);
    void collect(int timeout_ms);
    void flush();
    void flush_one(const std::string &name, Ident &id);
    static constexpr size_t kFlushRecords = 1024;
    static constexpr int kRingPollMs = 20; // records reach the stream within this, or sooner
    void check_losses();
    void append(const std::string &identity, audit::Record r);
    void publish(const std::string &identity, const std::vector<std::string> &lines);

    // The registered sandbox whose cgroup (or a cgroup below it) holds pid; "" when none.
    std::string sandbox_of(pid_t pid) const;
    void accept_clients();
    void serve_client(int fd);
    nlohmann::json handle(Conn &c, const nlohmann::json &req);
    nlohmann::json do_register(const Conn &c, const nlohmann::json &req);
    nlohmann::json do_unregister(const Conn &c, const nlohmann::json &req);
    nlohmann::json do_record(const Conn &c, const nlohmann::json &req);
    nlohmann::json do_status(const Conn &c);
    nlohmann::json do_delegate(const Conn &c);
    nlohmann::json do_attach(const Conn &c, const nlohmann::json &req);
    const Sandbox &owned_sandbox(const Conn &c, const nlohmann::json &req);

    Options o_;
    std::unique_ptr<audit::BpfProbes> probes_;
    std::optional<audit::Signer> signer_;
    std::map<std::string, Sandbox> sandboxes_;
    std::map<uint64_t, std::string> by_cgroup_;
    std::map<std::string, Ident> idents_;
    std::map<uint32_t, std::string> by_index_;
    Route route_;
    std::map<int, Conn> conns_;
    std::string v2_mount_;
    UniqueFd listen_;
    UniqueFd signals_;
    uint64_t events_ = 0, unmatched_ = 0;
    bool stop_ = false;
    std::optional<std::chrono::steady_clock::time_point> detach_at_; // a lingering attachment ends then
};

} // namespace mxc::daemon
