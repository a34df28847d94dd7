// Package systemd owns the test of the shipped patchlet.service under a
// real systemd: build-tree.sh debootstraps a bookworm tree once (cached
// under PATCHLET_CACHE, driven by `make test-tools`), and the test boots it
// with systemd-nspawn, installs the .deb that hack/packages/build.sh
// builds, starts the unit as shipped and converges policies through the
// systemd executor's transient patchlet-step-* units.
package systemd
