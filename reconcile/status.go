package reconcile

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
)

// maxMessage bounds a condition message; a policy may name a thousand packages.
const maxMessage = 2048

// StepFailure is a failed package-manager step of a pass.
type StepFailure struct {
	Step    v1alpha1.StepType
	Failure backends.Failure
	// NextRetry is when the step is tried again.
	NextRetry time.Time
}

// CacheFailure is a failed refresh of the package index.
type CacheFailure struct {
	Message   string
	NextRetry time.Time
}

// PassOutcome is what one reconcile pass found and did for one policy.
type PassOutcome struct {
	// Plan is the policy's part of the host's plan.
	Plan PolicyPlan
	// Running: a step serving this policy is running (or was just started).
	Running bool
	// StepFailure is set when a step serving this policy failed.
	StepFailure *StepFailure
	// CacheFailure is set when the index refresh the pass needed failed.
	CacheFailure *CacheFailure
	// WaitingUntil: the pass waits (e.g. for a rollout slot or a lock)
	// until then before applying.
	WaitingUntil time.Time
	// RebootRequired reports the host's reboot requirement and the packages
	// behind it; RebootAt is when RebootDecision lets it happen (zero: not
	// scheduled).
	RebootRequired bool
	RebootPackages []string
	RebootAt       time.Time
	// LastOperation names the last Operation run for this policy, if any.
	LastOperation string
	// Health is the policy's health check state for this pass's
	// generation, last Operation and boot (HealthFor, HealthAttempt); nil
	// when the pass did not look at it. A policy with a health check is
	// Compliant only once Health.Result is Passed.
	Health *v1alpha1.HealthCheckStatus
}

// HealthKey says what a health check result is for: a new generation, a
// new last Operation (a new step) or a new boot needs a new check.
type HealthKey struct {
	Generation int64
	Operation  string
	BootID     string
}

func (k HealthKey) matches(h *v1alpha1.HealthCheckStatus) bool {
	return h != nil && h.ObservedGeneration == k.Generation && h.Operation == k.Operation && h.BootID == k.BootID
}

// HealthFor is the health check state for key: the recorded one when it is
// for key, else a fresh Pending one (nothing tried yet).
func HealthFor(recorded *v1alpha1.HealthCheckStatus, key HealthKey) *v1alpha1.HealthCheckStatus {
	if key.matches(recorded) {
		return recorded.DeepCopy()
	}
	return &v1alpha1.HealthCheckStatus{Result: v1alpha1.HealthPending, ObservedGeneration: key.Generation,
		Operation: key.Operation, BootID: key.BootID}
}

// HealthAttempt is the health check state after one attempt for key at
// now: Passed when it passed; else one more consecutive failure (counted
// from zero when recorded is for another key), Failed from threshold
// failures on, Pending before.
func HealthAttempt(recorded *v1alpha1.HealthCheckStatus, key HealthKey, passed bool, message string, threshold int32, now time.Time) *v1alpha1.HealthCheckStatus {
	h := HealthFor(recorded, key)
	t := metav1.NewTime(now)
	h.LastChecked = &t
	h.Message = clip(message)
	if passed {
		h.Result = v1alpha1.HealthPassed
		h.ConsecutiveFailures = 0
		return h
	}
	if threshold < 1 {
		threshold = v1alpha1.DefaultHealthFailureThreshold
	}
	h.ConsecutiveFailures++
	h.Result = v1alpha1.HealthPending
	if h.ConsecutiveFailures >= threshold {
		h.Result = v1alpha1.HealthFailed
	}
	return h
}

// HealthCheckDue reports whether the policy's health check decides its
// state in this pass: the policy has one, and the pass would otherwise
// find it Compliant (selected, Enforce, not suspended, nothing pending,
// running, failed or stalled, and no reboot it wants pending).
func HealthCheckDue(policy *v1alpha1.PatchPolicy, o PassOutcome) bool {
	if policy.Spec.HealthCheck == nil {
		return false
	}
	o.Health = nil
	return judge(policy, o).reason == v1alpha1.ReasonHealthCheckPending
}

// HealthCheckWhen says whether a due health check in state h runs in this
// pass (runNow), or how long until it may (wait): at once when nothing
// was tried for its key, never again once Passed, and interval after the
// last failed attempt (last; the zero time when unknown).
func HealthCheckWhen(h *v1alpha1.HealthCheckStatus, last time.Time, interval time.Duration, now time.Time) (runNow bool, wait time.Duration) {
	switch {
	case h == nil:
		return true, 0
	case h.Result == v1alpha1.HealthPassed:
		return false, 0
	case h.ConsecutiveFailures == 0 || last.IsZero():
		return true, 0
	}
	next := last.Add(interval)
	if !now.Before(next) {
		return true, 0
	}
	return false, next.Sub(now)
}

