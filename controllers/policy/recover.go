package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/reconcile"
)

// recover repairs an interrupted package database, once per
// interruption: the backend's recover step (dpkg --configure -a), then,
// for the packages still interrupted, one reinstall at their recorded
// version (or the candidate, when the index no longer has it), after a
// refresh of an index older than the policies allow. When the
// database is still interrupted after that, the controller gives up on
// that interruption: it reports it (Degraded, reason Interrupted) and the
// pass ends Stalled, running no step for it again until the package
// database changes to another state (an operator repaired it, or the
// agent restarts). A held lock makes the pass wait; a failed reinstall
// is retried with backoff.
func (c *Controller) recover(ctx context.Context, p *pass) error {
	if !p.obs.Interrupted || !c.enforcing(p) {
		c.setUnrepaired("", false)
		return nil
	}
	if k, ok := c.unrepaired(); ok && k == interruptionKey(p.obs) {
		c.log.V(1).Info("package database still interrupted after recovery; waiting for a repair", "packages", refNames(p.obs.InterruptedPackages))
		return c.stalledUnrepaired(p)
	}
	if err := c.lockHeld(p, c.recoverPolicies(p)); err != nil {
		return err
	}

	c.log.Info("package database was interrupted; recovering", "packages", refNames(p.obs.InterruptedPackages))
	step, berr := c.o.Backend.RecoverStep()
	if berr != nil {
		// Reported as a failed recover step; nothing runs.
		step = backends.Step{Type: v1alpha1.StepRecover}
	}
	if err := c.runRecoveryStep(ctx, p, step, berr); err != nil {
		var f *StepFailed
		if !errors.As(err, &f) {
			return err
		}
		// Not the end: dpkg --configure -a refuses a half-installed
		// package ("you should reinstall it"), which the reinstall below
		// repairs. Whatever is still broken after that is reported once.
		c.log.Info("recover step failed; going on to reinstall", "reason", f.Failure.Reason, "message", f.Failure.Message)
	}
	if err := c.observe(ctx, p); err != nil {
		return err
	}

	if p.obs.Interrupted && len(p.obs.InterruptedPackages) > 0 {
		// A reinstall downloads: with an index older than the policies
		// allow, refresh it first.
		if err := c.refresh(ctx, p, false); err != nil {
			return err
		}
		refs, err := c.reinstallRefs(ctx, p.obs.InterruptedPackages)
		if err != nil {
			return err
		}
		step, berr := c.o.Backend.ReinstallStep(refs)
		if berr != nil {
			// Reported as a failed install step; nothing runs.
			step = backends.Step{Type: v1alpha1.StepInstall}
		}
		c.log.Info("packages still interrupted after recovery; reinstalling them", "packages", refNames(refs))
		if err := c.runRecoveryStep(ctx, p, step, berr); err != nil {
			if f := (*StepFailed)(nil); errors.As(err, &f) {
				// Running the same repair again would not help.
				c.setUnrepaired(interruptionKey(p.obs), true)
			}
			return err
		}
		if err := c.observe(ctx, p); err != nil {
			return err
		}
	}

	if p.obs.Interrupted {
		c.setUnrepaired(interruptionKey(p.obs), true)
		c.log.Info("package database still interrupted after recovery", "packages", refNames(p.obs.InterruptedPackages))
		return c.stalledUnrepaired(p)
	}
	c.setUnrepaired("", false)
	return nil
}

// stalledUnrepaired reports a database that recovery could not repair on
// every selected policy (no retry time: nothing is retried) and stalls the
// pass.
func (c *Controller) stalledUnrepaired(p *pass) error {
	f := backends.Failure{Reason: v1alpha1.FailureInterrupted, Message: unrepairedMessage(p.obs)}
	for _, name := range c.selectedNames(p) {
		p.stepFailure[name] = &reconcile.StepFailure{Step: v1alpha1.StepRecover, Failure: f}
	}
	return &Stalled{Reason: string(f.Reason), Message: f.Message}
}

// runRecoveryStep runs one recovery step for every selected policy: nil
// when it succeeded; Waiting while another process holds the lock; else
// StepFailed, reported on the policies and retried with backoff. A
// non-nil buildErr is the backend's refusal to build the step: nothing
// runs, and it fails with reason Refused.
func (c *Controller) runRecoveryStep(ctx context.Context, p *pass, step backends.Step, buildErr error) error {
	var (
		f   *backends.Failure
		err error
	)
	if buildErr != nil {
		f = c.refused(step.Type, buildErr)
	} else {
		_, f, err = c.runStep(ctx, p, step, c.selectedNames(p))
	}
	switch {
	case err != nil || f == nil:
		return err
	case f.Reason == v1alpha1.FailureLockHeld:
		return c.waitAfter(p, step.Type, *f, c.selectedNames(p), c.o.LockRetry)
	}
	return &StepFailed{Step: step.Type, Failure: *f, Policies: c.selectedNames(p), Doing: "recovering the package database"}
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
