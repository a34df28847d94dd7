#!/bin/bash
# Builds what hack/systemd's test needs to boot a real systemd in a
# throw-away container, once, cached under PATCHLET_CACHE:
#   $PATCHLET_CACHE/systemd/tree-<key>   a debootstrap'ed bookworm (minbase +
#                                        systemd, dbus); <key> hashes this recipe
#   $PATCHLET_CACHE/systemd/tree         symlink to the current tree
#   $PATCHLET_CACHE/systemd/nspawn       symlink to systemd-nspawn
#   $PATCHLET_CACHE/systemd/skip         why the test must skip (only when
#                                        this machine cannot run it)
# systemd-container is installed at exactly the version of the installed
# systemd (bookworm-security still carries it): a newer one would upgrade
# the host's systemd, which nothing here needs.
# Exits 0 when the machine cannot run the test, after writing the reason
# to the skip file, so that `make test` goes on and the test skips saying why.
set -euo pipefail

cd "$(dirname "$0")/../.."
cache=${PATCHLET_CACHE:-$HOME/.cache/patchlet}/systemd
suite=bookworm
include=systemd,systemd-sysv,dbus
mkdir -p "$cache"
rm -f "$cache/skip"

skip() {
	echo "hack/systemd: the systemd container test will skip: $*" >&2
	echo "$*" >"$cache/skip"
	exit 0
}

[ "$(id -u)" -eq 0 ] || skip "booting a container needs root (uid $(id -u))"
[ -d /sys/fs/cgroup/systemd ] || [ -f /sys/fs/cgroup/cgroup.controllers ] ||
	skip "no cgroup hierarchy for systemd (/sys/fs/cgroup/systemd or cgroup2 at /sys/fs/cgroup)"
command -v dpkg-query >/dev/null || skip "not a Debian host (no dpkg-query)"

sdver=$(dpkg-query -W -f='${Version}' systemd 2>/dev/null) || true
[ -n "$sdver" ] || skip "systemd is not installed on this host (dpkg-query -W systemd)"
if ! ./hack/install-debs.sh debootstrap "systemd-container=$sdver" >&2; then
	skip "cannot install debootstrap and systemd-container=$sdver (see above)"
fi
# install-debs.sh counts an installed systemd-container of another version as present.
have=$(dpkg-query -W -f='${Version}' systemd-container)
[ "$have" = "$sdver" ] || skip "systemd-container $have does not match systemd $sdver"
ln -sfn "$(command -v systemd-nspawn)" "$cache/nspawn"

# The first deb URI of the configured sources (one-line or deb822 format).
mirror=$(
	{
		grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
		grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
	} | grep -v -e security -e '^$' | head -n1
)
[ -n "$mirror" ] || skip "no Debian mirror in /etc/apt/sources.list*"

key=$(printf '%s\n' "$suite" "$include" "$(dpkg --print-architecture)" "recipe 1" | sha256sum | cut -c1-12)
tree=$cache/tree-$key
if [ ! -x "$tree/lib/systemd/systemd" ]; then
	echo "hack/systemd: debootstrap $suite from $mirror into $tree (~1 min once)" >&2
	tmp=$(mktemp -d "$cache/.tmp-tree-XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	if ! debootstrap --variant=minbase --include="$include" "$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1; then
		tail -n 20 "$tmp.log" >&2
		rm -f "$tmp.log"
		skip "debootstrap $suite from $mirror failed (see above)"
	fi
	rm -f "$tmp.log"
	# The test boots it read-only under --volatile=overlay; drop what would make a
	# boot slow or reach the network.
	rm -f "$tmp/etc/apt/sources.list"
	rm -rf "$tmp/var/cache/apt/archives/"*.deb
	chmod 0755 "$tmp"
	rm -rf "$tree"
	mv "$tmp" "$tree"
	trap - EXIT
fi
ln -sfn "$(basename "$tree")" "$cache/tree.new" && mv -T "$cache/tree.new" "$cache/tree"
echo "hack/systemd: container tree $tree, nspawn $(readlink "$cache/nspawn")" >&2
