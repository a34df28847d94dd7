package policy

import (
	"context"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/reconcile"
	"github.com/patchlet/patchlet/store"
)

// runHealthChecks runs one attempt of every due health check that has not
// passed for this generation, last Operation and boot, and is not waiting
// for its interval after a failure. A check is due when its policy would
// otherwise be Compliant (reconcile.HealthCheckDue). A failed attempt asks
// for a pass after the check's interval; a passed one is never run again
// for the same generation, step and boot, so a pass with nothing changed
// starts no check.
func (c *Controller) runHealthChecks(ctx context.Context, p *pass) {
	for i := range p.policies {
		pol := &p.policies[i]
		hc := pol.Spec.HealthCheck
		if hc == nil {
			continue
		}
		o := c.outcome(p, pol)
		if !reconcile.HealthCheckDue(pol, o) {
			continue
		}
		key := c.healthKey(p, pol, o.LastOperation)
		h := reconcile.HealthFor(pol.Status.HealthCheck, key)
		interval := v1alpha1.DefaultHealthInterval
		if hc.Interval != nil && hc.Interval.Get() > 0 {
			interval = hc.Interval.Get()
		}
		run, wait := reconcile.HealthCheckWhen(h, c.lastAttempt(pol.Name, h), interval, c.o.Now())
		if !run {
			p.health[pol.Name] = h
			if wait > 0 {
				p.timer(wait)
			}
			continue
		}
		passed, msg := c.check(ctx, pol.Name, hc)
		if ctx.Err() != nil {
			return // stopping: the attempt says nothing about the service
		}
		now := c.o.Now()
		c.mu.Lock()
		c.lastCheck[pol.Name] = now
		c.mu.Unlock()
		next := reconcile.HealthAttempt(pol.Status.HealthCheck, key, passed, msg, hc.FailureThreshold, now)
		p.health[pol.Name] = next
		log := c.log.WithValues("policy", pol.Name, "check", reconcile.HealthCheckTarget(hc))
		if next.Result != h.Result {
			log.Info("health check result", "result", next.Result, "consecutiveFailures", next.ConsecutiveFailures, "message", msg)
		} else {
			log.V(1).Info("health check attempt", "result", next.Result, "consecutiveFailures", next.ConsecutiveFailures, "message", msg)
		}
		if !passed {
			p.timer(interval)
		}
	}
}

// check runs one attempt through the injected checker.
func (c *Controller) check(ctx context.Context, policy string, hc *v1alpha1.HealthCheckSpec) (bool, string) {
	if c.o.HealthChecker == nil {
		return false, "this agent runs no health checks (no checker configured)"
	}
	return c.o.HealthChecker.Check(ctx, policy, hc)
}

// lastAttempt is when the check in state h last ran: the controller's own
// record when it is the later one (the status keeps whole seconds).
func (c *Controller) lastAttempt(name string, h *v1alpha1.HealthCheckStatus) time.Time {
	var last time.Time
	if h.LastChecked != nil {
		last = h.LastChecked.Time
	}
	c.mu.Lock()
	mem := c.lastCheck[name]
	c.mu.Unlock()
	if h.ConsecutiveFailures > 0 && mem.After(last) && mem.Sub(last) < time.Second {
		last = mem
	}
	return last
}

// healthKey says what a health check result in this pass is for: the
// policy's generation, its last Operation and the current boot. An index
// refresh changes no package: when the last Operation is a refresh, the
// recorded result of the same generation and boot keeps its Operation (so
// a periodic refresh does not renew a check).
func (c *Controller) healthKey(p *pass, pol *v1alpha1.PatchPolicy, lastOp string) reconcile.HealthKey {
	if p.bootID == nil {
		boot, err := c.o.BootID()
		if err != nil {
			c.log.Error(err, "cannot read the boot id; health checks are not renewed after a reboot")
		}
		p.bootID = &boot
	}
	key := reconcile.HealthKey{Generation: pol.Generation, Operation: lastOp, BootID: *p.bootID}
	rec := pol.Status.HealthCheck
	if rec != nil && rec.Operation != lastOp && rec.ObservedGeneration == key.Generation && rec.BootID == key.BootID && c.isRefresh(lastOp) {
		key.Operation = rec.Operation
	}
	return key
}

// isRefresh reports whether the named Operation refreshed the package
// index (false when it is unknown, e.g. pruned).
func (c *Controller) isRefresh(name string) bool {
	if name == "" {
		return false
	}
	obj, err := c.o.Store.Get(store.Operations, name)
	if err != nil {
		return false
	}
	op, ok := obj.(*v1alpha1.Operation)
	return ok && op.Spec.Step == v1alpha1.StepRefresh
}
