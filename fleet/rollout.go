package fleet

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Annotations and labels of fleet mode.
const (
	// AnnotationSource on a local policy names where it came from; "cluster"
	// for copies of cluster PatchPolicies. Such objects are read-only over
	// the agent's API.
	AnnotationSource = v1alpha1.AnnotationSource
	// SourceCluster is the value of AnnotationSource for cluster copies.
	SourceCluster = v1alpha1.SourceCluster
	// AnnotationClusterGeneration on a local copy is the cluster policy's
	// metadata.generation it was copied from.
	AnnotationClusterGeneration = "patchlet.io/cluster-generation"
	// LabelSlotPolicy and LabelSlotHolder label the slot Leases.
	LabelSlotPolicy = "patchlet.io/rollout-policy"
	LabelSlotHolder = "patchlet.io/rollout-holder"
)

// ConditionHalted on a cluster PatchPolicy: True once failures crossed
// spec.rollout.maxFailures; no new rollout slot is granted.
const ConditionHalted = "Halted"

// Reasons of the aggregate conditions.
const (
	ReasonFailuresExceeded = "MaxFailuresExceeded"
	ReasonWithinBudget     = "WithinFailureBudget"
	ReasonAllCompliant     = "AllHostsCompliant"
	ReasonHostsPending     = "HostsPending"
	ReasonNoHosts          = "NoMatchedHosts"
)

// SlotCount is how many hosts may hold a slot of a policy at once: the
// policy's spec.rollout.maxConcurrent as a count, or as a percentage of the
// matched hosts rounded up; at least 1. ok is false when the policy has no
// maxConcurrent (no bound: no slot is needed).
func SlotCount(pol *v1alpha1.PatchPolicy, matched int) (n int, ok bool) {
	if pol.Spec.Rollout == nil {
		return 0, false
	}
	return bound(pol.Spec.Rollout.MaxConcurrent, matched, true, 1)
}

// FailureBudget is how many failed hosts a policy tolerates: its
// spec.rollout.maxFailures as a count, or as a percentage of the matched
// hosts rounded down. ok is false when the policy sets no maxFailures.
func FailureBudget(pol *v1alpha1.PatchPolicy, matched int) (n int, ok bool) {
	if pol.Spec.Rollout == nil {
		return 0, false
	}
	return bound(pol.Spec.Rollout.MaxFailures, matched, false, 0)
}

// bound resolves a rollout bound against the matched hosts: the count, or
// the percentage rounded up or down; at least least (also when v does not
// parse: validation refuses that). ok is false when v is unset.
func bound(v *intstr.IntOrString, matched int, roundUp bool, least int) (n int, ok bool) {
	if v == nil {
		return 0, false
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, matched, roundUp)
	if err != nil || n < least {
		n = least
	}
	return n, true
}

// HasWaves reports whether a policy asks for rollout waves.
func HasWaves(pol *v1alpha1.PatchPolicy) bool {
	return pol.Spec.Rollout != nil && len(pol.Spec.Rollout.Waves) > 0
}

// Halted reports whether the cluster policy's status says its rollout is
// halted.
func Halted(pol *v1alpha1.PatchPolicy) bool {
	return meta.IsStatusConditionTrue(pol.Status.Conditions, ConditionHalted)
}

// Aggregate is a policy's rollout state over the fleet.
type Aggregate struct {
	Counts v1alpha1.HostCounts
	// FailedHosts are the hosts that failed at the current generation, sorted.
	FailedHosts []string
	// Halted: more hosts failed than maxFailures allows.
	Halted bool
	// Budget is the failure budget (-1: none).
	Budget int
}

