#!/usr/bin/env bash
# What auditing costs: the eBPF probes of mxcd (backend bpf) against the same agent sandbox
# unaudited, against the seccomp-notify fallback, and against auditd with equivalent rules; the
# cost to host processes while the probes are loaded; and the collector's throughput and loss
# accounting. A benchmark, not a test: it measures and reports, and fails only when a run itself
# broke. See tests/bench/README.md.
#
#   tests/bench/audit_overhead.sh [--quick] [--runs N] [--warmup N] [--parts LIST]
#                                 [--open-n N] [--exec-n N] [--seccomp-div D] [--tp-n N]
#                                 [--tp-runs N] [--producers P] [--perf] [--build-dir DIR]
#                                 [--no-build] [--mxc PATH --mxcd PATH] [--no-install]
#                                 [--audit-uid UID] [--csv FILE] [--keep-tmp]
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() {
    cat <<'EOF'
usage: audit_overhead.sh [options]        (root; Linux with BTF, bpffs, cgroup v2)
  --quick              3 measured rounds, no warm-up, --open-n 20000 --exec-n 200,
                       --tp-n 200000 --tp-runs 1 (smoke test)
  --runs N             measured rounds of the sandbox/host part (default 7)
  --warmup N           unmeasured rounds first (default 1)
  --parts LIST         any of "sandbox host floor throughput drain auditd" (default: all six;
                       sandbox, host and floor share their rounds). floor: the same open/close
                       loops (host, and agent sandbox with audit off) with two programs that do
                       nothing attached to sys_enter/sys_exit (tests/bench/probe_floor.bpf.c):
                       the least any probe on those hooks costs here (needs clang, libbpf-dev);
                       and the "path floor": a probe that only reads the opened path into a ring
                       buffer (tests/bench/probe_pathfloor.bpf.c; x86_64, needs bpftool), the
                       least a probe that records which file was opened costs
  --open-n N           open+close iterations per loop (default 100000)
  --exec-n N           fork+exec(/bin/true) iterations per loop (default 500)
  --seccomp-div D      the seccomp-notify sandbox runs the open/close loop with N/D iterations
                       (default 5: at ~170 us per supervised open it is slow); compared per
                       iteration
  --tp-n N             failed opens of the throughput run (default 1000000)
  --tp-runs N          throughput runs (default 2)
  --producers P        processes doing the failed opens in the throughput run (default 1)
  --drain-n N          failed opens buffered while mxcd is stopped, in the drain run
                       (default 300000; its ring is sized to hold them all)
  --drain-runs N       drain runs (default 3)
  --ring-bytes N       mxcd --ring-bytes for every mxcd start (default: mxcd's, 32 MiB)
  --perf               perf record mxcd during the (first) throughput run; print its hottest
                       functions
  --build-dir DIR      release build to use/make (default build-bench-audit in the tree)
  --no-build           do not run meson/ninja: use the binaries already in the build dir
  --mxc PATH, --mxcd PATH
                       use these binaries instead of a build dir (both or neither)
  --no-install         never apt-get install anything (auditd)
  --audit-uid UID      the uid the auditd comparison runs its loops as (default: nobody's;
                       note that -F uid= also audits the host's other processes of that uid)
  --csv FILE           also write every sample as part,config,round,loop_ns,n,cpu_ns
  --keep-tmp           keep the temporary directory (streams, logs)
EOF
}

runs=7 warmup=1 parts="sandbox host floor throughput drain auditd" open_n=100000 exec_n=500 seccomp_div=5
tp_n=1000000 tp_runs=2 drain_n=300000 drain_runs=3 producers=1 ring_bytes="" do_perf=0 bdir="" build=1 mxc="" mxcd=""
install=1 audit_uid="" csv="" keep_tmp=0
while (($#)); do
    case $1 in
    --quick) runs=3 warmup=0 open_n=20000 exec_n=200 tp_n=200000 tp_runs=1 drain_n=100000 drain_runs=1 ;;
    --runs) runs=${2:?}; shift ;;
    --warmup) warmup=${2:?}; shift ;;
    --parts) parts=${2//,/ }; shift ;;
    --open-n) open_n=${2:?}; shift ;;
    --exec-n) exec_n=${2:?}; shift ;;
    --seccomp-div) seccomp_div=${2:?}; shift ;;
    --tp-n) tp_n=${2:?}; shift ;;
    --tp-runs) tp_runs=${2:?}; shift ;;
    --producers) producers=${2:?}; shift ;;
    --drain-n) drain_n=${2:?}; shift ;;
    --drain-runs) drain_runs=${2:?}; shift ;;
    --ring-bytes) ring_bytes=${2:?}; shift ;;
    --perf) do_perf=1 ;;
    --build-dir) bdir=${2:?}; shift ;;
    --no-build) build=0 ;;
    --mxc) mxc=${2:?}; shift ;;
    --mxcd) mxcd=${2:?}; shift ;;
    --no-install) install=0 ;;
    --audit-uid) audit_uid=${2:?}; shift ;;
    --csv) csv=${2:?}; shift ;;
    --keep-tmp) keep_tmp=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done
# The auditd loops run as nobody by default: auditd's ENRICHED log format looks every uid up, and
# a uid that is not in the passwd database costs it ~10x more per event (measured here).
[[ -n $audit_uid ]] || audit_uid=$(getent passwd nobody | cut -d: -f3)
audit_uid=${audit_uid:-65534}
for v in runs open_n exec_n seccomp_div tp_n tp_runs producers audit_uid; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || bench_die "--${v//_/-} must be a positive integer"
done
[[ $warmup =~ ^[0-9]+$ ]] || bench_die "--warmup must be >= 0"
for p in $parts; do
    case $p in sandbox | host | floor | throughput | drain | auditd) ;; *) bench_die "unknown part '$p' (sandbox host floor throughput drain auditd)" ;; esac
done
want() { [[ " $parts " == *" $1 "* ]]; }
((BASH_VERSINFO[0] >= 5)) || bench_die "needs bash >= 5 (for \$EPOCHREALTIME)"
[[ $(id -u) == 0 ]] || bench_die "needs root (mxcd loads eBPF probes; auditctl)"
for t in jq gcc awk; do command -v "$t" >/dev/null || bench_die "needs $t"; done
[[ -n $mxc && -z $mxcd || -z $mxc && -n $mxcd ]] && bench_die "--mxc and --mxcd go together"

first_error() { grep -v -e '^[[:space:]]*$' -e '^{"audit"' "$1" 2>/dev/null | head -n 3 | tr '\n' ' ' | sed 's/ *$//'; }
load0=$(cut -d' ' -f1-3 /proc/loadavg)
broke=0          # set when a run itself broke: the exit status
declare -a findings=()
finding() { findings+=("$*"); bench_log "$*"; }

# --- binaries -----------------------------------------------------------------------------------
# Like the other benches, a release build of its own (build-bench-audit), so that the debug
# build others work in is neither measured nor disturbed. ninja rebuilds only what changed.
if [[ -z $mxc ]]; then
    bdir=${bdir:-$repo/build-bench-audit}
    if ((build)); then
        if [[ ! -f $bdir/build.ninja ]]; then
            bench_log "meson setup $bdir --buildtype=release -Dtests=false"
            meson setup "$bdir" "$repo" --buildtype=release -Dtests=false >"${TMPDIR:-/tmp}/audit-bench-meson.$$.log" 2>&1 ||
                bench_die "meson setup failed: $(tail -n 3 "${TMPDIR:-/tmp}/audit-bench-meson.$$.log" | tr '\n' ' ')"
        fi
        bench_log "ninja -C $bdir src/cli/mxc src/daemon/mxcd"
        ninja -C "$bdir" src/cli/mxc src/daemon/mxcd >"${TMPDIR:-/tmp}/audit-bench-ninja.$$.log" 2>&1 ||
            bench_die "build failed: $(grep -m 3 -E 'error|FAILED' "${TMPDIR:-/tmp}/audit-bench-ninja.$$.log" | tr '\n' ' ')"
        rm -f "${TMPDIR:-/tmp}/audit-bench-meson.$$.log" "${TMPDIR:-/tmp}/audit-bench-ninja.$$.log"
    fi
    mxc=$bdir/src/cli/mxc mxcd=$bdir/src/daemon/mxcd
