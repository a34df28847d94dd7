package fleet_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/fleet"
)

func rolloutPolicy(maxConcurrent, maxFailures *intstr.IntOrString) *v1alpha1.PatchPolicy {
	p := &v1alpha1.PatchPolicy{}
	p.Name = "p"
	p.Generation = 3
	p.Spec.HostSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"role": "web"}}
	if maxConcurrent != nil || maxFailures != nil {
		p.Spec.Rollout = &v1alpha1.RolloutSpec{MaxConcurrent: maxConcurrent, MaxFailures: maxFailures}
	}
	return p
}

func ios(s string) *intstr.IntOrString { v := intstr.Parse(s); return &v }

func host(name, role, state string, gen int64) *v1alpha1.Host {
	h := &v1alpha1.Host{}
	h.Name = name
	h.Labels = map[string]string{"role": role}
	if state != "" {
		h.Status.Policies = []v1alpha1.HostPolicyStatus{{Name: "p", State: v1alpha1.PolicyState(state), ObservedGeneration: gen}}
	}
	return h
}

var _ = Describe("rollout arithmetic", func() {
	DescribeTable("slots per policy",
		func(maxConcurrent string, matched, want int) {
			n, ok := fleet.SlotCount(rolloutPolicy(ios(maxConcurrent), nil), matched)
			Expect(ok).To(BeTrue())
			Expect(n).To(Equal(want))
		},
		Entry("a count", "3", 100, 3),
		Entry("a percentage rounds up", "5%", 10, 1),
		Entry("5% of 10,000", "5%", 10000, 500),
		Entry("a percentage of no hosts is still one slot", "5%", 0, 1),
		Entry("zero is one slot: a rollout never stops itself", "0", 10, 1),
	)
	It("needs no slot without maxConcurrent", func() {
		_, ok := fleet.SlotCount(rolloutPolicy(nil, nil), 10)
		Expect(ok).To(BeFalse())
	})
	DescribeTable("failure budget",
		func(maxFailures string, matched, want int) {
			n, ok := fleet.FailureBudget(rolloutPolicy(nil, ios(maxFailures)), matched)
			Expect(ok).To(BeTrue())
			Expect(n).To(Equal(want))
		},
		Entry("a count", "2", 100, 2),
		Entry("a percentage rounds down", "10%", 19, 1),
		Entry("zero tolerates none", "0", 10, 0),
	)
})

var _ = Describe("aggregate status", func() {
	now := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

	It("counts matched hosts by the state they report at the current generation", func() {
		pol := rolloutPolicy(ios("1"), ios("5"))
		hosts := []*v1alpha1.Host{
			host("a", "web", "Compliant", 3),
			host("b", "web", "Compliant", 2), // an older generation: still progressing
			host("c", "web", "Failed", 3),
			host("d", "web", "", 0), // never reported
			host("e", "db", "Failed", 3),
		}
		hosts[0].Status.RebootRequired.Required = true
		a := fleet.Aggregated(pol, hosts)
		Expect(a.Counts).To(Equal(v1alpha1.HostCounts{Matched: 4, Compliant: 1, Progressing: 2, Failed: 1, RebootRequired: 1}))
		Expect(a.FailedHosts).To(Equal([]string{"c"}))
		Expect(a.Halted).To(BeFalse())
	})

	It("halts once failures cross maxFailures and names the failed hosts", func() {
		pol := rolloutPolicy(ios("1"), ios("1"))
		hosts := []*v1alpha1.Host{host("a", "web", "Failed", 3), host("b", "web", "Stalled", 3), host("c", "web", "Compliant", 3)}
		a := fleet.Aggregated(pol, hosts)
		Expect(a.Halted).To(BeTrue())
		st := fleet.ApplyAggregate(pol, a, now)
		c := meta.FindStatusCondition(st.Conditions, fleet.ConditionHalted)
		Expect(c).NotTo(BeNil())
		Expect(c.Status).To(Equal(metav1.ConditionTrue))
		Expect(c.Message).To(ContainSubstring("failed: a, b"))
		Expect(st.Hosts.Failed).To(BeEquivalentTo(2))
		pol.Status = st
		Expect(fleet.Halted(pol)).To(BeTrue())

		By("a failed host retrying reports Progressing between attempts: the halt stays, naming the hosts")
		hosts = []*v1alpha1.Host{host("a", "web", "Progressing", 3), host("b", "web", "Compliant", 3), host("c", "web", "Compliant", 3)}
		a = fleet.Aggregated(pol, hosts)
		Expect(a.Halted).To(BeTrue())
		st = fleet.ApplyAggregate(pol, a, now)
		Expect(meta.FindStatusCondition(st.Conditions, fleet.ConditionHalted).Message).To(ContainSubstring("failed: a, b"))

		By("a spec change resumes")
		pol.Generation = 4
		Expect(fleet.Aggregated(pol, hosts).Halted).To(BeFalse())
	})

	It("does not count failures of an older generation: changing the spec resumes", func() {
		pol := rolloutPolicy(ios("1"), ios("0"))
		a := fleet.Aggregated(pol, []*v1alpha1.Host{host("a", "web", "Failed", 2)})
		Expect(a.Halted).To(BeFalse())
	})

	It("is Ready when every matched host is compliant, and writes nothing new when nothing changed", func() {
		pol := rolloutPolicy(nil, nil)
		a := fleet.Aggregated(pol, []*v1alpha1.Host{host("a", "web", "Compliant", 3)})
		st := fleet.ApplyAggregate(pol, a, now)
		Expect(meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionReady)).To(BeTrue())
		pol.Status = st
		later := metav1.NewTime(now.Add(time.Hour))
		Expect(fleet.ApplyAggregate(pol, a, later)).To(Equal(st))
	})
})