// HealthCheckTarget describes a health check for messages:
// "exec NAME" or "httpGet URL".
func HealthCheckTarget(hc *v1alpha1.HealthCheckSpec) string {
	switch {
	case hc == nil:
		return ""
	case hc.Exec != nil:
		return "exec " + hc.Exec.Name
	case hc.HTTPGet != nil:
		return "httpGet " + hc.HTTPGet.URL
	}
	return ""
}

// healthVerdict judges a policy whose packages are as declared but whose
// health check has not passed (o.Health nil or not Passed).
func healthVerdict(policy *v1alpha1.PatchPolicy, o PassOutcome) verdict {
	hc := policy.Spec.HealthCheck
	what := HealthCheckTarget(hc)
	threshold := hc.FailureThreshold
	if threshold < 1 {
		threshold = v1alpha1.DefaultHealthFailureThreshold
	}
	h := o.Health
	if h == nil || h.ConsecutiveFailures == 0 && h.Result != v1alpha1.HealthFailed {
		return verdict{state: v1alpha1.PolicyProgressing, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonHealthCheckPending,
			message: "packages as declared; waiting for health check " + what, progress: true}
	}
	var next time.Time
	if h.LastChecked != nil {
		interval := v1alpha1.DefaultHealthInterval
		if hc.Interval != nil && hc.Interval.Get() > 0 {
			interval = hc.Interval.Get()
		}
		next = h.LastChecked.Add(interval)
	}
	if h.Result == v1alpha1.HealthFailed || h.ConsecutiveFailures >= threshold {
		msg := fmt.Sprintf("health check %s failed %d times in a row: %s", what, h.ConsecutiveFailures, h.Message)
		return verdict{state: v1alpha1.PolicyFailed, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonHealthCheckFailed,
			message: msg + retryText(next), progress: true, degraded: true, degReason: v1alpha1.ReasonHealthCheckFailed, nextRetry: next}
	}
	msg := fmt.Sprintf("packages as declared; health check %s failed %d of %d attempts: %s", what, h.ConsecutiveFailures, threshold, h.Message)
	return verdict{state: v1alpha1.PolicyProgressing, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonHealthCheckPending,
		message: msg + retryText(next), progress: true, nextRetry: next}
}

// verdict is a pass's outcome for one policy, as conditions see it.
type verdict struct {
	state     v1alpha1.PolicyState
	ready     metav1.ConditionStatus
	reason    string
	message   string
	progress  bool
	degraded  bool
	degReason string
	done      bool
	nextRetry time.Time
}

