package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// rule is reconcile.RefreshDue for plan and obs, computed by observe
	// once per plan.
	rule reconcile.Refresh

	running      map[string]bool
	stepFailure  map[string]*reconcile.StepFailure
	lastOp       map[string]string
	cacheFailure *reconcile.CacheFailure
	cacheState   v1alpha1.CacheState
	// heldOnOldIndex names the policies whose steps holdOnOldIndex held.
	heldOnOldIndex map[string]bool
	waitingUntil   time.Time
	rebootAt       time.Time
	nextTimer      time.Duration
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

// Reconcile runs one pass for the host, as a sequence of phases: observe
// the host and plan, recover an interrupted package database, refresh an
// index older than the policies allow, run the due health checks, gate
// the planned steps (package lock, rollout slot) and run them. A phase
// ends the pass early with an outcome (Waiting, Stalled, StepFailed or
// another error); report, deferred, writes the status of every policy and
// of the Host once, whichever way the pass ends, and turns the outcome
// into the Result.
func (c *Controller) Reconcile(ctx context.Context, key string) (res Result, retErr error) {
	p := &pass{
		now:         c.o.Now(),
		running:     map[string]bool{},
		stepFailure: map[string]*reconcile.StepFailure{},
		lastOp:      map[string]string{},
		health:      map[string]*v1alpha1.HealthCheckStatus{},
	}
	p.policies = c.listPolicies()
	defer func() { res, retErr = c.report(ctx, key, p, retErr) }()

	if err := c.observe(ctx, p); err != nil {
		return Result{}, err
	}
	// An interrupted package database is repaired before anything else,
	// and only when the package manager says it was interrupted.
	if err := c.recover(ctx, p); err != nil {
		return Result{}, err
	}
	if err := c.refresh(ctx, p, false); err != nil {
		return Result{}, err
	}
	c.holdOnOldIndex(p)
	// Checks of the policies that are done run before, and whatever, the
	// steps of others: a check never waits behind another policy's lock or
	// rollout slot. A check never ends the pass.
	c.runHealthChecks(ctx, p)
	if err := c.gate(ctx, p); err != nil {
		return Result{}, err
	}
	return Result{}, c.run(ctx, p)
}

// report writes the pass's status, once, and turns its outcome into the
// Result. The backoff of a failed pass is computed here and only here, its
// retry time stamped on the policies a failed step served (a failed index
// refresh has a backoff of its own: see refresh). Otherwise the next pass comes at the outcome's requeue time, else
// at the earliest timer, and at the latest at the jittered resync.
func (c *Controller) report(ctx context.Context, key string, p *pass, outcome error) (Result, error) {
	if ctx.Err() != nil {
		return Result{}, outcome // shutting down: the next agent re-attaches and writes status
	}
	after, backoff, err := requeue(outcome)
	var d time.Duration
	if backoff {
		d = c.limiter.When(key)
		next := c.o.Now().Add(d)
		var f *StepFailed
		if errors.As(outcome, &f) {
			for _, name := range f.Policies {
				p.running[name] = false
				p.stepFailure[name] = &reconcile.StepFailure{Step: f.Step, Failure: f.Failure, NextRetry: next}
			}
		}
	}
	if werr := c.writeStatus(p); werr != nil {
		c.log.Error(werr, "writing status")
		if err == nil {
			err = werr
		}
	}
	if err != nil {
		if after <= 0 {
			after = d
		}
		if after <= 0 {
			after = c.limiter.When(key)
		}
		return Result{RequeueAfter: after}, err
	}
	if after <= 0 && p.nextTimer > 0 {
		after = p.nextTimer
	}
	if after <= 0 || after > c.o.Resync {
		after = jitter(c.o.Resync)
	}
	return Result{RequeueAfter: after}, nil
}