fi
[[ -x $mxc ]] || bench_die "no mxc at $mxc"
[[ -x $mxcd ]] || bench_die "no mxcd at $mxcd (was the build configured with -Dbpf=enabled deps: clang, bpftool, libbpf?)"

# --- work dir, cleanup --------------------------------------------------------------------------
# Not under /tmp: the agent sandbox has a private /tmp. Mode 0755 so that the auditd loops,
# which run as --audit-uid, can reach the workload and its file.
work=$(mktemp -d /var/tmp/mxc-audit-bench.XXXXXX) || bench_die "mktemp failed"
chmod 0755 "$work"
ws=$work/workspace    # the sandboxes' workspace and cwd
mkdir -p "$ws" "$work/root" "$work/mxc-state" "$work/logs" "$work/samples" || bench_die "mkdir in $work failed"
echo "an existing file" >"$ws/target"
chmod 0644 "$ws/target"
target=$ws/target missing=$ws/missing-file
noaudit_profile=$work/agent-noaudit.yaml
printf 'extends: agent\naudit: off\n' >"$noaudit_profile"
sock=$work/mxcd.sock nosock=$work/no-mxcd.sock
pin=/sys/fs/bpf/mxc-audit-bench-$$
prefix="aobench-$$-"
[[ -n $csv ]] && echo "part,config,round,loop_ns,n,cpu_ns" >"$csv"

# The workload: tests/bench/audit_loop.c, static (no ld.so/libc opens inside its loops).
loop_bin=$work/audit_loop
[[ -n $bdir ]] && loop_bin=$bdir/audit_loop
gcc -O2 -static -Wall -o "$loop_bin" "$here/audit_loop.c" 2>"$work/logs/gcc.log" ||
    bench_die "gcc -static audit_loop.c failed (libc6-dev?): $(first_error "$work/logs/gcc.log")"
chmod 0755 "$loop_bin"

