package rpm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// ExitCode is the exit code in err (from a Runner), or -1 when err is not
// an exit of the command.
func ExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// DBDirs are where RPM systems keep the package database, relative to the
// root: Fedora 36+ and openSUSE use /usr/lib/sysimage/rpm (with
// /var/lib/rpm a link to it), older systems /var/lib/rpm.
var DBDirs = []string{"usr/lib/sysimage/rpm", "var/lib/rpm"}

// DB queries a root's installed packages with `rpm -qa`, re-running rpm
// only when the database files changed. It is safe for concurrent use.
type DB struct {
	// Root is the managed root ("/" or an absolute directory).
	Root string
	// Rpm is the absolute path of rpm.
	Rpm string
	// Env is rpm's complete environment.
	Env    []string
	Runner backends.Runner

	mu    sync.Mutex
	stamp string
	pkgs  []Installed
}

// Argv is the rpm command line of the query.
func (d *DB) Argv() []string {
	argv := []string{d.Rpm}
	if d.Root != "/" && d.Root != "" {
		argv = append(argv, "--root", d.Root)
	}
	return append(argv, "-qa", "--queryformat", QueryFormat)
}

// Fingerprint stamps the database directories.
func (d *DB) Fingerprint() (string, error) {
	paths := make([]string, 0, len(DBDirs))
	for _, rel := range DBDirs {
		paths = append(paths, filepath.Join(d.Root, rel))
	}
	return new(toolkit.Fingerprint).Contents(toolkit.NotLocks, paths...).Sum()
}

// Installed returns the installed packages (a shared slice: do not modify).
func (d *DB) Installed(ctx context.Context) ([]Installed, error) {
	fp, err := d.Fingerprint()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.pkgs != nil && d.stamp == fp {
		pkgs := d.pkgs
		d.mu.Unlock()
		return pkgs, nil
	}
	d.mu.Unlock()
	stdout, _, err := d.Runner.Run(ctx, d.Argv(), d.Env)
	if err != nil {
		return nil, fmt.Errorf("list installed packages: %w", err)
	}
	pkgs := ParseQuery(stdout)
	if pkgs == nil {
		pkgs = []Installed{}
	}
	d.mu.Lock()
	d.stamp, d.pkgs = fp, pkgs
	d.mu.Unlock()
	return pkgs, nil
}

// PIDFileHolder reads a lock file holding a process id (dnf's *.pid
// locks, zypper's zypp.pid) and reports the process when it is alive.
func PIDFileHolder(path string) (pid int, command string, held bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("read lock %s: %w", path, err)
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(string(data)))
	if perr != nil || pid <= 0 {
		return 0, "", false, nil
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
		return 0, "", false, nil // a dead holder does not hold the lock
	}
	return pid, ProcessName(pid), true, nil
}

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

// FcntlLocks asks the kernel who holds POSIX or open-file-description
// locks on files (rpm's transaction lock .rpm.lock). The files stay open
// between calls: closing a descriptor drops the POSIX locks this process
// holds on the file. It is safe for concurrent use.
type FcntlLocks struct {
	mu    sync.Mutex
	files map[string]*os.File
}

// Holder tells whether a write lock on path would conflict, and the
// holder's pid (0 when unknown). A missing file is not held.
func (l *FcntlLocks) Holder(path string) (int, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.files == nil {
		l.files = map[string]*os.File{}
	}
	cur, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("stat lock %s: %w", path, err)
	}
	f := l.files[path]
	if f != nil {
		if fi, err := f.Stat(); err != nil || !os.SameFile(fi, cur) {
			_ = f.Close()
			f = nil
			delete(l.files, path)
		}
	}
	if f == nil {
		f, err = os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("open lock %s: %w", path, err)
		}
		l.files[path] = f
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

// ValidNames validates package names for the RPM family and returns them
// deduplicated, in order.
func ValidNames(names []string, valid func(string) bool) ([]string, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("no packages given")
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !valid(n) {
			return nil, fmt.Errorf("invalid package name %q", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}
