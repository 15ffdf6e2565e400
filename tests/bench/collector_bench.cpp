// The user-space half of mxcd's collector, alone: ring-buffer records of a
// failed openat (what audit_overhead.sh's throughput part produces) decoded,
// turned into stream records and appended to a stream with signed
// checkpoints, as mxcd does it, in batches of what one ring poll returns.
// No kernel, no producer competing for the CPU: its events per CPU-second is
// the ceiling of the collector's throughput on this machine.
//
//   collector_bench [N] [BATCH] [DIR]     (defaults: 1000000, 4096, a temp dir)
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "events.h"
#include "mxc/audit/bpf.hpp"
#include "mxc/audit/record.hpp"
#include "mxc/audit/stream.hpp"
#include "mxc/identity/identity.hpp"
#include "mxc/util/file.hpp"

using namespace mxc;

namespace {

double cpu_seconds() {
    rusage ru{};
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

} // namespace

int main(int argc, char **argv) {
    size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
    size_t batch = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 4096;
    std::string dir = argc > 3 ? argv[3] : "";
    bool own_dir = dir.empty();
    if (own_dir) {
        char tmpl[] = "/var/tmp/mxc-collector-bench.XXXXXX";
        if (!::mkdtemp(tmpl)) {
            std::perror("mkdtemp");
            return 1;
        }
        dir = tmpl;
    }

    // One raw record as the probe emits it: cut after the path's NUL.
    mxc_file_event ev{};
    ev.hdr.rec = MXC_REC_FILE;
    ev.hdr.kind = MXC_KIND_FILE;
    ev.hdr.op = MXC_OP_OPENAT;
    ev.hdr.abi = MXC_ABI_VERSION;
    ev.hdr.pid = ev.hdr.tid = 4242;
    ev.hdr.ppid = 4241;
    ev.hdr.result = -2; // ENOENT
    std::strcpy(ev.hdr.comm, "audit_loop");
    ev.dirfd = ev.dirfd2 = -100;
    ev.owner_uid = ev.owner_gid = UINT32_MAX; // not a chown
    std::strcpy(ev.path, "/var/tmp/mxc-audit-bench.ryGOKY/work/missing-file");
    ev.path_len = static_cast<uint32_t>(std::strlen(ev.path) + 1);
    const size_t raw_size = offsetof(mxc_file_event, path) + ev.path_len; // cut after the path, as the probe does

    identity::IdentityStore keys{dir + "/keys", 0};
    mkdir_p(keys.dir, 0700);
    identity::create(keys, "host");
    audit::WriterOptions wo;
    wo.base_dir = dir + "/audit";
    wo.identity = "bench";
    wo.backend = "bpf";
    wo.signer = audit::identity_signer(keys, "host");
    wo.checkpoint_min_gap = std::chrono::milliseconds(100); // mxcd's default
    audit::StreamWriter writer(std::move(wo));

    // As mxcd: decoded into one Event, built into reused batch slots.
    std::vector<audit::Record> pending(batch);
    size_t npending = 0;
    audit::Event e;
    const std::string identity = "bench", sandbox = "bench-sandbox-0";
    auto t0 = std::chrono::steady_clock::now();
    double c0 = cpu_seconds();
    for (size_t i = 0; i < n; ++i) {
        ev.hdr.boot_ns = 1000 + i * 1000;
        if (!audit::decode_event(&ev, raw_size, e))
            return 2;
        e.realtime_ns = 1'780'000'000'000'000'000LL + static_cast<int64_t>(e.boot_ns);
        audit::record_from_event(e, identity, sandbox, pending[npending++]);
        if (npending == batch) {
            writer.append_batch(std::span(pending.data(), npending));
            npending = 0;
        }
    }
    if (npending)
        writer.append_batch(std::span(pending.data(), npending));
    writer.close();
    double cpu = cpu_seconds() - c0;
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("events=%zu batch=%zu wall_s=%.3f cpu_s=%.3f events_per_s=%.0f events_per_cpu_s=%.0f ns_per_event=%.0f\n",
                n, batch, wall, cpu, static_cast<double>(n) / wall, static_cast<double>(n) / cpu, cpu * 1e9 / static_cast<double>(n));
    if (own_dir)
        std::filesystem::remove_all(dir);
    return 0;
}
