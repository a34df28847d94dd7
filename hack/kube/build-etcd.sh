#!/usr/bin/env bash
# build-etcd.sh builds etcd from the Go module proxy (go.etcd.io/etcd/server/v3,
# whose module root is etcd's main package) and caches it next to
# kube-apiserver:
#
#   hack/kube/build-etcd.sh [OUT_DIR]
#
# Result: ${PATCHLET_CACHE:-$HOME/.cache/patchlet}/kube/$KUBE_VERSION/etcd,
# symlinked into OUT_DIR (default ./bin/kube). Debian 12's etcd-server
# (3.4) is the other choice; see hack/kube/README.md for which one is used.
set -euo pipefail

ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
KUBE_VERSION=${KUBE_VERSION:-v1.37.1}
GO=${GO:-go}
CACHE=${PATCHLET_CACHE:-$HOME/.cache/patchlet}/kube/$KUBE_VERSION
OUT_DIR=${1:-$(pwd)/bin/kube}
BIN=$CACHE/etcd

log() { printf '%s build-etcd: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

link_out() {
	mkdir -p "$OUT_DIR"
	ln -sfn "$BIN" "$OUT_DIR/etcd"
}

if [[ -x $BIN ]] && "$BIN" --version 2>/dev/null | grep -q "etcd Version: ${ETCD_VERSION#v}"; then
	log "cached: $BIN"
	link_out
	exit 0
fi

start=$(date +%s)
mkdir -p "$CACHE"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
printf 'module patchlet.local/etcdbuild\n\ngo 1.26\n' >go.mod
printf '//go:build tools\n\npackage etcdbuild\n\nimport _ "go.etcd.io/etcd/server/v3"\n' >tools.go
log "building etcd $ETCD_VERSION in $work"
GOFLAGS=-mod=mod $GO get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
CGO_ENABLED=0 GOFLAGS=-mod=mod $GO build -trimpath -ldflags "-s -w" -o "$BIN.tmp" go.etcd.io/etcd/server/v3
mv -f "$BIN.tmp" "$BIN"
log "built $BIN in $(($(date +%s) - start))s: $("$BIN" --version | head -1)"
link_out
