// cgroup v2 device filter: OCI device rules -> BPF_PROG_TYPE_CGROUP_DEVICE.
//
// The program, for rules R0..Rn-1:
//
//     r2 = ctx->access_type & 0xffff     device type (BPF_DEVCG_DEV_BLOCK / _CHAR)
//     r3 = ctx->access_type >> 16        requested access (BPF_DEVCG_ACC_*)
//     r4 = ctx->major
//     r5 = ctx->minor
//   Rn-1:                               one block per rule, last rule first
//     if r2 != TYPE goto Rn-2           only when the rule's type is not "a"
//     if r3 & ~ACCESS goto Rn-2         allow rule lacking some of r, w, m
//     r1 = r3 & ACCESS                  deny rule lacking some of r, w, m
//     if r1 == 0 goto Rn-2
//     if r4 != MAJOR goto Rn-2          only when the rule names a major
//     if r5 != MINOR goto Rn-2          only when the rule names a minor
//     r0 = ALLOW; exit
//   Rn-2: ...
//     r0 = 0; exit                      nothing matched: deny
//
// A block without conditions matches everything, so the rules before it are
// never reached and are not emitted (nor is the default tail): the verifier
// rejects unreachable instructions.
#include "mxc/cgroup/devices_bpf.hpp"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "mxc/util/error.hpp"

