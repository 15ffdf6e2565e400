#!/usr/bin/env bash
# Start-to-exit latency of the agent sandbox, `mxc run -- /bin/true` (profile agent), against
# bubblewrap and against Microsoft's MXC Linux executor (lxc-exec from the @microsoft/mxc-sdk npm
# package) running an equivalent policy. A benchmark, not a test: it measures and reports, and
# fails only when it cannot measure. See tests/bench/README.md.
#
#   tests/bench/agent_start.sh [--quick] [--runs N] [--warmup N] [--mxc PATH]
#                              [--tools "mxc bwrap lxc-exec"] [--sdk-dir DIR] [--lxc-exec PATH]
#                              [--no-install] [--state-tmpfs] [--csv FILE] [--keep-tmp]
set -uo pipefail
export LC_ALL=C

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"

usage() {
    cat <<'EOF'
usage: agent_start.sh [options]
  --quick              5 measured rounds, 1 warm-up round (smoke test)
  --runs N             measured rounds (default 20); each round runs every tool once
  --warmup N           unmeasured rounds first (default 2)
  --mxc PATH           mxc binary (default: $MXC, then build-bench2/, build-bench/, build/, PATH)
  --tools LIST         which tools, space or comma separated (default "mxc bwrap lxc-exec")
  --sdk-dir DIR        a directory where `npm install @microsoft/mxc-sdk` was already done
                       (default: npm install into the temporary directory)
  --lxc-exec PATH      the lxc-exec binary to use (skips npm)
  --no-install         never install anything (apt-get bubblewrap, npm the SDK)
  --state-tmpfs        put mxc's --root (container state) on a private tmpfs (what /run is on
                       most hosts) instead of the filesystem of /run on this host (root only)
  --csv FILE           also write every measured run as tool,round,microseconds,exit
  --keep-tmp           keep the temporary workspace, state and logs
EOF
}

runs=20 warmup=2 mxc=${MXC:-} tools="mxc bwrap lxc-exec" sdk_dir="" lxc_exec="" install=1 csv="" keep_tmp=0 state_tmpfs=0
while (($#)); do
    case $1 in
    --quick) runs=5 warmup=1 ;;
    --runs) runs=${2:?}; shift ;;
    --warmup) warmup=${2:?}; shift ;;
    --mxc) mxc=${2:?}; shift ;;
    --tools) tools=${2//,/ }; shift ;;
    --sdk-dir) sdk_dir=${2:?}; shift ;;
    --lxc-exec) lxc_exec=${2:?}; shift ;;
    --no-install) install=0 ;;
    --state-tmpfs) state_tmpfs=1 ;;
    --csv) csv=${2:?}; shift ;;
    --keep-tmp) keep_tmp=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done
[[ $runs =~ ^[1-9][0-9]*$ && $warmup =~ ^[0-9]+$ ]] || bench_die "--runs must be >= 1 and --warmup >= 0"
((BASH_VERSINFO[0] >= 5)) || bench_die "needs bash >= 5 (for \$EPOCHREALTIME)"
command -v jq >/dev/null || bench_die "needs jq (apt-get install -y jq)"
is_root=0; [[ $(id -u) == 0 ]] && is_root=1

first_error() { grep -v '^[[:space:]]*$' "$1" | head -n 3 | tr '\n' ' ' | sed 's/ *$//'; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)

# --- work dir, cleanup --------------------------------------------------------------------------
# Under /run when we may (where `mxc` keeps its state by default as root), else $TMPDIR.
work=$(mktemp -d /run/mxc-agent-bench.XXXXXX 2>/dev/null || mktemp -d "${TMPDIR:-/tmp}/mxc-agent-bench.XXXXXX") ||
    bench_die "mktemp failed"
