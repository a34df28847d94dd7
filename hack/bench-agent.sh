#!/bin/bash
# hack/bench-agent.sh: measure the agent on a throw-away sandbox of this
# host (the same overlay as make demo): idle footprint (RSS, CPU seconds,
# wake-ups over IDLE_SECONDS) and the overhead of running an install step
# through patchlet's detached executor compared with the bare apt-get
# command line of the same step (RUNS times each, medians).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "error: needs root (mount namespace, overlayfs, chroot)" >&2
	exit 1
fi
export IDLE_SECONDS=${IDLE_SECONDS:-60} RUNS=${RUNS:-5}
W=$(mktemp -d /var/tmp/patchlet-bench.XXXXXX)
chmod 755 "$W"
trap 'rm -rf "$W"' EXIT
go run ./hack/demorepo -out "$W/build" >/dev/null
export W SRC="$PWD"
unshare -m --propagation private bash ./hack/bench-sandbox.sh
