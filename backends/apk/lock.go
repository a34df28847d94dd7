package apk

import "github.com/patchlet/patchlet/backends/internal/toolkit"

// procLocks is the kernel's table of file locks.
const procLocks = "/proc/locks"

// LockHolder reports whether some process holds apk's database lock
// (lib/apk/db/lock, which apk takes with flock). It runs no process: it
// looks the lock file's device and inode up in /proc/locks, which names
// the holder's pid for flock and POSIX locks (pid 0: unknown, e.g. an
// open-file-description lock). A lock file that does not exist is free.
func (b *Backend) LockHolder() (pid int, command string, held bool, err error) {
	return toolkit.ProcLocksHolder(b.dbPath("lock"), procLocks)
}

// LockFiles is apk's database lock.
func (b *Backend) LockFiles() []string { return []string{b.dbPath("lock")} }
