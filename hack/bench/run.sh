#!/bin/bash
# hack/bench/run.sh (make bench): patchlet measured beside the tools an
# operator would otherwise use, in one run on one throw-away sandbox of this
# host, and printed as one table of medians, spreads and ratios.
#
#  1. Go benchmarks (their own test roots): the no-op pass, drop-to-reconcile
#     latency, and the fleet benchmark when a fleet/ package has one.
#  2. Generated dpkg status databases (1,000 and 10,000 packages): patchlet's
#     parser vs dpkg-query -W --admindir.
#  3. A sandbox (overlay of / in a private mount namespace, hack/sandbox-lib.sh)
#     whose apt sees only a repository of generated packages
#     (hack/bench/benchtool repo): hack/bench/sandbox.sh runs the agent there
#     beside ansible's apt module, unattended-upgrade and bare apt-get.
#
# Environment: BENCH_QUICK=1 (a smoke run of about two minutes: fewer runs,
# 10 s idle, one 3 s wrk run), RUNS (hyperfine runs per command), IDLE_SECONDS,
# WRK_SECONDS and WRK_RUNS (keep their product below SLOW_SECONDS, the length of
# the step that runs meanwhile), GO_COUNT (go test -count), FILL (one-version packages in the
# repository), BENCH_OUT (where results.md and results.json go; default
# out/bench), BENCH_KEEP=1 (also copy the raw results there), BENCH_SKIP_GO=1,
# AGENT_V (the agent's -v, default 0; 1 logs every dry run).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
	echo "error: make bench needs root (mount namespace, overlayfs, chroot)" >&2
	exit 1
fi
if [ -n "${BENCH_QUICK:-}" ]; then
	: "${RUNS:=3}" "${IDLE_SECONDS:=10}" "${WRK_SECONDS:=3}" "${WRK_RUNS:=1}" "${GO_COUNT:=2}" "${FILL:=50}" "${SLOW_SECONDS:=8}"
fi
export RUNS=${RUNS:-7} IDLE_SECONDS=${IDLE_SECONDS:-60} WRK_SECONDS=${WRK_SECONDS:-10} WRK_RUNS=${WRK_RUNS:-3} \
	GO_COUNT=${GO_COUNT:-5} FILL=${FILL:-200} SLOW_SECONDS=${SLOW_SECONDS:-40} BENCH_OUT=${BENCH_OUT:-$PWD/out/bench}
for t in hyperfine wrk ansible unattended-upgrade bc python3 dpkg-query; do
	command -v "$t" >/dev/null || { echo "error: $t is missing (make bench installs it)" >&2; exit 1; }
done
W=$(mktemp -d /var/tmp/patchlet-bench.XXXXXX)
chmod 755 "$W"
trap 'rm -rf "$W"' EXIT
mkdir -p "$BENCH_OUT" "$W/res" "$W/bin"
export W SRC="$PWD"


start=$(date +%s)
before=$(sha256sum /var/lib/dpkg/status | cut -d' ' -f1)
cut -d' ' -f1-3 /proc/loadavg >"$W/res/loadavg-start.txt"

echo "==> building benchtool and the repository of generated packages ($FILL fill packages)"
CGO_ENABLED=0 go build -o "$W/bin/benchtool" ./hack/bench/benchtool
"$W/bin/benchtool" repo -out "$W/build" -fill "$FILL" -slow "$SLOW_SECONDS"

echo "==> Go benchmarks (-count $GO_COUNT)"
if [ -z "${BENCH_SKIP_GO:-}" ]; then
go test -run '^$' -bench '^(BenchmarkNoopPass)$' -benchtime 200x -count "$GO_COUNT" ./controllers/policy/ | tee "$W/res/noop.txt" | grep -E '^Benchmark' || true
go test -run '^$' -bench '^BenchmarkDropLatency$' -benchtime 1x -count "$GO_COUNT" ./controllers/dropdir/ | tee "$W/res/drop.txt" | grep -E '^Benchmark' || true
fleet=none
if [ -d fleet ] && grep -rqs '^func Benchmark' fleet --include='*_test.go'; then
	fleet=fleet
	go test -run '^$' -bench . -benchtime 1x -count "$GO_COUNT" ./fleet/... | tee "$W/res/fleet.txt" | grep -E '^Benchmark' || true
fi
fi
export fleet

echo "==> observe 1,000 and 10,000 installed packages (generated status databases)"
for n in 1000 10000; do
	"$W/bin/benchtool" status -out "$W/db$n" -n "$n"
	"$W/bin/benchtool" parse -status "$W/db$n/status" -runs 101 >"$W/res/parse$n.json"
	hyperfine -N --style none --warmup 3 --runs $((RUNS * 3)) --export-json "$W/res/observe$n.json" \
		"$W/bin/benchtool parse -runs 1 -status $W/db$n/status" \
		"dpkg-query --admindir=$W/db$n -W" >>"$W/hyperfine.log" 2>&1
done

echo "==> the sandbox: patchlet beside ansible, unattended-upgrade and apt-get"
unshare -m --propagation private bash ./hack/bench/sandbox.sh

cut -d' ' -f1-3 /proc/loadavg >"$W/res/loadavg-end.txt"
after=$(sha256sum /var/lib/dpkg/status | cut -d' ' -f1)
if [ "$before" != "$after" ]; then
	echo "error: the host's /var/lib/dpkg/status changed" >&2
	exit 1
fi
[ -n "${BENCH_KEEP:-}" ] && cp -a "$W/res" "$BENCH_OUT/raw"
python3 hack/bench/report.py "$W/res" "$BENCH_OUT"
echo "(host untouched: /var/lib/dpkg/status unchanged; bench took $(($(date +%s) - start)) s; results in $BENCH_OUT)"