// gate decides whether the planned steps run now. With none planned the
// host is idle: a pass is asked for when a maintenance window opens, the
// host reboots when a policy allows it now, and the policies that are
// done give their rollout slots back. With steps planned, the done
// policies give their slots back first (two hosts each holding the slot
// the other waits for would wait forever); then the pass waits while
// another process holds the package lock, and for a rollout slot.
func (c *Controller) gate(ctx context.Context, p *pass) error {
	if len(p.plan.Steps) == 0 {
		c.scheduleTimers(p)
		c.maybeReboot(ctx, p)
		c.releaseDone(p)
		return nil
	}
	c.releaseDone(p)
	policies := planPolicies(p)
	if err := c.lockHeld(p, policies); err != nil {
		return err
	}
	return c.acquire(ctx, p, sortedKeys(policies))
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
	p.rule = reconcile.RefreshDue(p.policies, p.plan, obs.IndexRefreshed, p.now)
	return nil
}

// enforcing reports whether some selected, active Enforce policy exists.
func (c *Controller) enforcing(p *pass) bool {
	return p.rule.MaxAge > 0
}

func (c *Controller) selectedNames(p *pass) []string {
	var names []string
	for _, pp := range p.plan.Policies {
		if pp.Enforcing() {
			names = append(names, pp.Name)
		}
	}
	return names
}

// refresh refreshes the package index when reconcile.RefreshDue says it
// is due (or, with force, whenever a step asks for it) and re-plans. A
// failed refresh does not end the pass: it shows as CacheRefreshFailed,
// the steps of the policies whose maxAge the old index does not meet are
// held (holdOnOldIndex), and it is retried with a backoff of its own
// (Options.RefreshRetry, doubling) that passes in between, whatever woke
// them, wait out.
func (c *Controller) refresh(ctx context.Context, p *pass, force bool) error {
	rule := p.rule
	if c.failedRefresh != nil && !force && p.now.Before(c.failedRefresh.NextRetry) {
		cf := *c.failedRefresh
		p.cacheFailure, p.cacheState = &cf, v1alpha1.CacheFailed
		p.timer(cf.NextRetry.Sub(p.now))
		return nil
	}
	if !rule.Due && !force {
		p.cacheState = rule.State
		if rule.Next > 0 {
			p.timer(rule.Next)
		}
		return nil
	}
	step := c.o.Backend.RefreshStep()
	_, f, err := c.runStep(ctx, p, step, c.selectedNames(p))
	if err != nil {
		return err
	}
	if f != nil {
		d := c.indexLimiter.When(indexRetryKey)
		cf := reconcile.CacheFailure{Message: string(f.Reason) + ": " + f.Message, NextRetry: c.o.Now().Add(d)}
		c.failedRefresh = &cf
		p.cacheState = v1alpha1.CacheFailed
		p.cacheFailure = &cf
		p.timer(d)
		c.setCacheErr(f.Message)
		c.log.Info("package index refresh failed; retrying with backoff", "reason", f.Reason, "message", f.Message, "retryAfter", d.String())
		return nil
	}
	c.setCacheErr("")
	c.indexLimiter.Forget(indexRetryKey)
	c.failedRefresh = nil
	if err := c.o.Backend.RecordRefresh(c.o.Now()); err != nil {
		return fmt.Errorf("recording the index refresh: %w", err)
	}
	p.cacheFailure = nil
	p.cacheState = v1alpha1.CacheFresh
	if rule.Period > 0 {
		p.timer(rule.Period)
	}
	return c.observe(ctx, p)
}

// indexRetryKey is indexLimiter's one key.
const indexRetryKey = "index refresh"

// holdOnOldIndex keeps the change steps of a policy from running on an
// index older than the policy's spec.cache.maxAge: after a failed refresh
// (or while its retry is pending), the steps serving such a policy are
// dropped from the pass and the policy reports the failed refresh and the
// index's age. A maxAge of 0 is never met then. The steps of the other
// policies run on the index there is.
func (c *Controller) holdOnOldIndex(p *pass) {
	if p.cacheFailure == nil || len(p.plan.Steps) == 0 {
		return
	}
	held := map[string]bool{}
	for i := range p.policies {
		pol := &p.policies[i]
		if reconcile.IndexTooOld(pol, p.obs.IndexRefreshed, p.now) {
			held[pol.Name] = true
		}
	}
	kept := p.plan.Steps[:0:0]
	for _, s := range p.plan.Steps {
		if slices.ContainsFunc(s.Policies, func(name string) bool { return held[name] }) {
			c.log.Info("holding step: the package index is older than the policy's maxAge and its refresh failed", "step", s.Type, "policies", s.Policies)
			continue
		}
		kept = append(kept, s)
	}
	p.plan.Steps = kept
	p.heldOnOldIndex = held
}

