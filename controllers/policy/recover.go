package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/reconcile"
)

// recoverDatabase repairs an interrupted package database, once per
// interruption: the backend's recover step (dpkg --configure -a), then,
// for the packages still interrupted, one reinstall at their recorded
// version (or the candidate, when the index no longer has it), after a
// refresh of an index older than the policies allow. When the
// database is still interrupted after that, the controller gives up on
// that interruption: it reports it (Degraded, reason Interrupted) and runs
// no step for it again until the package database changes to another
// state (an operator repaired it, or the agent restarts).
//
// stop tells Reconcile to return res and err.
func (c *Controller) recoverDatabase(ctx context.Context, p *pass, key string) (res Result, stop bool, err error) {
	if !p.obs.Interrupted || !c.enforcing(p) {
		c.setUnrepaired("", false)
		return Result{}, false, nil
	}
	if k, ok := c.unrepaired(); ok && k == interruptionKey(p.obs) {
		f := backends.Failure{Reason: v1alpha1.FailureInterrupted, Message: unrepairedMessage(p.obs)}
		for _, name := range c.selectedNames(p) {
			p.stepFailure[name] = &reconcile.StepFailure{Step: v1alpha1.StepRecover, Failure: f}
		}
		c.log.V(1).Info("package database still interrupted after recovery; waiting for a repair", "packages", refNames(p.obs.InterruptedPackages))
		return Result{}, true, nil
	}
	if r, held := c.lockHeld(p, c.recoverPolicies(p)); held {
		return r, true, nil
	}

	c.log.Info("package database was interrupted; recovering", "packages", refNames(p.obs.InterruptedPackages))
	var f *backends.Failure
	if step, berr := c.o.Backend.RecoverStep(); berr != nil {
		f = c.refused(v1alpha1.StepRecover, berr)
	} else if _, f, err = c.runStep(ctx, p, step, c.selectedNames(p)); err != nil {
		return res, true, err
	}
	if f != nil && f.Reason == v1alpha1.FailureLockHeld {
		for _, name := range c.selectedNames(p) {
			p.stepFailure[name] = &reconcile.StepFailure{Step: v1alpha1.StepRecover, Failure: *f, NextRetry: p.now.Add(c.o.LockRetry)}
		}
		return Result{RequeueAfter: c.o.LockRetry}, true, nil
	}
	if f != nil {
		// Not the end: dpkg --configure -a refuses a half-installed
		// package ("you should reinstall it"), which the reinstall below
		// repairs. Whatever is still broken after that is reported once.
		c.log.Info("recover step failed; going on to reinstall", "reason", f.Reason, "message", f.Message)
	}
	if err := c.observe(ctx, p); err != nil {
		return res, true, err
	}

	if p.obs.Interrupted && len(p.obs.InterruptedPackages) > 0 {
		// A reinstall downloads: with an index older than the policies
		// allow, refresh it first.
		if err := c.refreshIfStale(ctx, p, key, false); err != nil {
			return res, true, err
		}
		refs, err := c.reinstallRefs(ctx, p.obs.InterruptedPackages)
		if err != nil {
			return res, true, err
		}
		step, berr := c.o.Backend.ReinstallStep(refs)
		if berr != nil {
			// Reported as a failed install step; nothing runs.
			step = backends.Step{Type: v1alpha1.StepInstall}
		}
		c.log.Info("packages still interrupted after recovery; reinstalling them", "packages", refNames(refs))
		if r, f, err := c.runRecoveryStep(ctx, p, key, step, berr); f != nil || err != nil {
			if f != nil && f.Reason != v1alpha1.FailureLockHeld {
				// Running the same repair again would not help.
				c.setUnrepaired(interruptionKey(p.obs), true)
			}
			return r, true, err
		}
		if err := c.observe(ctx, p); err != nil {
			return res, true, err
		}
	}

	if p.obs.Interrupted {
		c.setUnrepaired(interruptionKey(p.obs), true)
		f := backends.Failure{Reason: v1alpha1.FailureInterrupted, Message: unrepairedMessage(p.obs)}
		for _, name := range c.selectedNames(p) {
			p.stepFailure[name] = &reconcile.StepFailure{Step: v1alpha1.StepRecover, Failure: f}
		}
		c.log.Info("package database still interrupted after recovery", "packages", refNames(p.obs.InterruptedPackages))
		return Result{}, true, nil
	}
	c.setUnrepaired("", false)
	return Result{}, false, nil
}

