#!/bin/bash
# make demo: run patchlet on a throw-away sandbox of this host.
#
# The sandbox is an overlay of / in a private mount namespace (every write
# lands in a tmpfs and vanishes), with apt pointed at a local repository of
# demo packages only. The agent runs inside it, the samples from
# config/samples are applied, and the demo policy converges: a pinned
# install, an upgrade that keeps a locally edited conffile, and a kernel-like
# package that makes the host report RebootRequired. The host's own package
# database is checked to be unchanged at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
	echo "error: make demo needs root (mount namespace, overlayfs, chroot)" >&2
	exit 1
fi
W=$(mktemp -d /var/tmp/patchlet-demo.XXXXXX)
chmod 755 "$W"
trap 'rm -rf "$W"' EXIT
before=$(sha256sum /var/lib/dpkg/status | cut -d' ' -f1)
echo "==> building the demo repository"
go run ./hack/demorepo -out "$W/build" >/dev/null
export W SRC="$PWD"
start=$(date +%s)
unshare -m --propagation private bash ./hack/demo-sandbox.sh
after=$(sha256sum /var/lib/dpkg/status | cut -d' ' -f1)
echo
if [ "$before" = "$after" ]; then
	echo "==> the host is untouched: /var/lib/dpkg/status unchanged (sha256 ${after:0:16}…); the sandbox is gone"
else
	echo "error: the host's /var/lib/dpkg/status changed" >&2
	exit 1
fi
echo "==> demo finished in $(( $(date +%s) - start )) s"