ws=$work/workspace           # the sandboxes' workspace (and cwd) for all tools
mxc_root=$work/mxc-root      # mxc --root: container state
mxc_state=$work/mxc-state    # MXC_STATE_DIR: identities (the default one is made on first use)
mkdir -p "$ws" "$mxc_root" "$mxc_state" "$work/logs" || bench_die "cannot make dirs in $work"
state_mounted=0
if ((state_tmpfs)); then
    ((is_root)) || bench_die "--state-tmpfs needs root (it mounts a tmpfs)"
    mount -t tmpfs -o mode=0700,size=64m tmpfs "$mxc_root" || bench_die "cannot mount a tmpfs on $mxc_root"
    state_mounted=1
fi
prefix="abench-$$-"          # every mxc sandbox id (and so its cgroups) starts with it
declare -A leftovers=() notes=()

# Sandboxes and cgroups mxc left behind for our ids: reported, then removed.
check_mxc_leftovers() {
    local id d
    [[ -n ${bin[mxc]:-} && -x ${bin[mxc]:-} ]] || return 0
    for id in $("${bin[mxc]}" --root "$mxc_root" list -q 2>/dev/null); do
        leftovers[mxc]+="sandbox $id still listed at the end; "
        "${bin[mxc]}" --root "$mxc_root" delete --force "$id" >/dev/null 2>&1 || true
    done
    while IFS= read -r d; do
        leftovers[mxc]+="cgroup $d left behind; "
        rmdir "$d" 2>/dev/null || true
    done < <(find /sys/fs/cgroup -mindepth 2 -maxdepth 4 -type d -name "${prefix}*" 2>/dev/null | sort -r)
}

finished=0
on_exit() {
    ((finished)) || check_mxc_leftovers
    if ((state_mounted && !keep_tmp)); then umount "$mxc_root" || bench_log "WARNING: umount $mxc_root failed"; fi
    if ((keep_tmp)); then bench_log "kept $work"; else rm -rf "$work"; fi
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# --- tools --------------------------------------------------------------------------------------
declare -A bin=() unavailable=() version=()
order=()
for tl in $tools; do
    case $tl in mxc | bwrap | lxc-exec) order+=("$tl") ;; *) bench_die "unknown tool '$tl' (mxc, bwrap, lxc-exec)" ;; esac
done
want() { [[ " ${order[*]} " == *" $1 "* ]]; }

if want mxc; then
    if [[ -z $mxc ]]; then
        for m in "$repo/build-bench2/src/cli/mxc" "$repo/build-bench/src/cli/mxc" "$repo/build/src/cli/mxc" "$(command -v mxc || true)"; do
            [[ -n $m && -x $m ]] && { mxc=$m; break; }
        done
    fi
    if [[ -n $mxc && -x $mxc ]]; then
        bin[mxc]=$mxc
        version[mxc]=$("$mxc" --version 2>/dev/null | awk 'NR == 1 { print $NF }')
    else
        unavailable[mxc]="no mxc binary: build it (meson setup build-bench2 --buildtype=release && ninja -C build-bench2 src/cli/mxc) or pass --mxc"
    fi
fi

if want bwrap; then
    if ! command -v bwrap >/dev/null && ((install && is_root)) && command -v apt-get >/dev/null; then
        bench_log "bwrap missing: apt-get install -y bubblewrap"
        if DEBIAN_FRONTEND=noninteractive apt-get install -y bubblewrap >"$work/logs/apt.log" 2>&1; then
            notes[bwrap]="installed by this run with apt-get install -y bubblewrap"
        else
            unavailable[bwrap]="apt-get install -y bubblewrap failed: $(tail -n 2 "$work/logs/apt.log" | tr '\n' ' ')"
        fi
    fi
    if command -v bwrap >/dev/null; then
        bin[bwrap]=$(command -v bwrap)
        version[bwrap]=$(bwrap --version 2>/dev/null | awk 'NR == 1 { print $NF }')
    else
        unavailable[bwrap]=${unavailable[bwrap]:-"bwrap not installed (apt-get install -y bubblewrap)"}
    fi
