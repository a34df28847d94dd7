#!/bin/bash
# Inside a private mount namespace (see hack/bench/run.sh): the sandbox of
# this host with apt pointed at the generated repository, the agent on
# loopback TCP, and every comparison timed with hyperfine. Results land in
# $W/res for hack/bench/report.py.
set -euo pipefail
source "$SRC/hack/sandbox-lib.sh"
sandbox_up
R=$W/res
mkdir -p "$M/srv/bench"
cp -a "$W/build/debs" "$M/srv/bench/debs"
install -m 0755 "$W/bin/benchtool" "$M/usr/local/bin/benchtool"
# A clean environment for every command run in the sandbox.
IN="chroot $M env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 HOME=/root DEBIAN_FRONTEND=noninteractive"
$IN apt-get update -qq
$IN sh -c 'dpkg -i /srv/bench/debs/demo-hello_1.0-1_all.deb /srv/bench/debs/bench-up-*_1.0-1_all.deb' >/dev/null
echo "$IN" >"$R/in.txt"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
S=http://127.0.0.1:$port
echo "$S" >"$R/server.txt"
CTL="$SRC/bin/patchctl --server $S"
$IN /usr/local/bin/patchlet --listen "127.0.0.1:$port" --insecure --rate-limit -1 \
	--state-dir /var/lib/patchlet --policy-dir /etc/patchlet/policies.d --host-name bench \
	--host-labels role=bench --executor detached --reboot-command /bin/false --log-format json -v "${AGENT_V:-0}" >"$W/agent.log" 2>&1 &
agent=$!
cleanup() { kill "$agent" 2>/dev/null || true; wait "$agent" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 100); do $CTL version >/dev/null 2>&1 && break; sleep 0.1; done

P=$W/policies
mkdir -p "$P"
policy() { # name, then the spec lines
	local name=$1
	shift
	printf 'apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata: {name: %s}\nspec:\n' "$name" >"$P/$name.yaml"
	printf '  %s\n' "$@" >>"$P/$name.yaml"
}
policy noop 'packages: [{name: demo-hello, version: "1.0-1"}]' 'cache: {maxAge: 24h}'
policy install 'packages: [{name: demo-hello, version: "2.0-1"}]' 'cache: {maxAge: 24h}'
policy upgrade 'updates: {apply: All}' 'cache: {maxAge: 24h}'
policy slow 'packages: [{name: bench-slow}]' 'cache: {maxAge: 24h}'
apply_wait() { $CTL apply -f "$P/$1.yaml" >/dev/null && $CTL wait "policy/$1" --for=condition=Ready --timeout=180s >/dev/null; }
# hf NAME [hyperfine options] -- COMMAND...: RUNS timed runs (after one warm-up), JSON into $R/NAME.json.
hf() {
	local name=$1
	shift
	hyperfine --style none --runs "$RUNS" --export-json "$R/$name.json" "$@" >>"$W/hyperfine.log" 2>&1 ||
		{ echo "error: hyperfine $name failed:" >&2; tail -20 "$W/hyperfine.log" >&2; exit 1; }
}

echo "    warm-up: the agent's first pass (index refresh, dry run), a satisfied pin"
apply_wait noop
$IN apt-get update -qq # patchlet recorded its own refresh; give ansible's cache_valid_time a fresh index too

echo "    no-op check of a satisfied state"
hf noop-ansible --warmup 1 -N "$IN ansible localhost -c local -m apt -a 'name=demo-hello=1.0-1 cache_valid_time=3600'"
hf noop-uu --warmup 1 -N "$IN unattended-upgrade --dry-run"
$CTL delete policy noop >/dev/null

echo "    detect pending upgrades (20 upgradable)"
$IN benchtool observe -runs 50 >"$R/detect-patchlet.jsonl"
hf detect-apt --warmup 1 -N "$IN apt list --upgradable"

echo "    install one pinned package"
purge="$IN dpkg -P demo-hello"
hf install-patchlet --prepare "$CTL delete policy install --ignore-not-found >/dev/null 2>&1 || true; $purge" \
	"$CTL apply -f $P/install.yaml >/dev/null && $CTL wait policy/install --for=condition=Ready --timeout=180s >/dev/null"