func judge(policy *v1alpha1.PatchPolicy, o PassOutcome) verdict {
	pp := o.Plan
	rebootWanted := o.RebootRequired && policy.Spec.Reboot != nil && policy.Spec.Reboot.Policy == v1alpha1.RebootIfRequired
	switch {
	case pp.Stalled && !pp.Selected:
		return verdict{state: v1alpha1.PolicyStalled, ready: metav1.ConditionFalse, reason: string(pp.StalledReason), message: pp.StalledMessage, done: true}
	case !pp.Selected:
		return verdict{state: v1alpha1.PolicyNotSelected, ready: metav1.ConditionTrue, reason: v1alpha1.ReasonNotSelected, message: pp.Message, done: true}
	case pp.Suspended:
		return verdict{state: v1alpha1.PolicySuspended, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonSuspended, message: "spec.suspend is true; nothing is checked or changed", done: true}
	case o.CacheFailure != nil:
		return verdict{state: v1alpha1.PolicyFailed, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonCacheRefreshFailed,
			message:  "refreshing the package index failed: " + o.CacheFailure.Message + retryText(o.CacheFailure.NextRetry),
			progress: true, degraded: true, degReason: v1alpha1.ReasonCacheRefreshFailed, nextRetry: o.CacheFailure.NextRetry}
	case o.StepFailure != nil:
		f := o.StepFailure
		why := f.Failure.Reason
		if why == "" {
			why = v1alpha1.ReasonStepFailed
		}
		msg := fmt.Sprintf("%s step failed (%s)", strings.ToLower(string(f.Step)), why)
		if f.Failure.Message != "" {
			msg += ": " + f.Failure.Message
		}
		if f.Failure.LockHolder != "" || f.Failure.LockHolderPID != 0 {
			msg += fmt.Sprintf(" (lock held by %s pid %d)", f.Failure.LockHolder, f.Failure.LockHolderPID)
		}
		return verdict{state: v1alpha1.PolicyFailed, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonStepFailed,
			message: msg + retryText(f.NextRetry), progress: true, degraded: true, degReason: string(why), nextRetry: f.NextRetry}
	case pp.Audit && pp.State == v1alpha1.PolicyDrifted:
		return verdict{state: v1alpha1.PolicyDrifted, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonDrifted, message: pp.Message, done: true}
	case pp.Audit:
		return verdict{state: v1alpha1.PolicyCompliant, ready: metav1.ConditionTrue, reason: v1alpha1.ReasonCompliant, message: pp.Message, done: true}
	case o.Running:
		return verdict{state: v1alpha1.PolicyProgressing, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonApplying, message: pp.Message, progress: true}
	case pp.Pending == 0 && pp.Stalled:
		return verdict{state: v1alpha1.PolicyStalled, ready: metav1.ConditionFalse, reason: string(pp.StalledReason), message: pp.StalledMessage, done: true}
	case pp.Pending == 0 && rebootWanted:
		msg := "packages as declared; reboot pending"
		if !o.RebootAt.IsZero() {
			msg += " at " + o.RebootAt.UTC().Format(time.RFC3339)
		}
		return verdict{state: v1alpha1.PolicyProgressing, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonRebootPending, message: msg, progress: true, nextRetry: o.RebootAt}
	case pp.Pending == 0 && policy.Spec.HealthCheck != nil && (o.Health == nil || o.Health.Result != v1alpha1.HealthPassed):
		return healthVerdict(policy, o)
	case pp.Pending == 0:
		return verdict{state: v1alpha1.PolicyCompliant, ready: metav1.ConditionTrue, reason: v1alpha1.ReasonCompliant, message: pp.Message, done: true}
	case !pp.WindowOpen:
		return verdict{state: v1alpha1.PolicyWaitingForWindow, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonWaitingForWindow, message: pp.Message, nextRetry: pp.NextWindow}
	default:
		msg := pp.Message
		if !o.WaitingUntil.IsZero() {
			// No time in the message (status.nextRetry has it): a host that
			// waits for a rollout slot would otherwise rewrite its status,
			// which every fleet leader watches, at each retry.
			msg += "; " + WaitingForRollout
		}
		return verdict{state: v1alpha1.PolicyProgressing, ready: metav1.ConditionFalse, reason: v1alpha1.ReasonApplying, message: msg, progress: true, nextRetry: o.WaitingUntil}
	}
}

// WaitingForRollout ends the message of a policy that waits at the rollout
// gate (fleet mode: for a slot, or for its wave to open).
const WaitingForRollout = "waiting for the rollout (a slot, or its wave)"

func retryText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return "; retrying at " + t.UTC().Format(time.RFC3339)
}

func clip(s string) string {
	if len(s) <= maxMessage {
		return s
	}
	return s[:maxMessage] + "…"
}

