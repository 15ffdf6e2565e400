// BPF: which program types the kernel lets us load, found by loading the
// smallest valid program ("r0 = 0; exit") of each type with a raw bpf(2) call.
// A type that loads can still fail to attach; attaching needs a target (a
// cgroup, a tracepoint) and is the audit loader's business.
//
// libbpf reads the BTF here, and only here in `mxc`: it is loaded on first
// use (with libelf and zlib behind it) instead of by every mxc process at
// start-up (three libraries, ≈ 230 symbol bindings, ≈ 0.15 ms per start).
#include <dlfcn.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "mxc/util/fd.hpp"
#include "probe.hpp"

namespace mxc::host::detail {

namespace {

int sys_bpf(int cmd, union bpf_attr *attr) {
    return static_cast<int>(::syscall(SYS_bpf, cmd, attr, sizeof *attr));
}

#define MXC_BPF_FUNCTIONS(X)                                                                                           \
    X(btf__find_by_name_kind) X(btf__free) X(btf__load_vmlinux_btf) X(btf__parse) X(btf__type_cnt) X(libbpf_set_print)

struct Libbpf {
#define MXC_BPF_MEMBER(f) decltype(&::f) f = nullptr;
    MXC_BPF_FUNCTIONS(MXC_BPF_MEMBER)
#undef MXC_BPF_MEMBER
    std::string error; // why it could not be loaded; empty when loaded
};

const Libbpf &libbpf() {
    static const Libbpf table = [] {
        Libbpf t;
        void *h = ::dlopen("libbpf.so.1", RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            t.error = fmt::format("libbpf.so.1 cannot be loaded: {}", ::dlerror());
            return t;
        }
#define MXC_BPF_LOAD(f)                                                                                                \
    if (!(t.f = reinterpret_cast<decltype(t.f)>(::dlsym(h, #f))) && t.error.empty())                                   \
        t.error = "libbpf.so.1 has no " #f;
        MXC_BPF_FUNCTIONS(MXC_BPF_LOAD)
#undef MXC_BPF_LOAD
        return t;
    }();
    return table;
}

int silent_print(enum libbpf_print_level, const char *, va_list) { return 0; }

struct BtfDeleter {
    void operator()(struct btf *b) const { libbpf().btf__free(b); }
};
using BtfPtr = std::unique_ptr<struct btf, BtfDeleter>;

// vmlinux BTF of the running kernel (not under root: it names the kernel we load into).
// The caller checks libbpf().error first.
BtfPtr load_vmlinux_btf(int &err) {
    const Libbpf &l = libbpf();
    auto old = l.libbpf_set_print(silent_print);
    BtfPtr b(l.btf__load_vmlinux_btf());
    err = b ? 0 : errno;
    l.libbpf_set_print(old);
    return b;
}

struct ProgProbe {
    const char *name;
    bpf_prog_type type;
    int expected_attach_type; // -1: none
    const char *btf_name;     // tracing/lsm targets
    int btf_kind;
    const char *caps;         // what loading it takes without root
};

std::string load_error(int err, bool needs_btf, const char *caps) {
    // 524 is the kernel-internal ENOTSUPP, which leaks out of the verifier.
    std::string e = err == 524 ? "ENOTSUPP (not supported by this kernel's configuration)" : errno_text(err);
    if (err == EPERM && ::geteuid() != 0)
        e += fmt::format("; needs {}: run as root or through mxcd", caps);
    else if (err == EPERM && needs_btf)
        e += "; refused for root too (lockdown, or this attach type is disabled here)";
    else if (err == EPERM)
        e += "; refused for root too (lockdown or an LSM)";
    return e;
}

} // namespace

void probe_bpf(const std::string &root, bool load_programs, Report &r) {
    nlohmann::json facts = {{"prog_types", nlohmann::json::object()}};

    if (auto v = read_trimmed(under(root, "/proc/sys/kernel/unprivileged_bpf_disabled")))
        r.add("bpf", "unprivileged_bpf_disabled", true, *v == "0" ? "0 (unprivileged BPF allowed)" : *v + " (unprivileged BPF refused)");

    // BTF file, read under root.
    const Libbpf &lib = libbpf();
    if (!lib.error.empty()) {
        facts["btf"] = false;
        r.add("bpf", "btf_vmlinux", false, lib.error + " (not read)");
    } else {
        std::string p = under(root, "/sys/kernel/btf/vmlinux");
        auto old = lib.libbpf_set_print(silent_print);
        BtfPtr b(lib.btf__parse(p.c_str(), nullptr));
        int err = b ? 0 : errno;
        lib.libbpf_set_print(old);
        facts["btf"] = b != nullptr;
        r.add("bpf", "btf_vmlinux", b != nullptr,
              b ? fmt::format("{}: {} types", p, lib.btf__type_cnt(b.get()))
                : fmt::format("{}: {}", p, err == ENOENT ? "absent (kernel built without CONFIG_DEBUG_INFO_BTF)" : errno_text(err)));
    }

    // bpffs and tracefs: where pins and tracepoint formats live.
    auto mounts = read_mountinfo(under(root, "/proc/self/mountinfo"));
    for (auto [fstype, name, hint] : {std::tuple{"bpf", "bpffs", "mount -t bpf bpf /sys/fs/bpf"},
                                      std::tuple{"tracefs", "tracefs", "mount -t tracefs tracefs /sys/kernel/tracing"}}) {
        std::string where;
        for (const auto &m : mounts)
            if (m.fstype == fstype)
                where += (where.empty() ? "" : " ") + m.mountpoint;
        facts[name] = !where.empty();
        r.add("bpf", name, !where.empty(), where.empty() ? fmt::format("not mounted ({})", hint) : "mounted at " + where);
    }
    {
        bool pmu = read_trimmed(under(root, "/sys/bus/event_source/devices/kprobe/type")).has_value();
        facts["kprobe_pmu"] = pmu;
        r.add("bpf", "kprobe_pmu", pmu, pmu ? "kprobe perf PMU present (kprobes can attach)"
                                           : "no kprobe perf PMU: kprobe programs cannot attach here");
    }

    static const ProgProbe probes[] = {
        {"socket_filter", BPF_PROG_TYPE_SOCKET_FILTER, -1, nullptr, 0, "CAP_BPF (unprivileged_bpf_disabled is set)"},
        {"tracepoint", BPF_PROG_TYPE_TRACEPOINT, -1, nullptr, 0, "CAP_BPF+CAP_PERFMON"},
        {"raw_tracepoint", BPF_PROG_TYPE_RAW_TRACEPOINT, -1, nullptr, 0, "CAP_BPF+CAP_PERFMON"},
        {"tp_btf", BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP, "btf_trace_sched_process_exec", BTF_KIND_TYPEDEF, "CAP_BPF+CAP_PERFMON"},
        {"cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS, nullptr, 0, "CAP_BPF+CAP_NET_ADMIN"},
        {"cgroup_connect4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT, nullptr, 0, "CAP_BPF+CAP_NET_ADMIN"},
        {"cgroup_connect6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET6_CONNECT, nullptr, 0, "CAP_BPF+CAP_NET_ADMIN"},
        {"cgroup_sendmsg4", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP4_SENDMSG, nullptr, 0, "CAP_BPF+CAP_NET_ADMIN"},
        {"cgroup_sendmsg6", BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_UDP6_SENDMSG, nullptr, 0, "CAP_BPF+CAP_NET_ADMIN"},
        {"cgroup_device", BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, nullptr, 0, "CAP_BPF+CAP_NET_ADMIN"},
        {"lsm", BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "bpf_lsm_file_open", BTF_KIND_FUNC, "CAP_BPF+CAP_PERFMON"},
        {"fentry", BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, "vfs_read", BTF_KIND_FUNC, "CAP_BPF+CAP_PERFMON"},
        {"kprobe", BPF_PROG_TYPE_KPROBE, -1, nullptr, 0, "CAP_BPF+CAP_PERFMON"},
    };

    if (!load_programs) {
        for (const auto &p : probes)
            r.add("bpf", "prog." + std::string(p.name), false, "not probed (probe_bpf off)");
        r.add("bpf", "map.ringbuf", false, "not probed (probe_bpf off)");
        facts["probed"] = false;
        r.facts["bpf"] = facts;
        return;
    }
    facts["probed"] = true;

    int btf_err = 0;
    BtfPtr vmlinux;
    bool btf_tried = false;

    // r0 = 0; exit
    struct bpf_insn insns[2] = {};
    insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
    insns[0].dst_reg = BPF_REG_0;
    insns[0].imm = 0;
    insns[1].code = BPF_JMP | BPF_EXIT;
    static const char license[] = "GPL";

    for (const auto &p : probes) {
        union bpf_attr attr;
        std::memset(&attr, 0, sizeof attr);
        attr.prog_type = p.type;
        attr.insns = reinterpret_cast<uint64_t>(insns);
        attr.insn_cnt = 2;
        attr.license = reinterpret_cast<uint64_t>(license);
        if (p.expected_attach_type >= 0)
            attr.expected_attach_type = static_cast<uint32_t>(p.expected_attach_type);
        std::string target;
        if (p.btf_name) {
            if (!lib.error.empty()) {
                facts["prog_types"][p.name] = false;
                r.add("bpf", "prog." + std::string(p.name), false,
                      fmt::format("needs vmlinux BTF for attach_btf_id: {}", lib.error));
                continue;
            }
            if (!btf_tried) {
                vmlinux = load_vmlinux_btf(btf_err);
                btf_tried = true;
            }
            if (!vmlinux) {
                facts["prog_types"][p.name] = false;
                r.add("bpf", "prog." + std::string(p.name), false,
                      fmt::format("needs vmlinux BTF for attach_btf_id: {}", errno_text(btf_err)));
                continue;
            }
            int id = lib.btf__find_by_name_kind(vmlinux.get(), p.btf_name, p.btf_kind);
            if (id <= 0) {
                facts["prog_types"][p.name] = false;
                r.add("bpf", "prog." + std::string(p.name), false, fmt::format("no BTF id for {}", p.btf_name));
                continue;
            }
            attr.attach_btf_id = static_cast<uint32_t>(id);
            target = fmt::format(" (target {})", p.btf_name);
        }
        UniqueFd fd(sys_bpf(BPF_PROG_LOAD, &attr));
        int err = fd ? 0 : errno;
        bool ok = static_cast<bool>(fd);
        std::string detail = fd ? "loads" + target : load_error(err, p.btf_name != nullptr, p.caps) + target;
        // A kprobe program loads wherever BPF tracing is built, kprobes or not;
        // without the PMU it has nothing to attach to, so it is not usable.
        if (fd && p.type == BPF_PROG_TYPE_KPROBE && !facts["kprobe_pmu"].get<bool>()) {
            ok = false;
            detail += ", but there is no kprobe PMU to attach it to";
        }
        facts["prog_types"][p.name] = ok;
        r.add("bpf", "prog." + std::string(p.name), ok, detail);
    }

    {
        union bpf_attr attr;
        std::memset(&attr, 0, sizeof attr);
        attr.map_type = BPF_MAP_TYPE_RINGBUF;
        attr.max_entries = 1u << 16; // a power of two and a page multiple for 4K..64K pages
        UniqueFd fd(sys_bpf(BPF_MAP_CREATE, &attr));
        int err = fd ? 0 : errno;
        facts["ringbuf"] = static_cast<bool>(fd);
        r.add("bpf", "map.ringbuf", static_cast<bool>(fd), fd ? "BPF_MAP_TYPE_RINGBUF created" : load_error(err, false, "CAP_BPF"));
    }
    r.facts["bpf"] = facts;
}

} // namespace mxc::host::detail
