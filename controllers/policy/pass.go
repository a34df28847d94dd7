package policy

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/reconcile"
	"github.com/patchlet/patchlet/store"
)

// pass is the state of one reconcile pass, written out once at its end.
type pass struct {
	now      time.Time
	policies []v1alpha1.PatchPolicy
	obs      *backends.Observation
	plan     reconcile.PlanOutput

	running      map[string]bool
	stepFailure  map[string]*reconcile.StepFailure
	lastOp       map[string]string
	cacheFailure *reconcile.CacheFailure
	cacheState   v1alpha1.CacheState
	waitingUntil time.Time
	rebootAt     time.Time
	nextTimer    time.Duration
	// health holds the health check state of every policy whose check is
	// due in this pass (run or not); bootID is read once for it.
	health map[string]*v1alpha1.HealthCheckStatus
	bootID *string
}

func (p *pass) timer(d time.Duration) {
	if d <= 0 {
		d = time.Millisecond
	}
	if p.nextTimer == 0 || d < p.nextTimer {
		p.nextTimer = d
	}
}

// Reconcile runs one pass for the host: observe, plan, refresh the index
// when it is too old, run the planned steps detached, and write the status
// of every policy and of the Host once, whichever way the pass ends.
func (c *Controller) Reconcile(ctx context.Context, key string) (res Result, retErr error) {
	p := &pass{
		now:         c.o.Now(),
		running:     map[string]bool{},
		stepFailure: map[string]*reconcile.StepFailure{},
		lastOp:      map[string]string{},
		health:      map[string]*v1alpha1.HealthCheckStatus{},
	}
	p.policies = c.listPolicies()
	defer func() {
		if ctx.Err() != nil {
			return // shutting down: the next agent re-attaches and writes status
		}
		if err := c.writeStatus(p); err != nil {
			c.log.Error(err, "writing status")
			if retErr == nil {
				retErr = err
			}
		}
		if retErr != nil {
			if res.RequeueAfter <= 0 {
				res.RequeueAfter = c.limiter.When(key)
			}
			return
		}
		if res.RequeueAfter <= 0 && p.nextTimer > 0 {
			res.RequeueAfter = p.nextTimer
		}
		if res.RequeueAfter <= 0 || res.RequeueAfter > c.o.Resync {
			res.RequeueAfter = jitter(c.o.Resync)
		}
	}()

	if err := c.observe(ctx, p); err != nil {
		return res, err
	}

	// An interrupted package database is repaired before anything else,
	// and only when the package manager says it was interrupted.
	if r, stop, err := c.recoverDatabase(ctx, p, key); stop || err != nil {
		return r, err
	}

	if err := c.refreshIfStale(ctx, p, key, false); err != nil {
		return res, err
	}

	// Checks of the policies that are done run before, and whatever, the
	// steps of others: a check never waits behind another policy's lock or
	// rollout slot.
	c.runHealthChecks(ctx, p)

	if len(p.plan.Steps) == 0 {
		c.scheduleTimers(p)
		c.maybeReboot(ctx, p)
		c.releaseDone(p)
		return res, nil
	}
	// Policies already done give their slots back before this pass waits
	// for others' (two hosts each holding the slot the other waits for
	// would wait forever).
	c.releaseDone(p)

	if r, held := c.lockHeld(p, planPolicies(p)); held {
		return r, nil
	}

	if r, wait, err := c.acquire(ctx, p, sortedKeys(planPolicies(p))); wait || err != nil {
		return r, err
	}

	staleRetried := false
	for i := 0; i < len(p.plan.Steps); i++ {
		s := p.plan.Steps[i]
		step, f, err := c.backendStep(s)
		if err != nil {
			return res, err
		}
		if f == nil {
			for _, name := range s.Policies {
				p.running[name] = true
			}
			if _, f, err = c.runStep(ctx, p, step, s.Policies); err != nil {
				return res, err
			}
		}
		if f == nil {
			continue
		}
		switch f.Reason {
		case v1alpha1.FailureStaleIndex:
			if !staleRetried {
				// The index named a file the repository no longer has:
				// refresh once, then retry the step once.
				staleRetried = true
				c.log.Info("stale package index; refreshing and retrying once", "step", s.Type)
				if err := c.refreshIfStale(ctx, p, key, true); err != nil {
					return res, err
				}
				if p.cacheFailure == nil {
					i--
					continue
				}
			}
		case v1alpha1.FailureLockHeld:
			for _, name := range s.Policies {
				p.running[name] = false
				p.stepFailure[name] = &reconcile.StepFailure{Step: s.Type, Failure: *f, NextRetry: p.now.Add(c.o.LockRetry)}
			}
			return Result{RequeueAfter: c.o.LockRetry}, nil
		case v1alpha1.FailureInterrupted:
			for _, name := range s.Policies {
				p.running[name] = false
				p.stepFailure[name] = &reconcile.StepFailure{Step: s.Type, Failure: *f, NextRetry: p.now.Add(time.Second)}
			}
			// The next pass repairs the package database first.
			return Result{RequeueAfter: time.Second}, nil
		}
		d := c.limiter.When(key)
		for _, name := range s.Policies {
			p.running[name] = false
			p.stepFailure[name] = &reconcile.StepFailure{Step: s.Type, Failure: *f, NextRetry: c.o.Now().Add(d)}
		}
		return Result{RequeueAfter: d}, fmt.Errorf("%s step failed: %s: %s", strings.ToLower(string(s.Type)), f.Reason, f.Message)
	}
	// Steps ran: the next pass observes the result and reports it.
	return Result{RequeueAfter: time.Millisecond}, nil
}

