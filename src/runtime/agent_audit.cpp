#include "agent_audit.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include "internal.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/seccomp/seccomp.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/log.hpp"

namespace mxc::runtime {

AgentAudit::AgentAudit(const std::string &policy, const std::string &want, bool v2_cgroup, bool detach,
                       std::string sandbox, std::string identity)
    : sandbox_(std::move(sandbox)), identity_(std::move(identity)) {
    if (want != "auto" && want != "mxcd" && want != "seccomp")
        throw_error("--audit-backend: expected auto, mxcd or seccomp, got \"{}\"", want);
    if (policy == "off") {
        backend_ = "off";
        return;
    }
    std::string socket = ipc::default_socket();
    if (want != "seccomp") {
        if (!v2_cgroup)
            why_none_ = "the sandbox gets no cgroup v2 directory for mxcd's probes to watch";
        else if (auto c = ipc::Client::connect(socket); !c)
            why_none_ = fmt::format("mxcd is not running (nothing answers on {})", socket);
        else
            backend_ = "bpf";
    }
    if (backend_ == "none" && want != "mxcd") {
        if (detach)
            why_none_ += std::string(why_none_.empty() ? "" : "; ") +
                         "--detach: the seccomp-notify fallback runs in the mxc process, which returns";
        else if (seccomp::notify_supported())
            backend_ = "seccomp-notify";
        else
            why_none_ += std::string(why_none_.empty() ? "" : "; ") + "seccomp user notification is not supported here";
    }
    if (backend_ != "none")
        return;
    if (want == "mxcd" && why_none_.empty())
        why_none_ = "--audit-backend mxcd excludes the seccomp-notify fallback";
    if (policy == "required")
        throw_error("the profile requires audit (audit: required), but no audit backend is available: {}; start "
                    "mxcd (`mxcd --daemon`), or use a profile with `audit: best-effort`",
                    why_none_);
    log::warn("audit: no backend available ({}); the sandbox runs unaudited (audit: best-effort)", why_none_);
}

AgentAudit::~AgentAudit() { stop_threads(); }

// The supervisors' stop: one eventfd, readable for all once written.
void AgentAudit::stop_threads() {
    if (!thread_.joinable() && !exec_accept_.joinable())
        return;
    uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof one);
    if (thread_.joinable())
        thread_.join();
    if (exec_accept_.joinable())
        exec_accept_.join();
    for (auto &t : exec_threads_)
        if (t.joinable())
            t.join();
    if (!exec_socket_.empty())
        ::unlink(exec_socket_.c_str());
}

void AgentAudit::append(audit::Record r) {
    r.sandbox = sandbox_;
    r.identity = identity_;
    {
        std::lock_guard lk(counts_mu_);
        ++counts_[r.kind];
    }
    writer_->append(std::move(r));
}

void AgentAudit::prepare(CreateOptions &co) {
    if (backend_ == "bpf") {
        co.audit_identity = identity_;
    } else if (backend_ == "seccomp-notify") {
        auto &lin = co.spec->linux_;
        if (!lin)
            lin.emplace();
        if (!lin->seccomp) {
            lin->seccomp.emplace();
            lin->seccomp->default_action = "SCMP_ACT_ALLOW";
        }
        audit::add_notify_rules(*lin->seccomp);
        co.audit_notify = true;
    }
}

void AgentAudit::open_stream() {
    if (backend_ != "seccomp-notify" || writer_)
        return;
    // The rootless stream: the user's data dir, checkpoints signed with the
    // identity's own key.
    auto store = identity::default_store();
    audit::WriterOptions wo;
    wo.base_dir = audit::default_base_dir();
    wo.identity = identity_;
    wo.signer = audit::identity_signer(store, identity_);
    wo.backend = "seccomp-notify";
    wo.header_extra = {{"syscalls", audit::notify_audited_syscalls()}};
    writer_ = std::make_unique<audit::StreamWriter>(std::move(wo));
    stream_ = writer_->dir();
}

void AgentAudit::attach(State &st, UniqueFd seccomp_fd) {
    if (backend_ == "bpf") {
        stream_ = st.audit.value("stream", "");
        client_ = ipc::Client::connect(st.audit.value("socket", ipc::default_socket()));
        return;
    }
    if (backend_ != "seccomp-notify")
        return;
    if (!seccomp_fd)
        throw_error("audit: the sandbox's seccomp filter gave no notification fd");
    open_stream();
    audit::Record reg;
    reg.kind = "policy";
    reg.op = "register";
    reg.sandbox = sandbox_;
    reg.uid = ::geteuid();
    reg.extra = {{"backend", backend_}};
    writer_->append(std::move(reg));
    supervisor_ = std::make_unique<audit::NotifySupervisor>(std::move(seccomp_fd),
                                                           [this](audit::Record r) { append(std::move(r)); });
    stop_.reset(::eventfd(0, EFD_CLOEXEC));
    thread_ = std::thread([this] {
        try {
            supervisor_->serve(stop_.get());
        } catch (const std::exception &e) {
            log::error("audit: sandbox {}: the seccomp-notify supervisor failed: {}", sandbox_, e.what());
        }
    });
}

