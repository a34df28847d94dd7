package rollout

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Reasons the rollout itself gives a host (besides the agent's own Ready
// reasons, which are passed through).
const (
	// ReasonTimeout: not Ready within the per-host timeout.
	ReasonTimeout = "Timeout"
	// ReasonApplyFailed: the agent refused the policy (e.g. 422 Invalid).
	ReasonApplyFailed = "ApplyFailed"
	// ReasonUnreachable: the agent did not answer.
	ReasonUnreachable = "Unreachable"
	// ReasonWaiting: the agent has not yet reported on this generation.
	ReasonWaiting = "Waiting"
)

// transientFailures are Degraded reasons the agent retries by itself
// (another package manager holds the lock, a stale index is refreshed, an
// interrupted dpkg is repaired) and the index refresh failing (network):
// a host showing them is given until its timeout.
var transientFailures = map[string]bool{
	string(v1alpha1.FailureLockHeld):    true,
	string(v1alpha1.FailureStaleIndex):  true,
	string(v1alpha1.FailureInterrupted): true,
	v1alpha1.ReasonCacheRefreshFailed:   true,
}

// Verdict is the judgement of one host's copy of the policy.
type Verdict struct {
	Phase Phase
	// Ready is the status of the copy's Ready condition for the current
	// generation ("True", "False", "Unknown" when there is none yet).
	Ready   string
	Reason  string
	Message string
}

// Judge decides where a host stands from its copy of the policy (as the
// agent returns it), when the host was started, now and the per-host
// timeout. Conditions only count for the copy's current generation
// (condition and status observedGeneration equal to metadata.generation):
//
//   - Succeeded: Ready=True (reason other than NotSelected).
//   - Failed at once: Ready=True with reason NotSelected (the agent's own
//     labels do not match the selector); Ready=False once the agent is done
//     with the generation (status.observedGeneration advanced: Stalled,
//     Drifted in Audit mode, Suspended); Ready=False with reason StepFailed
//     when the Degraded reason is not one the agent retries (LockHeld,
//     StaleIndex, Interrupted are; DiskFull, PackageNotFound, Failed,
//     Timeout are not).
//   - Failed when timeout has passed since start and none of the above
//     happened (Degraded with a retried failure, WaitingForWindow, an agent
//     that never reports).
//   - Applying otherwise.
func Judge(p *v1alpha1.PatchPolicy, startedAt, now time.Time, timeout time.Duration) Verdict {
	gen := p.Generation
	ready := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady)
	v := Verdict{Phase: Applying, Ready: string(metav1.ConditionUnknown), Reason: ReasonWaiting,
		Message: fmt.Sprintf("waiting for the agent to report on generation %d", gen)}
	if ready != nil && ready.ObservedGeneration == gen {
		v.Ready, v.Reason, v.Message = string(ready.Status), ready.Reason, ready.Message
		done := p.Status.ObservedGeneration == gen
		switch {
		case ready.Status == metav1.ConditionTrue && ready.Reason == v1alpha1.ReasonNotSelected:
			v.Phase = Failed
			v.Message = "the agent's Host labels do not match spec.hostSelector (HOSTS.yaml says they do): " + ready.Message
			return v
		case ready.Status == metav1.ConditionTrue && done:
			v.Phase = Succeeded
			return v
		case ready.Status == metav1.ConditionFalse && done:
			v.Phase = Failed
			return v
		case ready.Status == metav1.ConditionFalse && ready.Reason == v1alpha1.ReasonStepFailed:
			deg := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionDegraded)
			if deg == nil || !transientFailures[deg.Reason] {
				v.Phase = Failed
				return v
			}
		}
	}
	if timeout > 0 && !startedAt.IsZero() && now.Sub(startedAt) >= timeout {
		v.Phase = Failed
		v.Message = fmt.Sprintf("not Ready within %s (last: %s: %s)", timeout, v.Reason, v.Message)
		v.Reason = ReasonTimeout
	}
	return v
}
