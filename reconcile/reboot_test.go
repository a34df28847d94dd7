package reconcile_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/reconcile"
)

var _ = Describe("RebootDecision", func() {
	// now is Monday 2026-11-23 10:00 UTC.
	sunday := win("02:00", 2*time.Hour, berlin, "Sun")
	monday := win("09:00", 2*time.Hour, "UTC", "Mon")
	ifRequired := func(w *v1alpha1.TimeWindow) func(*v1alpha1.PatchPolicy) { return reboot(v1alpha1.RebootIfRequired, w) }

	DescribeTable("reboots only when required, allowed, inside the window and not already done",
		func(policies []v1alpha1.PatchPolicy, required bool, bootID, rebootedIn string, want bool, wantWait, wantReason string) {
			ok, wait, reason := reconcile.RebootDecision(policies, required, now, bootID, rebootedIn)
			Expect(ok).To(Equal(want))
			Expect(reason).To(Equal(wantReason))
			if wantWait == "" {
				Expect(wait.IsZero() || want).To(BeTrue())
			} else {
				Expect(wait).To(BeTemporally("==", utc(wantWait)))
			}
		},
		Entry("not required", []v1alpha1.PatchPolicy{policy("p", ifRequired(nil))}, false, "b1", "", false, "", reconcile.RebootNotRequired),
		Entry("required, policy Never", []v1alpha1.PatchPolicy{policy("p")}, true, "b1", "", false, "", reconcile.RebootNotAllowed),
		Entry("required, no policies", nil, true, "b1", "", false, "", reconcile.RebootNotAllowed),
		Entry("required, IfRequired without a window", []v1alpha1.PatchPolicy{policy("p", ifRequired(nil))}, true, "b1", "", true, "", reconcile.RebootAllowed),
		Entry("required, IfRequired inside its window", []v1alpha1.PatchPolicy{policy("p", ifRequired(&monday))}, true, "b1", "", true, "", reconcile.RebootAllowed),
		Entry("required, IfRequired outside its window: wait for Sunday 02:00 CET",
			[]v1alpha1.PatchPolicy{policy("p", ifRequired(&sunday))}, true, "b1", "", false, "2026-11-29T01:00:00Z", reconcile.RebootWaitingForWindow),
		Entry("already acted upon in this boot", []v1alpha1.PatchPolicy{policy("p", ifRequired(nil))}, true, "b1", "b1", false, "", reconcile.RebootInProgress),
		Entry("a new boot with a new requirement", []v1alpha1.PatchPolicy{policy("p", ifRequired(nil))}, true, "b2", "b1", true, "", reconcile.RebootAllowed),
		Entry("Audit policies never reboot", []v1alpha1.PatchPolicy{policy("p", audit, ifRequired(nil))}, true, "b1", "", false, "", reconcile.RebootNotAllowed),
		Entry("suspended policies never reboot", []v1alpha1.PatchPolicy{policy("p", suspend, ifRequired(nil))}, true, "b1", "", false, "", reconcile.RebootNotAllowed),
		Entry("one allowing policy is enough", []v1alpha1.PatchPolicy{policy("a"), policy("b", ifRequired(&monday))}, true, "b1", "", true, "", reconcile.RebootAllowed),
		Entry("the earliest window wins",
			[]v1alpha1.PatchPolicy{policy("a", ifRequired(&sunday)), policy("b", ifRequired(ptr(win("20:00", time.Hour, "UTC", "Wed"))))},
			true, "b1", "", false, "2026-11-25T20:00:00Z", reconcile.RebootWaitingForWindow),
	)
})

func ptr[T any](v T) *T { return &v }
