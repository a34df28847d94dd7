package policy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/audit"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/executor"
	"github.com/patchlet/patchlet/metrics"
	"github.com/patchlet/patchlet/reconcile"
	"github.com/patchlet/patchlet/store"
)

// classifyBytes is how much of a failed step's output is classified.
const classifyBytes = 64 << 10

// tailBytes is how much output an Operation's status carries.
const tailBytes = 4 << 10

// operationName is a fresh, sortable Operation (and step) name.
func operationName(now time.Time, step v1alpha1.StepType) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("op-%s-%s-%s", now.UTC().Format("20060102-150405"), strings.ToLower(string(step)), hex.EncodeToString(b[:]))
}

// run runs the planned steps in order. Each goes, in this file, from the
// plan to the backend's argv (backendStep), to an Operation and the
// executor (runStep), to its classified result (classify) and what the
// pass makes of it (stepFailed); the first failure ends the pass. A stale
// index is refreshed once and the step retried once. Once every step
// succeeded, noteNoEffect observes afresh and records the items they left
// unsatisfied; the next pass plans from that.
func (c *Controller) run(ctx context.Context, p *pass) error {
	if len(p.plan.Steps) == 0 {
		return nil
	}
	var ran []ranStep
	staleRetried := false
	for i := 0; i < len(p.plan.Steps); i++ {
		s := p.plan.Steps[i]
		step, f, err := c.backendStep(s)
		if err != nil {
			return err
		}
		if f == nil {
			for _, name := range s.Policies {
				p.running[name] = true
			}
			if _, f, err = c.runStep(ctx, p, step, s.Policies); err != nil {
				return err
			}
			if f == nil {
				ran = append(ran, ranStep{plan: s, step: step, operation: p.lastOp[s.Policies[0]]})
				continue
			}
		}
		if f.Reason == v1alpha1.FailureStaleIndex && !staleRetried {
			// The index named a file the repository no longer has:
			// refresh once, then retry the step once.
			staleRetried = true
			c.log.Info("stale package index; refreshing and retrying once", "step", s.Type)
			if err := c.refresh(ctx, p, true); err != nil {
				return err
			}
			if p.cacheFailure == nil {
				i--
				continue
			}
		}
		return c.stepFailed(p, s.Type, *f, s.Policies)
	}
	if err := c.noteNoEffect(ctx, p, ran); err != nil {
		return err
	}
	return &Waiting{RequeueAfter: time.Millisecond, Reason: "StepsRan"}
}

// stepFailed is what a failed planned step makes of the pass: another
// process holding the lock makes it wait for LockRetry; an interrupted
// package database is repaired by the next pass, a second later; any
// other failure is retried with backoff (StepFailed).
func (c *Controller) stepFailed(p *pass, step v1alpha1.StepType, f backends.Failure, policies []string) error {
	switch f.Reason {
	case v1alpha1.FailureLockHeld:
		return c.waitAfter(p, step, f, policies, c.o.LockRetry)
	case v1alpha1.FailureInterrupted:
		return c.waitAfter(p, step, f, policies, time.Second)
	}
	return &StepFailed{Step: step, Failure: f, Policies: policies}
}

// waitAfter reports f on the policies, retried after d, and makes the
// pass wait that long.
func (c *Controller) waitAfter(p *pass, step v1alpha1.StepType, f backends.Failure, policies []string, d time.Duration) error {
	for _, name := range policies {
		p.running[name] = false
		p.stepFailure[name] = &reconcile.StepFailure{Step: step, Failure: f, NextRetry: p.now.Add(d)}
	}
	return &Waiting{RequeueAfter: d, Reason: string(f.Reason)}
}