func (c *Controller) setCacheErr(msg string) {
	c.mu.Lock()
	c.cacheErr = msg
	c.mu.Unlock()
}

// acquire asks the rollout gate for the named policies: nil when the pass
// may change the host now, Waiting (until the gate says to ask again)
// when not, another error when the gate could not be asked.
func (c *Controller) acquire(ctx context.Context, p *pass, names []string) error {
	if c.o.Gate == nil || len(names) == 0 {
		return nil
	}
	granted, retryAt, err := c.o.Gate.Acquire(ctx, names)
	if err != nil {
		return fmt.Errorf("asking for a rollout slot for %s: %w", strings.Join(names, ", "), err)
	}
	if granted {
		return nil
	}
	now := c.o.Now()
	if !retryAt.After(now) {
		retryAt = now.Add(time.Second)
	}
	p.waitingUntil = retryAt
	c.log.V(1).Info("waiting for a rollout slot", "policies", names, "retryAt", retryAt)
	return &Waiting{RequeueAfter: retryAt.Sub(now), Reason: "RolloutSlot"}
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
func (c *Controller) lockHeld(p *pass, policies map[string]v1alpha1.StepType) error {
	pid, cmd, held, err := c.o.Backend.LockHolder()
	if err != nil {
		c.log.V(1).Info("cannot check the package lock", "error", err.Error())
		return nil
	}
	if !held {
		return nil
	}
	f := backends.Failure{Reason: v1alpha1.FailureLockHeld, Message: lockMessage(pid, cmd), LockHolderPID: pid, LockHolder: cmd}
	for name, step := range policies {
		p.stepFailure[name] = &reconcile.StepFailure{Step: step, Failure: f, NextRetry: p.now.Add(c.o.LockRetry)}
	}
	c.log.Info("package lock held; waiting", "pid", pid, "command", cmd)
	return &Waiting{RequeueAfter: c.o.LockRetry, Reason: string(v1alpha1.FailureLockHeld)}
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
	if pp.Enforcing() && p.cacheFailure != nil {
		cf := *p.cacheFailure
		if p.heldOnOldIndex[pol.Name] {
			cf.Message += "; no change runs on " + c.indexAge(p) + ", older than spec.cache.maxAge " + reconcile.MaxAge(pol).String()
		}
		o.CacheFailure = &cf
	}
	if pp.Audit && pp.Selected && (p.cacheState == v1alpha1.CacheFailed || p.cacheState == v1alpha1.CacheStale) {
		// Audit reports on the index there is, and says how old it is.
		o.Plan.Message += " (judged on " + c.indexAge(p)
		if p.cacheFailure != nil {
			o.Plan.Message += "; its refresh failed: " + p.cacheFailure.Message
		}
		o.Plan.Message += ")"
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
	} else if pol.Spec.HealthCheck != nil && pp.Enforcing() && p.obs != nil {
		// Not due in this pass: the recorded result if it is for this
		// generation, step and boot, else a fresh Pending one.
		o.Health = reconcile.HealthFor(pol.Status.HealthCheck, c.healthKey(p, pol, o.LastOperation))
	}
	return o
}

// indexAge says how old the observed package index is, in words.
func (c *Controller) indexAge(p *pass) string {
	if p.obs == nil || p.obs.IndexRefreshed.IsZero() {
		return "a package index of unknown age"
	}
	return "a package index " + p.now.Sub(p.obs.IndexRefreshed).Round(time.Second).String() + " old"
}

// setCondition is meta.SetStatusCondition with the generation stamped.
func setCondition(conds *[]metav1.Condition, gen int64, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
}
