#!/bin/bash
# Sourced by hack/demo-sandbox.sh and hack/bench/sandbox.sh, inside a
# private mount namespace: an overlay of / whose writes land in a tmpfs
# and vanish, with apt pointed at the demo repository only ($W/build/repo)
# and the agent's binaries installed. Sets M, the sandbox's root.
sandbox_up() {
	M=$W/merged
	mkdir -p "$W/ovl" "$M"
	mount -t tmpfs -o size=1g,mode=755 tmpfs "$W/ovl"
	mkdir -p "$W/ovl/upper" "$W/ovl/work"
	mount -t overlay overlay -o "lowerdir=/,upperdir=$W/ovl/upper,workdir=$W/ovl/work" "$M"
	mount -t proc proc "$M/proc"
	mount --rbind /dev "$M/dev"
	mount -t tmpfs tmpfs "$M/run"
	mount -t tmpfs tmpfs "$M/tmp"
	ln -sfn /run "$M/var/run" 2>/dev/null || true
	
	# apt inside the sandbox sees only the demo repository.
	mkdir -p "$M/srv/demo"
	cp -a "$W/build/repo" "$M/srv/demo/repo"
	chmod -R a+rX "$M/srv/demo"
	rm -f "$M"/etc/apt/sources.list.d/*
	echo "deb [trusted=yes] file:/srv/demo/repo ./" > "$M/etc/apt/sources.list"
	install -m 0755 "$SRC/bin/patchlet" "$SRC/bin/patchctl" "$M/usr/local/bin/"
	rm -rf "$M/var/lib/patchlet" "$M/etc/patchlet"
	mkdir -p "$M/etc/patchlet/policies.d"
}
