package pacman

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// LockPath is pacman's lock file in the root's database directory.
func (b *Backend) LockPath() string { return filepath.Join(b.conf().DBPath, "db.lck") }

// LockHolder reports whether pacman's lock is held: pacman creates
// DBPath/db.lck for a transaction and removes it afterwards, and refuses
// to start while it exists. It runs no process. The holder's pid is found
// by looking for a process that has the file open in /proc (pacman keeps
// it open while it runs); pid 0 means unknown, which includes a stale
// lock left by a pacman that died: pacman still refuses to run then, and
// only removing the file (once no pacman runs) frees it.
func (b *Backend) LockHolder() (pid int, command string, held bool, err error) {
	path := b.LockPath()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return 0, "", false, nil
	} else if err != nil {
		return 0, "", false, fmt.Errorf("stat pacman lock: %w", err)
	}
	pid = toolkit.OpenedBy("/proc", path)
	if pid == 0 {
		b.Cfg.Log.V(1).Info("pacman lock exists but no process has it open (stale?)", "path", path)
	}
	return pid, toolkit.ProcessName(pid), true, nil
}

// LockFiles is pacman's database lock.
func (b *Backend) LockFiles() []string { return []string{b.LockPath()} }
