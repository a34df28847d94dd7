#!/usr/bin/env bash
# Fleet rollout benchmark: N simulated agents (real fleet code and local
# reconcile loop, in-memory package backend) against a real kube-apiserver
# converge one policy with maxConcurrent 5%. Prints the time to converge and
# API requests per host (rollout total, and per minute in a quiet steady
# state), and the apiserver's CPU time and peak memory.
# Usage: hack/fleet-bench.sh [HOSTS...]   (default: 1000 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=("$@"); [ $# -eq 0 ] && hosts=(1000 10000)
go test -c -o /tmp/fleet-bench.test ./fleet/
for n in "${hosts[@]}"; do
  echo "== $n simulated hosts"
  ulimit -n 1048576 2>/dev/null || true
  PATCHLET_FLEET_BENCH_HOSTS=$n /tmp/fleet-bench.test -test.timeout 90m \
    -ginkgo.label-filter=benchmark -ginkgo.v 2>&1 | grep -E 'BENCH|FAIL|Ran ' &
  pid=$!
  peak=0; cpu=0
  while kill -0 $pid 2>/dev/null; do
    # Only the apiserver this benchmark started (other tests may run one).
    tp=$(pgrep -o -f '^/tmp/fleet-bench.test' || true)
    ap=""
    [ -n "$tp" ] && ap=$(pgrep -P "$tp" -f 'kube-apiserver' || true)
    if [ -n "$ap" ]; then
      rss=$(awk '/VmRSS/{print $2}' /proc/$ap/status 2>/dev/null || echo 0)
      [ "${rss:-0}" -gt "$peak" ] && peak=$rss
      t=$(awk '{print $14+$15}' /proc/$ap/stat 2>/dev/null || echo 0)
      [ "${t:-0}" -gt 0 ] && cpu=$t
    fi
    sleep 1
  done
  wait $pid || true
  echo "apiserver: cpu=$((cpu / $(getconf CLK_TCK)))s peak_rss=$((peak / 1024))MiB"
done
