#!/bin/bash
# Inside a private mount namespace (see hack/bench-agent.sh).
set -euo pipefail
source "$SRC/hack/sandbox-lib.sh"
sandbox_up
ctl() { "$SRC/bin/patchctl" --server "unix:$M/run/patchlet/patchlet.sock" "$@"; }
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

chroot "$M" /usr/local/bin/patchlet --listen unix:/run/patchlet/patchlet.sock --state-dir /var/lib/patchlet \
	--policy-dir /etc/patchlet/policies.d --host-name bench --host-labels role=demo --executor detached \
	--log-format json >"$W/agent.log" 2>&1 &
agent=$!
trap 'kill $agent 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$M/run/patchlet/patchlet.sock" ] && break; sleep 0.1; done

policy() { # name version
	cat <<YAML
apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata: {name: $1}
spec:
  packages: [{name: demo-hello, version: "$2"}]
YAML
}

# Warm up: the first pass refreshes the index and runs the dry run once.
policy warm 1.0-1 | ctl apply -f - >/dev/null
ctl wait policy/warm --for=condition=Ready --timeout=120s >/dev/null
ctl delete policy warm >/dev/null
chroot "$M" dpkg -P demo-hello >/dev/null

echo "== install overhead: one pinned install, $RUNS runs each"
agent_times=() bare_times=() e2e_times=()
for i in $(seq "$RUNS"); do
	t0=$(now)
	policy "run$i" 2.0-1 | ctl apply -f - >/dev/null
	ctl wait "policy/run$i" --for=condition=Ready --timeout=120s >/dev/null
	t1=$(now)
	e2e_times+=("$(echo "$t1 - $t0" | bc)")
	op=$(ctl get operations -o name | sed 's,.*/,,' | grep install | sort | tail -1)
	# The agent's own view of the step: from "running step" to "step succeeded".
	d=$(grep "\"$op\"" "$W/agent.log" | python3 -c '
import json,sys
from datetime import datetime
ts={}
for l in sys.stdin:
    r=json.loads(l); ts[r["msg"]]=r["ts"]
f=lambda s: datetime.fromisoformat(s.replace("Z","+00:00"))
print((f(ts["step succeeded"])-f(ts["running step"])).total_seconds())')
	agent_times+=("$d")
	argv=$(ctl get operation "$op" -o json | python3 -c 'import json,sys,shlex; print(shlex.join(json.load(sys.stdin)["spec"]["argv"]))')
	ctl delete policy "run$i" >/dev/null
	chroot "$M" dpkg -P demo-hello >/dev/null
	t0=$(now)
	eval "chroot \"$M\" env -i DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin $argv" </dev/null >/dev/null 2>&1
	t1=$(now)
	bare_times+=("$(echo "$t1 - $t0" | bc)")
	chroot "$M" dpkg -P demo-hello >/dev/null
done
a=$(printf '%s\n' "${agent_times[@]}" | median)
b=$(printf '%s\n' "${bare_times[@]}" | median)
e=$(printf '%s\n' "${e2e_times[@]}" | median)
printf '  bare apt-get install (same argv):     median %.3f s  (runs: %s)\n' "$b" "${bare_times[*]}"
printf '  the same step through patchlet:       median %.3f s  (runs: %s)\n' "$a" "${agent_times[*]}"
printf '  overhead of the detached step:        %+.1f %%\n' "$(echo "($a - $b) * 100 / $b" | bc -l)"
printf '  apply -> Ready (refresh-free, incl. dry run and verification pass): median %.3f s\n' "$e"

echo "== idle footprint over ${IDLE_SECONDS}s (policies satisfied)"
policy idle 1.0-1 | ctl apply -f - >/dev/null
ctl wait policy/idle --for=condition=Ready --timeout=120s >/dev/null
sleep 2
pid=$agent
ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
switches() { cat /proc/$pid/task/*/status | awk '/^(non)?voluntary_ctxt_switches/ {s+=$2} END {print s}'; }
c0=$(ticks) s0=$(switches)
sleep "$IDLE_SECONDS"
c1=$(ticks) s1=$(switches)
hz=$(getconf CLK_TCK)
printf '  RSS %s KiB (peak %s KiB), threads %s\n' "$(awk '/^VmRSS/ {print $2}' /proc/$pid/status)" "$(awk '/^VmHWM/ {print $2}' /proc/$pid/status)" "$(awk '/^Threads/ {print $2}' /proc/$pid/status)"
printf '  CPU %.2f s, context switches %d (%.2f/s)\n' "$(echo "($c1 - $c0) / $hz" | bc -l)" "$((s1 - s0))" "$(echo "($s1 - $s0) / $IDLE_SECONDS" | bc -l)"
