package toolkit

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/patchlet/patchlet/backends"
)

// What the kernel says about processes: a process's name, the running
// kernel's release (and whether it asks for a reboot), a command's exit
// code and, below, who holds a package manager's lock.

// ProcessName is /proc/PID/comm, or "" when unknown.
func ProcessName(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// KernelRelease is the running kernel's release, as uname -r prints it.
func KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// KernelReboot says whether the running kernel asks for a reboot, and
// names the package: release reads the running kernel's release (nil:
// KernelRelease) and newer, the package manager's own rule, tells whether
// an installed kernel package of its flavour is newer. A release that
// cannot be read is no reboot (logged at V(1)).
func KernelReboot(release func() (string, error), log logr.Logger, installed map[string]backends.Package,
	newer func(release string, installed map[string]backends.Package) (bool, string)) (bool, []string) {
	if release == nil {
		release = KernelRelease
	}
	r, err := release()
	if err != nil {
		log.V(1).Info("cannot read the running kernel release", "error", err.Error())
		return false, nil
	}
	if req, pkg := newer(r, installed); req {
		return true, []string{pkg}
	}
	return false, nil
}

// ExitCode is the exit code in err (from a Runner), or -1 when err is not
// an exit of the command.
func ExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// The lookups below tell who holds a package manager's lock without
// running a process, each for one kind of lock: a file holding a pid
// (dnf, yum, zypper), a POSIX or open-file-description lock (dpkg, rpm)
// and a flock (apk). Each answers the holder's pid (0 when unknown), its
// /proc/PID/comm and whether the lock is held; a lock file that does not
// exist is not held.

// PIDFileHolder reads lock files holding a process id (dnf's *.pid
// locks, zypper's zypp.pid) and reports the first whose process is alive.
func PIDFileHolder(paths ...string) (pid int, command string, held bool, err error) {
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return 0, "", false, fmt.Errorf("read lock %s: %w", path, err)
		}
		pid, perr := strconv.Atoi(strings.TrimSpace(string(data)))
		if perr != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			continue // a dead holder does not hold the lock
		}
		return pid, ProcessName(pid), true, nil
	}
	return 0, "", false, nil
}

// FcntlLocks asks the kernel who holds POSIX or open-file-description
// locks on files (dpkg's lock-frontend and lock, rpm's .rpm.lock), with
// F_OFD_GETLK, falling back to F_GETLK on kernels before 3.15. F_OFD_GETLK
// also reports a lock this very process holds (F_GETLK does not report a
// POSIX lock to its owner). The files stay open between calls: closing a
// descriptor drops every POSIX lock the closing process holds on the file.
// It is safe for concurrent use.
type FcntlLocks struct {
	mu    sync.Mutex
	files map[string]*os.File
}

// Holder reports the first of paths that is locked.
func (l *FcntlLocks) Holder(paths ...string) (pid int, command string, held bool, err error) {
	for _, path := range paths {
		pid, held, err := l.Owner(path)
		if err != nil {
			return 0, "", false, err
		}
		if held {
			return pid, ProcessName(pid), true, nil
		}
	}
	return 0, "", false, nil
}

// Owner tells whether a write lock on path would conflict with a lock
// someone holds, and the holder's pid when the kernel knows it (0 for an
// open-file-description lock).
func (l *FcntlLocks) Owner(path string) (int, bool, error) {
	f, err := l.open(path)
	if f == nil || err != nil {
		return 0, false, err
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	err = unix.FcntlFlock(f.Fd(), unix.F_OFD_GETLK, &lk)
	if errors.Is(err, unix.EINVAL) {
		lk = unix.Flock_t{Type: unix.F_WRLCK}
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

// open returns the open lock file at path (nil when there is none),
// opening it once and again only when path names another file now: the
// old file's locks are not the new file's.
func (l *FcntlLocks) open(path string) (*os.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.files == nil {
		l.files = map[string]*os.File{}
	}
	cur, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stat lock %s: %w", path, err)
	}
	if f := l.files[path]; f != nil {
		if fi, err := f.Stat(); err == nil && os.SameFile(fi, cur) {
			return f, nil
		}
		_ = f.Close()
		delete(l.files, path)
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	l.files[path] = f
	return f, nil
}

// ProcLocksHolder looks path's device and inode up in locksFile (the
// kernel's table of file locks, /proc/locks), which names the holder of
// flock and POSIX locks (pid 0: unknown, e.g. an open-file-description
// lock); waiters are skipped.
func ProcLocksHolder(path, locksFile string) (pid int, command string, held bool, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("stat lock %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, "", false, fmt.Errorf("stat lock %s: no device and inode", path)
	}
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	f, err := os.Open(locksFile)
	if err != nil {
		return 0, "", false, fmt.Errorf("read %s: %w", locksFile, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234567 0 EOF
		// 2: -> FLOCK  ADVISORY  WRITE 4243 fd:01:1234567 0 EOF   (a waiter)
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] == "->" || fields[5] != want {
			continue
		}
		pid, _ := strconv.Atoi(fields[4])
		pid = max(pid, 0)
		return pid, ProcessName(pid), true, nil
	}
	if err := sc.Err(); err != nil {
		return 0, "", false, fmt.Errorf("read %s: %w", locksFile, err)
	}
	return 0, "", false, nil
}

// OpenedBy returns the pid of a process with path open, found in
// procDir/PID/fd, or 0: who holds a lock that is a file's existence
// (pacman's db.lck), as long as it keeps the file open. Processes it may
// not inspect are skipped.
func OpenedBy(procDir, path string) int {
	procs, err := os.ReadDir(procDir)
	if err != nil {
		return 0
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join(procDir, p.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && target == path {
				return pid
			}
		}
	}
	return 0
}
