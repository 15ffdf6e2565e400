// Manager::apply(): OCI .linux.resources -> cgroup files.  Each controller goes
// to v2 when the v2 hierarchy has it, else to its v1 hierarchy.  The whole plan
// is built (and every "not supported" raised) before the first write.
#include <linux/magic.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <set>

#include "internal.hpp"
#include "mxc/cgroup/cgroup.hpp"
#include "mxc/cgroup/devices_bpf.hpp"
#include "mxc/util/error.hpp"
#include "mxc/util/file.hpp"
#include "mxc/util/log.hpp"

namespace mxc::cgroup {

namespace {

struct Op {
    std::string file, value;
    // This op and the next are an ordered pair the kernel may only accept the
    // other way round (v1 memory vs memsw, cfs period vs quota): on EINVAL try
    // the second first.
    bool pair_retry = false;
};

std::string v2_limit(int64_t v) { return v < 0 ? "max" : std::to_string(v); }

// cgroup v1 cpu.shares [2, 262144] onto v2 cpu.weight [1, 10000], linearly (as runc).
uint64_t shares_to_weight(uint64_t shares) {
    shares = std::clamp<uint64_t>(shares, 2, 262144);
    return 1 + ((shares - 2) * 9999) / 262142;
}

// blkio weight [10, 1000] onto io.weight [1, 10000].
uint64_t blkio_to_io_weight(uint64_t w) {
    w = std::clamp<uint64_t>(w, 10, 1000);
    return 1 + ((w - 10) * 9999) / 990;
}

std::string dev_id(int64_t major, int64_t minor) { return fmt::format("{}:{}", major, minor); }

// Not root in the initial user namespace: bpf(2) program loads are refused with EPERM
// (rootless, or root of a user namespace).
bool unprivileged_for_bpf() {
    if (::geteuid() != 0)
        return true;
    auto map = detail::read_optional("/proc/self/uid_map");
    return map && detail::split(detail::trim(*map), ' ') != std::vector<std::string>{"0", "0", "4294967295"};
}

} // namespace

struct Applier {
    Manager &m;
    const oci::Resources &r;
    std::vector<Op> ops;
    std::set<std::string> v2_enable;
    UniqueFd device_prog; // cgroup v2 device filter, attached after the writes

    enum class Where { v2, v1, none };

    Where where(const std::string &v2c, const std::string &v1c) {
        if (!m.v2_dir_.empty() && detail::contains(m.layout_.v2_controllers, v2c)) {
            v2_enable.insert(v2c);
            return Where::v2;
        }
        if (m.v1_dirs_.count(v1c))
            return Where::v1;
        return Where::none;
    }
    std::string v1(const std::string &ctrl, const std::string &file) const { return m.v1_dirs_.at(ctrl) + "/" + file; }
    std::string v2(const std::string &file) const { return m.v2_dir_ + "/" + file; }
    void add(std::string file, std::string value, bool pair_retry = false) {
        ops.push_back({std::move(file), std::move(value), pair_retry});
    }
    [[noreturn]] void absent(const std::string &field, const std::string &ctrl) const {
        throw_error("not supported: .linux.resources.{}: no {} controller on this host", field, ctrl);
    }

