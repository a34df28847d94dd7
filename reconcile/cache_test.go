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
	DescribeTable("refreshes an old index only when something is to be done",
		func(p v1alpha1.PatchPolicy, o obs, age time.Duration, want bool) {
			var refreshed time.Time
			if age >= 0 {
				refreshed = now.Add(-age)
			}
			ps := []v1alpha1.PatchPolicy{p}
			Expect(reconcile.RefreshDue(ps, planOf(o, allCaps, ps...), refreshed, now)).To(Equal(want))
		},
		Entry("a step, index older than the default 4h", policy("p", pkg("zsh", v1alpha1.PackagePresent, "")), observe(), 5*time.Hour, true),
		Entry("a step, index fresh", policy("p", pkg("zsh", v1alpha1.PackagePresent, "")), observe(), time.Hour, false),
		Entry("a step, refresh time unknown", policy("p", pkg("zsh", v1alpha1.PackagePresent, "")), observe(), time.Duration(-1), true),
		Entry("a step, the policy's own maxAge", policy("p", maxAge(30*time.Minute), pkg("zsh", v1alpha1.PackagePresent, "")), observe(), time.Hour, true),
		Entry("nothing to do, old index", policy("p", pkg("zsh", v1alpha1.PackagePresent, "")), observe().installed("zsh", "5.9"), 48*time.Hour, false),
		Entry("a missing pinned version, old index", policy("p", pkg("zsh", v1alpha1.PackagePresent, "5.9")), observe(), 5*time.Hour, true),
		Entry("a missing pinned version, fresh index", policy("p", pkg("zsh", v1alpha1.PackagePresent, "5.9")), observe(), time.Hour, false),
		Entry("Audit never refreshes", policy("p", audit, pkg("zsh", v1alpha1.PackagePresent, "")), observe(), 48*time.Hour, false),
		Entry("a closed window does not refresh yet", policy("p", maintenance(win("01:00", time.Hour, "UTC", "Tue")), pkg("zsh", v1alpha1.PackagePresent, "5.9")), observe(), 48*time.Hour, false),
	)
})
