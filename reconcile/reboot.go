package reconcile

import (
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Reasons returned by RebootDecision.
const (
	// RebootNotRequired: the host does not need a reboot.
	RebootNotRequired = "NotRequired"
	// RebootInProgress: a reboot was already asked for in this boot; the
	// requirement has been acted upon.
	RebootInProgress = "RebootInProgress"
	// RebootNotAllowed: no enforcing policy says spec.reboot.policy IfRequired.
	RebootNotAllowed = "RebootNotAllowed"
	// RebootWaitingForWindow: a policy allows the reboot, but not now.
	RebootWaitingForWindow = "WaitingForRebootWindow"
	// RebootAllowed: reboot now.
	RebootAllowed = "RebootAllowed"
)

// RebootDecision decides whether to reboot the host now.
//
// policies are the policies selecting this host; suspended and Audit
// policies never reboot. required is the backend's reboot-required
// observation. bootID is the current boot's id and rebootedInBoot the boot
// in which patchlet last asked for a reboot (empty: never): while they are
// equal the reboot is under way and is not asked for again, so a
// requirement is acted upon once.
//
// The host reboots when some Enforce policy says IfRequired and its reboot
// window, if any, contains now; otherwise waitUntil is the earliest time
// such a window opens (zero when no policy allows a reboot). Whether a step
// is still running, and in a fleet whether a reboot slot is held, is the
// caller's business.
func RebootDecision(policies []v1alpha1.PatchPolicy, required bool, now time.Time, bootID, rebootedInBoot string) (reboot bool, waitUntil time.Time, reason string) {
	if !required {
		return false, time.Time{}, RebootNotRequired
	}
	if bootID != "" && bootID == rebootedInBoot {
		return false, time.Time{}, RebootInProgress
	}
	allowed := false
	for i := range policies {
		p := &policies[i]
		r := p.Spec.Reboot
		if p.Spec.Suspend || p.Spec.Mode == v1alpha1.ModeAudit || r == nil || r.Policy != v1alpha1.RebootIfRequired {
			continue
		}
		allowed = true
		if r.Window == nil || Contains(*r.Window, now) {
			return true, now, RebootAllowed
		}
		if next := NextOpen(*r.Window, now); !next.IsZero() && (waitUntil.IsZero() || next.Before(waitUntil)) {
			waitUntil = next
		}
	}
	if !allowed {
		return false, time.Time{}, RebootNotAllowed
	}
	return false, waitUntil, RebootWaitingForWindow
}
