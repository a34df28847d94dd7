// Package rootfs builds the small part of a root file system that package
// managers' maintainer scripts and scriptlets need in a test root: a static
// busybox with its applets in /bin, and /dev/null. The repository builders
// (testrepo, testrpm, testpacman) share it.
package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// BusyboxPaths is where InstallBusybox looks for a statically linked
// busybox (Debian's busybox-static).
var BusyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

// InstallBusybox copies a static busybox to root/bin/busybox and links
// each applet in root/bin to it.
func InstallBusybox(root string, applets []string) error {
	var src string
	for _, p := range BusyboxPaths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			src = p
			break
		}
	}
	if src == "" {
		return fmt.Errorf("no static busybox in %v (install busybox-static)", BusyboxPaths)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read busybox: %w", err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin/busybox"), data, 0o755); err != nil {
		return fmt.Errorf("copy busybox: %w", err)
	}
	for _, a := range applets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil && !os.IsExist(err) {
			return fmt.Errorf("link bin/%s: %w", a, err)
		}
	}
	return nil
}

// MakeDevNull creates path as the character device 1,3 (as root) or,
// failing that, an empty world-writable file. An existing path is kept.
func MakeDevNull(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return nil
	}
	if err := syscall.Mknod(path, syscall.S_IFCHR|0o666, int(1<<8|3)); err == nil {
		return os.Chmod(path, 0o666)
	}
	if err := os.WriteFile(path, nil, 0o666); err != nil {
		return fmt.Errorf("create dev/null: %w", err)
	}
	return os.Chmod(path, 0o666)
}
