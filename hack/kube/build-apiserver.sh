#!/usr/bin/env bash
# build-apiserver.sh builds a real kube-apiserver from the Go module proxy and
# caches it by version, so a fresh clone on the same machine reuses it.
#
#   hack/kube/build-apiserver.sh [OUT_DIR]
#
# k8s.io/kubernetes is not meant to be consumed as a module: its go.mod
# replaces every k8s.io/* staging module with a path inside its own tree. A
# throwaway module in a temp dir requires k8s.io/kubernetes@KUBE_VERSION and
# replaces each of those staging modules with its published v0.X.Y release.
#
# Result: ${PATCHLET_CACHE:-$HOME/.cache/patchlet}/kube/$KUBE_VERSION/kube-apiserver,
# symlinked into OUT_DIR (default ./bin/kube).
set -euo pipefail

KUBE_VERSION=${KUBE_VERSION:-v1.37.1}
GO=${GO:-go}
CACHE=${PATCHLET_CACHE:-$HOME/.cache/patchlet}/kube/$KUBE_VERSION
OUT_DIR=${1:-$(pwd)/bin/kube}
BIN=$CACHE/kube-apiserver

log() { printf '%s build-apiserver: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

link_out() {
	mkdir -p "$OUT_DIR"
	ln -sfn "$BIN" "$OUT_DIR/kube-apiserver"
}

if [[ -x $BIN ]] && "$BIN" --version >/dev/null 2>&1; then
	log "cached: $BIN ($("$BIN" --version))"
	link_out
	exit 0
fi

# v1.37.1 -> v0.37.1 for the staging modules.
STAGING_VERSION=v0.${KUBE_VERSION#v1.}
start=$(date +%s)
mkdir -p "$CACHE"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "building kube-apiserver $KUBE_VERSION (staging $STAGING_VERSION) in $work"

cd "$work"
cat >go.mod <<MOD
module patchlet.local/kubebuild

go 1.26
MOD

# The staging modules are listed as replace directives in kubernetes' own go.mod.
modfile=$(GOFLAGS=-mod=mod $GO mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
if [[ -z $modfile || ! -f $modfile ]]; then
	log "cannot download k8s.io/kubernetes@$KUBE_VERSION from the module proxy"
	exit 1
fi
mapfile -t staging < <(sed -n 's|^[[:space:]]*\(k8s.io/[A-Za-z0-9._-]*\) => \./staging/.*|\1|p' "$modfile" | sort -u)
log "replacing ${#staging[@]} staging modules with $STAGING_VERSION"
for m in "${staging[@]}"; do
	echo "replace $m => $m $STAGING_VERSION" >>go.mod
done
cat >tools.go <<'GO'
//go:build tools

package kubebuild

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO

GOFLAGS=-mod=mod $GO get "k8s.io/kubernetes@$KUBE_VERSION" >&2
GOFLAGS=-mod=mod $GO mod tidy -e >&2 || true
t_dl=$(date +%s)
log "modules resolved in $((t_dl - start))s; compiling"
CGO_ENABLED=0 GOFLAGS=-mod=mod $GO build -trimpath -ldflags "-s -w \
	-X k8s.io/component-base/version.gitVersion=$KUBE_VERSION \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=${KUBE_VERSION#v1.} \
	-X k8s.io/client-go/pkg/version.gitVersion=$KUBE_VERSION" \
	-o "$BIN.tmp" k8s.io/kubernetes/cmd/kube-apiserver
mv -f "$BIN.tmp" "$BIN"
end=$(date +%s)
log "built $BIN in $((end - start))s (compile $((end - t_dl))s): $("$BIN" --version)"
link_out
