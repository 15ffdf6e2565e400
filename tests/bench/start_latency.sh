#!/usr/bin/env bash
# Start-to-exit latency of `mxc run` against crun and runc on one busybox bundle running
# /bin/true. A benchmark, not a test: it measures and reports, and fails only when it cannot
# measure. Run as root. See tests/bench/README.md.
#
#   tests/bench/start_latency.sh [--quick] [--runs N] [--warmup N] [--mxc PATH]
#                                [--runtimes "mxc crun runc"] [--no-host-change]
#                                [--keep-host-change] [--state-tmpfs] [--csv FILE] [--keep-tmp]
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() {
    cat <<'EOF'
usage: start_latency.sh [options]
  --quick              5 measured rounds, 1 warm-up round (smoke test)
  --runs N             measured rounds (default 20); each round runs every runtime once
  --warmup N           unmeasured rounds first (default 2)
  --mxc PATH           mxc binary (default: $MXC, then build-bench/, build/, then PATH)
  --runtimes LIST      which runtimes, space or comma separated (default "mxc crun runc")
  --no-host-change     never move cgroup controllers; crun is then reported unavailable on
                       a hybrid host whose cgroup2 still has controllers
  --keep-host-change   leave a moved controller on its v1 mount at exit (default: undo)
  --csv FILE           also write every measured run as runtime,round,microseconds,exit
  --state-tmpfs        put the three --root dirs on a private tmpfs (what /run is on most
                       hosts) instead of the filesystem of /run on this host
  --keep-tmp           keep the temporary bundle, state roots and logs
EOF
}

runs=20 warmup=2 mxc=${MXC:-} runtimes="mxc crun runc" host_change=1 keep_change=0 csv="" keep_tmp=0 state_tmpfs=0
while (($#)); do
    case $1 in
    --quick) runs=5 warmup=1 ;;
    --runs) runs=${2:?}; shift ;;
    --warmup) warmup=${2:?}; shift ;;
    --mxc) mxc=${2:?}; shift ;;
    --runtimes) runtimes=${2//,/ }; shift ;;
    --no-host-change) host_change=0 ;;
    --keep-host-change) keep_change=1 ;;
    --csv) csv=${2:?}; shift ;;
    --keep-tmp) keep_tmp=1 ;;
    --state-tmpfs) state_tmpfs=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done
[[ $runs =~ ^[1-9][0-9]*$ && $warmup =~ ^[0-9]+$ ]] || bench_die "--runs must be >= 1 and --warmup >= 0"
((BASH_VERSINFO[0] >= 5)) || bench_die "needs bash >= 5 (for \$EPOCHREALTIME)"
[[ $(id -u) == 0 ]] || bench_die "run as root: the three runtimes are compared rootful"
command -v jq >/dev/null || bench_die "needs jq (apt-get install -y jq)"

# --- runtimes ---------------------------------------------------------------------------------
if [[ -z $mxc ]]; then
    for m in "$repo/build-bench/src/cli/mxc" "$repo/build/src/cli/mxc" "$(command -v mxc || true)"; do
        [[ -n $m && -x $m ]] && { mxc=$m; break; }
    done
fi
declare -A bin=([mxc]=$mxc [crun]=$(command -v crun || true) [runc]=$(command -v runc || true))
declare -A unavailable=() version=()
order=()
for rt in $runtimes; do
    [[ -v bin[$rt] ]] || bench_die "unknown runtime '$rt' (mxc, crun, runc)"
    order+=("$rt")
    if [[ -z ${bin[$rt]} || ! -x ${bin[$rt]} ]]; then
        if [[ $rt == mxc ]]; then
            unavailable[$rt]="no mxc binary: build it (meson setup build-bench --buildtype=release && ninja -C build-bench src/cli/mxc) or pass --mxc"
        else
            unavailable[$rt]="$rt not installed (apt-get install -y $rt)"
        fi
        continue
    fi
    version[$rt]=$("${bin[$rt]}" --version 2>/dev/null | awk 'NR == 1 { print $NF }')
done

load0=$(cut -d' ' -f1-3 /proc/loadavg)

# --- work dir, bundle, cleanup ------------------------------------------------------------------
# Under /run, where the runtimes keep their state by default (/run/mxc, /run/crun, /run/runc),
# so the --root dirs sit on the filesystem they would use on this host.
work=$(mktemp -d /run/mxc-bench.XXXXXX 2>/dev/null || mktemp -d "${TMPDIR:-/tmp}/mxc-bench.XXXXXX") ||
    bench_die "mktemp failed"
state_mounted=0
bundle=$work/bundle
prefix="bench-$$-"   # every container id (and so every cgroup the runtimes make) starts with it
declare -A leftovers=()

