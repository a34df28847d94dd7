package reconcile

import (
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Refresh is what the index refresh rule says about one pass.
type Refresh struct {
	// Due: refresh the index now.
	Due bool
	// MaxAge is the smallest spec.cache.maxAge of the selected, active
	// (not suspended) Enforce policies, at least 1ns; 0 when there is none,
	// and then nothing refreshes the index.
	MaxAge time.Duration
	// State is the index's freshness as the Host reports it when no
	// refresh runs (a refresh that runs makes it fresh, or failed).
	State v1alpha1.CacheState
	// Next is, when the index is fresh and MaxAge set, how long until it
	// is due.
	Next time.Duration
}

// RefreshDue is the index refresh rule of a pass: the index is refreshed
// when it is older than the smallest spec.cache.maxAge of the selected,
// active Enforce policies, or its refresh time is unknown (zero), whether
// or not a step is planned (a stale index hides the upgrades a Latest or
// updates policy waits for). Audit, suspended and unselected policies never
// cause a refresh; without an Enforce policy, State judges the index
// against the default maxAge.
func RefreshDue(policies []v1alpha1.PatchPolicy, out PlanOutput, refreshed, now time.Time) Refresh {
	var r Refresh
	for i := range policies {
		pol := &policies[i]
		pp, ok := out.Policy(pol.Name)
		if !ok || !pp.Selected || pp.Suspended || pp.Audit {
			continue
		}
		d := v1alpha1.DefaultCacheMaxAge
		if c := pol.Spec.Cache; c != nil && c.MaxAge != nil {
			d = c.MaxAge.Get()
		}
		if d <= 0 {
			d = time.Nanosecond
		}
		if r.MaxAge == 0 || d < r.MaxAge {
			r.MaxAge = d
		}
	}
	age := now.Sub(refreshed)
	switch {
	case r.MaxAge == 0:
		r.State = cacheState(refreshed, v1alpha1.DefaultCacheMaxAge, now)
	case !refreshed.IsZero() && age < r.MaxAge:
		r.State, r.Next = v1alpha1.CacheFresh, r.MaxAge-age
	default:
		r.Due = true
		r.State = cacheState(refreshed, r.MaxAge, now)
	}
	return r
}

func cacheState(refreshed time.Time, maxAge time.Duration, now time.Time) v1alpha1.CacheState {
	switch {
	case refreshed.IsZero():
		return v1alpha1.CacheUnknown
	case now.Sub(refreshed) < maxAge:
		return v1alpha1.CacheFresh
	default:
		return v1alpha1.CacheStale
	}
}