op=$($CTL get operations -o json | python3 -c '
import json,sys
items=[o for o in json.load(sys.stdin)["items"] if "demo-hello" in " ".join(o["spec"].get("argv",[]))]
items.sort(key=lambda o: o["metadata"]["creationTimestamp"])
print(items[-1]["metadata"]["name"])')
$CTL get operation "$op" -o json >"$R/install-op.json"
argv=$(python3 -c 'import json,sys,shlex; print(shlex.join(json.load(open(sys.argv[1]))["spec"]["argv"]))' "$R/install-op.json")
echo "$argv" >"$R/install-argv.txt"
$CTL delete policy install >/dev/null
hf install-apt --prepare "$purge" -N "$IN $argv"
hf install-ansible --prepare "$purge" -N "$IN ansible localhost -c local -m apt -a 'name=demo-hello=2.0-1'"

echo "    upgrade 20 packages"
downgrade="$IN sh -c 'dpkg -i /srv/bench/debs/bench-up-*_1.0-1_all.deb >/dev/null'"
hf upgrade-patchlet --prepare "$CTL delete policy upgrade --ignore-not-found >/dev/null 2>&1 || true; $downgrade" \
	"$CTL apply -f $P/upgrade.yaml >/dev/null && $CTL wait policy/upgrade --for=condition=Ready --timeout=180s >/dev/null"
op=$($CTL get operations -o json | python3 -c '
import json,sys
items=[o for o in json.load(sys.stdin)["items"] if "bench-up-01" in " ".join(o["spec"].get("argv",[]))]
items.sort(key=lambda o: o["metadata"]["creationTimestamp"])
print(items[-1]["metadata"]["name"])')
$CTL get operation "$op" -o json >"$R/upgrade-op.json"
argv=$(python3 -c 'import json,sys,shlex; print(shlex.join(json.load(open(sys.argv[1]))["spec"]["argv"]))' "$R/upgrade-op.json")
echo "$argv" >"$R/upgrade-argv.txt"
$CTL delete policy upgrade >/dev/null
hf upgrade-apt --prepare "$downgrade" -N "$IN $argv"
hf upgrade-ansible --prepare "$downgrade" -N "$IN ansible localhost -c local -m apt -a 'upgrade=yes'"
$CTL get operations -o json >"$R/operations.json"
cp "$W/agent.log" "$R/agent.log"

pid=$agent
ticks() { awk '{print $14+$15}' "/proc/$pid/stat"; }
switches() { cat /proc/"$pid"/task/*/status | awk '/^(non)?voluntary_ctxt_switches/ {s+=$2} END {print s}'; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$pid/status"; }

echo "    status API under wrk while a step runs ($WRK_RUNS runs of ${WRK_SECONDS}s)"
# running_slow: how many Operations installing bench-slow are Running.
running_slow() {
	$CTL get operations -o json | python3 -c '
import json,sys
print(sum(1 for o in json.load(sys.stdin)["items"] if "bench-slow" in " ".join(o["spec"].get("argv",[])) and o.get("status",{}).get("phase")=="Running"))'
}
$CTL apply -f "$P/slow.yaml" >/dev/null
for _ in $(seq 300); do [ "$(running_slow)" -gt 0 ] && break; sleep 0.1; done
running_slow >"$R/api-step-before.txt"
c0=$(ticks) s0=$(switches)
url="$S/apis/patchlet.io/v1alpha1/hosts/bench/status"
curl -fsS "$url" >/dev/null
for i in $(seq "$WRK_RUNS"); do
	wrk -t2 -c16 -d"${WRK_SECONDS}s" --latency "$url" >"$R/wrk$i.txt" 2>&1
done
echo "wrk -t2 -c16 -d${WRK_SECONDS}s --latency $url" >"$R/wrk-command.txt"
c1=$(ticks) s1=$(switches)
echo "{\"cpu_s\": $(awk -v a="$c0" -v b="$c1" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / t }'), \"switches\": $((s1 - s0)), \"seconds\": $((WRK_SECONDS * WRK_RUNS)), \"rss_kib\": $(rss), \"hwm_kib\": $(hwm)}" >"$R/load.json"
running_slow >"$R/api-step-after.txt"
$CTL wait policy/slow --for=condition=Ready --timeout=180s >/dev/null

echo "    idle footprint over ${IDLE_SECONDS}s (policies satisfied)"
sleep 2
c0=$(ticks) s0=$(switches)
sleep "$IDLE_SECONDS"
c1=$(ticks) s1=$(switches)
echo "{\"cpu_s\": $(awk -v a="$c0" -v b="$c1" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / t }'), \"switches\": $((s1 - s0)), \"seconds\": $IDLE_SECONDS, \"rss_kib\": $(rss), \"hwm_kib\": $(hwm), \"threads\": $(awk '/^Threads/ {print $2}' "/proc/$pid/status")}" >"$R/idle.json"