    void memory() {
        if (!r.memory)
            return;
        const auto &mem = *r.memory;
        const char *first = mem.limit ? "limit" : mem.reservation ? "reservation" : mem.swap ? "swap"
                          : mem.kernel_tcp ? "kernelTCP" : mem.swappiness ? "swappiness"
                          : mem.disable_oom_killer.value_or(false) ? "disableOOMKiller" : nullptr;
        if (mem.kernel)
            log::debug("cgroup: .linux.resources.memory.kernel is deprecated and ignored");
        if (!first)
            return;
        switch (where("memory", "memory")) {
        case Where::none: absent(fmt::format("memory.{}", first), "memory");
        case Where::v2:
            if (mem.limit)
                add(v2("memory.max"), v2_limit(*mem.limit));
            if (mem.reservation)
                add(v2("memory.low"), v2_limit(*mem.reservation));
            if (mem.swap && *mem.swap != 0) {
                // OCI swap is memory+swap (the v1 memsw meaning); v2 limits swap alone.
                if (*mem.swap < 0) {
                    add(v2("memory.swap.max"), "max");
                } else {
                    if (!mem.limit || *mem.limit <= 0)
                        throw_error(".linux.resources.memory.swap: a swap limit on cgroup v2 needs memory.limit");
                    if (*mem.swap < *mem.limit)
                        throw_error(".linux.resources.memory.swap: {} is below memory.limit {}", *mem.swap, *mem.limit);
                    add(v2("memory.swap.max"), std::to_string(*mem.swap - *mem.limit));
                }
            }
            if (mem.kernel_tcp)
                log::warn("cgroup: .linux.resources.memory.kernelTCP has no cgroup v2 file; ignored");
            if (mem.swappiness)
                log::warn("cgroup: .linux.resources.memory.swappiness has no cgroup v2 file; ignored");
            if (mem.disable_oom_killer.value_or(false))
                log::warn("cgroup: .linux.resources.memory.disableOOMKiller has no cgroup v2 file; ignored");
            return;
        case Where::v1:
            if (mem.limit && mem.swap) {
                add(v1("memory", "memory.limit_in_bytes"), std::to_string(*mem.limit), true);
                add(v1("memory", "memory.memsw.limit_in_bytes"), std::to_string(*mem.swap));
            } else if (mem.limit) {
                add(v1("memory", "memory.limit_in_bytes"), std::to_string(*mem.limit));
            } else if (mem.swap) {
                add(v1("memory", "memory.memsw.limit_in_bytes"), std::to_string(*mem.swap));
            }
            if (mem.reservation)
                add(v1("memory", "memory.soft_limit_in_bytes"), std::to_string(*mem.reservation));
            if (mem.kernel_tcp)
                add(v1("memory", "memory.kmem.tcp.limit_in_bytes"), std::to_string(*mem.kernel_tcp));
            if (mem.swappiness)
                add(v1("memory", "memory.swappiness"), std::to_string(*mem.swappiness));
            if (mem.disable_oom_killer.value_or(false))
                add(v1("memory", "memory.oom_control"), "1");
            return;
        }
    }

    void cpu() {
        if (!r.cpu)
            return;
        const auto &c = *r.cpu;
        const char *first = c.shares ? "shares" : c.quota ? "quota" : c.period ? "period" : c.burst ? "burst"
                          : c.realtime_runtime ? "realtimeRuntime" : c.realtime_period ? "realtimePeriod"
                          : c.idle ? "idle" : nullptr;
        if (first) {
            switch (where("cpu", "cpu")) {
            case Where::none: absent(fmt::format("cpu.{}", first), "cpu");
            case Where::v2:
                if (c.realtime_runtime || c.realtime_period)
                    throw_error("not supported: .linux.resources.cpu.{}: no real-time cpu limits on cgroup v2",
                                c.realtime_runtime ? "realtimeRuntime" : "realtimePeriod");
                if (c.shares && *c.shares != 0)
                    add(v2("cpu.weight"), std::to_string(shares_to_weight(*c.shares)));
                if (c.quota || c.period) {
                    std::string v = c.quota && *c.quota > 0 ? std::to_string(*c.quota) : "max";
                    if (c.period && *c.period != 0)
                        v += " " + std::to_string(*c.period);
                    add(v2("cpu.max"), v);
                }
                if (c.burst)
                    add(v2("cpu.max.burst"), std::to_string(*c.burst));
                if (c.idle)
                    add(v2("cpu.idle"), *c.idle ? "1" : "0");
                break;
            case Where::v1:
                if (c.shares && *c.shares != 0)
                    add(v1("cpu", "cpu.shares"), std::to_string(*c.shares));
                if (c.period && c.quota) {
                    add(v1("cpu", "cpu.cfs_period_us"), std::to_string(*c.period), true);
                    add(v1("cpu", "cpu.cfs_quota_us"), std::to_string(*c.quota));
                } else if (c.period) {
                    add(v1("cpu", "cpu.cfs_period_us"), std::to_string(*c.period));
                } else if (c.quota) {
                    add(v1("cpu", "cpu.cfs_quota_us"), std::to_string(*c.quota));
                }
                if (c.burst)
                    add(v1("cpu", "cpu.cfs_burst_us"), std::to_string(*c.burst));
                if (c.realtime_period)
                    add(v1("cpu", "cpu.rt_period_us"), std::to_string(*c.realtime_period));
                if (c.realtime_runtime)
                    add(v1("cpu", "cpu.rt_runtime_us"), std::to_string(*c.realtime_runtime));
                if (c.idle)
                    add(v1("cpu", "cpu.idle"), *c.idle ? "1" : "0");
                break;
            }
        }
        if (c.cpus.empty() && c.mems.empty())
            return;
        Where w = where("cpuset", "cpuset");
        if (w == Where::none)
            absent(c.cpus.empty() ? "cpu.mems" : "cpu.cpus", "cpuset");
        auto file = [&](const char *f) { return w == Where::v2 ? v2(f) : v1("cpuset", f); };
        if (!c.cpus.empty())
            add(file("cpuset.cpus"), c.cpus);
        if (!c.mems.empty())
            add(file("cpuset.mems"), c.mems);
    }

