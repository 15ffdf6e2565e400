# shellcheck shell=bash
# shellcheck disable=SC2034  # globals read by the sourcing script
# Helpers shared by the benchmarks in tests/bench/. Source it; it defines functions only.

bench_log() { printf '%s\n' "bench: $*" >&2; }
bench_die() { printf '%s\n' "bench: error: $*" >&2; exit 1; }

# Microseconds since the epoch, from bash's own clock ($EPOCHREALTIME, bash >= 5): no fork, so
# nothing but the command being timed sits between two readings.
bench_now_us() {
    local t=$EPOCHREALTIME
    printf '%s' "$((10#${t/[.,]/}))"
}

# bench_stats FILE -> "n median p90 min mean" in microseconds, from one integer per line.
# median: mean of the two middle values when n is even; p90: nearest rank (ceil(0.9 n)).
bench_stats() {
    sort -n "$1" | awk '
        { v[NR] = $1; s += $1 }
        END {
            n = NR
            if (n == 0) { print "0 0 0 0 0"; exit }
            med = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            r = int(0.9 * n); if (r < 0.9 * n) r++; if (r < 1) r = 1
            printf "%d %d %d %d %d\n", n, med, v[r], v[1], s / n
        }'
}

# Microseconds -> milliseconds with one decimal.
bench_ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }

# a/b with two decimals, or "n/a".
bench_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }

# --- hybrid cgroup hosts ---------------------------------------------------------------------
# crun (1.x) refuses a hybrid host (v1 controllers + cgroup2 at /sys/fs/cgroup/unified) while
# any controller is still attached to cgroup2. A controller that no v2 cgroup below the root
# has enabled can be moved onto a v1 mount of its own, and moved back by unmounting it once the
# new hierarchy has no child cgroups. Nothing else of the host is touched.

BENCH_CG_UNIFIED=/sys/fs/cgroup/unified
BENCH_CG_MOVED=()     # controllers this process moved to v1
BENCH_CG_MKDIRS=()    # mount points this process created
BENCH_CG_CHANGES=()   # human-readable list of host changes still in force

bench_cg_is_hybrid() {
    [[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) == tmpfs ]] &&
        [[ $(stat -f -c %T "$BENCH_CG_UNIFIED" 2>/dev/null) == cgroup2fs ]]
}

bench_cg_v2_controllers() { cat "$BENCH_CG_UNIFIED/cgroup.controllers" 2>/dev/null || true; }

# Prints why controller $1 cannot be moved off cgroup2, or nothing if it can.
bench_cg_move_blocker() {
    local c=$1 f
    while IFS= read -r -d '' f; do
        if grep -qw -- "$c" "$f" 2>/dev/null; then
            printf '%s is enabled in %s' "$c" "$f"
            return
        fi
    done < <(find "$BENCH_CG_UNIFIED" -name cgroup.subtree_control -print0 2>/dev/null)
    if [[ -e /sys/fs/cgroup/$c ]]; then
        printf '/sys/fs/cgroup/%s already exists' "$c"
    fi
}