cleanup_containers() {
    local rt id
    for rt in "${order[@]}"; do
        [[ -d $work/state/$rt ]] || continue
        for id in $("${bin[$rt]}" --root "$work/state/$rt" list -q 2>/dev/null); do
            leftovers[$rt]+="container $id still listed at the end; "
            "${bin[$rt]}" --root "$work/state/$rt" delete --force "$id" >/dev/null 2>&1 || true
        done
    done
}

# Cgroups that a runtime left behind for our ids: reported, then removed if empty.
check_cgroups() {
    local d rt
    while IFS= read -r d; do
        case $d in */mxc/*) rt=mxc ;; *) rt=$(sed -E "s/.*${prefix}([a-z]+)-.*/\1/" <<<"$d") ;; esac
        leftovers[$rt]+="cgroup $d left behind; "
        rmdir "$d" 2>/dev/null || true
    done < <(find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -name "${prefix}*" 2>/dev/null | sort -r)
}

finished=0
on_exit() {
    cleanup_containers
    ((finished)) || check_cgroups
    if ((${#BENCH_CG_MOVED[@]})) && ((!keep_change || !finished)); then
        bench_cg_restore "^(mxc$|mxc/${prefix}|${prefix})"
        ((finished)) || printf '%s\n' "${BENCH_CG_CHANGES[@]}" >&2
    fi
    if ((state_mounted && !keep_tmp)); then umount "$work/state" || bench_log "WARNING: umount $work/state failed"; fi
    if ((keep_tmp)); then bench_log "kept $work"; else rm -rf "$work"; fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

[[ -x /bin/busybox ]] || bench_die "/bin/busybox missing: apt-get install -y busybox-static"
if ldd /bin/busybox >/dev/null 2>&1; then
    bench_die "/bin/busybox is dynamically linked: apt-get install -y busybox-static"
fi
mkdir -p "$bundle/rootfs/bin" "$work/logs" || bench_die "cannot make $bundle"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/true"
ln -s busybox "$bundle/rootfs/bin/sh"
mkdir -p "$work/state"
if ((state_tmpfs)); then
    mount -t tmpfs -o mode=0700,size=64m tmpfs "$work/state" || bench_die "cannot mount a tmpfs on $work/state"
    state_mounted=1
fi
state_fs=$(stat -f -c %T "$work/state")
for rt in "${order[@]}"; do mkdir -p "$work/state/$rt"; done

# config.json comes from `mxc spec` (runc's spec if mxc itself is missing), then
# terminal=false and args=["/bin/true"]. All three runtimes get this very file.
spec_from=mxc
if [[ -n ${unavailable[mxc]:-} || ! -x $mxc ]]; then spec_from=runc; fi
if ! (cd "$bundle" && "${bin[$spec_from]:-$spec_from}" spec) >"$work/logs/spec.err" 2>&1; then
    bench_die "$spec_from spec failed: $(cat "$work/logs/spec.err")"
fi
jq '.process.terminal = false | .process.args = ["/bin/true"]' "$bundle/config.json" >"$bundle/config.json.new" ||
    bench_die "cannot edit config.json"
mv "$bundle/config.json.new" "$bundle/config.json"

# --- one run ------------------------------------------------------------------------------------
# Sets RUN_US (microseconds, fork to reap) and RUN_RC. The clock is bash's $EPOCHREALTIME, read
# right before the fork and right after the wait, so the interval is the runtime's whole life:
# exec, create, start, /bin/true, reap, its own teardown of the container.
run_once() {
    local rt=$1 id=$2 log=$3 t0 t1
    t0=$EPOCHREALTIME
    "${bin[$rt]}" --root "$work/state/$rt" run --bundle "$bundle" "$id" </dev/null >"$log.out" 2>"$log.err"
    RUN_RC=$?
    t1=$EPOCHREALTIME
    RUN_US=$((10#${t1/[.,]/} - 10#${t0/[.,]/}))
    # `run` without --detach deletes the container itself; anything still there is a finding.
    if "${bin[$rt]}" --root "$work/state/$rt" state "$id" >/dev/null 2>&1; then
        leftovers[$rt]+="container $id still present after run; "
        "${bin[$rt]}" --root "$work/state/$rt" delete --force "$id" >/dev/null 2>&1 || true
    fi
}

first_error() { grep -v '^[[:space:]]*$' "$1" | head -n 3 | tr '\n' ' ' | sed 's/ *$//'; }

# --- probe each runtime once; make crun usable on a hybrid host -------------------------------
cg_mode=$(if [[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]]; then echo unified
          elif bench_cg_is_hybrid; then echo "hybrid (cgroup2 controllers: '$(bench_cg_v2_controllers)')"
          else echo legacy; fi)
crun_note="" spec_note=""
spec_version=$(jq -r .ociVersion "$bundle/config.json" 2>/dev/null || echo "?")
# crun 1.8 knows runtime-spec 1.0 and 1.1 only and rejects a newer ociVersion before anything
# else. If it does, every runtime gets the file with ociVersion lowered to 1.0.2 (the rest of
# the file is unchanged: it uses nothing newer).
if [[ -z ${unavailable[crun]:-} && " ${order[*]} " == *" crun "* ]]; then
    run_once crun "${prefix}crun-version" "$work/logs/crun.version"
    if ((RUN_RC != 0)) && grep -q 'unknown version specified' "$work/logs/crun.version.err"; then
        spec_note="\`$spec_from spec\` writes ociVersion $spec_version; crun ${version[crun]} rejects it (\`$(first_error "$work/logs/crun.version.err")\`), so the bundle, for all runtimes, says 1.0.2"
        bench_log "${spec_note//\`/}"
        jq '.ociVersion = "1.0.2"' "$bundle/config.json" >"$bundle/config.json.new" &&
            mv "$bundle/config.json.new" "$bundle/config.json"
    fi
fi
for rt in "${order[@]}"; do
    [[ -n ${unavailable[$rt]:-} ]] && continue
    run_once "$rt" "${prefix}${rt}-probe" "$work/logs/$rt.probe"
    if ((RUN_RC != 0)) && [[ $rt == crun ]] && grep -q 'hybrid mode not supported' "$work/logs/$rt.probe.err"; then
        crun_err=$(first_error "$work/logs/$rt.probe.err")
        crun_note="crun as found: \`$crun_err\` (exit $RUN_RC)"
        if ((!host_change)); then
            unavailable[crun]="$crun_err (exit $RUN_RC; --no-host-change given)"
            continue
        fi
        bench_log "crun refuses this hybrid host: $crun_err"
        bench_log "moving the controllers left on cgroup2 ($(bench_cg_v2_controllers)) to v1 mounts of their own"
        if ! bench_cg_move_off_v2; then
            unavailable[crun]="$crun_err (exit $RUN_RC); and $BENCH_CG_ERR"
            bench_cg_restore "^(mxc$|mxc/${prefix}|${prefix})"
            continue
        fi
        for c in "${BENCH_CG_CHANGES[@]}"; do bench_log "HOST CHANGE: $c"; done
        run_once "$rt" "${prefix}${rt}-probe2" "$work/logs/$rt.probe"
    fi
    if ((RUN_RC != 0)); then
        unavailable[$rt]="$(first_error "$work/logs/$rt.probe.err") (exit $RUN_RC)"
        bench_log "$rt fails on this bundle: ${unavailable[$rt]}"
    fi
done
active=()
for rt in "${order[@]}"; do [[ -z ${unavailable[$rt]:-} ]] && active+=("$rt"); done
((${#active[@]})) || bench_die "no runtime can run the bundle"

# --- measure: rounds, interleaved --------------------------------------------------------------
# Every round runs each runtime once, back to back, and the starting runtime rotates from round
# to round, so load spikes from the rest of the machine and "ran right after X" effects land on
# all of them alike.
declare -A fails=() errs=() t=()
[[ -n $csv ]] && echo "runtime,round,us,exit" >"$csv"
k=${#active[@]}
bench_log "$runs measured rounds (+$warmup warm-up) of: ${active[*]}; bundle $bundle"
for ((r = -warmup; r < runs; r++)); do
    line=""
    for ((j = 0; j < k; j++)); do
        rt=${active[((r + warmup + j) % k)]}
        ((r < 0)) && id="${prefix}${rt}-w$((r + warmup))" || id="${prefix}${rt}-$r"
        run_once "$rt" "$id" "$work/logs/$rt.$id"
        ((r < 0)) && continue
        [[ -n $csv ]] && echo "$rt,$r,$RUN_US,$RUN_RC" >>"$csv"
        if ((RUN_RC == 0)); then
            echo "$RUN_US" >>"$work/$rt.us"
            t["$rt,$r"]=$RUN_US
            line+=" $rt $(bench_ms "$RUN_US")"
        else
            fails[$rt]=$((${fails[$rt]:-0} + 1))
            errs[$rt]=${errs[$rt]:-"$(first_error "$work/logs/$rt.$id.err") (exit $RUN_RC)"}
            line+=" $rt FAILED($RUN_RC)"
        fi
        rm -f "$work/logs/$rt.$id.out"
    done
    ((r >= 0)) && bench_log "round $((r + 1))/$runs:$line ms"
done

# --- leftovers, host restore, report ------------------------------------------------------------
cleanup_containers
check_cgroups
host_notes=("${BENCH_CG_CHANGES[@]}")
if ((${#BENCH_CG_MOVED[@]})); then
    if ((keep_change)); then
        host_notes+=("left in place (--keep-host-change): undo with umount /sys/fs/cgroup/{$(IFS=,; echo "${BENCH_CG_MOVED[*]}")} and rmdir")
    else
        bench_cg_restore "^(mxc$|mxc/${prefix}|${prefix})"
        host_notes=("${BENCH_CG_CHANGES[@]}")
    fi
fi
finished=1

declare -A med=() p90=() min=() n=()
for rt in "${active[@]}"; do
    [[ -s $work/$rt.us ]] || continue
    read -r "n[$rt]" "med[$rt]" "p90[$rt]" "min[$rt]" _ < <(bench_stats "$work/$rt.us")
done

echo
echo "## Start latency: \`run\` of /bin/true in a busybox bundle"
echo
echo "$(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)),"
echo "load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg); cgroups: $cg_mode;"
if ((state_tmpfs)); then echo "state roots (--root dirs): a private tmpfs (--state-tmpfs)."
else echo "state roots (--root dirs): $state_fs, in $(dirname "$work") (/run is what the runtimes use by default)."; fi
[[ -z ${unavailable[mxc]:-} ]] &&
    echo "mxc: $mxc, built $(date -u -r "$mxc" '+%Y-%m-%d %H:%M UTC'), tree at $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')."
echo "$runs alternating rounds (+$warmup warm-up), the starting runtime rotating each round;"
echo "wall time of one \`RUNTIME --root DIR run --bundle B ID\`, fork to reap, with \$EPOCHREALTIME."
echo
echo "| runtime | version | ok runs | median (ms) | p90 (ms) | min (ms) | mxc ÷ runtime (median) |"
echo "|---|---|---|---|---|---|---|"
for rt in "${order[@]}"; do
    if [[ -n ${unavailable[$rt]:-} ]]; then
        echo "| $rt | ${version[$rt]:-–} | – | unavailable | | | |"
    elif [[ -z ${med[$rt]:-} ]]; then
        echo "| $rt | ${version[$rt]} | 0/$runs | all runs failed | | | |"
    else
        ratio="–"
        [[ $rt != mxc && -n ${med[mxc]:-} ]] && ratio="$(bench_ratio "${med[mxc]}" "${med[$rt]}")×"
        [[ $rt == mxc ]] && ratio="1.00×"
        echo "| $rt | ${version[$rt]} | ${n[$rt]}/$runs | $(bench_ms "${med[$rt]}") | $(bench_ms "${p90[$rt]}") | $(bench_ms "${min[$rt]}") | $ratio |"
    fi
done
echo
if [[ -n ${med[mxc]:-} ]]; then
    for rt in crun runc; do
        [[ -n ${med[$rt]:-} ]] || continue
        ratio=$(bench_ratio "${med[mxc]}" "${med[$rt]}")
        : >"$work/paired.$rt"
        for ((r = 0; r < runs; r++)); do
            [[ -n ${t["mxc,$r"]:-} && -n ${t["$rt,$r"]:-} ]] &&
                awk -v a="${t["mxc,$r"]}" -v b="${t["$rt,$r"]}" 'BEGIN { printf "%d\n", 1e6 * a / b }' >>"$work/paired.$rt"
        done
        read -r pn pmed _ < <(bench_stats "$work/paired.$rt")
        line="- mxc/$rt (medians): **${ratio}×**; median of the $pn per-round ratios: $(awk -v x="$pmed" 'BEGIN { printf "%.2f", x / 1e6 }')×"
        [[ $rt == crun ]] && line+=" — target ≤ 0.8×: $(awk -v r="$ratio" 'BEGIN { print (r <= 0.8) ? "met" : "not met" }')"
        echo "$line"
    done
fi
for rt in "${order[@]}"; do
    [[ -n ${unavailable[$rt]:-} ]] && echo "- $rt unavailable: \`${unavailable[$rt]}\`"
    [[ -n ${fails[$rt]:-} ]] && echo "- $rt failed ${fails[$rt]}/$runs runs, first error: \`${errs[$rt]}\`"
    [[ -n ${leftovers[$rt]:-} ]] && echo "- $rt left things behind (removed by the bench): ${leftovers[$rt]%; }"
done
[[ -n $spec_note ]] && echo "- config: $spec_note"
[[ -n $crun_note ]] && echo "- $crun_note"
if ((${#host_notes[@]})); then
    for h in "${host_notes[@]}"; do [[ -n $h ]] && echo "- host change: $h"; done
else
    echo "- host change: none"
fi