    void pids() {
        if (!r.pids)
            return;
        Where w = where("pids", "pids");
        if (w == Where::none)
            absent("pids.limit", "pids");
        std::string v = r.pids->limit > 0 ? std::to_string(r.pids->limit) : "max";
        add(w == Where::v2 ? v2("pids.max") : v1("pids", "pids.max"), v);
    }

    void block_io() {
        if (!r.block_io)
            return;
        const auto &b = *r.block_io;
        bool any = b.weight || b.leaf_weight || !b.weight_device.empty() || !b.throttle_read_bps.empty() ||
                   !b.throttle_write_bps.empty() || !b.throttle_read_iops.empty() || !b.throttle_write_iops.empty();
        if (!any)
            return;
        Where w = where("io", "blkio");
        if (w == Where::none)
            absent(b.weight ? "blockIO.weight" : "blockIO", "io/blkio");
        if (w == Where::v2) {
            // BFQ takes the OCI range directly; io.weight needs the v2 range.
            bool bfq = path_exists(v2("io.bfq.weight"));
            if (b.weight)
                add(bfq ? v2("io.bfq.weight") : v2("io.weight"),
                    bfq ? std::to_string(*b.weight) : fmt::format("default {}", blkio_to_io_weight(*b.weight)));
            if (b.leaf_weight)
                log::warn("cgroup: .linux.resources.blockIO.leafWeight has no cgroup v2 file; ignored");
            for (const auto &d : b.weight_device)
                if (d.weight)
                    add(bfq ? v2("io.bfq.weight") : v2("io.weight"),
                        fmt::format("{} {}", dev_id(d.major, d.minor),
                                    bfq ? uint64_t(*d.weight) : blkio_to_io_weight(*d.weight)));
            auto io_max = [&](const std::vector<oci::BlockIoThrottle> &list, const char *key) {
                for (const auto &t : list)
                    add(v2("io.max"), fmt::format("{} {}={}", dev_id(t.major, t.minor), key,
                                                  t.rate == 0 ? std::string("max") : std::to_string(t.rate)));
            };
            io_max(b.throttle_read_bps, "rbps");
            io_max(b.throttle_write_bps, "wbps");
            io_max(b.throttle_read_iops, "riops");
            io_max(b.throttle_write_iops, "wiops");
            return;
        }
        // Kernels without CFQ only have the BFQ files.
        bool cfq = path_exists(v1("blkio", "blkio.weight"));
        if (b.weight)
            add(v1("blkio", cfq ? "blkio.weight" : "blkio.bfq.weight"), std::to_string(*b.weight));
        if (b.leaf_weight)
            add(v1("blkio", "blkio.leaf_weight"), std::to_string(*b.leaf_weight));
        for (const auto &d : b.weight_device) {
            if (d.weight)
                add(v1("blkio", cfq ? "blkio.weight_device" : "blkio.bfq.weight"),
                    fmt::format("{} {}", dev_id(d.major, d.minor), *d.weight));
            if (d.leaf_weight)
                add(v1("blkio", "blkio.leaf_weight_device"), fmt::format("{} {}", dev_id(d.major, d.minor), *d.leaf_weight));
        }
        auto thr = [&](const std::vector<oci::BlockIoThrottle> &list, const char *file) {
            for (const auto &t : list)
                add(v1("blkio", file), fmt::format("{} {}", dev_id(t.major, t.minor), t.rate));
        };
        thr(b.throttle_read_bps, "blkio.throttle.read_bps_device");
        thr(b.throttle_write_bps, "blkio.throttle.write_bps_device");
        thr(b.throttle_read_iops, "blkio.throttle.read_iops_device");
        thr(b.throttle_write_iops, "blkio.throttle.write_iops_device");
    }