# Moves every controller still on cgroup2 to /sys/fs/cgroup/<name>. On failure returns non-zero
# with the reason in BENCH_CG_ERR; whatever was moved stays recorded for bench_cg_restore.
# (Call it directly, not in $(...): it records state in these globals.)
BENCH_CG_ERR=""
bench_cg_move_off_v2() {
    local c why
    BENCH_CG_ERR=""
    for c in $(bench_cg_v2_controllers); do
        why=$(bench_cg_move_blocker "$c")
        if [[ -n $why ]]; then
            BENCH_CG_ERR="cannot move $c off cgroup2 without disturbing the host: $why"
            return 1
        fi
    done
    for c in $(bench_cg_v2_controllers); do
        if ! mkdir "/sys/fs/cgroup/$c" 2>/dev/null; then
            BENCH_CG_ERR="mkdir /sys/fs/cgroup/$c failed"
            return 1
        fi
        BENCH_CG_MKDIRS+=("/sys/fs/cgroup/$c")
        if ! why=$(mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" 2>&1); then
            BENCH_CG_ERR="mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c: $why"
            return 1
        fi
        BENCH_CG_MOVED+=("$c")
        BENCH_CG_CHANGES+=("moved cgroup controller '$c' from cgroup2 ($BENCH_CG_UNIFIED) to a new v1 mount: mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c")
    done
    if [[ -n $(bench_cg_v2_controllers) ]]; then
        BENCH_CG_ERR="cgroup2 still lists controllers after the move: $(bench_cg_v2_controllers)"
        return 1
    fi
}

# Number of cgroups (the root included, dying ones too) in the hierarchy controller $1 is on.
bench_cg_count() { awk -v c="$1" '$1 == c { print $3 }' /proc/cgroups; }

# Removes empty child cgroups under $1 whose path (relative to $1) matches the extended regex $2,
# deepest first. Prints what is left (any child cgroup at all).
bench_cg_prune() {
    local mnt=$1 re=$2 d rel
    while IFS= read -r d; do
        rel=${d#"$mnt"/}
        [[ $rel =~ $re ]] || continue
        [[ -s $d/cgroup.procs ]] && continue
        rmdir "$d" 2>/dev/null || true
    done < <(find "$mnt" -mindepth 1 -type d 2>/dev/null | awk '{ print length($0) "\t" $0 }' | sort -rn | cut -f2-)
    find "$mnt" -mindepth 1 -type d 2>/dev/null
}

# Undoes bench_cg_move_off_v2. $1: regex of child cgroups this bench may have left (removed if
# empty). A v1 hierarchy only goes away (and gives its controller back to cgroup2) if it has no
# child cgroup, dying ones included, at the moment it is unmounted; otherwise it lingers unmounted.
# So: prune, wait for the count to reach 1, unmount, and if the controller does not come back,
# mount the same hierarchy again and retry. Other processes' child cgroups are given a few
# seconds to go; if they stay, the mount is left in place with a note saying how to undo it.
# Appends the outcome to BENCH_CG_CHANGES.
bench_cg_restore() {
    local re=$1 c mnt left n try back
    for c in "${BENCH_CG_MOVED[@]}"; do
        mnt=/sys/fs/cgroup/$c
        back=0
        for ((try = 0; try < 3 && !back; try++)); do
            mountpoint -q "$mnt" || mount -t cgroup -o "$c" cgroup "$mnt" || break
            for ((n = 0; n < 50; n++)); do
                left=$(bench_cg_prune "$mnt" "$re")
                [[ -z $left && $(bench_cg_count "$c") == 1 ]] && break
                sleep 0.1
            done
            [[ -z $left ]] || break
            umount "$mnt" || break
            for ((n = 0; n < 20; n++)); do
                grep -qw -- "$c" "$BENCH_CG_UNIFIED/cgroup.controllers" && { back=1; break; }
                sleep 0.1
            done
        done
        if ((back)); then
            BENCH_CG_CHANGES+=("undone at the end: unmounted /sys/fs/cgroup/$c; '$c' is back on cgroup2")
        elif [[ -n $left ]]; then
            BENCH_CG_CHANGES+=("NOT undone: '$c' stays on v1: $mnt has child cgroups this bench did not make (${left//$'\n'/ }); undo by hand once they are gone: umount $mnt && rmdir $mnt")
        else
            BENCH_CG_CHANGES+=("NOT undone: '$c' did not return to cgroup2 after umount $mnt; check /proc/cgroups, remount it there and unmount it once it has no child cgroups")
        fi
    done
    BENCH_CG_MOVED=()
    for mnt in "${BENCH_CG_MKDIRS[@]}"; do
        mountpoint -q "$mnt" || rmdir "$mnt" 2>/dev/null || true
    done
    BENCH_CG_MKDIRS=()
}
