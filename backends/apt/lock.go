package apt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
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
// classic POSIX locks, which F_GETLK does not report to their owner).
func (b *Backend) LockHolder() (pid int, command string, held bool, err error) {
	for _, rel := range []string{frontendLockPath, dpkgLockPath} {
		pid, held, err := lockOwner(b.path(rel))
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
func lockOwner(path string) (int, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("open lock %s: %w", path, err)
	}
	defer f.Close()
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
