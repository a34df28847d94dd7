package apt

import (
	"path/filepath"

	"github.com/patchlet/patchlet/backends"
)

// dpkgLocks are the lock apt (and every dpkg frontend) takes first, then
// dpkg's own database lock, in dpkg's database directory.
func (b *Backend) dpkgLocks() []string {
	return []string{filepath.Join(b.admindir(), "lock-frontend"), filepath.Join(b.admindir(), "lock")}
}

// LockHolder reports which process holds the package-manager lock of the
// root: the dpkg frontend lock, else dpkg's database lock (held by a dpkg
// that a dead frontend left running). It asks the kernel (fcntl F_OFD_GETLK,
// falling back to F_GETLK: see toolkit.FcntlLocks) and runs no process;
// the command is the holder's /proc/PID/comm. A lock file that does not
// exist is not held. pid is 0 when the holder is unknown (an
// open-file-description lock).
func (b *Backend) LockHolder() (pid int, command string, held bool, err error) {
	return b.locks.Holder(b.dpkgLocks()...)
}

// LockFiles are the lock files in the watched directories: dpkg's two and
// the lists directory's.
func (b *Backend) LockFiles() []string {
	return append(b.dpkgLocks(), b.path("var/lib/apt/lists/lock"))
}

// Capabilities: apt holds (apt-mark) and tells security updates apart.
func (b *Backend) Capabilities() backends.Capabilities {
	return backends.Capabilities{Hold: true, Security: true}
}

// WatchPaths are dpkg's database (where apt-config said) and apt's index lists.
func (b *Backend) WatchPaths() []string {
	return []string{b.admindir(), b.path("var/lib/apt/lists")}
}
