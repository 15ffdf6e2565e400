// OCI linux.seccomp -> libseccomp filter context.
#include "mxc/seccomp/seccomp.hpp"

#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fcntl.h>
#include <linux/filter.h>
#include <seccomp.h>

#include <array>
#include <cstring>
#include <optional>
#include <string_view>
#include <vector>

#include "mxc/util/error.hpp"
#include "mxc/util/log.hpp"

namespace mxc::seccomp {

struct Filter::Impl {
    struct Release {
        void operator()(void *ctx) const { seccomp_release(ctx); }
    };
    std::unique_ptr<void, Release> ctx;
    bool notify = false;
};

Filter::Filter() : impl(std::make_unique<Impl>()) {}
Filter::~Filter() = default;
Filter::Filter(Filter &&) noexcept = default;
Filter &Filter::operator=(Filter &&) noexcept = default;

bool Filter::has_notify() const { return impl && impl->notify; }

UniqueFd Filter::load() {
    if (!impl || !impl->ctx)
        throw_error("seccomp: load of an empty filter");
    int rc = seccomp_load(impl->ctx.get());
    if (rc < 0)
        throw Error(-rc, "seccomp: load filter");
    if (!impl->notify)
        return {};
    int nfd = seccomp_notify_fd(impl->ctx.get());
    if (nfd < 0)
        throw Error(nfd == -1 ? EINVAL : -nfd, "seccomp: get the notify fd");
    // libseccomp keeps the listener in process-global state; take our own copy
    // and let libseccomp close its one, so that the UniqueFd is the only owner.
    UniqueFd own(fcntl(nfd, F_DUPFD_CLOEXEC, 3));
    if (!own)
        throw_errno("seccomp: dup the notify fd");
    seccomp_reset(nullptr, 0);
    return own;
}

Program Filter::program() const {
    if (!impl || !impl->ctx)
        throw_error("seccomp: export of an empty filter");
    UniqueFd mfd(memfd_create("mxc-seccomp-bpf", MFD_CLOEXEC));
    if (!mfd)
        throw_errno("seccomp: memfd_create");
    if (int rc = seccomp_export_bpf(impl->ctx.get(), mfd.get()); rc < 0)
        throw Error(-rc, "seccomp: export BPF");
    struct stat st {};
    if (fstat(mfd.get(), &st) < 0)
        throw_errno("seccomp: fstat exported BPF");
    Program p;
    p.bpf.resize(static_cast<size_t>(st.st_size));
    if (pread(mfd.get(), p.bpf.data(), p.bpf.size(), 0) != st.st_size)
        throw_errno("seccomp: read exported BPF");
    // The flags libseccomp's seccomp_load() passes for these attributes.
    auto on = [&](enum scmp_filter_attr a) {
        uint32_t v = 0;
        return seccomp_attr_get(impl->ctx.get(), a, &v) == 0 && v != 0;
    };
    if (on(SCMP_FLTATR_CTL_TSYNC))
        p.flags |= SECCOMP_FILTER_FLAG_TSYNC;
    if (on(SCMP_FLTATR_CTL_LOG))
        p.flags |= SECCOMP_FILTER_FLAG_LOG;
    if (on(SCMP_FLTATR_CTL_SSB))
        p.flags |= SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    if (impl->notify) {
        p.flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
        // TSYNC reports a thread it could not move by returning its tid,
        // which a listener fd would be mistaken for.
        if (p.flags & SECCOMP_FILTER_FLAG_TSYNC)
            p.flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
#if SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 6)
        if (on(SCMP_FLTATR_CTL_WAITKILL))
            p.flags |= SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
#endif
    }
    p.no_new_privs = on(SCMP_FLTATR_CTL_NNP);
    return p;
}

UniqueFd Program::to_memfd() const {
    UniqueFd mfd(memfd_create("mxc-seccomp-bpf", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!mfd)
        throw_errno("seccomp: memfd_create");
    if (pwrite(mfd.get(), bpf.data(), bpf.size(), 0) != static_cast<ssize_t>(bpf.size()))
        throw_errno("seccomp: write the BPF program");
    if (fcntl(mfd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
        throw_errno("seccomp: seal the BPF program");
    return mfd;
}

Program Program::from_memfd(int fd, unsigned int flags, bool nnp) {
    struct stat st {};
    if (fstat(fd, &st) < 0)
        throw_errno("seccomp: fstat the BPF program");
    size_t size = static_cast<size_t>(st.st_size);
    if (size == 0 || size % sizeof(struct sock_filter) != 0 || size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        throw Error(EINVAL, fmt::format("seccomp: the BPF program handed over has {} bytes; expected a whole number of "
                                        "{}-byte instructions, 1 to {}",
                                        size, sizeof(struct sock_filter), BPF_MAXINSNS));
    Program p;
    p.bpf.resize(size);
    if (pread(fd, p.bpf.data(), size, 0) != static_cast<ssize_t>(size))
        throw_errno("seccomp: read the BPF program");
    p.flags = flags;
    p.no_new_privs = nnp;
    return p;
}

UniqueFd load(const Program &p) {
    if (p.bpf.empty() || p.bpf.size() % sizeof(struct sock_filter) != 0)
        throw_error("seccomp: load of an empty or truncated BPF program");
    if (p.no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        throw_errno("seccomp: set no_new_privs");
    std::vector<struct sock_filter> insns(p.bpf.size() / sizeof(struct sock_filter));
    std::memcpy(insns.data(), p.bpf.data(), p.bpf.size());
    struct sock_fprog prog = {static_cast<unsigned short>(insns.size()), insns.data()};
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p.flags, &prog);
    if (rc < 0)
        throw_errno("seccomp: load filter");
    if (!(p.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) {
        if (rc > 0) // TSYNC: the thread that could not be synchronised
            throw Error(ESRCH, fmt::format("seccomp: thread {} could not take the filter", rc));
        return {};
    }
    UniqueFd listener(static_cast<int>(rc));
    if (fcntl(listener.get(), F_SETFD, FD_CLOEXEC) < 0)
        throw_errno("seccomp: listener close-on-exec");
    return listener;
}

size_t Filter::bpf_instructions() const {
    if (!impl || !impl->ctx)
        return 0;
    UniqueFd mfd(memfd_create("mxc-seccomp-bpf", MFD_CLOEXEC));
    if (!mfd)
        throw_errno("seccomp: memfd_create");
    int rc = seccomp_export_bpf(impl->ctx.get(), mfd.get());
    if (rc < 0)
        throw Error(-rc, "seccomp: export BPF");
    struct stat st {};
    if (fstat(mfd.get(), &st) < 0)
        throw_errno("seccomp: fstat exported BPF");
    return static_cast<size_t>(st.st_size) / sizeof(struct sock_filter);
}

namespace {

struct ArchName {
    std::string_view name;
    uint32_t token;
};
constexpr std::array kArchs{
    ArchName{"SCMP_ARCH_X86", SCMP_ARCH_X86},
    ArchName{"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
    ArchName{"SCMP_ARCH_X32", SCMP_ARCH_X32},
    ArchName{"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
    ArchName{"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},
    ArchName{"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
    ArchName{"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},
    ArchName{"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
    ArchName{"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
    ArchName{"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
    ArchName{"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32},
    ArchName{"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
    ArchName{"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},
    ArchName{"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},
    ArchName{"SCMP_ARCH_S390", SCMP_ARCH_S390},
    ArchName{"SCMP_ARCH_S390X", SCMP_ARCH_S390X},
    ArchName{"SCMP_ARCH_PARISC", SCMP_ARCH_PARISC},
    ArchName{"SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64},
    ArchName{"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
};

struct OpName {
    std::string_view name;
    scmp_compare op;
};
constexpr std::array kOps{
    OpName{"SCMP_CMP_NE", SCMP_CMP_NE},         OpName{"SCMP_CMP_LT", SCMP_CMP_LT},
    OpName{"SCMP_CMP_LE", SCMP_CMP_LE},         OpName{"SCMP_CMP_EQ", SCMP_CMP_EQ},
    OpName{"SCMP_CMP_GE", SCMP_CMP_GE},         OpName{"SCMP_CMP_GT", SCMP_CMP_GT},
    OpName{"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

constexpr std::array<std::string_view, 9> kActions{
    "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE",        "SCMP_ACT_ALLOW",       "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
};

// A filter flag of the runtime-spec, the libseccomp attribute that sets it and
// the libseccomp API level that attribute needs.  Flags libseccomp 2.5 cannot
// set (it loads the filter itself) have no attribute.
struct FlagName {
    std::string_view name;
    std::optional<scmp_filter_attr> attr;
    unsigned api;
};
constexpr std::array kFlags{
    FlagName{"SECCOMP_FILTER_FLAG_TSYNC", SCMP_FLTATR_CTL_TSYNC, 2},
    FlagName{"SECCOMP_FILTER_FLAG_LOG", SCMP_FLTATR_CTL_LOG, 3},
    FlagName{"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SCMP_FLTATR_CTL_SSB, 4},
#if SCMP_VER_MAJOR > 2 || (SCMP_VER_MAJOR == 2 && SCMP_VER_MINOR >= 6)
    FlagName{"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SCMP_FLTATR_CTL_WAITKILL, 7},
#else
    FlagName{"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", std::nullopt, 0},
#endif
};

// Errors of compile(): "<source>: .linux.seccomp<field>: <message>".
struct Where {
    const std::string &source;
    template <typename... Args>
    [[noreturn]] void fail(int err, const std::string &field, fmt::format_string<Args...> f,
                           Args &&...args) const {
        throw Error(err, fmt::format("{}: .linux.seccomp{}: {}", source, field,
                                     fmt::format(f, std::forward<Args>(args)...)));
    }
};

uint32_t parse_action(const Where &w, const std::string &name, std::optional<uint32_t> errno_ret,
                      const std::string &field, const std::string &errno_field) {
    auto ret = [&]() -> uint16_t {
        uint32_t v = errno_ret.value_or(EPERM);
        if (v > 0xffff)
            w.fail(0, errno_field, "{} does not fit the 16 bits of SECCOMP_RET_DATA", v);
        return static_cast<uint16_t>(v);
    };
    // The runtime-spec: when the action does not take an errno, errnoRet is an error.
    if (errno_ret && name != "SCMP_ACT_ERRNO" && name != "SCMP_ACT_TRACE")
        w.fail(0, errno_field, "only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take an errno, not {}",
               name);
    if (name == "SCMP_ACT_KILL" || name == "SCMP_ACT_KILL_THREAD")
        return SCMP_ACT_KILL_THREAD;
    if (name == "SCMP_ACT_KILL_PROCESS")
        return SCMP_ACT_KILL_PROCESS;
    if (name == "SCMP_ACT_TRAP")
        return SCMP_ACT_TRAP;
    if (name == "SCMP_ACT_ERRNO")
        return SCMP_ACT_ERRNO(ret());
    if (name == "SCMP_ACT_TRACE")
        return SCMP_ACT_TRACE(ret());
    if (name == "SCMP_ACT_ALLOW")
        return SCMP_ACT_ALLOW;
    if (name == "SCMP_ACT_LOG")
        return SCMP_ACT_LOG;
    if (name == "SCMP_ACT_NOTIFY")
        return SCMP_ACT_NOTIFY;
    w.fail(0, field, "unknown action \"{}\"", name);
}

// libseccomp needs API level 3 for KILL_PROCESS and LOG, 5 for NOTIFY; without
// it seccomp_rule_add fails with a bare EINVAL, so say why here.
void check_action_api(const Where &w, uint32_t action, const std::string &field) {
    unsigned need = 0;
    const char *what = "";
    if (action == SCMP_ACT_KILL_PROCESS || action == SCMP_ACT_LOG) {
        need = 3;
        what = action == SCMP_ACT_LOG ? "SCMP_ACT_LOG" : "SCMP_ACT_KILL_PROCESS";
    } else if (action == SCMP_ACT_NOTIFY) {
        need = 5;
        what = "SCMP_ACT_NOTIFY";
    }
    if (need && seccomp_api_get() < need)
        w.fail(EOPNOTSUPP, field, "{} is not supported here (libseccomp API level {} < {})", what,
               seccomp_api_get(), need);
}

scmp_arg_cmp parse_arg(const Where &w, const oci::SeccompArg &a, const std::string &field) {
    if (a.index >= 6)
        w.fail(0, field + ".index", "{} is out of range (a syscall has 6 arguments, 0-5)",
               a.index);
    for (const auto &o : kOps) {
        if (o.name == a.op) {
            // For SCMP_CMP_MASKED_EQ libseccomp takes the mask first (datum_a)
            // and the value second, which is how the spec orders value/valueTwo.
            return scmp_arg_cmp{a.index, o.op, a.value, a.value_two};
        }
    }
    w.fail(0, field + ".op", "unknown operator \"{}\"", a.op);
}

void add_arches(const Where &w, void *ctx, const std::vector<std::string> &arches) {
    for (size_t i = 0; i < arches.size(); ++i) {
        std::string field = fmt::format(".architectures[{}]", i);
        const ArchName *found = nullptr;
        for (const auto &a : kArchs)
            if (a.name == arches[i])
                found = &a;
        if (!found)
            w.fail(0, field, "unknown architecture \"{}\"", arches[i]);
        int rc = seccomp_arch_add(ctx, found->token);
        // The native architecture is in every new context already.
        if (rc < 0 && rc != -EEXIST)
            w.fail(-rc, field, "add architecture {}", arches[i]);
    }
}

void set_flags(const Where &w, void *ctx, const std::vector<std::string> &flags) {
    for (size_t i = 0; i < flags.size(); ++i) {
        std::string field = fmt::format(".flags[{}]", i);
        const FlagName *found = nullptr;
        for (const auto &f : kFlags)
            if (f.name == flags[i])
                found = &f;
        if (!found)
            w.fail(0, field, "unknown flag \"{}\"", flags[i]);
        if (!found->attr)
            w.fail(EOPNOTSUPP, field,
                   "{} is not supported by this build (libseccomp {}.{}.{} cannot set it)", flags[i],
                   SCMP_VER_MAJOR, SCMP_VER_MINOR, SCMP_VER_MICRO);
        if (seccomp_api_get() < found->api)
            w.fail(EOPNOTSUPP, field, "{} is not supported here (libseccomp API level {} < {})",
                   flags[i], seccomp_api_get(), found->api);
        int rc = seccomp_attr_set(ctx, *found->attr, 1);
        if (rc < 0)
            w.fail(-rc, field, "{} is not supported here", flags[i]);
    }
}

// libseccomp keeps one comparison slot per argument index in a rule and fails
// with EINVAL when a rule names an index twice.  runc (and the docker profiles
// written for it) then add one rule per condition, so conditions on a repeated
// index are OR-ed, not AND-ed; mxc does the same so that those profiles mean
// what they mean under runc.
bool repeats_an_index(const std::vector<scmp_arg_cmp> &conds) {
    std::array<int, 6> seen{};
    for (const auto &c : conds)
        if (++seen[c.arg] > 1)
            return true;
    return false;
}

void add_syscall_rules(const Where &w, void *ctx, const oci::SeccompSyscall &sc, size_t idx,
                       uint32_t default_action, bool &notify) {
    std::string field = fmt::format(".syscalls[{}]", idx);
    uint32_t action =
        parse_action(w, sc.action, sc.errno_ret, field + ".action", field + ".errnoRet");
    check_action_api(w, action, field + ".action");
    std::vector<scmp_arg_cmp> conds;
    for (size_t k = 0; k < sc.args.size(); ++k)
        conds.push_back(parse_arg(w, sc.args[k], fmt::format("{}.args[{}]", field, k)));
    if (sc.names.empty())
        w.fail(0, field + ".names", "lists no syscall");
    // libseccomp refuses a rule with the default action (EACCES); it would be a no-op.
    if (action == default_action) {
        log::debug("seccomp: {}: action equals the default action, skipped", field);
        return;
    }
    bool split = repeats_an_index(conds);
    for (size_t j = 0; j < sc.names.size(); ++j) {
        const std::string &name = sc.names[j];
        // Resolves for every architecture of the filter (a name missing on the
        // native one comes back as a pseudo number libseccomp maps per arch).
        int nr = seccomp_syscall_resolve_name(name.c_str());
        if (nr == __NR_SCMP_ERROR) {
            log::debug("seccomp: unknown syscall \"{}\", skipped", name);
            continue;
        }
        auto add = [&](unsigned n, const scmp_arg_cmp *c) {
            int rc = seccomp_rule_add_array(ctx, action, nr, n, c);
            if (rc < 0)
                w.fail(-rc, fmt::format("{}.names[{}]", field, j), "add rule for \"{}\"", name);
        };
        if (split) {
            for (const auto &c : conds)
                add(1, &c);
        } else {
            add(static_cast<unsigned>(conds.size()), conds.data());
        }
        if (action == SCMP_ACT_NOTIFY)
            notify = true;
    }
}

} // namespace

Filter compile(const oci::Seccomp &spec, const std::string &source_name) {
    Where w{source_name};
    uint32_t def = parse_action(w, spec.default_action, spec.default_errno_ret, ".defaultAction",
                                ".defaultErrnoRet");
    // Every syscall of the runtime after load (sync with the parent, execve)
    // would wait for a supervisor that does not have the fd yet.
    if (def == SCMP_ACT_NOTIFY)
        w.fail(0, ".defaultAction", "SCMP_ACT_NOTIFY cannot be the default action");
    check_action_api(w, def, ".defaultAction");

    Filter f;
    f.impl->ctx.reset(seccomp_init(def));
    if (!f.impl->ctx)
        w.fail(0, ".defaultAction", "libseccomp refused default action {}",
               spec.default_action);
    void *ctx = f.impl->ctx.get();

    // no_new_privs belongs to process.noNewPrivileges, which the runtime applies.
    if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0); rc < 0)
        throw Error(-rc, "seccomp: clear SCMP_FLTATR_CTL_NNP");
    // A syscall of an architecture the spec does not list kills the whole
    // process, not one thread that the others would not notice.
    if (seccomp_api_get() >= 3) {
        if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS); rc < 0)
            throw Error(-rc, "seccomp: set the bad-architecture action");
    }

    add_arches(w, ctx, spec.architectures);
    set_flags(w, ctx, spec.flags);
    for (size_t i = 0; i < spec.syscalls.size(); ++i)
        add_syscall_rules(w, ctx, spec.syscalls[i], i, def, f.impl->notify);
    // TSYNC and a listener together need SECCOMP_FILTER_FLAG_TSYNC_ESRCH (API 6).
    if (f.impl->notify && seccomp_api_get() < 6) {
        for (size_t i = 0; i < spec.flags.size(); ++i)
            if (spec.flags[i] == "SECCOMP_FILTER_FLAG_TSYNC")
                w.fail(EOPNOTSUPP, fmt::format(".flags[{}]", i),
                       "SECCOMP_FILTER_FLAG_TSYNC with SCMP_ACT_NOTIFY is not supported here "
                       "(libseccomp API level {} < 6)",
                       seccomp_api_get());
    }
    return f;
}

nlohmann::json features() {
    auto names = [](const auto &table) {
        auto out = nlohmann::json::array();
        for (const auto &e : table)
            out.push_back(std::string(e.name));
        return out;
    };
    nlohmann::json actions = nlohmann::json::array();
    for (auto a : kActions)
        actions.push_back(std::string(a));
    unsigned api = seccomp_api_get();
    nlohmann::json supported = nlohmann::json::array();
    for (const auto &f : kFlags)
        if (f.attr && api >= f.api)
            supported.push_back(std::string(f.name));
    return {
        {"enabled", true},
        {"actions", actions},
        {"operators", names(kOps)},
        {"archs", names(kArchs)},
        {"knownFlags", names(kFlags)},
        {"supportedFlags", supported},
    };
}

} // namespace mxc::seccomp
