package reconcile_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/reconcile"
)

var _ = Describe("Plan of an RPM pin without a release", func() {
	rpmPlan := func(o obs) reconcile.PlanOutput {
		return reconcile.Plan(reconcile.PlanInput{
			Policies:     []v1alpha1.PatchPolicy{policy("p", pkg("foo", v1alpha1.PackagePresent, "3.0"))},
			Observation:  o.o,
			Capabilities: allCaps,
			Family:       v1alpha1.FamilyRPM,
			Now:          now,
		})
	}
	It("installs the newest release of that version the index offers", func() {
		out := rpmPlan(observe().available("foo", "3.1-1", "3.0-2", "3.0-1"))
		item := onlyPolicy(out, "p").Items[0]
		Expect(item.Action).To(Equal(v1alpha1.ActionInstall))
		Expect(item.To).To(Equal("3.0-2"))
		Expect(item.Message).To(Equal("pinned to 3.0 (3.0-2), not installed"))
		Expect(stepsText(out.Steps)).To(Equal("Install:foo=3.0-2"))
	})
	It("is satisfied by any installed release of it, so no step repeats", func() {
		out := rpmPlan(observe().installed("foo", "3.0-1").available("foo", "3.0-2", "3.0-1"))
		Expect(onlyPolicy(out, "p").Items[0].Reason).To(Equal(v1alpha1.PlanSatisfied))
		Expect(out.Steps).To(BeEmpty())
	})
	It("moves another installed version to it", func() {
		out := rpmPlan(observe().installed("foo", "2.9-4").available("foo", "3.0-1", "2.9-4"))
		Expect(stepsText(out.Steps)).To(Equal("Install:foo=3.0-1"))
	})
	It("is VersionNotAvailable when no release of it is offered", func() {
		out := rpmPlan(observe().available("foo", "3.0.1-1"))
		Expect(onlyPolicy(out, "p").Items[0].Reason).To(Equal(v1alpha1.PlanVersionNotAvailable))
	})
})