namespace mxc::cgroup {

namespace {

constexpr struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    struct bpf_insn i{};
    i.code = code;
    i.dst_reg = dst & 0xf;
    i.src_reg = src & 0xf;
    i.off = off;
    i.imm = imm;
    return i;
}
constexpr struct bpf_insn ldx_w(uint8_t dst, uint8_t src, int16_t off) {
    return insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
constexpr struct bpf_insn alu64_imm(uint8_t op, uint8_t dst, int32_t imm) {
    return insn(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm);
}
constexpr struct bpf_insn jmp_imm(uint8_t op, uint8_t dst, int32_t imm, int16_t off) {
    return insn(BPF_JMP | op | BPF_K, dst, 0, off, imm);
}
constexpr struct bpf_insn exit_insn() { return insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

enum : uint8_t { R0 = BPF_REG_0, R1 = BPF_REG_1, R_TYPE = BPF_REG_2, R_ACCESS = BPF_REG_3, R_MAJOR = BPF_REG_4, R_MINOR = BPF_REG_5 };

constexpr int32_t kAllAccess = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;

struct Rule {
    bool allow;
    int32_t type;  // 0: any
    int32_t access;
    std::optional<int32_t> major, minor;
};

Rule check_rule(const oci::DeviceRule &d, size_t i) {
    Rule r{d.allow, 0, 0, std::nullopt, std::nullopt};
    if (d.type == "c")
        r.type = BPF_DEVCG_DEV_CHAR;
    else if (d.type == "b")
        r.type = BPF_DEVCG_DEV_BLOCK;
    else if (d.type != "a")
        throw_error(".linux.resources.devices[{}].type: bad device type \"{}\"", i, d.type);
    if (d.access.empty())
        throw_error(".linux.resources.devices[{}].access: bad access \"{}\"", i, d.access);
    for (char c : d.access) {
        switch (c) {
        case 'r': r.access |= BPF_DEVCG_ACC_READ; break;
        case 'w': r.access |= BPF_DEVCG_ACC_WRITE; break;
        case 'm': r.access |= BPF_DEVCG_ACC_MKNOD; break;
        default: throw_error(".linux.resources.devices[{}].access: bad access \"{}\"", i, d.access);
        }
    }
    // Immediates are 32-bit and sign-extended against the 64-bit register, so a
    // number above INT32_MAX could never match; no real device has one.
    auto num = [&](const std::optional<int64_t> &v, const char *what) -> std::optional<int32_t> {
        if (!v || *v < 0)
            return std::nullopt;
        if (*v > INT32_MAX)
            throw_error(".linux.resources.devices[{}].{}: {} is out of range", i, what, *v);
        return static_cast<int32_t>(*v);
    };
    r.major = num(d.major, "major");
    r.minor = num(d.minor, "minor");
    return r;
}

int sys_bpf(int cmd, union bpf_attr *attr) {
    return static_cast<int>(::syscall(SYS_bpf, cmd, attr, sizeof *attr));
}

uint64_t ptr(const void *p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

struct Query {
    std::vector<uint32_t> ids;
    uint32_t attach_flags = 0;
};

Query query(int cgroup_dir_fd) {
    Query q;
    std::vector<uint32_t> ids(8);
    for (;;) {
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.query.target_fd = static_cast<uint32_t>(cgroup_dir_fd);
        a.query.attach_type = BPF_CGROUP_DEVICE;
        a.query.prog_ids = ptr(ids.data());
        a.query.prog_cnt = static_cast<uint32_t>(ids.size());
        if (sys_bpf(BPF_PROG_QUERY, &a) == 0) {
            ids.resize(a.query.prog_cnt);
            q.ids = std::move(ids);
            q.attach_flags = a.query.attach_flags;
            return q;
        }
        if (errno != ENOSPC || a.query.prog_cnt <= ids.size())
            throw_errno("query the device programs of the cgroup (BPF_PROG_QUERY)");
        ids.resize(a.query.prog_cnt);
    }
}

} // namespace

std::vector<struct bpf_insn> compile_device_filter(const std::vector<oci::DeviceRule> &rules) {
    std::vector<Rule> checked;
    checked.reserve(rules.size());
    for (size_t i = 0; i < rules.size(); ++i)
        checked.push_back(check_rule(rules[i], i));

    std::vector<struct bpf_insn> p = {
        ldx_w(R_TYPE, R1, offsetof(struct bpf_cgroup_dev_ctx, access_type)),
        alu64_imm(BPF_AND, R_TYPE, 0xffff),
        ldx_w(R_ACCESS, R1, offsetof(struct bpf_cgroup_dev_ctx, access_type)),
        alu64_imm(BPF_RSH, R_ACCESS, 16),
        ldx_w(R_MAJOR, R1, offsetof(struct bpf_cgroup_dev_ctx, major)),
        ldx_w(R_MINOR, R1, offsetof(struct bpf_cgroup_dev_ctx, minor)),
    };
    for (auto it = checked.rbegin(); it != checked.rend(); ++it) {
        const Rule &r = *it;
        // Each condition jumps past the rest of its block (offset fixed below).
        std::vector<struct bpf_insn> block;
        if (r.type != 0)
            block.push_back(jmp_imm(BPF_JNE, R_TYPE, r.type, 0));
        if (r.access != kAllAccess && r.allow) {
            // allow: every requested bit must be in the rule
            block.push_back(jmp_imm(BPF_JSET, R_ACCESS, ~r.access, 0));
        } else if (r.access != kAllAccess) {
            // deny: any requested bit in the rule (open(O_RDWR) asks for r and w at once)
            block.push_back(insn(BPF_ALU64 | BPF_MOV | BPF_X, R1, R_ACCESS, 0, 0));
            block.push_back(alu64_imm(BPF_AND, R1, r.access));
            block.push_back(jmp_imm(BPF_JEQ, R1, 0, 0));
        }
        if (r.major)
            block.push_back(jmp_imm(BPF_JNE, R_MAJOR, *r.major, 0));
        if (r.minor)
            block.push_back(jmp_imm(BPF_JNE, R_MINOR, *r.minor, 0));
        size_t conds = block.size();
        block.push_back(alu64_imm(BPF_MOV, R0, r.allow ? 1 : 0));
        block.push_back(exit_insn());
        for (size_t k = 0; k < conds; ++k)
            if (BPF_CLASS(block[k].code) == BPF_JMP)
                block[k].off = static_cast<int16_t>(block.size() - k - 1);
        p.insert(p.end(), block.begin(), block.end());
        if (conds == 0)
            return p; // matches everything: earlier rules are unreachable
    }
    p.push_back(alu64_imm(BPF_MOV, R0, 0));
    p.push_back(exit_insn());
    return p;
}

UniqueFd load_device_filter(const std::vector<struct bpf_insn> &insns) {
    static const char license[] = "Apache";
    auto load = [&](char *log, uint32_t log_size) {
        union bpf_attr a;
        std::memset(&a, 0, sizeof a);
        a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        a.expected_attach_type = BPF_CGROUP_DEVICE;
        a.insns = ptr(insns.data());
        a.insn_cnt = static_cast<uint32_t>(insns.size());
        a.license = ptr(license);
        if (log) {
            a.log_level = 1;
            a.log_buf = ptr(log);
            a.log_size = log_size;
        }
        std::strncpy(a.prog_name, "mxc_devices", sizeof a.prog_name - 1);
        return sys_bpf(BPF_PROG_LOAD, &a);
    };
    int fd = load(nullptr, 0);
    if (fd >= 0)
        return UniqueFd(fd);
    int err = errno;
    // Again with the verifier's log, to say why.
    std::string log(64 * 1024, '\0');
    fd = load(log.data(), static_cast<uint32_t>(log.size()));
    if (fd >= 0) // a transient failure (e.g. EAGAIN from the verifier)
        return UniqueFd(fd);
    log.resize(std::strlen(log.c_str()));
    while (!log.empty() && (log.back() == '\n' || log.back() == ' '))
        log.pop_back();
    if (log.empty())
        throw Error(err, "load the cgroup device program (BPF_PROG_LOAD)");
    throw Error(err, fmt::format("load the cgroup device program (BPF_PROG_LOAD): verifier: {}", log));
}

std::vector<uint32_t> query_device_filters(int cgroup_dir_fd) { return query(cgroup_dir_fd).ids; }

void attach_device_filter(int cgroup_dir_fd, int prog_fd) {
    Query old = query(cgroup_dir_fd);
    // A cgroup's programs of one attach type share one mode; a program attached
    // without ALLOW_MULTI is replaced by attaching with the same flags.
    bool multi = old.ids.empty() || (old.attach_flags & BPF_F_ALLOW_MULTI);
    union bpf_attr a;
    std::memset(&a, 0, sizeof a);
    a.target_fd = static_cast<uint32_t>(cgroup_dir_fd);
    a.attach_bpf_fd = static_cast<uint32_t>(prog_fd);
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = multi ? BPF_F_ALLOW_MULTI : old.attach_flags;
    if (sys_bpf(BPF_PROG_ATTACH, &a) != 0)
        throw_errno("attach the cgroup device program (BPF_PROG_ATTACH)");
    if (!multi)
        return;
    for (uint32_t id : old.ids) {
        union bpf_attr g;
        std::memset(&g, 0, sizeof g);
        g.prog_id = id;
        UniqueFd old_fd(sys_bpf(BPF_PROG_GET_FD_BY_ID, &g));
        if (!old_fd) {
            if (errno == ENOENT)
                continue; // gone meanwhile
            throw_errno("detach the previous cgroup device program {}: get its fd (BPF_PROG_GET_FD_BY_ID)", id);
        }
        union bpf_attr d;
        std::memset(&d, 0, sizeof d);
        d.target_fd = static_cast<uint32_t>(cgroup_dir_fd);
        d.attach_bpf_fd = static_cast<uint32_t>(old_fd.get());
        d.attach_type = BPF_CGROUP_DEVICE;
        if (sys_bpf(BPF_PROG_DETACH, &d) != 0 && errno != ENOENT)
            throw_errno("detach the previous cgroup device program {} (BPF_PROG_DETACH)", id);
    }
}

void apply_device_filter(int cgroup_dir_fd, const std::vector<oci::DeviceRule> &rules) {
    UniqueFd prog = load_device_filter(compile_device_filter(rules));
    attach_device_filter(cgroup_dir_fd, prog.get());
}

} // namespace mxc::cgroup
