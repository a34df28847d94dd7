package toolkit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/internal/fsutil"
)

// RefreshStamp is patchlet's own record of a backend's last successful
// index refresh: a file in StateDir holding the time (RFC 3339). The
// package managers' files tell when an index was published, not when it
// was fetched, so every backend records its refreshes itself.
type RefreshStamp string

// StampIn is the refresh stamp of the backend called name in stateDir
// (NAME-index-refreshed).
func StampIn(stateDir, name string) RefreshStamp {
	return RefreshStamp(filepath.Join(stateDir, name+"-index-refreshed"))
}

// Path is the stamp's file.
func (s RefreshStamp) Path() string { return string(s) }

// Write records t, creating the state directory.
func (s RefreshStamp) Write(t time.Time) error {
	if err := os.MkdirAll(filepath.Dir(s.Path()), 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	if err := fsutil.WriteFileAtomic(s.Path(), []byte(t.UTC().Format(time.RFC3339Nano)+"\n"), 0o644); err != nil {
		return fmt.Errorf("record index refresh: %w", err)
	}
	return nil
}

// Read returns the recorded time: zero when nothing was recorded, and
// zero (logged) when the file does not hold a time.
func (s RefreshStamp) Read(log logr.Logger) (time.Time, error) {
	data, err := os.ReadFile(s.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read refresh stamp: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(data)))
	if err != nil {
		log.Error(err, "ignoring unreadable refresh stamp", "path", s.Path())
		return time.Time{}, nil
	}
	return t, nil
}

// Refreshed is the time of the last successful refresh as a backend
// reports it: the recorded time, else what fallback says (the package
// manager's own hint; nil for none), never after now (a clock stepped
// back).
func (s RefreshStamp) Refreshed(log logr.Logger, now time.Time, fallback func() time.Time) (time.Time, error) {
	t, err := s.Read(log)
	if err != nil {
		return time.Time{}, err
	}
	if t.IsZero() && fallback != nil {
		t = fallback()
	}
	if t.After(now) {
		t = now
	}
	return t, nil
}

// NewestModTime is the latest modification time of paths (zero when none
// exists).
func NewestModTime(paths ...string) time.Time {
	var t time.Time
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.ModTime().After(t) {
			t = fi.ModTime()
		}
	}
	return t
}

// ReadOptional reads the file at path; a missing file reads as empty,
// without an error.
func ReadOptional(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}