// observe reads the host and plans.
func (c *Controller) observe(ctx context.Context, p *pass) error {
	names := reconcile.AvailableNames(p.policies, c.o.HostLabels)
	obs, err := c.o.Backend.Observe(ctx, names)
	if err != nil {
		return fmt.Errorf("observing packages: %w", err)
	}
	p.obs = obs
	p.plan = reconcile.Plan(reconcile.PlanInput{
		Policies:     p.policies,
		HostLabels:   c.o.HostLabels,
		Observation:  obs,
		Capabilities: c.o.Backend.Capabilities(),
		Family:       c.o.Backend.Family(),
		Now:          p.now,
	})
	return nil
}

// enforcing reports whether some selected, active Enforce policy exists.
func (c *Controller) enforcing(p *pass) bool {
	return c.maxAge(p) > 0
}

// maxAge is the smallest cache.maxAge of the selected, active Enforce
// policies (0 when there is none: Audit policies never refresh the index).
func (c *Controller) maxAge(p *pass) time.Duration {
	var age time.Duration
	for i := range p.policies {
		pol := &p.policies[i]
		pp, ok := p.plan.Policy(pol.Name)
		if !ok || !pp.Selected || pp.Suspended || pp.Audit {
			continue
		}
		d := v1alpha1.DefaultCacheMaxAge
		if pol.Spec.Cache != nil && pol.Spec.Cache.MaxAge != nil {
			d = pol.Spec.Cache.MaxAge.Get()
		}
		if d <= 0 {
			d = time.Nanosecond
		}
		if age == 0 || d < age {
			age = d
		}
	}
	return age
}

func (c *Controller) selectedNames(p *pass) []string {
	var names []string
	for _, pp := range p.plan.Policies {
		if pp.Selected && !pp.Suspended && !pp.Audit {
			names = append(names, pp.Name)
		}
	}
	return names
}

// refreshIfStale refreshes the package index when it is older than the
// policies allow (or always, with force) and re-plans.
func (c *Controller) refreshIfStale(ctx context.Context, p *pass, key string, force bool) error {
	maxAge := c.maxAge(p)
	age := p.now.Sub(p.obs.IndexRefreshed)
	switch {
	case maxAge == 0:
		p.cacheState = cacheStateOf(p.obs.IndexRefreshed, v1alpha1.DefaultCacheMaxAge, p.now)
		return nil
	case !force && !p.obs.IndexRefreshed.IsZero() && age < maxAge:
		p.cacheState = v1alpha1.CacheFresh
		p.timer(maxAge - age)
		return nil
	}
	step := c.o.Backend.RefreshStep()
	_, f, err := c.runStep(ctx, p, step, c.selectedNames(p))
	if err != nil {
		return err
	}
	if f != nil {
		d := c.limiter.When(key)
		p.cacheState = v1alpha1.CacheFailed
		p.cacheFailure = &reconcile.CacheFailure{Message: string(f.Reason) + ": " + f.Message, NextRetry: c.o.Now().Add(d)}
		c.mu.Lock()
		c.cacheErr = f.Message
		c.mu.Unlock()
		p.timer(d)
		// Planning goes on with the index there is; the failure shows as Degraded.
		return nil
	}
	c.mu.Lock()
	c.cacheErr = ""
	c.mu.Unlock()
	if err := c.o.Backend.RecordRefresh(c.o.Now()); err != nil {
		return fmt.Errorf("recording the index refresh: %w", err)
	}
	p.cacheFailure = nil
	p.cacheState = v1alpha1.CacheFresh
	p.timer(maxAge)
	return c.observe(ctx, p)
}

