package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// File names inside a step directory.
const (
	stepFile   = "step.json"
	runnerFile = "runner.json"
	resultFile = "result.json"
	logFile    = "output.log"
)

// stepRecord is step.json: everything the runner needs to run the step.
type stepRecord struct {
	ID       string   `json:"id"`
	Type     string   `json:"type,omitempty"`
	Argv     []string `json:"argv"`
	Env      []string `json:"env"`
	Packages []string `json:"packages,omitempty"`
	// SuccessExitCodes besides 0 (backends.Step.SuccessExitCodes).
	SuccessExitCodes []int `json:"successExitCodes,omitempty"`
	// Timeout and KillGrace are Go durations ("90s"); empty means none.
	Timeout   string    `json:"timeout,omitempty"`
	KillGrace string    `json:"killGrace,omitempty"`
	Mode      Mode      `json:"mode"`
	Unit      string    `json:"unit,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// runnerRecord is runner.json: who claimed the step. Abandoned marks a
// step whose runner never started; its presence stops a late runner.
type runnerRecord struct {
	PID int `json:"pid"`
	// StartTime is field 22 of /proc/<pid>/stat (clock ticks after boot).
	StartTime uint64    `json:"startTime"`
	BootID    string    `json:"bootID"`
	StartedAt time.Time `json:"startedAt"`
	Abandoned bool      `json:"abandoned,omitempty"`
	Message   string    `json:"message,omitempty"`
}

// resultRecord is result.json: how the step ended.
type resultRecord struct {
	ExitCode   int       `json:"exitCode"`
	FinishedAt time.Time `json:"finishedAt"`
	// Reason is "" for exit code 0, else one of backends.ReasonFailed,
	// backends.ReasonTimeout, backends.ReasonInterrupted.
	Reason  string `json:"reason,omitempty"`
	Signal  string `json:"signal,omitempty"`
	Message string `json:"message,omitempty"`
}

// readJSON decodes dir/name into v. A missing file returns an error
// satisfying errors.Is(err, fs.ErrNotExist).
func readJSON(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", filepath.Join(dir, name), err)
	}
	return nil
}

// readOptional is readJSON that reports a missing file as found=false.
func readOptional(dir, name string, v any) (found bool, err error) {
	err = readJSON(dir, name, v)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// writeTemp writes data to a new temporary file in dir and fsyncs it.
func writeTemp(dir, name string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("create temporary file for %s: %w", name, err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("write %s: %w", tmp, err)
	}
	return tmp, nil
}

// writeJSONAtomic replaces dir/name with v: temporary file, fsync, rename,
// fsync of dir.
func writeJSONAtomic(dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	tmp, err := writeTemp(dir, name, append(data, '\n'))
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return syncDir(dir)
}

// claimJSON creates dir/name with v only if it does not exist yet, in one
// atomic step (link(2) of a fsynced temporary file never replaces a file).
// It returns an error satisfying errors.Is(err, fs.ErrExist) when the file
// was already there.
func claimJSON(dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	tmp, err := writeTemp(dir, name, append(data, '\n'))
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp) }()
	if err := os.Link(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("claim %s: %w", filepath.Join(dir, name), err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("remove %s: %w", tmp, err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that renames and links in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// parseDuration reads an optional duration field.
func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// formatDuration writes an optional duration field.
func formatDuration(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}
