package reconcile

import (
	"slices"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// RefreshDue reports whether the package index must be refreshed before
// the planned steps run. It is due when the index is older than the
// spec.cache.maxAge of a policy that a planned step serves, or of an
// enforcing policy whose maintenance window is open and that waits for a
// pinned version the index lacks (a fresher index may have it). An unknown
// refresh time (zero) is always too old. Audit, suspended and waiting
// policies never cause a refresh; nothing planned means no refresh.
func RefreshDue(policies []v1alpha1.PatchPolicy, out PlanOutput, refreshed, now time.Time) bool {
	needs := map[string]bool{}
	for _, s := range out.Steps {
		for _, p := range s.Policies {
			needs[p] = true
		}
	}
	for _, pp := range out.Policies {
		if !pp.Selected || pp.Suspended || pp.Audit || !pp.WindowOpen {
			continue
		}
		if slices.ContainsFunc(pp.Items, func(it v1alpha1.PlanItem) bool { return it.Reason == v1alpha1.PlanVersionNotAvailable }) {
			needs[pp.Name] = true
		}
	}
	for i := range policies {
		p := &policies[i]
		if !needs[p.Name] {
			continue
		}
		maxAge := v1alpha1.DefaultCacheMaxAge
		if c := p.Spec.Cache; c != nil && c.MaxAge != nil {
			maxAge = c.MaxAge.Get()
		}
		if refreshed.IsZero() || now.Sub(refreshed) > maxAge {
			return true
		}
	}
	return false
}