func cacheStateOf(refreshed time.Time, maxAge time.Duration, now time.Time) v1alpha1.CacheState {
	switch {
	case refreshed.IsZero():
		return v1alpha1.CacheUnknown
	case now.Sub(refreshed) < maxAge:
		return v1alpha1.CacheFresh
	default:
		return v1alpha1.CacheStale
	}
}

// acquire asks the rollout gate for the named policies; wait is true when
// the pass must not change the host now (Result says when to try again).
func (c *Controller) acquire(ctx context.Context, p *pass, names []string) (res Result, wait bool, err error) {
	if c.o.Gate == nil || len(names) == 0 {
		return Result{}, false, nil
	}
	granted, retryAt, err := c.o.Gate.Acquire(ctx, names)
	if err != nil {
		return Result{}, true, fmt.Errorf("asking for a rollout slot for %s: %w", strings.Join(names, ", "), err)
	}
	if granted {
		return Result{}, false, nil
	}
	now := c.o.Now()
	if !retryAt.After(now) {
		retryAt = now.Add(time.Second)
	}
	p.waitingUntil = retryAt
	c.log.V(1).Info("waiting for a rollout slot", "policies", names, "retryAt", retryAt)
	return Result{RequeueAfter: retryAt.Sub(now)}, true, nil
}

// releaseDone tells the rollout gate which selected policies are done on
// this host: nothing pending, no reboot wanted for them, and their health
// check (if they have one) passed.
func (c *Controller) releaseDone(p *pass) {
	if c.o.Gate == nil || p.obs == nil {
		return
	}
	var done []string
	for i := range p.policies {
		pol := &p.policies[i]
		pp, ok := p.plan.Policy(pol.Name)
		if !ok || pp.Pending > 0 {
			continue
		}
		if p.obs.RebootRequired && wantsReboot(pol) && pp.Selected {
			continue
		}
		if h, due := p.health[pol.Name]; due && h.Result != v1alpha1.HealthPassed {
			continue
		}
		done = append(done, pol.Name)
	}
	if len(done) > 0 {
		c.o.Gate.Release(done)
	}
}