// runRecoveryStep runs one recovery step for every selected policy. It
// returns the step's failure, if any, with the result and error Reconcile
// returns then: a lock held by another process makes the pass wait; any
// other failure is reported on the policies and retried with backoff. A
// non-nil buildErr is the backend's refusal to build the step: nothing
// runs, and it fails with reason Refused.
func (c *Controller) runRecoveryStep(ctx context.Context, p *pass, key string, step backends.Step, buildErr error) (Result, *backends.Failure, error) {
	var (
		f   *backends.Failure
		err error
	)
	if buildErr != nil {
		f = c.refused(step.Type, buildErr)
	} else {
		_, f, err = c.runStep(ctx, p, step, c.selectedNames(p))
	}
	if err != nil || f == nil {
		return Result{}, nil, err
	}
	if f.Reason == v1alpha1.FailureLockHeld {
		for _, name := range c.selectedNames(p) {
			p.stepFailure[name] = &reconcile.StepFailure{Step: step.Type, Failure: *f, NextRetry: p.now.Add(c.o.LockRetry)}
		}
		return Result{RequeueAfter: c.o.LockRetry}, f, nil
	}
	d := c.failAll(p, step.Type, *f, key)
	return Result{RequeueAfter: d}, f, fmt.Errorf("recovering the package database: %s step failed: %s: %s", strings.ToLower(string(step.Type)), f.Reason, f.Message)
}

// recoverPolicies are the policies a recovery step serves.
func (c *Controller) recoverPolicies(p *pass) map[string]v1alpha1.StepType {
	m := map[string]v1alpha1.StepType{}
	for _, name := range c.selectedNames(p) {
		m[name] = v1alpha1.StepRecover
	}
	return m
}

// reinstallRefs keeps each package's recorded version when the index still
// has it, and otherwise asks for the candidate.
func (c *Controller) reinstallRefs(ctx context.Context, pkgs []backends.PackageRef) ([]backends.PackageRef, error) {
	names := make([]string, 0, len(pkgs))
	for _, r := range pkgs {
		names = append(names, r.Name)
	}
	obs, err := c.o.Backend.Observe(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("observing packages: %w", err)
	}
	refs := make([]backends.PackageRef, 0, len(pkgs))
	for _, r := range pkgs {
		if r.Version != "" && !slices.Contains(obs.Available[r.Name], r.Version) {
			r.Version = ""
		}
		refs = append(refs, r)
	}
	return refs, nil
}

// interruptionKey identifies the state of an interrupted database.
func interruptionKey(obs *backends.Observation) string {
	parts := make([]string, 0, len(obs.InterruptedPackages))
	for _, r := range obs.InterruptedPackages {
		parts = append(parts, r.Name+"="+r.Version)
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

func unrepairedMessage(obs *backends.Observation) string {
	what := "the package database"
	if len(obs.InterruptedPackages) > 0 {
		what = strings.Join(refNames(obs.InterruptedPackages), ", ")
	}
	return fmt.Sprintf("%s still interrupted after the recover step and a reinstall; repair by hand (dpkg --audit shows what is left); nothing else is changed until then", what)
}

func refNames(refs []backends.PackageRef) []string {
	names := make([]string, 0, len(refs))
	for _, r := range refs {
		names = append(names, r.Name)
	}
	return names
}

func (c *Controller) unrepaired() (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unrepairedKey, c.unrepairedSet
}

func (c *Controller) setUnrepaired(key string, set bool) {
	c.mu.Lock()
	c.unrepairedKey, c.unrepairedSet = key, set
	c.mu.Unlock()
}
