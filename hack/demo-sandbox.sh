#!/bin/bash
# Runs inside a private mount namespace (see hack/demo.sh): builds the
# overlay sandbox, runs the agent in it and walks through the demo.
set -euo pipefail
source "$SRC/hack/sandbox-lib.sh"
sandbox_up

echo "==> the sandbox starts with old versions installed and a locally edited conffile"
debs=$(find "$W/build/debs" -name 'demo-conf_1.0-1_all.deb' -o -name 'demo-kernel_6.1.0-1_all.deb')
mkdir -p "$M/srv/demo/old" && cp $debs "$M/srv/demo/old/"
chroot "$M" dpkg -i /srv/demo/old/demo-conf_1.0-1_all.deb /srv/demo/old/demo-kernel_6.1.0-1_all.deb >/dev/null
echo "# edited by the operator" >> "$M/etc/demo-conf.conf"
chroot "$M" dpkg-query -W demo-conf demo-kernel | sed 's/^/    /'

echo "==> starting patchlet in the sandbox"
chroot "$M" /usr/local/bin/patchlet \
	--listen unix:/run/patchlet/patchlet.sock --state-dir /var/lib/patchlet \
	--policy-dir /etc/patchlet/policies.d --host-name demo-host --host-labels role=demo \
	--executor detached --reboot-command /bin/false --log-format json >"$W/agent.log" 2>&1 &
agent=$!
cleanup() { kill "$agent" 2>/dev/null || true; wait "$agent" 2>/dev/null || true; }
trap cleanup EXIT
ctl() { "$SRC/bin/patchctl" --server "unix:$M/run/patchlet/patchlet.sock" "$@"; }
for _ in $(seq 100); do [ -S "$M/run/patchlet/patchlet.sock" ] && break; sleep 0.1; done
ctl version >/dev/null

echo "==> patchctl apply -f config/samples/"
for f in "$SRC"/config/samples/*.yaml; do ctl apply -f "$f"; done
echo "==> a policy dropped into /etc/patchlet/policies.d (the GitOps path)"
cat > "$M/etc/patchlet/policies.d/hold.yaml" <<'YAML'
apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata:
  name: gitops-hold-hello
spec:
  hostSelector: {matchLabels: {role: demo}}
  packages:
  - {name: demo-hello, version: "1.0-1", state: Held}
YAML

echo "==> patchctl wait policy/demo --for=condition=Ready"
if ! ctl wait policy/demo --for=condition=Ready --timeout=90s; then
	echo "error: the demo policy did not become Ready; agent log:" >&2
	tail -40 "$W/agent.log" >&2
	exit 1
fi
ctl wait policy/gitops-hold-hello --for=condition=Ready --timeout=60s
echo
ctl get policies
echo
ctl describe policy demo
echo
ctl get operations
echo
ctl describe host demo-host
echo
echo "==> in the sandbox now"
chroot "$M" dpkg-query -W demo-hello demo-conf demo-kernel | sed 's/^/    /'
echo "    held: $(chroot "$M" apt-mark showhold | tr '\n' ' ')"
echo "    /etc/demo-conf.conf kept the operator's edit: $(grep -c 'edited by the operator' "$M/etc/demo-conf.conf") line; the new default is in $(cd "$M" && ls etc/demo-conf.conf.dpkg-dist | sed "s,^,/,")"
echo "    /run/reboot-required.pkgs: $(cat "$M/run/reboot-required.pkgs" 2>/dev/null | tr '\n' ' ')"
echo
echo "==> the audit log of API changes and steps is intact"
"$SRC/bin/patchctl" audit verify --dir "$M/var/lib/patchlet/audit" | sed 's/^/    /'
echo "==> a few of the agent's Prometheus metrics"
curl -s --unix-socket "$M/run/patchlet/patchlet.sock" http://localhost/metrics |
	grep -E '^patchlet_(policy_condition\{policy="demo",type="Ready"|steps_total|host_reboot_required|package_index_age)' | sed 's/^/    /'
