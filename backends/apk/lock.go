package apk

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// procLocks is the kernel's table of file locks.
const procLocks = "/proc/locks"

// LockHolder reports whether some process holds apk's database lock
// (lib/apk/db/lock, which apk takes with flock). It runs no process: it
// looks the lock file's device and inode up in /proc/locks, which names
// the holder's pid for flock and POSIX locks (pid 0: unknown, e.g. an
// open-file-description lock). A lock file that does not exist is free.
func (b *Backend) LockHolder() (pid int, command string, held bool, err error) {
	return lockHolder(b.path(lockPath), procLocks)
}

func lockHolder(path, locksFile string) (int, string, bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("stat apk lock: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, "", false, fmt.Errorf("stat apk lock: no device and inode")
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
		if len(fields) < 6 || fields[1] == "->" {
			continue
		}
		if fields[5] != want {
			continue
		}
		pid, _ := strconv.Atoi(fields[4])
		pid = max(pid, 0)
		return pid, processName(pid), true, nil
	}
	if err := sc.Err(); err != nil {
		return 0, "", false, fmt.Errorf("read %s: %w", locksFile, err)
	}
	return 0, "", false, nil
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

// LockFiles is apk's database lock.
func (b *Backend) LockFiles() []string { return []string{b.path(lockPath)} }
