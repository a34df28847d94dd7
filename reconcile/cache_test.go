package reconcile_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/reconcile"
)

var _ = Describe("RefreshDue", func() {
	maxAge := func(d time.Duration) func(*v1alpha1.PatchPolicy) {
		return func(p *v1alpha1.PatchPolicy) {
			p.Spec.Cache = &v1alpha1.CacheSpec{MaxAge: v1alpha1.DurationPtr(d)}
		}
	}
	zsh := pkg("zsh", v1alpha1.PackagePresent, "")
	elsewhere := selector(map[string]string{"role": "db"})
	const unknown = time.Duration(-1)
	DescribeTable("refreshes an index older than the smallest maxAge of the selected, active Enforce policies",
		func(ps []v1alpha1.PatchPolicy, o obs, age time.Duration, want reconcile.Refresh) {
			var refreshed time.Time
			if age >= 0 {
				refreshed = now.Add(-age)
			}
			Expect(reconcile.RefreshDue(ps, planOf(o, allCaps, ps...), refreshed, now)).To(Equal(want))
		},
		Entry("a step, index older than the default 4h", []v1alpha1.PatchPolicy{policy("p", zsh)}, observe(), 5*time.Hour,
			reconcile.Refresh{Due: true, MaxAge: 4 * time.Hour, Period: 4 * time.Hour, State: v1alpha1.CacheStale}),
		Entry("a step, index fresh: due in what is left of maxAge", []v1alpha1.PatchPolicy{policy("p", zsh)}, observe(), time.Hour,
			reconcile.Refresh{MaxAge: 4 * time.Hour, Period: 4 * time.Hour, State: v1alpha1.CacheFresh, Next: 3 * time.Hour}),
		Entry("refresh time unknown", []v1alpha1.PatchPolicy{policy("p", zsh)}, observe(), unknown,
			reconcile.Refresh{Due: true, MaxAge: 4 * time.Hour, Period: 4 * time.Hour, State: v1alpha1.CacheUnknown}),
		Entry("the policy's own maxAge", []v1alpha1.PatchPolicy{policy("p", maxAge(30*time.Minute), zsh)}, observe(), time.Hour,
			reconcile.Refresh{Due: true, MaxAge: 30 * time.Minute, Period: 30 * time.Minute, State: v1alpha1.CacheStale}),
		Entry("exactly maxAge old is due", []v1alpha1.PatchPolicy{policy("p", zsh)}, observe(), 4*time.Hour,
			reconcile.Refresh{Due: true, MaxAge: 4 * time.Hour, Period: 4 * time.Hour, State: v1alpha1.CacheStale}),
		Entry("maxAge 0 with a step planned: due, however fresh", []v1alpha1.PatchPolicy{policy("p", maxAge(0), zsh)}, observe(), time.Second,
			reconcile.Refresh{Due: true, MaxAge: time.Nanosecond, State: v1alpha1.CacheStale}),
		Entry("maxAge 0 with nothing to do: not due, never by the clock", []v1alpha1.PatchPolicy{policy("p", maxAge(0), zsh)}, observe().installed("zsh", "5.9"), 48*time.Hour,
			reconcile.Refresh{MaxAge: time.Nanosecond, State: v1alpha1.CacheStale}),
		Entry("maxAge 0 with nothing to do, a fresh index", []v1alpha1.PatchPolicy{policy("p", maxAge(0), zsh)}, observe().installed("zsh", "5.9"), time.Second,
			reconcile.Refresh{MaxAge: time.Nanosecond, State: v1alpha1.CacheFresh}),
		Entry("maxAge 0 beside a policy of a period: that period still counts", []v1alpha1.PatchPolicy{policy("a", maxAge(0), zsh), policy("b", maxAge(time.Hour), zsh)}, observe().installed("zsh", "5.9"), 90*time.Minute,
			reconcile.Refresh{Due: true, MaxAge: time.Nanosecond, Period: time.Hour, State: v1alpha1.CacheStale}),
		Entry("the smallest maxAge of two policies", []v1alpha1.PatchPolicy{policy("a", maxAge(2*time.Hour), zsh), policy("b", maxAge(time.Hour), zsh)}, observe(), 90*time.Minute,
			reconcile.Refresh{Due: true, MaxAge: time.Hour, Period: time.Hour, State: v1alpha1.CacheStale}),
		// Nothing planned on an old index still refreshes: the upgrades a
		// Latest or updates policy waits for only show in a fresh index.
		Entry("nothing to do, old index", []v1alpha1.PatchPolicy{policy("p", zsh)}, observe().installed("zsh", "5.9"), 48*time.Hour,
			reconcile.Refresh{Due: true, MaxAge: 4 * time.Hour, Period: 4 * time.Hour, State: v1alpha1.CacheStale}),
		Entry("a missing pinned version, old index", []v1alpha1.PatchPolicy{policy("p", pkg("zsh", v1alpha1.PackagePresent, "5.9"))}, observe(), 5*time.Hour,
			reconcile.Refresh{Due: true, MaxAge: 4 * time.Hour, Period: 4 * time.Hour, State: v1alpha1.CacheStale}),
		Entry("a closed window does not keep the index from its refresh", []v1alpha1.PatchPolicy{policy("p", maintenance(win("01:00", time.Hour, "UTC", "Tue")), zsh)}, observe(), 48*time.Hour,
			reconcile.Refresh{Due: true, MaxAge: 4 * time.Hour, Period: 4 * time.Hour, State: v1alpha1.CacheStale}),
		// Without an Enforce policy the index still ages by the default
		// maxAge, so that cache.state and an Audit policy's drift are true.
		Entry("Audit ignores its own maxAge; the default one refreshes", []v1alpha1.PatchPolicy{policy("p", audit, maxAge(time.Minute), zsh)}, observe(), 48*time.Hour,
			reconcile.Refresh{Due: true, Period: 4 * time.Hour, State: v1alpha1.CacheStale}),
		Entry("Audit on a fresh index", []v1alpha1.PatchPolicy{policy("p", audit, maxAge(time.Minute), zsh)}, observe(), time.Hour,
			reconcile.Refresh{Period: 4 * time.Hour, State: v1alpha1.CacheFresh, Next: 3 * time.Hour}),
		Entry("a suspended policy, index of unknown age", []v1alpha1.PatchPolicy{policy("p", suspend, zsh)}, observe(), unknown,
			reconcile.Refresh{Due: true, Period: 4 * time.Hour, State: v1alpha1.CacheUnknown}),
		Entry("a policy that selects another host, old index", []v1alpha1.PatchPolicy{policy("p", elsewhere, maxAge(time.Minute), zsh)}, observe(), 48*time.Hour,
			reconcile.Refresh{Due: true, Period: 4 * time.Hour, State: v1alpha1.CacheStale}),
		Entry("no policy, fresh index", []v1alpha1.PatchPolicy(nil), observe(), time.Hour,
			reconcile.Refresh{Period: 4 * time.Hour, State: v1alpha1.CacheFresh, Next: 3 * time.Hour}),
		Entry("no policy, index older than the default maxAge", []v1alpha1.PatchPolicy(nil), observe(), 5*time.Hour,
			reconcile.Refresh{Due: true, Period: 4 * time.Hour, State: v1alpha1.CacheStale}),
	)
})

var _ = Describe("IndexTooOld", func() {
	at := func(d time.Duration) *v1alpha1.PatchPolicy {
		p := policy("p")
		p.Spec.Cache = &v1alpha1.CacheSpec{MaxAge: v1alpha1.DurationPtr(d)}
		return &p
	}
	DescribeTable("after a failed refresh, holds the change steps of a policy whose maxAge the index does not meet",
		func(pol *v1alpha1.PatchPolicy, age time.Duration, want bool) {
			var refreshed time.Time
			if age >= 0 {
				refreshed = now.Add(-age)
			}
			Expect(reconcile.IndexTooOld(pol, refreshed, now)).To(Equal(want))
		},
		Entry("younger than maxAge", at(4*time.Hour), time.Hour, false),
		Entry("older than maxAge", at(4*time.Hour), 5*time.Hour, true),
		Entry("exactly maxAge", at(time.Hour), time.Hour, true),
		Entry("unknown age", at(4*time.Hour), time.Duration(-1), true),
		Entry("maxAge 0: refresh before every change, never met", at(0), time.Second, true),
		Entry("maxAge unset: the default 4h", &[]v1alpha1.PatchPolicy{policy("p")}[0], 3*time.Hour, false),
	)
})