fi

# lxc-exec: --lxc-exec PATH, else node_modules/@microsoft/mxc-sdk/bin/<arch>/lxc-exec under --sdk-dir
# or under a fresh `npm install` in the work dir. --ignore-scripts: the package's node-pty
# dependency wants to build a native addon, which the executor does not need.
sdk_version=""
if want lxc-exec; then
    case $(uname -m) in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
    if [[ -z $lxc_exec ]]; then
        if [[ -z $sdk_dir ]] && ((install)); then
            if command -v npm >/dev/null; then
                sdk_dir=$work/sdk
                mkdir -p "$sdk_dir"
                bench_log "npm install @microsoft/mxc-sdk into $sdk_dir"
                if ! (cd "$sdk_dir" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error @microsoft/mxc-sdk) \
                    >"$work/logs/npm.log" 2>&1; then
                    unavailable[lxc-exec]="npm install @microsoft/mxc-sdk failed: $(first_error "$work/logs/npm.log")"
                fi
            else
                unavailable[lxc-exec]="npm not found: install Node.js/npm, or pass --sdk-dir or --lxc-exec"
            fi
        fi
        if [[ -n $sdk_dir && -z ${unavailable[lxc-exec]:-} ]]; then
            lxc_exec=$sdk_dir/node_modules/@microsoft/mxc-sdk/bin/$arch/lxc-exec
            sdk_version=$(jq -r .version "$sdk_dir/node_modules/@microsoft/mxc-sdk/package.json" 2>/dev/null || true)
        fi
    fi
    if [[ -z ${unavailable[lxc-exec]:-} ]]; then
        if [[ -z $lxc_exec ]]; then
            unavailable[lxc-exec]="no lxc-exec: pass --sdk-dir or --lxc-exec (or drop --no-install)"
        elif [[ ! -f $lxc_exec ]]; then
            unavailable[lxc-exec]="$lxc_exec does not exist (the package has no $arch build?)"
        else
            [[ -x $lxc_exec ]] || chmod +x "$lxc_exec" 2>/dev/null || true
            bin[lxc-exec]=$lxc_exec
            version[lxc-exec]="sdk ${sdk_version:-?}"
        fi
    fi
fi

# --- what each tool runs ------------------------------------------------------------------------
# mxc: profile agent (the default): host root read-only, the workspace (cwd) read-write, private
# /tmp, minimal /dev, no network but loopback, limits, seccomp, Landlock; identity from
# MXC_STATE_DIR. --name gives each run an id we can look for afterwards.
# bwrap: the command line of the issue, verbatim (note: it leaves the workspace read-only).
# lxc-exec: an MXC 0.8.0-alpha config with the same policy as the agent profile's core:
# readonlyPaths ["/"], readwritePaths [workspace], network egress and ingress denied, containment
# "process" (the SDK's default on Linux; lxc-exec resolves it to its bubblewrap backend).
lxc_config=$work/lxc-exec.json
write_lxc_config() { # $1 = command line
    jq -n --arg ws "$ws" --arg cmd "$1" '{
        version: "0.8.0-alpha",
        containerId: "mxcbench",
        containment: "process",
        lifecycle: { destroyOnExit: true, preservePolicy: false },
        process: { commandLine: $cmd, timeout: 0, cwd: $ws },
        filesystem: { readwritePaths: [$ws], readonlyPaths: ["/"], deniedPaths: [] },
        network: { egress: { default: "deny" }, ingress: { default: "deny", hostLoopback: "deny" } },
        ui: { disable: true, clipboard: "none", injection: false }
    }'
}

