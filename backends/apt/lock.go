package apt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/patchlet/patchlet/backends"
)

// frontendLockPath is the lock apt (and every dpkg frontend) takes first;
// dpkgLockPath (observe.go) is dpkg's own database lock.
const frontendLockPath = "var/lib/dpkg/lock-frontend"

// LockHolder reports which process holds the package-manager lock of the
// root: the dpkg frontend lock, else dpkg's database lock (held by a dpkg
// that a dead frontend left running). It asks the kernel (fcntl F_OFD_GETLK,
// falling back to F_GETLK) and runs no process; the command is the
// holder's /proc/PID/comm. A lock file that does not exist is not held.
// pid is 0 when the holder is unknown (an open-file-description lock).
//
// F_OFD_GETLK also reports a lock this very process holds (apt's locks are
// classic POSIX locks, which F_GETLK does not report to their owner). The
// lock files stay open between calls: closing a descriptor of a file drops
// every POSIX lock the closing process holds on it.
func (b *Backend) LockHolder() (pid int, command string, held bool, err error) {
	for _, rel := range []string{frontendLockPath, dpkgLockPath} {
		pid, held, err := b.lockOwner(b.path(rel))
		if err != nil {
			return 0, "", false, err
		}
		if held {
			return pid, processName(pid), true, nil
		}
	}
	return 0, "", false, nil
}

// lockOwner tells whether a write lock on path would conflict with a lock
// someone holds, and the holder's pid when the kernel knows it.
func (b *Backend) lockOwner(path string) (int, bool, error) {
	f, err := b.lockFile(path)
	if f == nil || err != nil {
		return 0, false, err
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	err = unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk)
	if errors.Is(err, unix.EINVAL) {
		// A kernel without open-file-description locks (before 3.15).
		lk = unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
		err = unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk)
	}
	if err != nil {
		return 0, false, fmt.Errorf("query lock %s: %w", path, err)
	}
	if lk.Type == unix.F_UNLCK {
		return 0, false, nil
	}
	return max(int(lk.Pid), 0), true, nil
}

// lockFile returns the open lock file at path (nil when there is none),
// opening it once and again only when path names another file now.
func (b *Backend) lockFile(path string) (*os.File, error) {
	b.lockMu.Lock()
	defer b.lockMu.Unlock()
	if b.lockFiles == nil {
		b.lockFiles = map[string]*os.File{}
	}
	cur, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stat lock %s: %w", path, err)
	}
	if f := b.lockFiles[path]; f != nil {
		if fi, err := f.Stat(); err == nil && os.SameFile(fi, cur) {
			return f, nil
		}
		// Replaced: the old file's locks are not this file's locks.
		_ = f.Close()
		delete(b.lockFiles, path)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	b.lockFiles[path] = f
	return f, nil
}

// processName is /proc/PID/comm, or "" when unknown.
func processName(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// LockFiles are the lock files in the watched directories: dpkg's two and
// the lists directory's.
func (b *Backend) LockFiles() []string {
	return []string{b.path(frontendLockPath), b.path(dpkgLockPath), b.path("var/lib/apt/lists/lock")}
}

// Capabilities: apt holds (apt-mark) and tells security updates apart.
func (b *Backend) Capabilities() backends.Capabilities {
	return backends.Capabilities{Hold: true, Security: true}
}

// WatchPaths are dpkg's database and apt's index lists.
func (b *Backend) WatchPaths() []string {
	return []string{b.path("var/lib/dpkg"), b.path("var/lib/apt/lists")}
}