# The floor: empty programs on sys_enter/sys_exit (tests/bench/probe_floor.bpf.c), loaded by
# tests/bench/probe_floor.c.
# The path floor: the least a probe that records the opened path costs on the same hooks
# (tests/bench/probe_pathfloor.bpf.c: openat of the loop's comm, path read into a ring buffer
# that probe_floor drains; x86_64, built against this kernel's BTF).
floor_obj=$work/probe_floor.bpf.o floor_bin=$work/probe_floor floor_pid=""
pathfloor_obj=$work/probe_pathfloor.bpf.o have_pathfloor=0
if want floor; then
    if ! clang -O2 -g -target bpf -I"/usr/include/$(gcc -dumpmachine)" -c "$here/probe_floor.bpf.c" \
        -o "$floor_obj" 2>"$work/logs/floor-build.log" ||
        ! gcc -O2 -Wall -o "$floor_bin" "$here/probe_floor.c" -lbpf 2>>"$work/logs/floor-build.log"; then
        finding "floor not measured: building probe_floor failed (clang, libbpf-dev?): $(first_error "$work/logs/floor-build.log")"
        parts=${parts//floor/}
    elif [[ $(uname -m) != x86_64 ]]; then
        finding "path floor not measured: its probe reads x86_64 registers"
    elif ! bpftool btf dump file /sys/kernel/btf/vmlinux format c >"$work/vmlinux.h" 2>>"$work/logs/floor-build.log" ||
        ! clang -O2 -g -target bpf -D__TARGET_ARCH_x86 -I"$work" -I"/usr/include/$(gcc -dumpmachine)" \
            -c "$here/probe_pathfloor.bpf.c" -o "$pathfloor_obj" 2>>"$work/logs/floor-build.log"; then
        finding "path floor not measured: building probe_pathfloor failed (bpftool, BTF?): $(first_error "$work/logs/floor-build.log")"
    else
        have_pathfloor=1
    fi
fi

mxcd_pid="" idle_pid="" auditd_pid="" perf_pid="" floor_links0=0 audit_saved="" audit_rules_added=0
# auditd state to put back (part 4): rules of ours, an auditd we started, enabled/backlog_limit.
auditd_note="" auditd_started=0 auditd_ours=0 auditd_lost=""
declare -a audit_syscalls=()
auditd_restore() {
    ((audit_rules_added)) && { auditctl -D -k mxc-audit-bench >/dev/null 2>&1; audit_rules_added=0; }
    if ((auditd_started)) && [[ -n $auditd_pid ]]; then
        kill -TERM "$auditd_pid" 2>/dev/null
        local i
        for ((i = 0; i < 100; i++)); do [[ -d /proc/$auditd_pid ]] || break; sleep 0.1; done
        auditd_pid="" auditd_started=0
    fi
    if [[ -n $audit_saved ]]; then
        local e b
        read -r e b <<<"$audit_saved"
        auditctl -b "$b" >/dev/null 2>&1
        auditctl -e "$e" >/dev/null 2>&1
        audit_saved=""
    fi
}
audit_status() { auditctl -s 2>/dev/null | awk -v k="$1" '$1 == k { print $2 }'; }
on_exit() {
    local rc=$?
    [[ -n $perf_pid ]] && kill -TERM "$perf_pid" 2>/dev/null
    [[ -n $floor_pid ]] && kill -TERM "$floor_pid" 2>/dev/null
    stop_idle
    mxcd_stop quiet
    auditd_restore
    rmdir "$pin" 2>/dev/null || true
    local id d
    for id in $("$mxc" --root "$work/root" list -q 2>/dev/null); do
        finding "sandbox $id still listed at the end (deleted by the bench)"
        "$mxc" --root "$work/root" delete --force "$id" >/dev/null 2>&1 || true
    done
    while IFS= read -r d; do
        finding "cgroup $d left behind (removed by the bench)"
        rmdir "$d" 2>/dev/null || true
    done < <(find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -name "${prefix}*" 2>/dev/null | sort -r)
    if ((keep_tmp)); then bench_log "kept $work"; else rm -rf "$work"; fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# --- mxcd ---------------------------------------------------------------------------------------
# mxcd_start AUDIT_DIR: a daemon of our own (own socket, dirs and pin dir: a fresh load of the
# probes with the default ring unless --ring-bytes). mxcd_stop: SIGTERM (it drains the ring and
# writes final checkpoints), wait for it, then --unload: no probe of ours stays loaded.
mxcd_start() {
    local audit=$1 i
    mkdir -p "$audit" "$work/mxcd-state" "$work/mxcd-run"
    rm -f "$work/mxcd.pid"
    # shellcheck disable=SC2086
    "$mxcd" --socket "$sock" --audit-dir "$audit" --state-dir "$work/mxcd-state" --run-dir "$work/mxcd-run" \
        --pin-dir "$pin" ${ring_bytes:+--ring-bytes $ring_bytes} --log "$work/logs/mxcd.log" \
        --daemon --pid-file "$work/mxcd.pid" </dev/null >>"$work/logs/mxcd.out" 2>&1 ||
        { bench_log "mxcd failed to start: $(tail -n 3 "$work/logs/mxcd.out" "$work/logs/mxcd.log" 2>/dev/null | tr '\n' ' ')"; return 1; }
    for ((i = 0; i < 50; i++)); do
        [[ -s $work/mxcd.pid ]] && break
        sleep 0.1
    done
    mxcd_pid=$(cat "$work/mxcd.pid" 2>/dev/null)
    [[ -n $mxcd_pid && -d /proc/$mxcd_pid ]] || { bench_log "mxcd: no pid file"; return 1; }
}
mxcd_stop() {
    local i
    if [[ -n $mxcd_pid ]]; then
        kill -TERM "$mxcd_pid" 2>/dev/null
        for ((i = 0; i < 300 && ${#mxcd_pid} > 0; i++)); do
            [[ -d /proc/$mxcd_pid ]] || break
            sleep 0.1
        done
        if [[ -d /proc/$mxcd_pid ]]; then
            finding "mxcd $mxcd_pid did not exit within 30 s of SIGTERM; killed"
            kill -KILL "$mxcd_pid" 2>/dev/null
            sleep 0.5
        fi
        mxcd_pid=""
    fi
    if [[ -d $pin ]] && [[ -n $(ls -A "$pin" 2>/dev/null) ]]; then
        "$mxcd" --unload --pin-dir "$pin" >>"$work/logs/mxcd.log" 2>&1 ||
            { [[ ${1:-} == quiet ]] || bench_log "mxcd --unload failed: $(tail -n 2 "$work/logs/mxcd.log" | tr '\n' ' ')"; }
    fi
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
clk_tck=$(getconf CLK_TCK)

# Tracepoint links on sys_enter/sys_exit that are not ours (another mxcd, other tracers): they
# tax every syscall of the host and would blur the "no probes" baseline. Counted per round.
have_bpftool=0; command -v bpftool >/dev/null && have_bpftool=1
sys_links() {
    ((have_bpftool)) || { echo 0; return; }
    bpftool -j link list 2>/dev/null | jq '[.[] | select(.tp_name == "sys_enter" or .tp_name == "sys_exit")] | length' 2>/dev/null || echo 0
}
# Ours: the links pinned under $pin.
our_sys_links() { find "$pin" -name 'link_sys_e*' 2>/dev/null | wc -l; }
foreign_links() { echo $(($(sys_links) - $(our_sys_links))); }

# --- running the workload -----------------------------------------------------------------------
# run_sbx CONFIG LOG -- LOOP ARGS: the workload in an agent sandbox. CONFIG: bpf (audited by our
# mxcd), off (profile extends agent with audit: off), seccomp (--audit-backend seccomp). Checks
# from the --json summary that the run used the backend it was meant to. Sets LOOP_NS, LOOP_N,
# RUN_ERR (empty when fine).
LOOP_NS="" LOOP_N="" LOOP_CPU="" RUN_ERR=""
run_sbx() {
    local cfg=$1 log=$2 id=$3; shift 4
    local -a a=()
    local s=$nosock want
    case $cfg in
    bpf) a=(--audit-backend mxcd) s=$sock want=bpf ;;
    off) a=(--profile "$noaudit_profile") want=off ;;
    seccomp) a=(--audit-backend seccomp) want=seccomp-notify ;;
    esac
    (cd "$ws" && MXC_STATE_DIR=$work/mxc-state MXC_MXCD_SOCKET=$s \
        "$mxc" --root "$work/root" run --json --name "$id" "${a[@]}" -- "$@" </dev/null >"$log.out" 2>"$log.err")
    local rc=$?
    parse_loop "$log.out"
    RUN_ERR=""
    local got
    got=$(grep -o '{"audit".*' "$log.err" | tail -n 1 | jq -r '.audit.backend' 2>/dev/null)
    if ((rc != 0)); then
        RUN_ERR="mxc run exit $rc: $(first_error "$log.err")"
    elif [[ -z $LOOP_NS ]]; then
        RUN_ERR="no loop_ns in output: $(first_error "$log.err")"
    elif [[ $got != "$want" ]]; then
        RUN_ERR="audit backend '$got', expected '$want'"
    fi
}
run_host() { # run_host LOG [--uid U] LOOP ARGS: the workload on the host
    local log=$1; shift
    "$loop_bin" "$@" </dev/null >"$log.out" 2>"$log.err"
    local rc=$?
    parse_loop "$log.out"
    RUN_ERR=""
    ((rc == 0)) && [[ -n $LOOP_NS ]] || RUN_ERR="audit_loop exit $rc: $(first_error "$log.err")"
}
parse_loop() { # "loop_ns=W n=N cpu_ns=C" -> LOOP_NS LOOP_N LOOP_CPU
    LOOP_NS="" LOOP_N="" LOOP_CPU=""
    local l
    l=$(grep -m 1 '^loop_ns=' "$1" 2>/dev/null) || return 0
    read -r LOOP_NS LOOP_N LOOP_CPU <<<"$(sed -E 's/loop_ns=([0-9]+) n=([0-9]+) cpu_ns=([0-9]+).*/\1 \2 \3/' <<<"$l")"
}

# sample PART CONFIG ROUND: file the last run's result (ROUND < 0: warm-up, dropped).
declare -A nfail=() firsterr=() rtime=()
sample() {
    local key=$1.$2 r=$3
    if [[ -n $RUN_ERR ]]; then
        nfail[$key]=$((${nfail[$key]:-0} + 1))
        firsterr[$key]=${firsterr[$key]:-$RUN_ERR}
        bench_log "  $key FAILED: $RUN_ERR"
        broke=1
        return
    fi
    # per-iteration time in ns, an integer for bench_stats (whose awk may print %d in 32 bits)
    local ns=$((LOOP_NS / LOOP_N)) cpu=$((LOOP_CPU / LOOP_N))
    bench_log "  $key: $(us "$ns") us/iter, CPU $(us "$cpu") us/iter ($(bench_ms $((LOOP_NS / 1000))) ms for $LOOP_N)"
    ((r < 0)) && return 0
    echo "$r $ns" >>"$work/samples/$key"
    echo "$r $cpu" >>"$work/samples/$key.cpu"
    rtime["$key,$r"]=$ns
    [[ -n $csv ]] && echo "$1,$2,$r,$LOOP_NS,$LOOP_N,$LOOP_CPU" >>"$csv"
    return 0
}

# The idle audited sandbox that keeps a registration in the probes' filter while the host loop runs.
start_idle() {
    local id=${prefix}idle-$1 i
    (cd "$ws" && MXC_STATE_DIR=$work/mxc-state MXC_MXCD_SOCKET=$sock exec "$mxc" --root "$work/root" run --quiet \
        --audit-backend mxcd --name "$id" -- sleep 1000 </dev/null >"$work/logs/idle.out" 2>"$work/logs/idle.err") &
    idle_pid=$!
    for ((i = 0; i < 100; i++)); do
        "$mxcd" --status --socket "$sock" 2>/dev/null | jq -e --arg id "$id" '.sandboxes[] | select(.sandbox == $id)' >/dev/null 2>&1 && return 0
        kill -0 "$idle_pid" 2>/dev/null || break
        sleep 0.1
    done
    bench_log "idle sandbox did not register: $(first_error "$work/logs/idle.err")"
    return 1
}
stop_idle() {
    [[ -n $idle_pid ]] || return 0
    kill -TERM "$idle_pid" 2>/dev/null
    wait "$idle_pid" 2>/dev/null
    idle_pid=""
}

# floor_start [OBJ COMM]: the empty programs (or OBJ's, recording COMM's opens) attached
# (probe_floor prints "attached N" once they are); floor_stop: the process ends, and with it its
# links; waits until the kernel has let them go.
floor_start() {
    local i
    floor_links0=$(sys_links)
    mkfifo "$work/floor.fifo" || return 1
    "$floor_bin" "${1:-$floor_obj}" ${2:+"$2"} <"$work/floor.fifo" >"$work/logs/floor.out" 2>"$work/logs/floor.err" &
    floor_pid=$!
    exec {floor_fd}>"$work/floor.fifo"
    for ((i = 0; i < 100; i++)); do
        grep -q '^attached 2' "$work/logs/floor.out" 2>/dev/null && return 0
        kill -0 "$floor_pid" 2>/dev/null || break
        sleep 0.05
    done
    bench_log "probe_floor did not attach: $(first_error "$work/logs/floor.err")"
    floor_stop
    return 1
}
floor_stop() {
    local i
    [[ -n $floor_pid ]] || return 0
    [[ -n ${floor_fd:-} ]] && exec {floor_fd}>&-
    wait "$floor_pid" 2>/dev/null
    floor_pid="" floor_fd=""
    rm -f "$work/floor.fifo"
    for ((i = 0; i < 100; i++)); do
        (($(sys_links) <= floor_links0)) && return 0
        sleep 0.02
    done
    finding "probe_floor's links were still attached 2 s after it exited"
}

pct() { awk -v r="$1" 'BEGIN { if (r == "n/a") print "n/a"; else printf "%+.1f %%", (r - 1) * 100 }'; }
us() { awk -v x="$1" 'BEGIN { printf "%.2f", x / 1e3 }'; } # ns -> us

# stats over the clean rounds (no foreign sys_enter/sys_exit probes) when there are >= 3 of them
declare -A foreign=()
# use_round KEY ROUND: the foreign-probe flags belong to the sandbox/host rounds only.
use_round() { [[ $1 == a* ]] || ((${#clean_rounds[@]} < 3)) || [[ -z ${foreign[$2]:-} ]]; }
median_of() { # median_of KEY -> median ns per iteration ("" if none)
    local f=$work/samples/$1
    [[ -s $f ]] || return 0
    local r v
    : >"$f.use"
    while read -r r v; do use_round "$1" "$r" && echo "$v" >>"$f.use"; done <"$f"
    [[ -s $f.use ]] || return 0
    bench_stats "$f.use" | awk '{ print $2 }'
}
n_of() { [[ -s $work/samples/$1.use ]] && wc -l <"$work/samples/$1.use" || echo 0; }
paired_median() { # paired_median KEY_A KEY_B -> median of per-round ratios A/B
    local r f=$work/paired.$1.$2
    : >"$f"
    for ((r = 0; r < runs; r++)); do
        use_round "$1" "$r" || continue
        [[ -n ${rtime["$1,$r"]:-} && -n ${rtime["$2,$r"]:-} ]] &&
            awk -v x="${rtime["$1,$r"]}" -v y="${rtime["$2,$r"]}" 'BEGIN { printf "%d\n", 1e6 * x / y }' >>"$f"
    done
    [[ -s $f ]] || { echo n/a; return; }
    bench_stats "$f" | awk '{ printf "%.3f", $2 / 1e6 }'
}
ratio3() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.3f", a / b; else printf "n/a" }'; }

foreign_at_start=$(foreign_links)
kernel=$(uname -r)

# =================================================================================================
# Part 1+2: in-sandbox loops (bpf / off / seccomp) and host loop (probes loaded / not loaded)
# Each round has two phases in alternating order:
#   ON : our mxcd running with an idle audited sandbox registered; host loop; sandbox bpf loops
#   OFF: mxcd stopped and --unload'ed; host loop; sandbox off loops; sandbox seccomp loops
# =================================================================================================
clean_rounds=() perf_open=""
if want sandbox || want host || want floor; then
    sc_n=$((open_n / seccomp_div)); ((sc_n > 0)) || sc_n=1
    bench_log "sandbox/host: $runs rounds (+$warmup warm-up); open/close x$open_n, exec x$exec_n, seccomp open/close x$sc_n"
    phase_on() {
        local r=$1
        mxcd_start "$work/audit-rounds" || { broke=1; RUN_ERR="mxcd did not start"; return 1; }
        # probes loaded, no sandbox registered: the filter stops at its first test
        if want host; then run_host "$work/logs/host-loaded" openclose "$open_n" "$target"; sample host loaded "$r"; fi
        start_idle "$((r + warmup))" || { broke=1; RUN_ERR="idle sandbox"; }
        local f; f=$(foreign_links); ((f > 0)) && foreign[$r]+="on:$f "
        if want host; then run_host "$work/logs/host-on" openclose "$open_n" "$target"; sample host on "$r"; fi
        if want sandbox; then
            run_sbx bpf "$work/logs/sbx-bpf-open" "${prefix}bo$((r + warmup))" -- "$loop_bin" openclose "$open_n" "$target"
            sample open bpf "$r"
            run_sbx bpf "$work/logs/sbx-bpf-exec" "${prefix}be$((r + warmup))" -- "$loop_bin" spawn "$exec_n" /bin/true
            sample exec bpf "$r"
        fi
        f=$(foreign_links); ((f > 0)) && foreign[$r]+="on-end:$f "
        stop_idle
        mxcd_stop
        [[ -z $(ls -A "$pin" 2>/dev/null) ]] || { finding "round $r: pins left under $pin after --unload"; broke=1; }
    }
    phase_off() {
        local r=$1 f
        f=$(foreign_links); ((f > 0)) && foreign[$r]+="off:$f "
        if want host; then run_host "$work/logs/host-off" openclose "$open_n" "$target"; sample host off "$r"; fi
        if want sandbox; then
            run_sbx off "$work/logs/sbx-off-open" "${prefix}oo$((r + warmup))" -- "$loop_bin" openclose "$open_n" "$target"
            sample open off "$r"
            run_sbx off "$work/logs/sbx-off-exec" "${prefix}oe$((r + warmup))" -- "$loop_bin" spawn "$exec_n" /bin/true
            sample exec off "$r"
            run_sbx seccomp "$work/logs/sbx-sc-open" "${prefix}so$((r + warmup))" -- "$loop_bin" openclose "$sc_n" "$target"
            sample open seccomp "$r"
            run_sbx seccomp "$work/logs/sbx-sc-exec" "${prefix}se$((r + warmup))" -- "$loop_bin" spawn "$exec_n" /bin/true
            sample exec seccomp "$r"
        fi
        f=$(foreign_links); ((f > 0)) && foreign[$r]+="off-end:$f "
        # After the foreign-probe check: these links are the floor's, not foreign.
        if want floor; then
            if floor_start; then
                run_host "$work/logs/host-floor" openclose "$open_n" "$target"; sample host floor "$r"
                run_sbx off "$work/logs/sbx-floor-open" "${prefix}fo$((r + warmup))" -- "$loop_bin" openclose "$open_n" "$target"
                sample open floor "$r"
                floor_stop
            else
                broke=1
            fi
            if ((have_pathfloor)); then
                if floor_start "$pathfloor_obj" "$(basename "$loop_bin")"; then
                    run_sbx off "$work/logs/sbx-pathfloor-open" "${prefix}po$((r + warmup))" -- "$loop_bin" openclose "$open_n" "$target"
                    sample open pathfloor "$r"
                    floor_stop
                else
                    broke=1
                fi
            fi
        fi
    }
    for ((r = -warmup; r < runs; r++)); do
        bench_log "round $((r + 1))/$runs$( ((r < 0)) && echo " (warm-up)"), load $(cut -d' ' -f1 /proc/loadavg)"
        if (((r + warmup) % 2 == 0)); then phase_on "$r"; phase_off "$r"; else phase_off "$r"; phase_on "$r"; fi
        if ((r >= 0)); then
            if [[ -z ${foreign[$r]:-} ]]; then clean_rounds+=("$r"); else bench_log "  foreign sys_enter/exit probes during this round: ${foreign[$r]}"; fi
        fi
        rm -rf "$work/audit-rounds"   # the streams of the audited runs: not needed
    done
    # --perf: one more (unmeasured) audited open/close loop under a system-wide profile: where the
    # time goes, in the sandbox's process (the probes run there) and in mxcd.
    if ((do_perf)) && want sandbox && command -v perf >/dev/null && mxcd_start "$work/audit-rounds"; then
        perf record -a -g -F 999 -o "$work/perf-open.data" >"$work/logs/perf-open.log" 2>&1 &
        perf_pid=$!
        sleep 0.5
        run_sbx bpf "$work/logs/sbx-bpf-perf" "${prefix}perf" -- "$loop_bin" openclose "$open_n" "$target"
        kill -TERM "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null; perf_pid=""
        mxcd_stop
        rm -rf "$work/audit-rounds"
        # the workload's process (the probes run in its syscalls) and mxcd only; no idle, no others
        perf_open=$( {
            perf report -i "$work/perf-open.data" --stdio --no-children -g none --comms audit_loop,mxcd --sort comm 2>/dev/null |
                grep -E '^ +[0-9.]+%'
            echo
            perf report -i "$work/perf-open.data" --stdio --no-children -g none --comms audit_loop,mxcd --sort comm,dso,symbol 2>/dev/null |
                grep -E '^ +[0-9.]+%' | head -n 25
        } | perl -pe '1 while s/<[^<>]*>//g; s/ {2,}/  /g; s/(\s+-)*\s+$/\n/')
    fi
fi

# =================================================================================================
# Part 3: collector throughput. A fresh mxcd (fresh probes, default 32 MiB ring unless
# --ring-bytes), one sandbox doing --tp-n failed opens as fast as it can.
# =================================================================================================
declare -a tp_rate=() tp_rec=() tp_lost=() tp_unacc=() tp_cpu=() tp_prod=() tp_e2e=() tp_lag=() tp_err=()
perf_top=""
if want throughput; then
    for ((t = 0; t < tp_runs; t++)); do
        tpa=$work/audit-tp$t id=${prefix}tp$t
        bench_log "throughput run $((t + 1))/$tp_runs: $tp_n failed opens in sandbox $id ($producers producer(s))"
        if ! mxcd_start "$tpa"; then broke=1; tp_err+=("mxcd did not start"); continue; fi
        if ((do_perf && t == 0)) && command -v perf >/dev/null; then
            perf record -F 499 -g -p "$mxcd_pid" -o "$work/perf.data" >"$work/logs/perf.log" 2>&1 &
            perf_pid=$!
            sleep 0.5
        fi
        c0=$(cpu_ticks "$mxcd_pid")
        if ((producers == 1)); then
            run_sbx bpf "$work/logs/tp$t" "$id" -- "$loop_bin" failopen "$tp_n" "$missing"
        else
            per=$((tp_n / producers))
            # shellcheck disable=SC2016  # expanded by the sandbox's sh
            run_sbx bpf "$work/logs/tp$t" "$id" -- /bin/sh -c \
                'p=$1 n=$2 f=$3 b=$4; i=0; while [ $i -lt $p ]; do "$b" failopen $n $f & i=$((i+1)); done; wait' \
                sh "$producers" "$per" "$missing" "$loop_bin"
            LOOP_NS=$(grep '^loop_ns=' "$work/logs/tp$t.out" | sed 's/loop_ns=//; s/ .*//' | sort -n | tail -n 1)
            LOOP_N=$tp_n
        fi
        c1=$(cpu_ticks "$mxcd_pid")
        if [[ -n $perf_pid ]]; then kill -TERM "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null; perf_pid=""; fi
        mxcd_stop
        if [[ -n $RUN_ERR ]]; then broke=1; tp_err+=("$RUN_ERR"); bench_log "  FAILED: $RUN_ERR"; continue; fi
        # The stream: every record of the failed opens names $missing. Times are the events'
        # (the kernel's clock when the syscall ran), so last - first is the span of the recorded
        # events; the unregister record is stamped by mxcd when it wrote it (after draining).
        stream=$tpa/default
        read -r rec tfirst tlast < <(cat "$stream"/seg-*.jsonl | grep -F "\"path\":\"$missing\"" | awk '
            { n++; i = index($0, "\"time\":\""); t = substr($0, i + 8, 30); sub(/".*/, "", t)
              if (n == 1 || t < lo) lo = t; if (n == 1 || t > hi) hi = t }
            END { printf "%d %s %s\n", n, (n ? lo : "-"), (n ? hi : "-") }')
        lost=$(cat "$stream"/seg-*.jsonl | grep -F '"kind":"loss"' | grep -o '"lost":[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }')
        tunreg=$(cat "$stream"/seg-*.jsonl | grep -F '"op":"unregister"' | grep -F "\"sandbox\":\"$id\"" | grep -o '"time":"[^"]*"' | tail -n 1 | cut -d'"' -f4)
        ns_of() { date -u -d "$1" +%s%N; }
        if ((rec > 1)); then
            span=$(($(ns_of "$tlast") - $(ns_of "$tfirst")))
            rate=$(awk -v n="$rec" -v s="$span" 'BEGIN { printf "%d", (n - 1) / (s / 1e9) }')
            e2e=$(awk -v n="$rec" -v s="$(($(ns_of "$tunreg") - $(ns_of "$tfirst")))" 'BEGIN { printf "%d", n / (s / 1e9) }')
            lag=$((($(ns_of "$tunreg") - $(ns_of "$tlast")) / 1000000))
        else
            rate=0 e2e=0 lag=0
        fi
        cpu=$(awk -v t=$((c1 - c0)) -v h="$clk_tck" 'BEGIN { printf "%.2f", t / h }')
        prod=$(awk -v n="$LOOP_N" -v ns="$LOOP_NS" 'BEGIN { printf "%d", n / (ns / 1e9) }')
        tp_rate+=("$rate") tp_rec+=("$rec") tp_lost+=("$lost") tp_unacc+=("$((tp_n - rec - lost))") tp_cpu+=("$cpu")
        tp_prod+=("$prod") tp_e2e+=("$e2e") tp_lag+=("$lag")
        bench_log "  recorded $rec, lost $lost, unaccounted $((tp_n - rec - lost)); $rate events/s over the recorded events' span; producer $prod opens/s; mxcd CPU ${cpu}s; unregister $lag ms after the last event"
        [[ -n $csv ]] && echo "throughput,bpf,$t,$LOOP_NS,$LOOP_N,${LOOP_CPU:-}" >>"$csv"
        ((keep_tmp)) || rm -rf "$tpa"
    done
    if [[ -s $work/perf.data ]]; then
        # self time per symbol; C++ template arguments dropped, padding squeezed
        perf_top=$(perf report -i "$work/perf.data" --stdio --no-children -g none --sort dso,symbol 2>/dev/null |
            grep -E '^ +[0-9.]+%' | head -n 15 | perl -pe '1 while s/<[^<>]*>//g; s/ {2,}/  /g; s/(\s+-)*\s+$/\n/')
    fi
fi

# =================================================================================================
# Part 3b: the collector alone. The sandbox registers, mxcd is stopped (SIGSTOP), the workload
# makes --drain-n failed opens into a ring big enough to hold them all, then mxcd continues
# (SIGCONT) and drains. events/s = recorded / (unregister record's time - SIGCONT): mxcd writes
# the unregister record after draining the ring. No producer competes for the CPUs, so this is
# the collector's own rate; the throughput part above shows it sharing the 2 CPUs.
# =================================================================================================
declare -a dr_rate=() dr_rec=() dr_lost=() dr_unacc=() dr_cpu=() dr_err=()
if want drain; then
    need=$((drain_n * 640 + (4 << 20))) drain_ring=$((1 << 20))
    while ((drain_ring < need)); do drain_ring=$((drain_ring * 2)); done
    for ((t = 0; t < drain_runs; t++)); do
        dra=$work/audit-drain$t id=${prefix}drain$t
        bench_log "drain run $((t + 1))/$drain_runs: $drain_n failed opens buffered in a $drain_ring-byte ring while mxcd is stopped"
        saved_ring=$ring_bytes ring_bytes=$drain_ring
        if ! mxcd_start "$dra"; then ring_bytes=$saved_ring; broke=1; dr_err+=("mxcd did not start"); continue; fi
        ring_bytes=$saved_ring
        rm -f "$ws/go"; mkfifo "$ws/go"
        log=$work/logs/drain$t
        # shellcheck disable=SC2016  # expanded by the sandbox's sh
        (cd "$ws" && MXC_STATE_DIR=$work/mxc-state MXC_MXCD_SOCKET=$sock exec "$mxc" --root "$work/root" run --json \
            --audit-backend mxcd --name "$id" -- /bin/sh -c 'read x <go; exec "$1" failopen "$2" "$3"' sh \
            "$loop_bin" "$drain_n" "$missing" </dev/null >"$log.out" 2>"$log.err") &
        run_pid=$!
        ok=0
        for ((i = 0; i < 100; i++)); do
            "$mxcd" --status --socket "$sock" 2>/dev/null | jq -e --arg id "$id" '.sandboxes[] | select(.sandbox == $id)' >/dev/null 2>&1 && { ok=1; break; }
            kill -0 "$run_pid" 2>/dev/null || break
            sleep 0.1
        done
        if ((!ok)); then
            kill -TERM "$run_pid" 2>/dev/null; echo x >"$ws/go" & sleep 0.2; kill %+ 2>/dev/null
            wait "$run_pid" 2>/dev/null; mxcd_stop
            broke=1; dr_err+=("sandbox did not register: $(first_error "$log.err")"); continue
        fi
        kill -STOP "$mxcd_pid"
        echo go >"$ws/go"
        for ((i = 0; i < 600; i++)); do
            grep -q '^loop_ns=' "$log.out" 2>/dev/null && break
            kill -0 "$run_pid" 2>/dev/null || break
            sleep 0.1
        done
        sleep 0.2 # the loop's exit and the runtime's last steps before unregister
        if ((do_perf && t == 0)) && command -v perf >/dev/null; then
            perf record -F 999 -g -p "$mxcd_pid" -o "$work/perf-drain.data" >"$work/logs/perf-drain.log" 2>&1 &
            perf_pid=$!
            sleep 0.5
        fi
        c0=$(cpu_ticks "$mxcd_pid")
        t0=$(($(date +%s%N)))
        kill -CONT "$mxcd_pid"
        wait "$run_pid"
        rc=$?
        c1=$(cpu_ticks "$mxcd_pid")
        if [[ -n $perf_pid ]]; then kill -INT "$perf_pid" 2>/dev/null; wait "$perf_pid" 2>/dev/null; perf_pid=""; fi
        mxcd_stop
        rm -f "$ws/go"
        if ((rc != 0)); then broke=1; dr_err+=("mxc run exit $rc: $(first_error "$log.err")"); continue; fi
        stream=$dra/default
        rec=$(cat "$stream"/seg-*.jsonl | grep -cF "\"path\":\"$missing\"")
        lost=$(cat "$stream"/seg-*.jsonl | grep -F '"kind":"loss"' | grep -o '"lost":[0-9]*' | awk -F: '{ s += $2 } END { print s + 0 }')
        tunreg=$(cat "$stream"/seg-*.jsonl | grep -F '"op":"unregister"' | grep -F "\"sandbox\":\"$id\"" | grep -o '"time":"[^"]*"' | tail -n 1 | cut -d'"' -f4)
        t1=$(date -u -d "$tunreg" +%s%N)
        rate=$(awk -v n="$rec" -v s="$((t1 - t0))" 'BEGIN { if (s > 0) printf "%d", n / (s / 1e9); else print 0 }')
        cpu=$(awk -v t=$((c1 - c0)) -v h="$clk_tck" 'BEGIN { printf "%.2f", t / h }')
        dr_rate+=("$rate") dr_rec+=("$rec") dr_lost+=("$lost") dr_unacc+=("$((drain_n - rec - lost))") dr_cpu+=("$cpu")
        bench_log "  recorded $rec, lost $lost, unaccounted $((drain_n - rec - lost)); drained in $(((t1 - t0) / 1000000)) ms: $rate events/s; mxcd CPU ${cpu}s"
        ((keep_tmp)) || rm -rf "$dra"
    done
fi

# =================================================================================================
# Part 4: auditd with rules equivalent to what mxc records, for the loops run as --audit-uid on
# the host (the sandbox runs as uid 0 without CAP_SETUID, and a uid-0 rule would audit the whole
# host). Rounds alternate rules on / rules off; auditd runs throughout.
# =================================================================================================
if want auditd; then
    if ! command -v auditctl >/dev/null && ((install)) && command -v apt-get >/dev/null; then
        bench_log "auditd missing: apt-get install -y auditd"
        DEBIAN_FRONTEND=noninteractive apt-get install -y auditd >"$work/logs/apt.log" 2>&1 ||
            auditd_note="apt-get install -y auditd failed: $(tail -n 2 "$work/logs/apt.log" | tr '\n' ' ')"
    fi
    if [[ -z $auditd_note ]] && ! command -v auditctl >/dev/null; then auditd_note="auditd not installed (apt-get install -y auditd)"; fi
    if [[ -z $auditd_note ]] && ! auditctl -s >"$work/logs/auditctl-s.0" 2>&1; then
        auditd_note="auditctl -s fails (no kernel audit here?): $(first_error "$work/logs/auditctl-s.0")"
    fi
    if [[ -z $auditd_note ]]; then
        auditctl -l 2>/dev/null | grep -qv '^No rules' &&
            finding "auditd already had rules loaded; the comparison adds its own (key mxc-audit-bench) and removes only those"
        audit_saved="$(audit_status enabled) $(audit_status backlog_limit)"
        apid=$(audit_status pid)
        if [[ -n $apid && $apid != 0 ]]; then
            finding "auditd (pid $apid) was already running: used as it is, its log and settings untouched but the backlog limit"
        else
            # An auditd of our own, logging into the work dir, in the foreground so that we stop
            # exactly it. Debian's auditd.conf otherwise (flush INCREMENTAL_ASYNC, ENRICHED).
            mkdir -p "$work/auditd/plugins.d"
            sed -e "s|^log_file *=.*|log_file = $work/auditd/audit.log|" -e "s|^plugin_dir *=.*|plugin_dir = $work/auditd/plugins.d|" \
                /etc/audit/auditd.conf >"$work/auditd/auditd.conf"
            chmod 0640 "$work/auditd/auditd.conf"
            auditd -n -c "$work/auditd" >"$work/logs/auditd.log" 2>&1 &
            auditd_pid=$! auditd_started=1 auditd_ours=1
            for ((i = 0; i < 50; i++)); do
                [[ $(audit_status pid) == "$auditd_pid" ]] && break
                kill -0 "$auditd_pid" 2>/dev/null || break
                sleep 0.1
            done
            if [[ $(audit_status pid) != "$auditd_pid" ]]; then
                auditd_note="auditd did not start: $(first_error "$work/logs/auditd.log")"
                auditd_restore
            else
                finding "HOST CHANGE: kernel auditing was enabled (auditctl -e 1) for this part; restored to enabled=${audit_saved%% *} afterwards, but the kernel's audit_ever_enabled stays set until reboot: tasks created from now on take the syscall-audit entry/exit path"
            fi
        fi
    fi
    if [[ -z $auditd_note ]]; then
        auditctl -e 1 >/dev/null && auditctl -b 8192 >/dev/null   # 8192: Debian's audit.rules default
        # What mxc records (mxcd(8) Probes): exec, fork, exit; the file and network syscalls.
        for s in open openat openat2 creat truncate unlink unlinkat rename renameat renameat2 mkdir mkdirat rmdir \
            link linkat symlink symlinkat chmod fchmodat fchmodat2 chown lchown fchownat connect bind listen accept \
            accept4 sendto sendmsg execve execveat clone clone3 fork vfork exit exit_group; do
            if ausyscall "$s" --exact >/dev/null 2>&1; then audit_syscalls+=("$s")
            elif [[ $s == fchmodat2 && $(uname -m) == x86_64 ]]; then audit_syscalls+=(452)   # unknown to auditctl 3.0
            fi
        done
        # shellcheck disable=SC2054  # always,exit is one argument
        rule=(-a always,exit -F arch=b64 -S "$(IFS=,; echo "${audit_syscalls[*]}")" -F uid="$audit_uid" -k mxc-audit-bench)
        lost0=$(audit_status lost)
        bench_log "auditd: $runs rounds (+$warmup warm-up) as uid $audit_uid, rule: auditctl ${rule[*]}"
        audit_phase() { # audit_phase on|off ROUND
            if [[ $1 == on ]]; then
                auditctl "${rule[@]}" >"$work/logs/auditctl.log" 2>&1 ||
                    { auditd_note="auditctl -a failed: $(first_error "$work/logs/auditctl.log")"; broke=1; return 1; }
                audit_rules_added=1
            fi
            run_host "$work/logs/audit-$1-open" --uid "$audit_uid" openclose "$open_n" "$target"; sample aopen "$1" "$2"
            run_host "$work/logs/audit-$1-exec" --uid "$audit_uid" spawn "$exec_n" /bin/true; sample aexec "$1" "$2"
            if [[ $1 == on ]]; then auditctl -D -k mxc-audit-bench >/dev/null 2>&1; audit_rules_added=0; fi
            return 0
        }
        for ((r = -warmup; r < runs; r++)); do
            bench_log "auditd round $((r + 1))/$runs$( ((r < 0)) && echo " (warm-up)"), load $(cut -d' ' -f1 /proc/loadavg)"
            if (((r + warmup) % 2 == 0)); then audit_phase on "$r" && audit_phase off "$r"; else audit_phase off "$r" && audit_phase on "$r"; fi || break
        done
        auditd_lost=$(($(audit_status lost) - lost0))
        auditd_restore
    fi
    [[ -n $auditd_note ]] && bench_log "auditd comparison not measured: $auditd_note"
fi

# =================================================================================================
# Report
# =================================================================================================
((${#clean_rounds[@]} >= 3)) || clean_rounds=()
declare -A med=()
for k in host.on host.loaded host.off host.floor open.bpf open.off open.floor open.pathfloor open.seccomp exec.bpf exec.off exec.seccomp aopen.on aopen.off aexec.on aexec.off; do
    med[$k]=$(median_of "$k")
    med[$k.cpu]=$(median_of "$k.cpu")
done
# "R× (paired P×, CPU C×)" for the summary
fig() { echo "$(ratio3 "${med[$1]:-0}" "${med[$2]:-0}")× (paired $(paired_median "$1" "$2")×, CPU $(ratio3 "${med[$1.cpu]:-0}" "${med[$2.cpu]:-0}")×)"; }
declare -a summary=()
verdict() { awk -v x="$1" -v t="$2" -v op="$3" 'BEGIN { if (x == "n/a" || x == "") print "n/a"; else if ((op == "le" && x <= t) || (op == "ge" && x >= t)) print "PASS"; else print "MISS" }'; }
row() { summary+=("| $1 | $2 | $3 | $4 |"); }

echo
echo "## Audit overhead: mxcd's eBPF probes vs unaudited, seccomp-notify and auditd"
echo
echo "$(date -u +%Y-%m-%d), kernel $kernel, $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)),"
echo "load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "mxc: $mxc, mxcd: $mxcd (built $(date -u -r "$mxcd" '+%Y-%m-%d %H:%M UTC')), tree at $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?'); workload: tests/bench/audit_loop.c (static), time of the loop inside the program (CLOCK_MONOTONIC)."
echo "Rounds: $runs (+$warmup warm-up), phases ON/OFF alternating in order; medians per iteration (µs); ratio = ratio of the medians, paired = median of the per-round ratios;"
echo "CPU = user + system time of the workload's process (and its children) in the loop, from getrusage: the probes' own cost, without waiting for a CPU."
if ((have_bpftool)) && { want sandbox || want host; }; then
    nf=0; for ((r = 0; r < runs; r++)); do [[ -n ${foreign[$r]:-} ]] && nf=$((nf + 1)); done
    if ((nf > 0)); then
        if ((${#clean_rounds[@]})); then
            echo "Foreign sys_enter/sys_exit probes (another mxcd or tracer) were attached during $nf of $runs rounds; the figures use the ${#clean_rounds[@]} clean rounds."
        else
            echo "Foreign sys_enter/sys_exit probes (another mxcd or tracer) were attached during $nf of $runs rounds (fewer than 3 clean rounds: all rounds used; the OFF baselines carry their cost)."
        fi
    else
        echo "No foreign sys_enter/sys_exit probes were attached during the rounds."
    fi
fi
echo
if want sandbox || want host || want floor; then
    echo "| loop | where | audit | n | median µs/iter | ratio vs unaudited | paired | CPU µs/iter | CPU ratio |"
    echo "|---|---|---|---|---|---|---|---|---|"
    line() { # KEY BASEKEY loop where audit
        local m=${med[$1]:-} b=${med[$2]:-} mc=${med[$1.cpu]:-} bc=${med[$2.cpu]:-}
        [[ -n $m ]] || { echo "| $3 | $4 | $5 | 0 | failed | | | | |"; return; }
        if [[ $1 == "$2" ]]; then echo "| $3 | $4 | $5 | $(n_of "$1") | $(us "$m") | 1 | | $(us "$mc") | 1 |"; return; fi
        echo "| $3 | $4 | $5 | $(n_of "$1") | $(us "$m") | $(ratio3 "$m" "$b")× | $(paired_median "$1" "$2")× | $(us "$mc") | $(ratio3 "$mc" "$bc")× |"
    }
    if want sandbox; then
        line open.off open.off "open+close ×$open_n" "agent sandbox" "off"
        line open.bpf open.off "open+close ×$open_n" "agent sandbox" "mxcd (bpf)"
        line open.seccomp open.off "open+close ×$sc_n" "agent sandbox" "seccomp-notify"
        line exec.off exec.off "fork+exec ×$exec_n" "agent sandbox" "off"
        line exec.bpf exec.off "fork+exec ×$exec_n" "agent sandbox" "mxcd (bpf)"
        line exec.seccomp exec.off "fork+exec ×$exec_n" "agent sandbox" "seccomp-notify"
    fi
    if want host; then
        line host.off host.off "open+close ×$open_n" "host, no sandbox" "no probes loaded"
        line host.loaded host.off "open+close ×$open_n" "host, no sandbox" "probes loaded, no sandbox registered"
        line host.on host.off "open+close ×$open_n" "host, no sandbox" "probes loaded, 1 idle sandbox registered"
    fi
    if want floor; then
        line open.floor open.off "open+close ×$open_n" "agent sandbox" "off; empty sys_enter/exit programs (floor)"
        line host.floor host.off "open+close ×$open_n" "host, no sandbox" "empty sys_enter/exit programs (floor)"
        ((have_pathfloor)) && line open.pathfloor open.off "open+close ×$open_n" "agent sandbox" "off; a probe that only records the path (path floor)"
    fi
    echo
    if want sandbox; then
        r=$(ratio3 "${med[open.bpf]:-0}" "${med[open.off]:-0}"); row "open/close in sandbox, bpf ÷ off" "$(fig open.bpf open.off)" "≤ 1.10×" "$(verdict "$r" 1.10 le)"
        r=$(ratio3 "${med[exec.bpf]:-0}" "${med[exec.off]:-0}"); row "fork+exec in sandbox, bpf ÷ off" "$(fig exec.bpf exec.off)" "≤ 1.10×" "$(verdict "$r" 1.10 le)"
        row "open/close in sandbox, seccomp-notify ÷ off" "$(fig open.seccomp open.off)" "(info)" ""
        row "fork+exec in sandbox, seccomp-notify ÷ off" "$(fig exec.seccomp exec.off)" "(info)" ""
    fi
    if want host; then
        r=$(ratio3 "${med[host.on]:-0}" "${med[host.off]:-0}"); row "open/close on the host, probes loaded (1 sandbox registered) ÷ not" "$(fig host.on host.off)" "≤ 1.02×" "$(verdict "$r" 1.02 le)"
        row "open/close on the host, probes loaded, none registered ÷ not" "$(fig host.loaded host.off)" "(info)" ""
    fi
    if want floor; then
        row "floor: open/close in sandbox with empty sys_enter/exit programs ÷ off" "$(fig open.floor open.off)" "(info)" ""
        row "floor: open/close on the host with empty sys_enter/exit programs ÷ none" "$(fig host.floor host.off)" "(info)" ""
        want sandbox && row "open/close in sandbox, bpf ÷ floor (what mxc's probes add)" "$(fig open.bpf open.floor)" "(info)" ""
        ((have_pathfloor)) && row "path floor: open/close in sandbox, a probe that only records the path ÷ off" "$(fig open.pathfloor open.off)" "(info)" ""
        ((have_pathfloor)) && want sandbox && row "open/close in sandbox, bpf ÷ path floor" "$(fig open.bpf open.pathfloor)" "(info)" ""
        want host && row "open/close on the host, probes loaded (1 sandbox registered) ÷ floor" "$(fig host.on host.floor)" "(info)" ""
    fi
fi

if want throughput; then
    echo "### Collector throughput: $tp_n failed opens in one audited sandbox ($producers producer(s)), ring ${ring_bytes:-33554432 (default)} bytes"
    echo
    if ((${#tp_rate[@]})); then
        echo "| run | producer opens/s | recorded | lost (loss records) | unaccounted | events/s (recorded ÷ span of their times) | end-to-end events/s (first event → unregister written) | mxcd CPU s | events per mxcd CPU-s |"
        echo "|---|---|---|---|---|---|---|---|---|"
        : >"$work/tp.rate"
        unacc_all=0
        for ((t = 0; t < ${#tp_rate[@]}; t++)); do
            eps_cpu=$(awk -v n="${tp_rec[t]}" -v c="${tp_cpu[t]}" 'BEGIN { if (c > 0) printf "%d", n / c; else print "n/a" }')
            echo "| $((t + 1)) | ${tp_prod[t]} | ${tp_rec[t]} | ${tp_lost[t]} | ${tp_unacc[t]} | ${tp_rate[t]} | ${tp_e2e[t]} | ${tp_cpu[t]} | $eps_cpu |"
            echo "${tp_rate[t]}" >>"$work/tp.rate"
            ((tp_unacc[t] != 0)) && unacc_all=${tp_unacc[t]}
        done
        echo
        tpm=$(bench_stats "$work/tp.rate" | awk '{ print $2 }')
        row "collector events/s (median of ${#tp_rate[@]})" "$tpm" "≥ 500000" "$(verdict "$tpm" 500000 ge)"
        row "unaccounted loss (N − recorded − lost)" "$(IFS=,; echo "${tp_unacc[*]}")" "0" "$( ((unacc_all == 0)) && echo PASS || echo MISS)"
        row "events lost (counted in loss records)" "$(IFS=,; echo "${tp_lost[*]}")" "(info)" ""
        row "mxcd CPU time per run (s)" "$(IFS=,; echo "${tp_cpu[*]}")" "(info)" ""
    fi
    for e in "${tp_err[@]}"; do echo "- throughput run failed: \`$e\`"; done
    if [[ -n $perf_top ]]; then
        echo
        echo "mxcd's hottest functions during throughput run 1 (\`perf record -g -p\`, self time, dso and symbol):"
        echo
        echo '```'
        echo "$perf_top"
        echo '```'
    fi
    echo
fi

if want drain; then
    echo "### Collector alone: $drain_n failed opens buffered while mxcd was stopped, then drained"
    echo
    if ((${#dr_rate[@]})); then
        echo "| run | recorded | lost | unaccounted | events/s (recorded ÷ SIGCONT → unregister written) | mxcd CPU s |"
        echo "|---|---|---|---|---|---|"
        : >"$work/dr.rate"
        unacc_all=0
        for ((t = 0; t < ${#dr_rate[@]}; t++)); do
            echo "| $((t + 1)) | ${dr_rec[t]} | ${dr_lost[t]} | ${dr_unacc[t]} | ${dr_rate[t]} | ${dr_cpu[t]} |"
            echo "${dr_rate[t]}" >>"$work/dr.rate"
            ((dr_unacc[t] != 0)) && unacc_all=${dr_unacc[t]}
        done
        echo
        drm=$(bench_stats "$work/dr.rate" | awk '{ print $2 }')
        row "collector alone, events/s (median of ${#dr_rate[@]})" "$drm" "≥ 500000" "$(verdict "$drm" 500000 ge)"
        row "unaccounted loss, drain runs" "$(IFS=,; echo "${dr_unacc[*]}")" "0" "$( ((unacc_all == 0)) && echo PASS || echo MISS)"
    fi
    for e in "${dr_err[@]}"; do echo "- drain run failed: \`$e\`"; done
    echo
fi

if want auditd; then
    echo "### auditd, loops as uid $audit_uid on the host"
    echo
    if [[ -n $auditd_note ]]; then
        echo "- not measured: $auditd_note"
    else
        echo "Loops as uid $audit_uid ($(getent passwd "$audit_uid" | cut -d: -f1 | grep . || echo 'not in the passwd database')). Rule: \`auditctl ${rule[*]}\`; backlog limit 8192; auditd $(dpkg-query -W -f='${Version}' auditd 2>/dev/null || echo '?') $( ((auditd_ours)) && echo "started by the bench, logging to its work dir" || echo "already running")."
        echo "Events the kernel dropped (auditctl -s lost) during the part: ${auditd_lost:-?}."
        echo
        echo "| loop | rules | n | median µs/iter | ratio vs no rules | paired | CPU µs/iter | CPU ratio |"
        echo "|---|---|---|---|---|---|---|---|"
        for l in "aopen open+close ×$open_n" "aexec fork+exec ×$exec_n"; do
            k=${l%% *} name=${l#* }
            echo "| $name | none | $(n_of "$k.off") | $(us "${med[$k.off]:-0}") | 1 | | $(us "${med[$k.off.cpu]:-0}") | 1 |"
            echo "| $name | mxc-equivalent | $(n_of "$k.on") | $(us "${med[$k.on]:-0}") | $(ratio3 "${med[$k.on]:-0}" "${med[$k.off]:-0}")× | $(paired_median "$k.on" "$k.off")× | $(us "${med[$k.on.cpu]:-0}") | $(ratio3 "${med[$k.on.cpu]:-0}" "${med[$k.off.cpu]:-0}")× |"
        done
        echo
        for pair in "open aopen open/close" "exec aexec fork+exec"; do
            read -r mk ak name <<<"$pair"
            rm_=$(ratio3 "${med[$mk.bpf]:-0}" "${med[$mk.off]:-0}") ra=$(ratio3 "${med[$ak.on]:-0}" "${med[$ak.off]:-0}")
            q=$(awk -v m="$rm_" -v a="$ra" 'BEGIN { if (m == "n/a" || a == "n/a" || a <= 1) print "n/a"; else printf "%.2f", (m - 1) / (a - 1) }')
            row "$name overhead: mxc (bpf) ÷ auditd, (ratio−1)/(ratio−1)" "$q ($(pct "$rm_") vs $(pct "$ra"))" "≤ 0.5" "$(verdict "$q" 0.5 le)"
        done
    fi
    echo
fi

if [[ -n $perf_open ]]; then
    echo "### Where an audited open/close goes (\`perf record -a -g\` over one more bpf open/close loop; self time of the workload and mxcd, by comm, then by comm/dso/symbol)"
    echo
    echo '```'
    echo "$perf_open"
    echo '```'
    echo
fi

echo "### Summary"
echo
echo "| figure | measured | target | result |"
echo "|---|---|---|---|"
printf '%s\n' "${summary[@]}"
echo
for k in "${!nfail[@]}"; do echo "- $k: ${nfail[$k]} failed runs, first: \`${firsterr[$k]}\`"; done
((foreign_at_start > 0)) && echo "- $foreign_at_start foreign sys_enter/sys_exit probe link(s) were attached when the bench started."
for f in "${findings[@]}"; do echo "- $f"; done
exit $((broke ? 1 : 0))