// backendStep turns a planned step into the backend's command line. A
// step the backend refuses to build comes back as a failure (reason
// Refused) and is never run.
func (c *Controller) backendStep(s reconcile.Step) (backends.Step, *backends.Failure, error) {
	b := c.o.Backend
	var (
		step backends.Step
		err  error
	)
	switch s.Type {
	case v1alpha1.StepInstall:
		step, err = b.InstallStep(s.Packages)
	case v1alpha1.StepUpgrade:
		step, err = b.UpgradeStep(s.Names())
	case v1alpha1.StepRemove:
		step, err = b.RemoveStep(s.Names())
	case v1alpha1.StepHold:
		step, err = b.HoldStep(s.Names(), true)
	case v1alpha1.StepUnhold:
		step, err = b.HoldStep(s.Names(), false)
	default:
		return backends.Step{}, nil, fmt.Errorf("planned step %q has no backend command", s.Type)
	}
	if err != nil {
		return backends.Step{}, c.refused(s.Type, err), nil
	}
	return step, nil, nil
}

// refused is the failure of a step the backend refused to build: nothing
// ran, and the reason says so.
func (c *Controller) refused(typ v1alpha1.StepType, err error) *backends.Failure {
	c.log.Error(err, "backend refused to build step", "step", typ)
	return &backends.Failure{Reason: v1alpha1.FailureRefused, Message: err.Error()}
}

// runStep runs one step detached, recorded as an Operation, and waits for
// it. It returns the step's final state and, when it failed, its
// classification. An error means the step could not be run or waited for
// (the agent is stopping, or the state directory failed).
func (c *Controller) runStep(ctx context.Context, p *pass, step backends.Step, policies []string) (executor.State, *backends.Failure, error) {
	if step.Timeout <= 0 {
		step.Timeout = c.o.StepTimeout
	}
	now := c.o.Now()
	name := operationName(now, step.Type)
	op := &v1alpha1.Operation{}
	op.Name = name
	op.Labels = map[string]string{v1alpha1.LabelHost: c.o.HostName}
	if len(policies) == 1 {
		op.Labels[v1alpha1.LabelPolicy] = policies[0]
	}
	op.Spec = v1alpha1.OperationSpec{
		Policy:   strings.Join(policies, ","),
		Host:     c.o.HostName,
		Step:     step.Type,
		Backend:  c.o.Backend.Name(),
		Argv:     step.Argv,
		Packages: step.Packages,
	}
	op.Status = v1alpha1.OperationStatus{Phase: v1alpha1.OperationPending, Attempts: 1}
	if _, err := c.o.Store.Create(store.Operations, op); err != nil {
		return executor.State{}, nil, fmt.Errorf("recording operation: %w", err)
	}
	for _, pol := range policies {
		p.lastOp[pol] = name
	}
	log := c.log.WithValues("operation", name, "step", step.Type)
	log.Info("running step", "argv", step.Argv)
	if err := c.o.Executor.Start(ctx, name, step); err != nil {
		if ctx.Err() != nil && !errors.Is(err, executor.ErrExists) {
			// The agent is stopping: record nothing; the next agent
			// re-attaches to the step if it started, or finds it never did.
			return executor.State{}, nil, ctx.Err()
		}
		if !errors.Is(err, executor.ErrExists) {
			f := backends.Failure{Reason: v1alpha1.FailureFailed, Message: "starting the step: " + err.Error()}
			c.finishOperation(name, executor.State{Phase: executor.PhaseFailed, Reason: v1alpha1.FailureFailed, Message: err.Error(), FinishedAt: c.o.Now()}, &f, c.tail(name))
			return executor.State{}, &f, nil
		}
		// The step was started already (it never runs twice): follow it.
		log.Info("step exists already; re-attaching")
	}
	if s, ok := c.awaitRunner(ctx, name); ok {
		c.markRunning(name, s)
	}
	st, err := c.o.Executor.Wait(ctx, name)
	if err != nil {
		if ctx.Err() != nil {
			// The agent is stopping; the step goes on and the next agent re-attaches.
			return st, nil, ctx.Err()
		}
		return st, nil, fmt.Errorf("waiting for step %s: %w", name, err)
	}
	out := c.tail(name)
	f := c.classify(step, st, out)
	c.finishOperation(name, st, f, out)
	if f != nil {
		log.Info("step failed", "reason", f.Reason, "message", f.Message, "exitCode", st.ExitCode)
	} else {
		log.Info("step succeeded", "duration", st.FinishedAt.Sub(st.StartedAt).String())
	}
	c.prune()
	return st, f, nil
}