void AgentAudit::accept_execs(const std::string &socket_path) {
    if (backend_ != "seccomp-notify" || !supervisor_)
        return;
    exec_listen_ = with_context("audit: the socket for `mxc exec`", [&] { return listen_exec_notify(socket_path); });
    exec_socket_ = socket_path;
    exec_accept_ = std::thread([this] {
        for (;;) {
            pollfd p[2] = {{stop_.get(), POLLIN, 0}, {exec_listen_.get(), POLLIN, 0}};
            if (::poll(p, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                log::error("audit: sandbox {}: poll: {}", sandbox_, std::strerror(errno));
                return;
            }
            if (p[0].revents)
                return;
            try {
                std::optional<ExecListener> l = accept_exec_notify(exec_listen_.get(), stop_.get());
                if (!l)
                    continue;
                auto sup = std::make_unique<audit::NotifySupervisor>(std::move(l->listener),
                                                                     [this](audit::Record r) { append(std::move(r)); });
                exec_threads_.emplace_back([this, s = sup.get()] {
                    try {
                        s->serve(stop_.get());
                    } catch (const std::exception &e) {
                        log::error("audit: sandbox {}: the seccomp-notify supervisor of an exec'd process failed: {}",
                                   sandbox_, e.what());
                    }
                });
                exec_supervisors_.push_back(std::move(sup));
                ack_exec_notify(*l);
            } catch (const std::exception &e) {
                log::warn("audit: sandbox {}: exec: {}", sandbox_, e.what());
            }
        }
    });
}

void AgentAudit::proxy_decision(const net::Decision &d) {
    if (backend_ != "bpf" && backend_ != "seccomp-notify")
        return;
    audit::Record r;
    r.kind = "proxy";
    r.op = d.allowed ? "allow" : "deny";
    r.domain = d.host;
    r.port = d.port;
    r.addr = d.resolved;
    r.outcome = d.allowed ? "allowed" : "denied";
    r.extra = {{"method", d.method}, {"reason", d.reason}, {"client", d.client}};
    try {
        if (backend_ == "bpf") {
            std::lock_guard lk(client_mu_);
            if (client_)
                client_->call({{"op", "record"}, {"sandbox", sandbox_}, {"record", audit::to_json(r)}});
        } else if (writer_) {
            r.sandbox = sandbox_;
            r.identity = identity_;
            {
                std::lock_guard lk(counts_mu_);
                ++counts_["proxy"];
            }
            writer_->append(std::move(r));
        }
    } catch (const Error &e) {
        log::error("audit: proxy decision for {}: {}", d.host, e.what());
    }
}

std::map<std::string, uint64_t> AgentAudit::finish(State &st) {
    if (finished_)
        return counts_;
    finished_ = true;
    if (backend_ == "bpf") {
        {
            std::lock_guard lk(client_mu_);
            client_.reset();
        }
        nlohmann::json resp = audit_unregister(st.id, st.audit);
        st.audit["unregistered"] = true;
        if (resp.is_object()) {
            const nlohmann::json got = resp.value("counts", nlohmann::json::object());
            for (const auto &[k, v] : got.items())
                counts_[k] = v.get<uint64_t>();
        }
    } else if (backend_ == "seccomp-notify" && writer_) {
        stop_threads();
        uint64_t notifications = supervisor_ ? supervisor_->notifications() : 0;
        for (const auto &s : exec_supervisors_)
            notifications += s->notifications();
        // The listeners go here, while the caller removes the sandbox (this
        // runs on mxc run's closer thread): the close of the exec socket alone
        // takes 0.13-0.26 ms.  The sandbox is gone; a straggler's audited
        // syscall would get ENOSYS from the closed listener.
        exec_listen_.reset();
        supervisor_.reset();
        exec_supervisors_.clear();
        audit::Record un;
        un.kind = "policy";
        un.op = "unregister";
        un.sandbox = sandbox_;
        un.uid = ::geteuid();
        un.extra = {{"counts", counts_}, {"notifications", notifications}};
        writer_->append(std::move(un));
        writer_->close();
    }
    return counts_;
}

std::string AgentAudit::summary(const std::map<std::string, uint64_t> &counts) const {
    if (backend_ == "off")
        return "off";
    if (backend_ == "none")
        return "none (" + why_none_ + ")";
    uint64_t total = 0;
    std::string parts;
    for (const auto &[k, v] : counts) {
        total += v;
        parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", k, v);
    }
    return fmt::format("{} ({} records{}{}{}); stream {}", backend_ == "bpf" ? "bpf via mxcd" : backend_, total,
                       parts.empty() ? "" : ": ", parts, "", stream_);
}

} // namespace mxc::runtime
