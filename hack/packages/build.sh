#!/usr/bin/env bash
# Builds the patchlet packages with nfpm from packaging/nfpm.yaml.
# Usage: hack/packages/build.sh [FORMAT...]   (default: deb rpm archlinux apk)
# Environment (defaults in brackets):
#   NFPM         the nfpm binary [bin/nfpm-v2.41.3]
#   PKG_BIN_DIR  directory with patchlet and patchctl [bin]
#   PKG_OUT      output directory [out]
#   PKG_VERSION  upstream version [0.0.0]
#   PKG_RELEASE  package release, a positive integer [1]
#   PKG_ARCH     GOARCH of the binaries [go env GOARCH]
#   PKG_CONFIG   default config file [config/config.yaml]
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD

abs() { case "$1" in /*) echo "$1" ;; *) echo "$root/$1" ;; esac; }

export PKG_BIN_DIR=$(abs "${PKG_BIN_DIR:-bin}")
export PKG_CONFIG=$(abs "${PKG_CONFIG:-config/config.yaml}")
export PKG_VERSION=${PKG_VERSION:-0.0.0}
export PKG_RELEASE=${PKG_RELEASE:-1}
export PKG_ARCH=${PKG_ARCH:-$(go env GOARCH)}
nfpm=$(abs "${NFPM:-bin/nfpm-v2.41.3}")
out=$(abs "${PKG_OUT:-out}")

# Versions every format accepts: digits and dots, a numeric release.
if ! [[ $PKG_VERSION =~ ^[0-9]+(\.[0-9]+)*$ ]]; then
	echo "PKG_VERSION=$PKG_VERSION: want digits and dots, e.g. 1.2.3" >&2
	exit 2
fi
if ! [[ $PKG_RELEASE =~ ^[1-9][0-9]*$ ]]; then
	echo "PKG_RELEASE=$PKG_RELEASE: want a positive integer" >&2
	exit 2
fi
for f in "$PKG_BIN_DIR/patchlet" "$PKG_BIN_DIR/patchctl" "$PKG_CONFIG" "$nfpm"; do
	[[ -f $f ]] || { echo "missing $f (run make build, or set PKG_BIN_DIR/NFPM)" >&2; exit 2; }
done

formats=("$@")
[[ ${#formats[@]} -gt 0 ]] || formats=(deb rpm archlinux apk)
mkdir -p "$out"
for f in "${formats[@]}"; do
	"$nfpm" package --config packaging/nfpm.yaml --packager "$f" --target "$out/"
done
