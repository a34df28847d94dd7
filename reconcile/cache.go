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
	// (not suspended) Enforce policies, at least 1ns; 0 when there is none.
	MaxAge time.Duration
	// Period is the smallest maxAge above zero, the default maxAge when
	// no Enforce policy is active: how long after a refresh the next one
	// is due whatever the plan (0: only before a change).
	Period time.Duration
	// State is the index's freshness as the Host reports it when no
	// refresh runs (a refresh that runs makes it fresh, or failed).
	State v1alpha1.CacheState
	// Next is, when the index is fresh and Period set, how long until it
	// is due.
	Next time.Duration
}

// RefreshDue is the index refresh rule of a pass: the index is refreshed
// when it is older than the smallest spec.cache.maxAge of the selected,
// active Enforce policies, or its refresh time is unknown (zero), whether
// or not a step is planned (a stale index hides the upgrades a Latest or
// updates policy waits for). A maxAge of 0 means "refresh before every
// change": such a policy makes the refresh due only when it has steps
// planned, never by the clock, so that a satisfied policy does not refresh
// in a loop. Audit, suspended and unselected policies set no maxAge: a
// host with none of a period refreshes at the default maxAge (4h), so
// that what it reports about the index (and an Audit policy's drift) is
// never older than that.
func RefreshDue(policies []v1alpha1.PatchPolicy, out PlanOutput, refreshed, now time.Time) Refresh {
	var r Refresh
	beforeChange := false // a maxAge-0 policy has steps planned
	for i := range policies {
		pol := &policies[i]
		pp, ok := out.Policy(pol.Name)
		if !ok || !pp.Enforcing() {
			continue
		}
		d := MaxAge(pol)
		if d <= 0 {
			d = time.Nanosecond
			beforeChange = beforeChange || len(out.StepsFor(pol.Name)) > 0
		} else if r.Period == 0 || d < r.Period {
			r.Period = d
		}
		if r.MaxAge == 0 || d < r.MaxAge {
			r.MaxAge = d
		}
	}
	if r.MaxAge == 0 {
		r.Period = v1alpha1.DefaultCacheMaxAge
	}
	judge := r.Period
	if judge == 0 {
		judge = v1alpha1.DefaultCacheMaxAge
	}
	age := now.Sub(refreshed)
	switch {
	case beforeChange:
		r.Due = true
		r.State = cacheState(refreshed, r.MaxAge, now)
	case !refreshed.IsZero() && (r.Period == 0 || age < r.Period):
		r.State = cacheState(refreshed, judge, now)
		if r.Period > 0 {
			r.Next = r.Period - age
		}
	default:
		r.Due = true
		r.State = cacheState(refreshed, judge, now)
	}
	return r
}

// MaxAge is the policy's spec.cache.maxAge, the default when unset.
func MaxAge(pol *v1alpha1.PatchPolicy) time.Duration {
	if c := pol.Spec.Cache; c != nil && c.MaxAge != nil {
		return c.MaxAge.Get()
	}
	return v1alpha1.DefaultCacheMaxAge
}

// IndexTooOld reports whether an index refreshed at refreshed is too old,
// at now, for the policy's change steps to run on it: older than its
// maxAge, or of unknown age. It is asked after the refresh the pass needed
// failed; a maxAge of 0 ("refresh before every change") is then never met.
func IndexTooOld(pol *v1alpha1.PatchPolicy, refreshed, now time.Time) bool {
	return refreshed.IsZero() || now.Sub(refreshed) >= MaxAge(pol)
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
