package executor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/fsutil"
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
	// BootID is the boot id as the agent that started the step reads it.
	// The runner records it as its own: a container (systemd-nspawn) can
	// show a transient unit another boot id than the agent's sandboxed
	// /proc (ProtectKernelTunables), and a runner only ever starts in the
	// boot its step was started in (neither transient units nor detached
	// children survive a reboot). Empty in steps of older agents.
	BootID string `json:"bootID,omitempty"`
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
	// Reason is "" for exit code 0, else one of v1alpha1.FailureFailed,
	// v1alpha1.FailureTimeout, v1alpha1.FailureInterrupted.
	Reason  v1alpha1.FailureReason `json:"reason,omitempty"`
	Signal  string                 `json:"signal,omitempty"`
	Message string                 `json:"message,omitempty"`
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

// writeJSONAtomic replaces dir/name with v (fsutil.Write).
func writeJSONAtomic(dir, name string, v any) error {
	return writeJSON(dir, name, v, false)
}

// claimJSON creates dir/name with v only if it does not exist yet, in one
// atomic step (fsutil.Options.Claim: link(2) of a fsynced temporary file
// never replaces a file). It returns an error satisfying
// errors.Is(err, fs.ErrExist) when the file was already there.
func claimJSON(dir, name string, v any) error {
	return writeJSON(dir, name, v, true)
}

func writeJSON(dir, name string, v any, claim bool) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return fsutil.Write(filepath.Join(dir, name), append(data, '\n'), fsutil.Options{TempPattern: "." + name + ".tmp-*", Claim: claim})
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
