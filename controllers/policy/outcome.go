package policy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
)

// The phases of a pass end it early with one of these outcomes, as Flux's
// controllers do with their Waiting and Stalling errors; any other error
// is a failure, retried with backoff. A phase that returns nil lets the
// pass go on.

// Waiting ends a pass that cannot go on now but will soon (the package
// lock is held, a rollout slot is not granted, steps ran and their result
// is to be observed): the next pass comes after RequeueAfter, and backoff
// is reset.
type Waiting struct {
	RequeueAfter time.Duration
	Reason       string
}

func (w *Waiting) Error() string {
	return fmt.Sprintf("waiting (%s); requeue after %s", w.Reason, w.RequeueAfter)
}

// Stalled ends a pass that no retry helps (a package database that
// recovery could not repair): nothing runs until the host, the spec or
// another policy changes; the next pass comes at the resync or an event,
// without backoff.
type Stalled struct {
	Reason  string
	Message string
}

func (s *Stalled) Error() string { return "stalled (" + s.Reason + "): " + s.Message }

// StepFailed is a failed step that is retried with backoff: the pass's
// report stamps the retry time on the policies it served.
type StepFailed struct {
	Step     v1alpha1.StepType
	Failure  backends.Failure
	Policies []string
	// Doing says what the step was for, when not a planned step (e.g.
	// "recovering the package database").
	Doing string
}

func (f *StepFailed) Error() string {
	msg := fmt.Sprintf("%s step failed: %s: %s", strings.ToLower(string(f.Step)), f.Failure.Reason, f.Failure.Message)
	if f.Doing != "" {
		msg = f.Doing + ": " + msg
	}
	return msg
}

// requeue is what the report makes of a pass's outcome: how long until
// the next pass (0: at the earliest timer or the resync), whether it is
// a failure that backs off, and the error Reconcile returns.
func requeue(outcome error) (after time.Duration, backoff bool, err error) {
	var (
		w *Waiting
		s *Stalled
	)
	switch {
	case outcome == nil:
		return 0, false, nil
	case errors.As(outcome, &w):
		return w.RequeueAfter, false, nil
	case errors.As(outcome, &s):
		return 0, false, nil
	}
	return 0, true, outcome
}
