package executor

import (
	"fmt"
	"slices"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
)

// Phase is where a step is in its life.
type Phase string

const (
	// PhasePending: Start wrote the step, its runner has not claimed it yet.
	PhasePending Phase = "Pending"
	// PhaseRunning: the recorded runner is alive.
	PhaseRunning Phase = "Running"
	// PhaseSucceeded: the step exited 0 or with one of its SuccessExitCodes.
	PhaseSucceeded Phase = "Succeeded"
	// PhaseFailed: the step exited non-zero, timed out, was interrupted or
	// could not be started; Reason says which.
	PhaseFailed Phase = "Failed"
	// PhaseLost: there is no result and no runner: the runner died (or the
	// host rebooted) before recording one, or never started. The caller
	// reports it as Failed with Reason (v1alpha1.FailureInterrupted).
	PhaseLost Phase = "Lost"
)

// Done is true once the phase can no longer change.
func (p Phase) Done() bool {
	return p == PhaseSucceeded || p == PhaseFailed || p == PhaseLost
}

// State is what Status knows about one step.
type State struct {
	ID    string
	Phase Phase
	// Step is the step as Start recorded it.
	Step backends.Step
	// Mode is how the step was started; Unit is its systemd unit, if any.
	Mode Mode
	Unit string
	// PID is the runner's pid (0 before it started).
	PID int
	// ExitCode is the step's exit code once Succeeded or Failed; a step
	// killed by a signal has 128+signal.
	ExitCode int
	// Reason is "" on success; otherwise v1alpha1.FailureFailed,
	// v1alpha1.FailureTimeout or v1alpha1.FailureInterrupted.
	Reason v1alpha1.FailureReason
	// Message says more about a Failed or Lost step.
	Message    string
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
}

// observed is what Status read from the step directory and /proc.
type observed struct {
	step   stepRecord
	runner *runnerRecord
	result *resultRecord
	// alive: the recorded runner pid exists, has not exited, started at
	// the recorded time, in the current boot.
	alive bool
}

// stateFrom derives a step's state from its records. A step without a
// runner record counts as Pending for grace after it was created, then as
// Lost.
func stateFrom(id string, o observed, now time.Time, grace time.Duration) State {
	s := State{
		ID:        id,
		Step:      stepFromRecord(o.step),
		Mode:      o.step.Mode,
		Unit:      o.step.Unit,
		CreatedAt: o.step.CreatedAt,
	}
	if o.runner != nil && !o.runner.Abandoned {
		s.PID = o.runner.PID
		s.StartedAt = o.runner.StartedAt
	}
	switch {
	case o.result != nil:
		s.ExitCode = o.result.ExitCode
		s.FinishedAt = o.result.FinishedAt
		s.Reason = o.result.Reason
		s.Message = o.result.Message
		s.Phase = PhaseFailed
		if o.result.Reason == "" && (o.result.ExitCode == 0 || slices.Contains(o.step.SuccessExitCodes, o.result.ExitCode)) {
			s.Phase = PhaseSucceeded
		}
	case o.runner == nil:
		if now.Sub(o.step.CreatedAt) < grace {
			s.Phase = PhasePending
			return s
		}
		s.Phase, s.Reason = PhaseLost, v1alpha1.FailureInterrupted
		s.Message = fmt.Sprintf("runner did not start within %s", grace)
	case o.runner.Abandoned:
		s.Phase, s.Reason = PhaseLost, v1alpha1.FailureInterrupted
		s.Message = o.runner.Message
	case o.alive:
		s.Phase = PhaseRunning
	default:
		s.Phase, s.Reason = PhaseLost, v1alpha1.FailureInterrupted
		s.Message = fmt.Sprintf("runner pid %d ended without recording a result", o.runner.PID)
	}
	return s
}

func stepFromRecord(r stepRecord) backends.Step {
	timeout, _ := parseDuration(r.Timeout)
	return backends.Step{
		Type:             v1alpha1.StepType(r.Type),
		Argv:             r.Argv,
		Env:              r.Env,
		Packages:         r.Packages,
		Timeout:          timeout,
		SuccessExitCodes: r.SuccessExitCodes,
	}
}
