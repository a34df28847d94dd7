// Package fsutil owns patchlet's crash-safe file writes: replacing (or
// creating once) a file so that a crash leaves either the old or the new
// content, never a torn one. The store, the audit log, the executor's
// records, rollout state and the backends' stamps all write through it.
package fsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Options of Write.
type Options struct {
	// Perm is the permission of the file; 0 keeps os.CreateTemp's 0600.
	Perm os.FileMode
	// TempPattern is the os.CreateTemp pattern of the temporary file, in the
	// directory of the file; default "." + base + ".*". Callers that clean
	// up after a crash name their temporary files so that they find them.
	TempPattern string
	// Claim creates the file only if it does not exist yet: the temporary
	// file is linked (link(2) never replaces a file) instead of renamed, and
	// an existing file fails with an error satisfying
	// errors.Is(err, fs.ErrExist).
	Claim bool
}

// Write puts data at path atomically: a temporary file in the same
// directory, written, fsynced, renamed over path (or linked, with
// Options.Claim), then the directory fsynced. The temporary file is
// removed on failure.
func Write(path string, data []byte, o Options) error {
	dir := filepath.Dir(path)
	pattern := o.TempPattern
	if pattern == "" {
		pattern = "." + filepath.Base(path) + ".*"
	}
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return fmt.Errorf("create temporary file for %s: %w", path, err)
	}
	tmp := f.Name()
	if err := writeSync(f, data, o.Perm); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if o.Claim {
		err := os.Link(tmp, path)
		rerr := os.Remove(tmp)
		if err != nil {
			return fmt.Errorf("claim %s: %w", path, err)
		}
		if rerr != nil {
			return fmt.Errorf("remove %s: %w", tmp, rerr)
		}
	} else if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("rename into %s: %w", path, err)
	}
	return SyncDir(dir)
}

// WriteFileAtomic replaces path with data at permission perm (Write with
// Options{Perm: perm}).
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return Write(path, data, Options{Perm: perm})
}

// SyncDir fsyncs a directory so that the renames, links and removals in it
// are durable. A file system that cannot fsync a directory (EINVAL) has
// nothing more to make durable, and that is no error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// writeSync writes data to f, sets its permission (unless perm is 0),
// fsyncs and closes it.
func writeSync(f *os.File, data []byte, perm os.FileMode) error {
	_, err := f.Write(data)
	if err == nil && perm != 0 {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