// Aggregated computes a policy's aggregate over hosts. It is pure.
//
// A host counts when the policy's hostSelector matches its labels. Its
// entry for the policy in status.policies decides: Compliant (at the
// policy's current generation) is compliant; Failed or Stalled at the
// current generation is failed; anything else, an entry of an older
// generation or none at all is progressing. rebootRequired counts matched
// hosts whose status says a reboot is required. A rollout halts when more
// hosts failed than maxFailures allows, and stays halted until the
// policy's generation changes.
func Aggregated(pol *v1alpha1.PatchPolicy, hosts []*v1alpha1.Host) Aggregate {
	a := Aggregate{Budget: -1}
	for _, h := range hosts {
		sel, err := pol.Selects(h.Labels)
		if err != nil || !sel {
			continue
		}
		a.Counts.Matched++
		if h.Status.RebootRequired.Required {
			a.Counts.RebootRequired++
		}
		var entry *v1alpha1.HostPolicyStatus
		for i := range h.Status.Policies {
			if h.Status.Policies[i].Name == pol.Name {
				entry = &h.Status.Policies[i]
				break
			}
		}
		current := entry != nil && entry.ObservedGeneration == pol.Generation
		switch {
		case current && entry.State == v1alpha1.PolicyCompliant:
			a.Counts.Compliant++
		case current && (entry.State == v1alpha1.PolicyFailed || entry.State == v1alpha1.PolicyStalled):
			a.Counts.Failed++
			a.FailedHosts = append(a.FailedHosts, h.Name)
		default:
			a.Counts.Progressing++
		}
	}
	sort.Strings(a.FailedHosts)
	if b, ok := FailureBudget(pol, int(a.Counts.Matched)); ok {
		a.Budget = b
		a.Halted = int(a.Counts.Failed) > b || haltedAt(pol) == pol.Generation
	}
	return a
}

// haltedAt is the generation the policy's rollout halted at (0: not
// halted). A halt stays until the spec changes: a failed host that retries
// reports Progressing between its attempts, and must not reopen the gate.
func haltedAt(pol *v1alpha1.PatchPolicy) int64 {
	c := meta.FindStatusCondition(pol.Status.Conditions, ConditionHalted)
	if c == nil || c.Status != metav1.ConditionTrue {
		return 0
	}
	return c.ObservedGeneration
}

// maxNamed bounds the hosts a condition message names.
const maxNamed = 20

func namedHosts(hosts []string) string {
	if len(hosts) <= maxNamed {
		return strings.Join(hosts, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(hosts[:maxNamed], ", "), len(hosts)-maxNamed)
}

// ApplyAggregate returns the policy status with the aggregate written in:
// host counts and the Ready, Progressing and Halted conditions. Other
// status fields are kept. It is pure.
func ApplyAggregate(pol *v1alpha1.PatchPolicy, a Aggregate, now metav1.Time) v1alpha1.PatchPolicyStatus {
	st := *pol.Status.DeepCopy()
	st.Hosts = a.Counts
	gen := pol.Generation
	set := func(typ string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason,
			Message: msg, ObservedGeneration: gen, LastTransitionTime: now})
	}
	c := a.Counts
	switch {
	case c.Matched == 0:
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonNoHosts, "no host matches the host selector")
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonNoHosts, "no host matches the host selector")
	case c.Compliant == c.Matched:
		msg := fmt.Sprintf("all %d matched hosts are compliant", c.Matched)
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonAllCompliant, msg)
		set(v1alpha1.ConditionProgressing, metav1.ConditionFalse, ReasonAllCompliant, msg)
	default:
		msg := fmt.Sprintf("%d of %d matched hosts compliant, %d progressing, %d failed", c.Compliant, c.Matched, c.Progressing, c.Failed)
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonHostsPending, msg)
		set(v1alpha1.ConditionProgressing, boolCond(c.Progressing > 0 && !a.Halted), ReasonHostsPending, msg)
	}
	meta.RemoveStatusCondition(&st.Conditions, v1alpha1.ConditionStalled)
	switch {
	case a.Halted && int(c.Failed) <= a.Budget && haltedAt(pol) == gen:
		// Halted earlier at this generation: keep the condition that named
		// the failed hosts then.
	case a.Halted:
		set(ConditionHalted, metav1.ConditionTrue, ReasonFailuresExceeded,
			fmt.Sprintf("%d hosts failed, more than maxFailures allows (%d); no new host starts; failed: %s; to resume, fix the cause and change the policy's spec",
				c.Failed, a.Budget, namedHosts(a.FailedHosts)))
	case len(a.FailedHosts) > 0:
		set(ConditionHalted, metav1.ConditionFalse, ReasonWithinBudget,
			fmt.Sprintf("%d hosts failed: %s", c.Failed, namedHosts(a.FailedHosts)))
	default:
		set(ConditionHalted, metav1.ConditionFalse, ReasonWithinBudget, "no host failed")
	}
	st.ObservedGeneration = gen
	return st
}

func boolCond(b bool) metav1.ConditionStatus {
	if b {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}
