#!/bin/bash
# Installs everything mxc needs to build and test on Debian 12 / Ubuntu 22.04+.
set -euo pipefail
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps.sh: run as root (sudo $0)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
# curl: AgentTest.NetAllowReachesListedServerOnly goes through the proxy with it.
apt-get install -y --no-install-recommends \
    meson ninja-build pkg-config g++ python3 \
    libseccomp-dev libcap-dev libyaml-dev libfmt-dev nlohmann-json3-dev libcli11-dev \
    libgtest-dev libgmock-dev libssl-dev libsodium-dev libbpf-dev clang llvm bpftool \
    busybox-static uidmap iproute2 procps libc6-dev curl \
    strace  # tests: Lifecycle.ExecExitCodeSurvivesALateWaiter forces a race with strace -e inject