// PolicyStatus computes a policy's status after a pass on this host, from
// its current status, the pass's outcome and now (the transition time of
// conditions that change). It is pure: policy is not modified.
//
//   - Ready is True when the host is as declared (Compliant), or the policy
//     does not select this host (NotSelected); else False with the state's
//     reason: Applying, WaitingForWindow, Drifted (Audit), Suspended,
//     StepFailed, CacheRefreshFailed, RebootPending, HealthCheckPending,
//     HealthCheckFailed, or the Stalled reason.
//     A policy with reboot IfRequired is not Ready while the host waits for
//     its reboot; with reboot Never a pending reboot only shows in
//     RebootRequired.
//   - Progressing is True while changes are being made or retried.
//   - Degraded is True after a failed step (reason: the failure class, e.g.
//     LockHeld, DiskFull), a failed index refresh, or a health check that
//     failed failureThreshold times in a row (HealthCheckFailed).
//   - A policy with a health check is Compliant only once the check passed
//     for this generation, last Operation and boot (o.Health); until then
//     it is Progressing (HealthCheckPending), then Failed
//     (HealthCheckFailed). status.healthCheck is o.Health (kept when the
//     pass did not look at it, cleared when the spec has no check).
//   - Stalled is True when part of the policy cannot be done (Conflict,
//     VersionNotAvailable, Unsupported, NoEffect, Held, InvalidSelector).
//   - status.noEffect keeps the records of this generation whose items
//     are still unsatisfied (a new generation, or an item met some other
//     way, drops them).
//   - RebootRequired is True while the host needs a reboot (RebootPending).
//
// Every condition carries ObservedGeneration = policy.Generation.
// status.observedGeneration advances only when this generation is done:
// Compliant, Stalled with nothing else to do, Audit reported, Suspended, or
// not selected.
func PolicyStatus(policy *v1alpha1.PatchPolicy, o PassOutcome, now time.Time) v1alpha1.PatchPolicyStatus {
	st := *policy.Status.DeepCopy()
	v := judge(policy, o)
	gen := policy.Generation
	set := func(typ string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: clip(msg),
			ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(now),
		})
	}
	boolStatus := func(b bool) metav1.ConditionStatus {
		if b {
			return metav1.ConditionTrue
		}
		return metav1.ConditionFalse
	}

	set(v1alpha1.ConditionReady, v.ready, v.reason, v.message)
	set(v1alpha1.ConditionProgressing, boolStatus(v.progress), v.reason, v.message)
	if v.degraded {
		set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, v.degReason, v.message)
	} else {
		set(v1alpha1.ConditionDegraded, metav1.ConditionFalse, v.reason, "no failure")
	}
	if o.Plan.Stalled {
		set(v1alpha1.ConditionStalled, metav1.ConditionTrue, string(o.Plan.StalledReason), o.Plan.StalledMessage)
	} else {
		set(v1alpha1.ConditionStalled, metav1.ConditionFalse, v.reason, "nothing is stalled")
	}
	if o.RebootRequired {
		set(v1alpha1.ConditionRebootRequired, metav1.ConditionTrue, v1alpha1.ReasonRebootPending, rebootText(policy, o))
	} else {
		set(v1alpha1.ConditionRebootRequired, metav1.ConditionFalse, v1alpha1.ReasonNoRebootRequired, "no reboot required")
	}

	if v.done {
		st.ObservedGeneration = gen
	}
	switch {
	case policy.Spec.HealthCheck == nil:
		st.HealthCheck = nil
	case o.Health != nil:
		st.HealthCheck = o.Health.DeepCopy()
	}
	st.NoEffect = pruneNoEffect(st.NoEffect, gen, o.Plan.Items)
	st.Pending = o.Plan.Pending
	st.Plan = nil
	for _, it := range o.Plan.Items {
		// A package only its providers satisfy is listed too: the plan
		// says how the policy is met.
		if it.Action != v1alpha1.ActionNone || it.Reason == v1alpha1.PlanProvided {
			st.Plan = append(st.Plan, it)
		}
	}
	if o.LastOperation != "" {
		st.LastOperation = o.LastOperation
	}
	st.NextRetry = nil
	if !v.nextRetry.IsZero() {
		t := metav1.NewTime(v.nextRetry)
		st.NextRetry = &t
	}
	st.Hosts = v1alpha1.HostCounts{}
	if o.Plan.Selected {
		st.Hosts.Matched = 1
		switch v.state {
		case v1alpha1.PolicyCompliant:
			st.Hosts.Compliant = 1
		case v1alpha1.PolicyProgressing, v1alpha1.PolicyWaitingForWindow:
			st.Hosts.Progressing = 1
		case v1alpha1.PolicyFailed, v1alpha1.PolicyStalled:
			st.Hosts.Failed = 1
		}
		if o.RebootRequired {
			st.Hosts.RebootRequired = 1
		}
	}
	return st
}

func rebootText(policy *v1alpha1.PatchPolicy, o PassOutcome) string {
	msg := "reboot required"
	if len(o.RebootPackages) > 0 {
		msg += " by " + strings.Join(o.RebootPackages, ", ")
	}
	switch {
	case policy.Spec.Reboot == nil || policy.Spec.Reboot.Policy != v1alpha1.RebootIfRequired:
		msg += "; spec.reboot.policy is Never: reboot the host yourself"
	case !o.RebootAt.IsZero():
		msg += "; reboot at " + o.RebootAt.UTC().Format(time.RFC3339)
	}
	return msg
}

// HostPolicyState is the policy's entry in the Host's status.policies after
// a pass: its state word (Compliant, Progressing, WaitingForWindow,
// Drifted, Failed, Stalled, Suspended, NotSelected), pending changes and
// why. ObservedGeneration is the generation the entry describes.
func HostPolicyState(policy *v1alpha1.PatchPolicy, o PassOutcome) v1alpha1.HostPolicyStatus {
	v := judge(policy, o)
	return v1alpha1.HostPolicyStatus{
		Name:               policy.Name,
		ObservedGeneration: policy.Generation,
		State:              v.state,
		Pending:            o.Plan.Pending,
		Message:            clip(v.message),
		LastOperation:      o.LastOperation,
	}
}