# Runs tool $1 once with the command "$2..." (a shell command line for lxc-exec, whose config
# takes one). Sets RUN_US (fork to reap, from bash's $EPOCHREALTIME) and RUN_RC. $LOG: log prefix.
RUN_ID=""
run_tool() {
    local tl=$1 t0 t1; shift
    case $tl in
    mxc)
        t0=$EPOCHREALTIME
        MXC_STATE_DIR=$mxc_state "${bin[mxc]}" --root "$mxc_root" run --quiet --name "$RUN_ID" -- "$@" </dev/null >"$LOG.out" 2>"$LOG.err"
        RUN_RC=$?
        t1=$EPOCHREALTIME ;;
    bwrap)
        t0=$EPOCHREALTIME
        "${bin[bwrap]}" --unshare-all --ro-bind / / --dev /dev --proc /proc "$@" </dev/null >"$LOG.out" 2>"$LOG.err"
        RUN_RC=$?
        t1=$EPOCHREALTIME ;;
    lxc-exec)
        t0=$EPOCHREALTIME
        "${bin[lxc-exec]}" --config "$lxc_config" </dev/null >"$LOG.out" 2>"$LOG.err"
        RUN_RC=$?
        t1=$EPOCHREALTIME ;;
    esac
    RUN_US=$((10#${t1/[.,]/} - 10#${t0/[.,]/}))
}

cd "$ws" || bench_die "cannot cd to $ws"

# --- probe: does each tool run, and what does its sandbox look like ----------------------------
# One run per tool of a shell that reports: can it write the workspace, can it write /etc, can
# it write /dev/null, how many network interfaces it sees (1 = loopback only), and the name of
# pid 1 in its /proc (the host's if it sees the host's /proc). No redirection to /dev/null in
# it: that fails where /dev is not usable. Not timed. For mxc this first run also makes the
# default identity in MXC_STATE_DIR (its time is reported apart: a one-off cost).
probe_cmd='w=no; x=$(touch ./.probe 2>&1) && w=yes; rm -f ./.probe
e=no; x=$(touch /etc/.mxc-bench-probe 2>&1) && { e=yes; rm -f /etc/.mxc-bench-probe; }
d=no; x=$( (echo x >/dev/null) 2>&1) && d=yes
n=$(tail -n +3 /proc/net/dev | wc -l)
p=$(cat /proc/1/comm 2>&1)
echo "workspace-writable=$w etc-writable=$e devnull-writable=$d netifs=$n pid1=$p"'
host_pid1=$(cat /proc/1/comm 2>/dev/null || echo '?')
declare -A probe=() first_us=()
for tl in "${order[@]}"; do
    [[ -n ${unavailable[$tl]:-} ]] && continue
    LOG=$work/logs/$tl.probe RUN_ID="${prefix}probe"
    if [[ $tl == lxc-exec ]]; then
        write_lxc_config "$probe_cmd" >"$lxc_config"
        if ! "${bin[lxc-exec]}" --dry-run --config "$lxc_config" >"$LOG.dry" 2>&1; then
            unavailable[$tl]="lxc-exec --dry-run rejects the config: $(first_error "$LOG.dry")"
            continue
        fi
    fi
    run_tool "$tl" sh -c "$probe_cmd"
    first_us[$tl]=$RUN_US
    if ((RUN_RC != 0)); then
        unavailable[$tl]="$(first_error "$LOG.err") (exit $RUN_RC)"
        bench_log "$tl cannot run here: ${unavailable[$tl]}"
        continue
    fi
    probe[$tl]=$(grep -o 'workspace-writable=.*' "$LOG.out" | tail -n 1)
    bench_log "$tl: ${probe[$tl]}"
done
[[ -n ${bin[lxc-exec]:-} && -z ${unavailable[lxc-exec]:-} ]] && write_lxc_config /bin/true >"$lxc_config"

active=()
for tl in "${order[@]}"; do [[ -z ${unavailable[$tl]:-} ]] && active+=("$tl"); done
((${#active[@]})) || bench_die "no tool can run here"

# --- measure: rounds, interleaved --------------------------------------------------------------
# Every round runs each tool once, back to back; the starting tool rotates from round to round
# (same scheme as start_latency.sh).
declare -A fails=() errs=() sample=()
[[ -n $csv ]] && echo "tool,round,us,exit" >"$csv"
k=${#active[@]}
bench_log "$runs measured rounds (+$warmup warm-up) of: ${active[*]}; workspace $ws"
for ((r = -warmup; r < runs; r++)); do
    line=""
    for ((j = 0; j < k; j++)); do
        tool=${active[((r + warmup + j) % k)]}
        ((r < 0)) && RUN_ID="${prefix}w$((r + warmup))" || RUN_ID="${prefix}$r"
        LOG=$work/logs/$tool.$RUN_ID
        run_tool "$tool" /bin/true
        ((r < 0)) && continue
        [[ -n $csv ]] && echo "$tool,$r,$RUN_US,$RUN_RC" >>"$csv"
        if ((RUN_RC == 0)); then
            echo "$RUN_US" >>"$work/$tool.us"
            sample["$tool,$r"]=$RUN_US
            line+=" $tool $(bench_ms "$RUN_US")"
        else
            fails[$tool]=$((${fails[$tool]:-0} + 1))
            errs[$tool]=${errs[$tool]:-"$(first_error "$LOG.err") (exit $RUN_RC)"}
            line+=" $tool FAILED($RUN_RC)"
        fi
        rm -f "$LOG.out"
    done
    ((r >= 0)) && bench_log "round $((r + 1))/$runs:$line ms"
done

check_mxc_leftovers
finished=1

# --- report -------------------------------------------------------------------------------------
declare -A med=() p90=() min=() n=()
for tool in "${active[@]}"; do
    [[ -s $work/$tool.us ]] || continue
    read -r "n[$tool]" "med[$tool]" "p90[$tool]" "min[$tool]" _ < <(bench_stats "$work/$tool.us")
done

# "a/b: x.xx× (medians); median of the N per-round ratios: y.yy×"
paired() {
    local a=$1 b=$2 rr pn pmed
    : >"$work/paired.$b"
    for ((rr = 0; rr < runs; rr++)); do
        [[ -n ${sample["$a,$rr"]:-} && -n ${sample["$b,$rr"]:-} ]] &&
            awk -v x="${sample["$a,$rr"]}" -v y="${sample["$b,$rr"]}" 'BEGIN { printf "%d\n", 1e6 * x / y }' >>"$work/paired.$b"
    done
    read -r pn pmed _ < <(bench_stats "$work/paired.$b")
    printf '%s %s' "$pn" "$(awk -v x="$pmed" 'BEGIN { printf "%.2f", x / 1e6 }')"
}

echo
echo "## Agent sandbox start latency: \`mxc run -- /bin/true\` vs bwrap and lxc-exec"
echo
echo "$(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)),"
echo "load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg); run as $( ((is_root)) && echo root || echo "uid $(id -u)");"
echo "workspace and state in $(dirname "$work") ($(stat -f -c %T "$work")); mxc --root on $(stat -f -c %T "$mxc_root")$( ((state_tmpfs)) && echo ' (--state-tmpfs)'); the host's pid 1 is \`$host_pid1\`."
[[ -n ${bin[mxc]:-} ]] &&
    echo "mxc: ${bin[mxc]}, built $(date -u -r "${bin[mxc]}" '+%Y-%m-%d %H:%M UTC'), tree at $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')."
echo "$runs alternating rounds (+$warmup warm-up), the starting tool rotating each round;"
echo "wall time of one invocation, fork to reap, with \$EPOCHREALTIME. Commands:"
echo
echo "- mxc: \`MXC_STATE_DIR=T mxc --root T run --quiet --name ID -- /bin/true\` (profile agent, cwd = workspace)"
echo "- bwrap: \`bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc /bin/true\`"
echo "- lxc-exec: \`lxc-exec --config F\`, F: MXC 0.8.0-alpha, containment \`process\`, readonlyPaths [\"/\"], readwritePaths [workspace], egress/ingress deny, commandLine \`/bin/true\`"
echo
echo "| tool | version | sandbox as probed | ok runs | median (ms) | p90 (ms) | min (ms) | mxc ÷ tool (median) |"
echo "|---|---|---|---|---|---|---|---|"
for tool in "${order[@]}"; do
    pr=${probe[$tool]:-–}
    pr=${pr//workspace-writable=/workspace rw: }; pr=${pr// etc-writable=/, \/etc rw: }
    pr=${pr// devnull-writable=/, \/dev\/null w: }; pr=${pr// netifs=/, netifs: }; pr=${pr// pid1=/, pid 1: }
    if [[ -n ${unavailable[$tool]:-} ]]; then
        echo "| $tool | ${version[$tool]:-–} | – | – | unavailable | | | |"
    elif [[ -z ${med[$tool]:-} ]]; then
        echo "| $tool | ${version[$tool]} | $pr | 0/$runs | all runs failed | | | |"
    else
        ratio="–"
        [[ -n ${med[mxc]:-} ]] && ratio="$(bench_ratio "${med[mxc]}" "${med[$tool]}")×"
        echo "| $tool | ${version[$tool]} | $pr | ${n[$tool]}/$runs | $(bench_ms "${med[$tool]}") | $(bench_ms "${p90[$tool]}") | $(bench_ms "${min[$tool]}") | $ratio |"
    fi
done
echo
if [[ -n ${med[mxc]:-} ]]; then
    for pair in "bwrap 1.0" "lxc-exec 0.5"; do
        read -r other target <<<"$pair"
        [[ -n ${med[$other]:-} ]] || continue
        ratio=$(bench_ratio "${med[mxc]}" "${med[$other]}")
        read -r pn pratio < <(paired mxc "$other")
        echo "- mxc/$other (medians): **${ratio}×**; median of the $pn per-round ratios: ${pratio}× — target ≤ ${target}×: $(awk -v r="$ratio" -v g="$target" 'BEGIN { print (r <= g) ? "met" : "not met" }')"
    done
fi
for tool in "${order[@]}"; do
    [[ -n ${first_us[$tool]:-} && $tool == mxc ]] &&
        echo "- mxc's first run (not measured; makes the default identity, key pair included): $(bench_ms "${first_us[mxc]}") ms"
    [[ -n ${unavailable[$tool]:-} ]] && echo "- $tool unavailable (skipped): \`${unavailable[$tool]}\`"
    [[ -n ${fails[$tool]:-} ]] && echo "- $tool failed ${fails[$tool]}/$runs runs, first error: \`${errs[$tool]}\`"
    [[ -n ${leftovers[$tool]:-} ]] && echo "- $tool left things behind (removed by the bench): ${leftovers[$tool]%; }"
    [[ -n ${notes[$tool]:-} ]] && echo "- $tool: ${notes[$tool]}"
done
if [[ -n ${probe[lxc-exec]:-} ]]; then
    [[ ${probe[lxc-exec]} == *"pid1=$host_pid1" && $host_pid1 != sh ]] &&
        echo "- lxc-exec's sandbox sees the host's /proc (its pid 1 is the host's \`$host_pid1\`), though it has a pid namespace of its own."
    [[ ${probe[lxc-exec]} == *"devnull-writable=no"* ]] &&
        echo "- lxc-exec's sandbox cannot write /dev/null (\`sh: cannot create /dev/null: Permission denied\`)."
fi
if [[ -n ${bin[lxc-exec]:-} && -z ${unavailable[lxc-exec]:-} ]]; then
    echo "- lxc-exec's \`process\` containment is its bubblewrap backend: per run it execs \`bwrap --version\` twice, then bwrap with ~80 arguments running \`sh -c '<commandLine>'\` (so one extra exec of sh)."
fi
exit 0
