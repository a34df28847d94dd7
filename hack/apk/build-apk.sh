#!/usr/bin/env bash
# build-apk.sh builds static apk-tools 2.14.10 and 3.0.6 (Alpine's package manager, in no Debian
# release) from $THIRD_PARTY/apk-tools for the apk backend's integration tests, once: the result is
# cached by a hash of the source archives, so a rerun or a fresh clone reuses it.
#
# Result: ${PATCHLET_CACHE:-$HOME/.cache/patchlet}/apk-tools/<hash>/apk-2.14.10 and apk-3.0.6.
# <hash> is the first 16 hex digits of sha256 over the archives' sha256 sums in name order; the test
# support (internal/testsupport/testapk) computes the same. Without $THIRD_PARTY/apk-tools it says
# that the apk tests will skip, and exits 0.
set -euo pipefail

THIRD_PARTY=${THIRD_PARTY:-$(cd "$(dirname "$0")/../.." && pwd)/../shared/third_party}
SRC=$THIRD_PARTY/apk-tools
VERSIONS=(2.14.10 3.0.6)

log() { printf '%s build-apk: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ ! -f $SRC/build.sh ]]; then
	log "no $SRC/build.sh: apk-tools not built, the apk integration tests will skip"
	exit 0
fi

hash=$(cd "$SRC" && sha256sum apk-tools-*.tar.gz | LC_ALL=C sort -k2 | sha256sum | cut -c1-16)
CACHE=${PATCHLET_CACHE:-$HOME/.cache/patchlet}/apk-tools/$hash

cached=1
for v in "${VERSIONS[@]}"; do
	[[ -x $CACHE/apk-$v ]] && "$CACHE/apk-$v" --version >/dev/null 2>&1 || cached=0
done
if [[ $cached == 1 ]]; then
	log "cached: $CACHE (apk-${VERSIONS[0]}, apk-${VERSIONS[1]})"
	exit 0
fi

"$(dirname "$0")/../install-debs.sh" gcc make meson ninja-build pkg-config libssl-dev zlib1g-dev libzstd-dev
start=$(date +%s)
log "building apk-tools ${VERSIONS[*]} into $CACHE"
# Build into a sibling folder and rename, so an interrupted build never leaves a half cache.
mkdir -p "${CACHE%/*}"
tmp=$(mktemp -d "${CACHE%/*}/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sh "$SRC/build.sh" "$tmp" >&2
rm -rf "$CACHE"
mv "$tmp" "$CACHE"
log "built in $(($(date +%s) - start)) s: $CACHE"