// claimWait bounds how long runStep waits for a step's runner to record
// its pid before it marks the Operation Running without one.
const claimWait = time.Second

// awaitRunner returns the step's state once its runner claimed it (the
// pid is known) or it finished, polling briefly; ok is false when the
// state cannot be read.
func (c *Controller) awaitRunner(ctx context.Context, name string) (executor.State, bool) {
	delay := 2 * time.Millisecond
	deadline := time.Now().Add(claimWait)
	for {
		s, err := c.o.Executor.Status(name)
		if err != nil {
			return s, false
		}
		if s.PID != 0 || s.Phase != executor.PhasePending || time.Now().After(deadline) {
			return s, true
		}
		select {
		case <-ctx.Done():
			return s, true
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// tail reads the end of a finished step's output once, for classify and
// the Operation's status (nil when there is none or it cannot be read).
func (c *Controller) tail(name string) []byte {
	out, err := c.o.Executor.Tail(name, classifyBytes)
	if err != nil {
		return nil
	}
	return out
}

// classify turns a finished step's state and the end of its output into a
// Failure (nil on success).
func (c *Controller) classify(step backends.Step, st executor.State, out []byte) *backends.Failure {
	switch st.Phase {
	case executor.PhaseSucceeded:
		return nil
	case executor.PhaseLost:
		return &backends.Failure{Reason: v1alpha1.FailureInterrupted, Message: "the step's runner stopped before recording a result: " + st.Message}
	}
	if st.Reason == v1alpha1.FailureTimeout {
		return &backends.Failure{Reason: v1alpha1.FailureTimeout, Message: fmt.Sprintf("killed after %s", step.Timeout)}
	}
	f := c.o.Backend.Classify(step, st.ExitCode, out)
	if f.Reason == "" {
		f.Reason = v1alpha1.FailureFailed
	}
	return &f
}

func (c *Controller) markRunning(name string, s executor.State) {
	cur, err := c.o.Store.Get(store.Operations, name)
	if err != nil {
		return
	}
	op := cur.(*v1alpha1.Operation)
	if op.Status.Phase != v1alpha1.OperationPending {
		return
	}
	op.Status.Phase = v1alpha1.OperationRunning
	op.Status.PID = int32(s.PID)
	t := s.StartedAt
	if t.IsZero() {
		t = c.o.Now()
	}
	mt := metav1.NewTime(t.UTC())
	op.Status.StartedAt = &mt
	_, _ = c.o.Store.UpdateStatus(store.Operations, op)
}

// finishOperation records a finished step on its Operation, with the end
// of its output (out, as tail read it).
func (c *Controller) finishOperation(name string, st executor.State, f *backends.Failure, out []byte) {
	cur, err := c.o.Store.Get(store.Operations, name)
	if err != nil {
		c.log.Error(err, "operation vanished", "operation", name)
		return
	}
	op := cur.(*v1alpha1.Operation)
	s := &op.Status
	if s.StartedAt == nil && !st.StartedAt.IsZero() {
		t := metav1.NewTime(st.StartedAt.UTC())
		s.StartedAt = &t
	}
	fin := st.FinishedAt
	if fin.IsZero() {
		fin = c.o.Now()
	}
	ft := metav1.NewTime(fin.UTC())
	s.FinishedAt = &ft
	outcome, took := metrics.OutcomeSucceeded, time.Duration(0)
	if f != nil {
		outcome = string(f.Reason)
	}
	if s.StartedAt != nil {
		took = fin.Sub(s.StartedAt.Time)
	}
	c.o.Metrics.ObserveStep(string(op.Spec.Step), op.Spec.Backend, outcome, took)
	if c.audit != nil {
		rec := audit.Step{Operation: name, Policy: op.Spec.Policy, Argv: op.Spec.Argv, ExitCode: -1, Duration: took}
		if st.Phase == executor.PhaseSucceeded || st.Phase == executor.PhaseFailed {
			rec.ExitCode = st.ExitCode
		}
		if f != nil {
			rec.Error = string(f.Reason) + ": " + f.Message
		}
		if err := c.audit.RecordStep(context.Background(), rec); err != nil {
			c.log.Error(err, "recording the step in the audit log", "operation", name)
		}
	}
	if st.Phase == executor.PhaseSucceeded || st.Phase == executor.PhaseFailed {
		code := int32(st.ExitCode)
		s.ExitCode = &code
	}
	if f == nil {
		s.Phase = v1alpha1.OperationSucceeded
		s.Reason, s.Message = "", ""
	} else {
		s.Phase = v1alpha1.OperationFailed
		s.Reason = string(f.Reason)
		s.Message = clipMsg(f.Message)
	}
	s.PID = 0
	if out != nil {
		s.OutputTail = string(out[max(len(out)-tailBytes, 0):])
	}
	if _, err := c.o.Store.UpdateStatus(store.Operations, op); err != nil {
		c.log.Error(err, "recording operation result", "operation", name)
	}
}

// reattach finishes the Operations a previous agent left Pending or
// Running: it waits for a step still running (its runner checked by pid
// and start time) and records the result a finished one wrote. A step is
// never started again.
func (c *Controller) reattach(ctx context.Context) {
	items, _, err := c.o.Store.List(store.Operations)
	if err != nil {
		return
	}
	for _, it := range items {
		op := it.Object.(*v1alpha1.Operation)
		if op.Status.Phase != v1alpha1.OperationPending && op.Status.Phase != v1alpha1.OperationRunning {
			continue
		}
		name := op.Name
		log := c.log.WithValues("operation", name)
		st, err := c.o.Executor.Status(name)
		if errors.Is(err, executor.ErrNotFound) {
			f := backends.Failure{Reason: v1alpha1.FailureInterrupted, Message: "the agent stopped before the step started"}
			c.finishOperation(name, executor.State{Phase: executor.PhaseLost}, &f, nil)
			continue
		}
		if err != nil {
			log.Error(err, "cannot read step state")
			continue
		}
		if !st.Phase.Done() {
			log.Info("re-attaching to a running step", "pid", st.PID)
			c.markRunning(name, st)
			st, err = c.o.Executor.Wait(ctx, name)
			if err != nil {
				return
			}
		}
		step := st.Step
		out := c.tail(name)
		f := c.classify(step, st, out)
		c.finishOperation(name, st, f, out)
		log.Info("recorded the result of a step started by a previous agent", "phase", st.Phase, "exitCode", st.ExitCode)
	}
}

// prune keeps the newest KeepOperations Operations and their step directories.
func (c *Controller) prune() {
	items, _, err := c.o.Store.List(store.Operations)
	if err != nil || len(items) <= c.o.KeepOperations {
		return
	}
	type opAge struct {
		name string
		at   time.Time
		done bool
	}
	ops := make([]opAge, 0, len(items))
	for _, it := range items {
		op := it.Object.(*v1alpha1.Operation)
		done := op.Status.Phase == v1alpha1.OperationSucceeded || op.Status.Phase == v1alpha1.OperationFailed
		ops = append(ops, opAge{name: op.Name, at: op.CreationTimestamp.Time, done: done})
	}
	sort.Slice(ops, func(i, j int) bool {
		if !ops[i].at.Equal(ops[j].at) {
			return ops[i].at.Before(ops[j].at)
		}
		return ops[i].name < ops[j].name
	})
	excess := len(ops) - c.o.KeepOperations
	for _, o := range ops {
		if excess <= 0 {
			break
		}
		if !o.done {
			continue
		}
		if _, err := c.o.Store.Delete(store.Operations, o.name, ""); err == nil {
			excess--
		}
	}
	_, _ = c.o.Executor.Prune(c.o.KeepOperations)
}
