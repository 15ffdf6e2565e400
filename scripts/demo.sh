#!/bin/bash
# Builds mxc (if needed) and runs a command in an agent sandbox (profile
# `agent`): host read-only, this directory read-write, credentials and the
# desktop hidden, no network, no capabilities, seccomp + Landlock, and every
# exec/file/network action in the identity's audit stream.  As root it starts
# mxcd (the eBPF audit daemon) when it is not running; as a user without mxcd
# the run audits itself through seccomp user notification.  Afterwards it
# shows the sandbox's last audit records and verifies the stream.
#   scripts/demo.sh                 # a short self-check inside the sandbox
#   scripts/demo.sh -- CMD ARGS...  # your own command
#   scripts/demo.sh --oci           # a plain OCI container from a busybox bundle
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build src/cli/mxc >/dev/null
MXC=$PWD/build/src/cli/mxc
MXCD=$PWD/build/src/daemon/mxcd
if [ "$(id -u)" -eq 0 ] && ninja -C build src/daemon/mxcd >/dev/null 2>&1 && ! "$MXCD" --status >/dev/null 2>&1; then
    "$MXCD" --daemon --pid-file /run/mxc/mxcd.pid
    echo "demo: started mxcd (eBPF audit); stop it with: kill \$(cat /run/mxc/mxcd.pid)" >&2
fi

if [ "${1:-}" = "--oci" ]; then
    shift
    bundle=$(mktemp -d /tmp/mxc-demo.XXXXXX)
    trap 'rm -rf "$bundle"' EXIT
    mkdir -p "$bundle/rootfs/bin"
    cp /bin/busybox "$bundle/rootfs/bin/busybox"
    for a in $("$bundle/rootfs/bin/busybox" --list); do
        [ "$a" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$a"
    done
    cd "$bundle"
    if [ "$(id -u)" -eq 0 ]; then "$MXC" spec; else "$MXC" spec --rootless; fi
    python3 - "$@" <<'PY'
import json, sys
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = sys.argv[1:] or ["sh", "-c",
    "echo \"hello from $(hostname): uid $(id -u), pid $$\"; ls /"]
json.dump(c, open("config.json", "w"), indent=2)
PY
    "$MXC" run "demo-$$"
    exit
fi

[ "${1:-}" = "--" ] && shift
workspace=$(mktemp -d /tmp/mxc-workspace.XXXXXX)
trap 'rm -rf "$workspace"' EXIT
cd "$workspace"
name="demo-$$"
show_audit() {
    echo "--- audit: the last records of sandbox $name (mxc audit tail --sandbox $name) ---" >&2
    "$MXC" audit tail --sandbox "$name" -n 12 >&2 || true
    "$MXC" audit verify >&2 || true
}
if [ $# -gt 0 ]; then
    rc=0
    "$MXC" run --name "$name" -- "$@" || rc=$?
    show_audit
    exit $rc
fi
trap 'show_audit; rm -rf "$workspace"' EXIT
"$MXC" run --name "$name" -- sh -c '
echo "sandbox $MXC_SANDBOX, identity $MXC_IDENTITY, in $PWD"
touch /etc/mxc-demo 2>/dev/null && echo "FAIL: host writable" || echo "ok: host is read-only"
touch ./result && echo "ok: workspace is writable"
ls ~/.ssh >/dev/null 2>&1 && echo "FAIL: ~/.ssh visible" || echo "ok: ~/.ssh hidden"
timeout 2 bash -c "exec 3<>/dev/tcp/192.0.2.1/80" 2>/dev/null && echo "FAIL: network" || echo "ok: no network"
grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status'