    void hugetlb() {
        for (size_t i = 0; i < r.hugepage_limits.size(); ++i) {
            const auto &h = r.hugepage_limits[i];
            std::string field = fmt::format("hugepageLimits[{}]", i);
            bool ok = h.page_size.size() >= 3 && std::isdigit(static_cast<unsigned char>(h.page_size[0]));
            for (char ch : h.page_size)
                ok = ok && std::isalnum(static_cast<unsigned char>(ch));
            if (!ok)
                throw_error(".linux.resources.{}.pageSize: bad page size \"{}\"", field, h.page_size);
            switch (where("hugetlb", "hugetlb")) {
            case Where::none: absent(field, "hugetlb");
            case Where::v2: add(v2(fmt::format("hugetlb.{}.max", h.page_size)), std::to_string(h.limit)); break;
            case Where::v1:
                add(v1("hugetlb", fmt::format("hugetlb.{}.limit_in_bytes", h.page_size)), std::to_string(h.limit));
                break;
            }
        }
    }

    void devices() {
        if (r.devices.empty())
            return;
        if (!m.v1_dirs_.count("devices")) {
            // cgroup v2 has no devices file: the rules become a BPF_PROG_TYPE_CGROUP_DEVICE
            // program, loaded now (so a verifier error comes before any write) and
            // attached after the writes.  A directory that is not on a cgroup2 file
            // system (test fixtures) cannot take one.
            if (m.v2_dir_.empty())
                return;
            auto insns = compile_device_filter(r.devices); // validates the rules
            struct statfs sfs;
            if (::statfs(m.v2_dir_.c_str(), &sfs) != 0)
                throw_errno("statfs {}", m.v2_dir_);
            if (sfs.f_type != CGROUP2_SUPER_MAGIC) {
                log::debug("cgroup: {} is not on cgroup2; device rules not attached", m.v2_dir_);
                return;
            }
            try {
                device_prog = load_device_filter(insns);
            } catch (const Error &e) {
                // As runc: a rootless container cannot have a device program (nor mknod).
                if (e.code() != EPERM || !unprivileged_for_bpf())
                    throw;
                log::warn("cgroup: .linux.resources.devices not enforced: {} (rootless)", e.what());
            }
            return;
        }
        for (size_t i = 0; i < r.devices.size(); ++i) {
            const auto &d = r.devices[i];
            if (d.type != "a" && d.type != "c" && d.type != "b")
                throw_error(".linux.resources.devices[{}].type: bad device type \"{}\"", i, d.type);
            if (d.access.empty() || d.access.find_first_not_of("rwm") != std::string::npos)
                throw_error(".linux.resources.devices[{}].access: bad access \"{}\"", i, d.access);
            auto num = [](const std::optional<int64_t> &v) { return v && *v >= 0 ? std::to_string(*v) : std::string("*"); };
            add(v1("devices", d.allow ? "devices.allow" : "devices.deny"),
                fmt::format("{} {}:{} {}", d.type, num(d.major), num(d.minor), d.access));
        }
    }

    void unified() {
        for (const auto &[key, value] : r.unified) {
            if (key.empty() || key.find('/') != std::string::npos || key[0] == '.' || key.find('.') == std::string::npos)
                throw_error(".linux.resources.unified.{}: not a cgroup file name", key);
            std::string ctrl = key.substr(0, key.find('.'));
            bool ok = !m.v2_dir_.empty() && (ctrl == "cgroup" || detail::contains(m.layout_.v2_controllers, ctrl));
            if (!ok)
                throw_error("not supported: .linux.resources.unified.{}: controller not available on cgroup v2 here", key);
            if (ctrl != "cgroup")
                v2_enable.insert(ctrl);
            add(v2(key), value);
        }
    }

    void run() {
        memory();
        cpu();
        pids();
        block_io();
        hugetlb();
        devices();
        unified(); // last, so that it overrides the typed fields as runc does
        for (const auto &c : v2_enable)
            m.enable_v2_controller(c);
        for (size_t i = 0; i < ops.size(); ++i) {
            if (ops[i].pair_retry && i + 1 < ops.size()) {
                try {
                    m.write(ops[i].file, ops[i].value);
                } catch (const Error &e) {
                    if (e.code() != EINVAL)
                        throw;
                    m.write(ops[i + 1].file, ops[i + 1].value);
                    m.write(ops[i].file, ops[i].value);
                    ++i;
                }
                continue;
            }
            m.write(ops[i].file, ops[i].value);
        }
        if (device_prog)
            attach_device_filter(m.open_v2_dir().get(), device_prog.get());
    }
};

void Manager::apply(const oci::Resources &res) {
    with_context(fmt::format("set resources of cgroup {}", path_), [&] {
        Applier a{*this, res, {}, {}, {}};
        a.run();
    });
}

} // namespace mxc::cgroup