func wantsReboot(pol *v1alpha1.PatchPolicy) bool {
	return pol.Spec.Reboot != nil && pol.Spec.Reboot.Policy == v1alpha1.RebootIfRequired
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lockHeld checks the package lock before a step: while another process
// holds it, the pass waits (no step, no Operation) and retries soon. Each
// named policy reports the holder.
func (c *Controller) lockHeld(p *pass, policies map[string]v1alpha1.StepType) (Result, bool) {
	pid, cmd, held, err := c.o.Backend.LockHolder()
	if err != nil {
		c.log.V(1).Info("cannot check the package lock", "error", err.Error())
		return Result{}, false
	}
	if !held {
		return Result{}, false
	}
	f := backends.Failure{Reason: v1alpha1.FailureLockHeld, Message: lockMessage(pid, cmd), LockHolderPID: pid, LockHolder: cmd}
	for name, step := range policies {
		p.stepFailure[name] = &reconcile.StepFailure{Step: step, Failure: f, NextRetry: p.now.Add(c.o.LockRetry)}
	}
	c.log.Info("package lock held; waiting", "pid", pid, "command", cmd)
	return Result{RequeueAfter: c.o.LockRetry}, true
}

func lockMessage(pid int, cmd string) string {
	switch {
	case pid > 0 && cmd != "":
		return fmt.Sprintf("the package lock is held by process %d (%s)", pid, cmd)
	case pid > 0:
		return fmt.Sprintf("the package lock is held by process %d", pid)
	}
	return "the package lock is held by another process"
}

// planPolicies maps every policy a planned step serves to its first step.
func planPolicies(p *pass) map[string]v1alpha1.StepType {
	m := map[string]v1alpha1.StepType{}
	for _, s := range p.plan.Steps {
		for _, name := range s.Policies {
			if _, ok := m[name]; !ok {
				m[name] = s.Type
			}
		}
	}
	return m
}

// failAll reports a failed step on every selected policy and returns the
// backoff before the next try.
func (c *Controller) failAll(p *pass, step v1alpha1.StepType, f backends.Failure, key string) time.Duration {
	d := c.limiter.When(key)
	for _, name := range c.selectedNames(p) {
		p.stepFailure[name] = &reconcile.StepFailure{Step: step, Failure: f, NextRetry: c.o.Now().Add(d)}
	}
	return d
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

// scheduleTimers asks for a pass when a maintenance window opens.
func (c *Controller) scheduleTimers(p *pass) {
	for _, pp := range p.plan.Policies {
		if pp.Selected && !pp.WindowOpen && !pp.NextWindow.IsZero() {
			p.timer(pp.NextWindow.Sub(p.now))
		}
	}
}

// listPolicies returns defaulted copies of every policy.
func (c *Controller) listPolicies() []v1alpha1.PatchPolicy {
	items, _, err := c.o.Store.List(store.PatchPolicies)
	if err != nil {
		return nil
	}
	out := make([]v1alpha1.PatchPolicy, 0, len(items))
	for _, it := range items {
		pol := it.Object.(*v1alpha1.PatchPolicy).DeepCopy()
		pol.SetDefaults()
		out = append(out, *pol)
	}
	return out
}

// writeStatus writes every policy's status and the Host's, once per pass.
func (c *Controller) writeStatus(p *pass) error {
	var errs []error
	hostPolicies := make([]v1alpha1.HostPolicyStatus, 0, len(p.policies))
	statuses := make([]v1alpha1.PatchPolicyStatus, len(p.policies))
	for i := range p.policies {
		pol := &p.policies[i]
		o := c.outcome(p, pol)
		statuses[i] = reconcile.PolicyStatus(pol, o, c.o.Now())
		hostPolicies = append(hostPolicies, reconcile.HostPolicyState(pol, o))
	}
	sort.Slice(hostPolicies, func(i, j int) bool { return hostPolicies[i].Name < hostPolicies[j].Name })
	names := make([]string, 0, len(p.policies))
	for i := range p.policies {
		names = append(names, p.policies[i].Name)
	}
	c.o.Metrics.RetainPolicies(names) // a deleted policy's series go
	// The Host first: a client that saw a policy turn Ready then reads a
	// Host that already reflects the same pass.
	if err := c.writeHost(p, hostPolicies); err != nil {
		errs = append(errs, err)
	}
	for i := range p.policies {
		pol := &p.policies[i]
		cur, err := c.o.Store.Get(store.PatchPolicies, pol.Name)
		if err != nil {
			continue // deleted meanwhile
		}
		cp := cur.(*v1alpha1.PatchPolicy)
		if cp.Generation != pol.Generation {
			continue // changed meanwhile: the next pass reports on it
		}
		cp.Status = statuses[i]
		c.o.Metrics.SetPolicyStatus(cp)
		if _, err := c.o.Store.UpdateStatus(store.PatchPolicies, cp); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) outcome(p *pass, pol *v1alpha1.PatchPolicy) reconcile.PassOutcome {
	pp, _ := p.plan.Policy(pol.Name)
	o := reconcile.PassOutcome{
		Plan:          pp,
		Running:       p.running[pol.Name],
		StepFailure:   p.stepFailure[pol.Name],
		WaitingUntil:  p.waitingUntil,
		LastOperation: p.lastOp[pol.Name],
		RebootAt:      p.rebootAt,
	}
	if pp.Selected && !pp.Suspended && !pp.Audit {
		o.CacheFailure = p.cacheFailure
	}
	if pp.Selected && p.obs != nil {
		o.RebootRequired = p.obs.RebootRequired
		o.RebootPackages = p.obs.RebootPackages
	}
	if o.LastOperation == "" {
		cur, err := c.o.Store.Get(store.PatchPolicies, pol.Name)
		if err == nil {
			o.LastOperation = cur.(*v1alpha1.PatchPolicy).Status.LastOperation
		}
	}
	if h, ok := p.health[pol.Name]; ok {
		o.Health = h
	} else if pol.Spec.HealthCheck != nil && pp.Selected && !pp.Suspended && !pp.Audit && p.obs != nil {
		// Not due in this pass: the recorded result if it is for this
		// generation, step and boot, else a fresh Pending one.
		o.Health = reconcile.HealthFor(pol.Status.HealthCheck, c.healthKey(p, pol, o.LastOperation))
	}
	return o
}

// setCondition is meta.SetStatusCondition with the generation stamped.
func setCondition(conds *[]metav1.Condition, gen int64, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
}
