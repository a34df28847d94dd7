package reconcile_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/reconcile"
)

func (b obs) provides(name string, providers ...string) obs {
	if b.o.Provides == nil {
		b.o.Provides = map[string][]string{}
	}
	b.o.Provides[name] = providers
	return b
}

// virtualObs: zeta-impl is installed and provides zeta-virt.
func virtualObs() obs {
	return observe().installed("zeta-impl", "1.0").provides("zeta-virt", "zeta-impl")
}

var _ = Describe("virtual packages (obs.Provides)", func() {
	DescribeTable("a name installed packages provide",
		func(state v1alpha1.PackageState, version string, o obs, action v1alpha1.PlanAction, reason v1alpha1.PlanReason, msg, steps string) {
			out := planOf(o, allCaps, policy("p", pkg("zeta-virt", state, version)))
			it := itemOf(onlyPolicy(out, "p"), "zeta-virt")
			Expect(it.Action).To(Equal(action), it.Message)
			Expect(it.Reason).To(Equal(reason), it.Message)
			Expect(it.Message).To(ContainSubstring(msg))
			Expect(stepsText(out.Steps)).To(Equal(steps))
		},
		Entry("Present: satisfied by its provider, and the plan says so", v1alpha1.PackagePresent, "", virtualObs(),
			v1alpha1.ActionNone, v1alpha1.PlanProvided, "provided by zeta-impl", ""),
		Entry("Latest without a pin: satisfied by its provider", v1alpha1.PackageLatest, "", virtualObs(),
			v1alpha1.ActionNone, v1alpha1.PlanProvided, "provided by zeta-impl", ""),
		Entry("two providers: both named", v1alpha1.PackagePresent, "",
			observe().installed("a-impl", "1").installed("b-impl", "1").provides("zeta-virt", "a-impl", "b-impl"),
			v1alpha1.ActionNone, v1alpha1.PlanProvided, "provided by a-impl, b-impl", ""),
		Entry("a pin: a provider does not satisfy it, and the stall says why", v1alpha1.PackagePresent, "1.0", virtualObs(),
			v1alpha1.ActionSkip, v1alpha1.PlanVersionNotAvailable, "zeta-virt is provided by zeta-impl, but a provider does not satisfy a pinned version", ""),
		Entry("a pin the index has: installed as any pin", v1alpha1.PackagePresent, "1.0", virtualObs().available("zeta-virt", "1.0"),
			v1alpha1.ActionInstall, v1alpha1.PlanPinned, "pinned to 1.0", "Install:zeta-virt=1.0"),
		Entry("no provider installed: installed by name, as before", v1alpha1.PackagePresent, "", observe(),
			v1alpha1.ActionInstall, v1alpha1.PlanNotInstalled, "not installed", "Install:zeta-virt"),
		Entry("Absent: nothing to remove under that name; the provider is named", v1alpha1.PackageAbsent, "", virtualObs(),
			v1alpha1.ActionNone, v1alpha1.PlanSatisfied, "zeta-impl provides it", ""),
	)

	It("makes a policy Compliant whose message names the provider, listed in status.plan", func() {
		pol := policy("p", pkg("zeta-virt", v1alpha1.PackagePresent, ""), pkg("zeta-impl", v1alpha1.PackagePresent, ""))
		pp := onlyPolicy(planOf(virtualObs(), allCaps, pol), "p")
		Expect(pp.State).To(Equal(v1alpha1.PolicyCompliant))
		Expect(pp.Message).To(Equal("all packages as declared; zeta-virt provided by zeta-impl (zeta-virt is a virtual package)"))
		st := reconcile.PolicyStatus(&pol, reconcile.PassOutcome{Plan: pp}, now)
		Expect(cond(st, v1alpha1.ConditionReady)).To(Equal("True/Compliant"))
		Expect(st.Plan).To(ConsistOf(HaveField("Package", "zeta-virt")))
		Expect(st.Plan[0].Reason).To(Equal(v1alpha1.PlanProvided))
	})

	It("keeps the install when another policy pins the name", func() {
		out := planOf(virtualObs().available("zeta-virt", "1.0"), allCaps,
			policy("a", pkg("zeta-virt", v1alpha1.PackagePresent, "")), policy("b", pkg("zeta-virt", v1alpha1.PackagePresent, "1.0")))
		Expect(stepsText(out.Steps)).To(Equal("Install:zeta-virt=1.0"))
		Expect(itemOf(onlyPolicy(out, "a"), "zeta-virt").Action).To(Equal(v1alpha1.ActionInstall))
	})
})

// noEffect is a record of n successful steps that left pkg unsatisfied.
func noEffect(gen int64, pkgName string, action v1alpha1.PlanAction, to string, n int32) v1alpha1.NoEffectStep {
	return v1alpha1.NoEffectStep{Package: pkgName, Action: action, To: to, ObservedGeneration: gen, Step: v1alpha1.StepInstall,
		Attempts: n, Message: "apt-get install zeta-virt exited 0 twice but zeta-virt is still not installed"}
}

func withNoEffect(recs ...v1alpha1.NoEffectStep) func(*v1alpha1.PatchPolicy) {
	return func(p *v1alpha1.PatchPolicy) { p.Status.NoEffect = recs }
}

