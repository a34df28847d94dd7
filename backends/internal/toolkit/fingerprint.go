package toolkit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Fingerprint stamps files by modification time and size, as the key of
// a cache that must be recomputed when any of them changes: a backend
// re-runs its package manager's query only when the files the answer
// depends on (the package database, the index) have changed. Calls chain;
// the first error sticks and Sum returns it. A missing path is stamped as
// missing, so creating it changes the fingerprint too.
type Fingerprint struct {
	b   strings.Builder
	err error
}

// Files stamps each path itself, a directory by its own mtime and size.
func (f *Fingerprint) Files(paths ...string) *Fingerprint {
	for _, p := range paths {
		fi, err := f.stat(p)
		if err != nil || fi == nil {
			continue
		}
		f.stamp(p, fi)
	}
	return f
}

// Entries stamps the entries directly in each directory that keep accepts
// (all of them when keep is nil), following links; a directory's own
// mtime is not stamped (see Files). A missing directory, and an entry
// removed while it is read, add nothing.
func (f *Fingerprint) Entries(keep func(fs.DirEntry) bool, dirs ...string) *Fingerprint {
	for _, dir := range dirs {
		f.entries(keep, dir)
	}
	return f
}

// Contents stamps each path by what it is: a directory by its entries
// that keep accepts (as Entries), anything else as Files does.
func (f *Fingerprint) Contents(keep func(fs.DirEntry) bool, paths ...string) *Fingerprint {
	for _, p := range paths {
		fi, err := f.stat(p)
		switch {
		case err != nil || fi == nil:
		case fi.IsDir():
			f.entries(keep, p)
		default:
			f.stamp(p, fi)
		}
	}
	return f
}

// Sum is the fingerprint, or the first error met.
func (f *Fingerprint) Sum() (string, error) {
	if f.err != nil {
		return "", f.err
	}
	return f.b.String(), nil
}

// NotLocks keeps every entry but lock files (*.lock, *.pid) and SQLite's
// shared-memory index (*-shm): readers touch them (a dnf query creates
// and removes a lock file in its cache directory, every rpm query updates
// rpmdb.sqlite-shm), so they change without any change of what is read.
func NotLocks(e fs.DirEntry) bool {
	n := e.Name()
	return !strings.HasSuffix(n, ".lock") && !strings.HasSuffix(n, ".pid") && !strings.HasSuffix(n, "-shm")
}

// stat stats p for stamping; a missing p is stamped as missing and
// yields nil.
func (f *Fingerprint) stat(p string) (fs.FileInfo, error) {
	if f.err != nil {
		return nil, f.err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		f.b.WriteString(p + " -\n")
		return nil, nil
	}
	if err != nil {
		f.err = fmt.Errorf("stat %s: %w", p, err)
		return nil, f.err
	}
	return fi, nil
}

func (f *Fingerprint) entries(keep func(fs.DirEntry) bool, dir string) {
	if f.err != nil {
		return
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		f.err = fmt.Errorf("read %s: %w", dir, err)
		return
	}
	f.b.WriteString(dir + "/\n")
	for _, e := range entries {
		if keep != nil && !keep(e) {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // replaced while we read
		}
		if err != nil {
			f.err = fmt.Errorf("stat %s: %w", filepath.Join(dir, e.Name()), err)
			return
		}
		f.stamp(e.Name(), fi)
	}
}

func (f *Fingerprint) stamp(name string, fi fs.FileInfo) {
	f.b.WriteString(name)
	f.b.WriteByte(' ')
	f.b.WriteString(strconv.FormatInt(fi.ModTime().UnixNano(), 10))
	f.b.WriteByte(' ')
	f.b.WriteString(strconv.FormatInt(fi.Size(), 10))
	f.b.WriteByte('\n')
}