var _ = Describe("no-effect steps (status.noEffect)", func() {
	missing := func() v1alpha1.PatchPolicy {
		return policy("p", pkg("zeta-virt", v1alpha1.PackagePresent, ""), pkg("hello", v1alpha1.PackagePresent, ""))
	}

	DescribeTable("the planner",
		func(rec v1alpha1.NoEffectStep, wantSteps string, stalled bool) {
			pol := missing()
			withNoEffect(rec)(&pol)
			out := planOf(observe(), allCaps, pol)
			pp := onlyPolicy(out, "p")
			Expect(stepsText(out.Steps)).To(Equal(wantSteps))
			Expect(pp.Stalled).To(Equal(stalled))
			if stalled {
				it := itemOf(pp, "zeta-virt")
				Expect(it.Action).To(Equal(v1alpha1.ActionSkip))
				Expect(it.Reason).To(Equal(v1alpha1.PlanNoEffect))
				Expect(pp.StalledReason).To(Equal(v1alpha1.PlanNoEffect))
				Expect(pp.StalledMessage).To(Equal("zeta-virt: NoEffect: apt-get install zeta-virt exited 0 twice but zeta-virt is still not installed"))
				Expect(pp.Pending).To(BeEquivalentTo(1), "hello still goes ahead")
			}
		},
		Entry("steps an item again once after one no-effect step", noEffect(1, "zeta-virt", v1alpha1.ActionInstall, "", 1), "Install:hello,zeta-virt", false),
		Entry("stops stepping it after two, and the rest goes ahead", noEffect(1, "zeta-virt", v1alpha1.ActionInstall, "", 2), "Install:hello", true),
		Entry("ignores a record of another generation", noEffect(0, "zeta-virt", v1alpha1.ActionInstall, "", 2), "Install:hello,zeta-virt", false),
		Entry("ignores a record of an item that wanted another version", noEffect(1, "zeta-virt", v1alpha1.ActionInstall, "2.0", 2), "Install:hello,zeta-virt", false),
	)

	It("makes a policy whose only item is stopped Stalled and done for the generation", func() {
		pol := policy("p", pkg("zeta-virt", v1alpha1.PackagePresent, ""), withNoEffect(noEffect(1, "zeta-virt", v1alpha1.ActionInstall, "", 2)))
		pp := onlyPolicy(planOf(observe(), allCaps, pol), "p")
		Expect(pp.State).To(Equal(v1alpha1.PolicyStalled))
		st := reconcile.PolicyStatus(&pol, reconcile.PassOutcome{Plan: pp}, now)
		Expect(cond(st, v1alpha1.ConditionStalled)).To(Equal("True/NoEffect"))
		Expect(cond(st, v1alpha1.ConditionReady)).To(Equal("False/NoEffect"))
		Expect(meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionStalled).Message).To(ContainSubstring("exited 0 twice but zeta-virt is still not installed"))
		Expect(st.ObservedGeneration).To(BeEquivalentTo(1))
		Expect(st.NoEffect).To(HaveLen(1), "the record stays while the item is unsatisfied")
	})

	It("drops the records of an item met some other way, and of another generation", func() {
		pol := policy("p", pkg("zeta-virt", v1alpha1.PackagePresent, ""), pkg("hello", v1alpha1.PackagePresent, ""),
			withNoEffect(noEffect(1, "zeta-virt", v1alpha1.ActionInstall, "", 2), noEffect(0, "hello", v1alpha1.ActionInstall, "", 2)))
		pp := onlyPolicy(planOf(observe().installed("zeta-virt", "1.0"), allCaps, pol), "p")
		st := reconcile.PolicyStatus(&pol, reconcile.PassOutcome{Plan: pp}, now)
		Expect(st.NoEffect).To(BeEmpty())
	})

	It("NoteNoEffect counts attempts per generation and item, keeping other packages' records", func() {
		item := v1alpha1.PlanItem{Package: "zeta-virt", Action: v1alpha1.ActionInstall}
		msg := func(rec v1alpha1.NoEffectStep) string { return strings.Join(rec.Runs, "; ") }
		argv := []string{"/usr/bin/apt-get", "install", "zeta-virt"}
		other := noEffect(3, "hello", v1alpha1.ActionUpgrade, "2.0", 1)
		recs, rec := reconcile.NoteNoEffect([]v1alpha1.NoEffectStep{other, noEffect(2, "zeta-virt", v1alpha1.ActionInstall, "", 2)},
			3, item, v1alpha1.StepInstall, argv, "op-1", "run 1 installed zeta-impl 1.0", msg)
		Expect(rec.Attempts).To(BeEquivalentTo(1), "generation 2's record does not count")
		recs, rec = reconcile.NoteNoEffect(recs, 3, item, v1alpha1.StepInstall, argv, "op-2", "run 2 changed nothing", msg)
		Expect(rec.Attempts).To(BeEquivalentTo(2))
		Expect(rec.Operations).To(Equal([]string{"op-1", "op-2"}))
		Expect(rec.Message).To(Equal("run 1 installed zeta-impl 1.0; run 2 changed nothing"))
		Expect(recs).To(HaveLen(2))
		Expect(recs[0]).To(Equal(other))
		_, exhausted := reconcile.ExhaustedNoEffect(recs, 3, item)
		Expect(exhausted).To(BeTrue())
		_, exhausted = reconcile.ExhaustedNoEffect(recs, 4, item)
		Expect(exhausted).To(BeFalse(), "a new generation starts over")
	})
})
