package fleet

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

func clusterPolicy(name, role string, gen int64, pkg string) *v1alpha1.PatchPolicy {
	p := &v1alpha1.PatchPolicy{}
	p.Name = name
	p.Generation = gen
	p.ResourceVersion = "77"
	p.Spec.HostSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"role": role}}
	p.Spec.Packages = []v1alpha1.PackageSpec{{Name: pkg}}
	p.Status.Hosts.Matched = 9
	return p
}

var _ = Describe("mirroring cluster policies", func() {
	labels := map[string]string{"role": "web"}

	It("copies the selecting policies with the source and generation, without status", func() {
		p := computeMirror([]*v1alpha1.PatchPolicy{clusterPolicy("a", "web", 4, "curl"), clusterPolicy("b", "db", 1, "curl")}, nil, labels, "debian-12")
		Expect(p.creates).To(HaveLen(1))
		c := p.creates[0]
		Expect(c.Name).To(Equal("a"))
		Expect(c.Annotations).To(HaveKeyWithValue(AnnotationSource, SourceCluster))
		Expect(c.Annotations).To(HaveKeyWithValue(AnnotationClusterGeneration, "4"))
		Expect(c.Status.Hosts.Matched).To(BeZero())
		Expect(c.ResourceVersion).To(BeEmpty())
	})

	It("updates a changed copy, leaves an unchanged one, deletes one no longer selecting", func() {
		old := localCopy(clusterPolicy("a", "web", 1, "curl"), nil)
		same := localCopy(clusterPolicy("s", "web", 1, "curl"), nil)
		gone := localCopy(clusterPolicy("g", "web", 1, "curl"), nil)
		p := computeMirror([]*v1alpha1.PatchPolicy{clusterPolicy("a", "web", 2, "wget"), clusterPolicy("s", "web", 1, "curl"), clusterPolicy("g", "db", 2, "curl")},
			[]*v1alpha1.PatchPolicy{old, same, gone}, labels, "debian-12")
		Expect(p.creates).To(BeEmpty())
		Expect(p.updates).To(HaveLen(1))
		Expect(p.updates[0].Spec.Packages[0].Name).To(Equal("wget"))
		Expect(p.deletes).To(HaveLen(1))
		Expect(p.deletes[0].Name).To(Equal("g"))
	})

	It("never overwrites a policy of another source", func() {
		local := clusterPolicy("a", "web", 1, "vim")
		local.Annotations = map[string]string{v1alpha1.AnnotationSourceFile: "/etc/patchlet/policies.d/a.yaml"}
		p := computeMirror([]*v1alpha1.PatchPolicy{clusterPolicy("a", "web", 1, "curl")}, []*v1alpha1.PatchPolicy{local}, labels, "debian-12")
		Expect(p.creates).To(BeEmpty())
		Expect(p.updates).To(BeEmpty())
		Expect(p.deletes).To(BeEmpty())
		Expect(p.refused).To(Equal([]string{"a"}))
	})

	It("refuses an invalid cluster policy", func() {
		bad := clusterPolicy("a", "web", 1, "Not A Package!")
		p := computeMirror([]*v1alpha1.PatchPolicy{bad}, nil, labels, "debian-12")
		Expect(p.creates).To(BeEmpty())
		Expect(p.refused).To(Equal([]string{"a"}))
	})
})

var _ = Describe("mirroring a policy whose updates are resolved per release", func() {
	labels := map[string]string{"role": "web"}
	rolled := func(gen int64) *v1alpha1.PatchPolicy {
		p := clusterPolicy("r", "web", gen, "curl")
		p.Spec.Packages = nil
		p.Spec.Updates = &v1alpha1.UpdatesSpec{Apply: v1alpha1.UpdatesSecurity}
		p.Spec.Rollout = &v1alpha1.RolloutSpec{}
		return p
	}

	It("waits for the patch set of the host's release, then pins its versions", func() {
		p := rolled(3)
		p.Status.PatchSets = []v1alpha1.PatchSet{{Release: "ubuntu-24.04", Generation: 3,
			Packages: []v1alpha1.PackageVersion{{Name: "openssl", Version: "9"}}}}
		plan := computeMirror([]*v1alpha1.PatchPolicy{p}, nil, labels, "debian-12")
		Expect(plan.creates).To(BeEmpty(), "no copy before debian-12 is resolved")
		Expect(plan.pending).To(Equal([]string{"r"}))

		p.Status.PatchSets = append(p.Status.PatchSets, v1alpha1.PatchSet{Release: "debian-12", Generation: 3,
			Packages: []v1alpha1.PackageVersion{{Name: "openssl", Version: "3.0.1"}}})
		plan = computeMirror([]*v1alpha1.PatchPolicy{p}, nil, labels, "debian-12")
		Expect(plan.creates).To(HaveLen(1))
		Expect(plan.creates[0].Spec.Updates.Resolved).To(Equal(&v1alpha1.ResolvedUpdates{Release: "debian-12",
			Packages: []v1alpha1.PackageVersion{{Name: "openssl", Version: "3.0.1"}}}))
	})

	It("keeps the old copy while a new generation's set is not resolved", func() {
		old := rolled(1)
		old.Status.PatchSets = []v1alpha1.PatchSet{{Release: "debian-12", Generation: 1}}
		local := localCopy(old, &old.Status.PatchSets[0])
		cur := rolled(2)
		cur.Status.PatchSets = old.Status.PatchSets // generation 1 only
		plan := computeMirror([]*v1alpha1.PatchPolicy{cur}, []*v1alpha1.PatchPolicy{local}, labels, "debian-12")
		Expect(plan.creates).To(BeEmpty())
		Expect(plan.updates).To(BeEmpty())
		Expect(plan.deletes).To(BeEmpty())
	})
})

var _ = Describe("resolving patch sets", func() {
	host := func(name, role, id, ver string, ups ...v1alpha1.UpgradablePackage) *v1alpha1.Host {
		h := &v1alpha1.Host{}
		h.Name = name
		h.Labels = map[string]string{"role": role}
		h.Status.OS = v1alpha1.OSInfo{ID: id, VersionID: ver}
		h.Status.Upgradable = ups
		h.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse}}
		return h
	}
	sec := func(name, from, to string) v1alpha1.UpgradablePackage {
		return v1alpha1.UpgradablePackage{Name: name, From: from, To: to, Security: true}
	}
	now := metav1.Now()

	It("resolves each release once from its first reporting host and keeps it", func() {
		p := clusterPolicy("r", "web", 2, "curl")
		p.Spec.Packages = nil
		p.Spec.Updates = &v1alpha1.UpdatesSpec{Apply: v1alpha1.UpdatesSecurity, Exclude: []string{"linux-*"}}
		p.Spec.Rollout = &v1alpha1.RolloutSpec{}
		notYet := host("a-new", "web", "debian", "12")
		notYet.Status.Conditions = nil
		hosts := []*v1alpha1.Host{
			host("c", "web", "debian", "12", sec("openssl", "1", "3")),
			notYet,
			host("b", "web", "debian", "12", sec("openssl", "1", "2"), sec("linux-image-amd64", "1", "2"),
				v1alpha1.UpgradablePackage{Name: "vim", From: "1", To: "2"}),
			host("d", "web", "ubuntu", "24.04", sec("curl", "7", "8")),
			host("e", "db", "rocky", "9", sec("curl", "7", "8")),
		}
		sets := ResolvePatchSets(p, hosts, now)
		Expect(sets).To(HaveLen(2))
		Expect(sets[0]).To(And(HaveField("Release", "debian-12"), HaveField("ResolvedBy", "b"), HaveField("Generation", int64(2)),
			HaveField("Packages", Equal([]v1alpha1.PackageVersion{{Name: "openssl", Version: "2"}}))))
		Expect(sets[1]).To(And(HaveField("Release", "ubuntu-24.04"), HaveField("ResolvedBy", "d")))

		By("a later newer version on another host does not change a resolved set")
		p.Status.PatchSets = sets
		hosts[2].Status.Upgradable = []v1alpha1.UpgradablePackage{sec("openssl", "1", "4")}
		Expect(ResolvePatchSets(p, hosts, now)).To(Equal(sets))

		By("a new generation resolves anew")
		p.Generation = 3
		again := ResolvePatchSets(p, hosts, now)
		Expect(again[0].Packages).To(Equal([]v1alpha1.PackageVersion{{Name: "openssl", Version: "4"}}))
	})

	It("resolves nothing for a policy without a rollout", func() {
		p := clusterPolicy("r", "web", 1, "curl")
		p.Spec.Updates = &v1alpha1.UpdatesSpec{Apply: v1alpha1.UpdatesAll}
		Expect(ResolvePatchSets(p, []*v1alpha1.Host{host("a", "web", "debian", "12", sec("x", "1", "2"))}, now)).To(BeNil())
	})
})

var _ = It("mirrors a policy rolled out in waves (the gate holds a host back until its wave opens)", func() {
	c := clusterPolicy("w", "web", 1, "curl")
	c.Spec.Rollout = &v1alpha1.RolloutSpec{Waves: []v1alpha1.RolloutWave{{Selector: &metav1.LabelSelector{}}}}
	p := computeMirror([]*v1alpha1.PatchPolicy{c}, nil, map[string]string{"role": "web"}, "debian-12")
	Expect(p.refused).To(BeEmpty())
	Expect(p.creates).To(HaveLen(1))
})

var _ = Describe("asking again for a slot", func() {
	g := &SlotGate{retry: 10 * time.Second, now: func() time.Time { return time.Unix(0, 0) }}
	at := func(progressing int32, n int) time.Duration {
		p := &v1alpha1.PatchPolicy{}
		p.Status.Hosts.Progressing = progressing
		return g.slotRetryAt(p, n).Sub(time.Unix(0, 0))
	}
	It("waits the retry period, jittered, while few hosts wait per slot", func() {
		Expect(at(45, 10)).To(BeNumerically("~", 15*time.Second, 5*time.Second))
	})
	It("waits longer as more hosts wait per slot, so that the fleet asks about four times per slot and period", func() {
		Expect(at(410, 10)).To(BeNumerically("~", 150*time.Second, 50*time.Second)) // 400 waiting / 40 = 10×
	})
	It("stretches the period at most 30 times", func() {
		Expect(at(9500, 50)).To(BeNumerically("~", 450*time.Second, 150*time.Second))
	})
})

var _ = Describe("waking a host waiting at the gate", func() {
	var woken int
	s := &Source{hostLabels: map[string]string{"role": "web"}, kick: make(chan struct{}, 1), wake: func() { woken++ }}
	BeforeEach(func() { woken = 0 })
	update := func(mutate func(p *v1alpha1.PatchPolicy), role string) {
		old := clusterPolicy("w", role, 2, "curl")
		cur := old.DeepCopy()
		mutate(cur)
		s.onUpdate(old, cur)
	}
	It("wakes when the leader opens a wave of a selecting policy", func() {
		update(func(p *v1alpha1.PatchPolicy) { w := int32(1); p.Status.CurrentWave = &w }, "web")
		Expect(woken).To(Equal(1))
	})
	It("wakes when the waves are assigned for a new generation", func() {
		update(func(p *v1alpha1.PatchPolicy) { p.Status.WavesGeneration = 2 }, "web")
		Expect(woken).To(Equal(1))
	})
	It("wakes when a halt ends", func() {
		old := clusterPolicy("w", "web", 2, "curl")
		old.Status.Conditions = []metav1.Condition{{Type: ConditionHalted, Status: metav1.ConditionTrue, ObservedGeneration: 2}}
		cur := old.DeepCopy()
		cur.Status.Conditions[0].Status = metav1.ConditionFalse
		s.onUpdate(old, cur)
		Expect(woken).To(Equal(1))
	})
	It("does not wake for counts, or for a policy that does not select the host", func() {
		update(func(p *v1alpha1.PatchPolicy) { p.Status.Hosts.Compliant = 5 }, "web")
		update(func(p *v1alpha1.PatchPolicy) { w := int32(1); p.Status.CurrentWave = &w }, "db")
		Expect(woken).To(BeZero())
	})
})

var _ = Describe("how often the leader writes a policy's status", func() {
	a := &Aggregator{interval: 2 * time.Second}
	It("writes counts alone at most every interval per 500 matched hosts", func() {
		Expect(a.countsEvery(0)).To(Equal(2 * time.Second))
		Expect(a.countsEvery(999)).To(Equal(2 * time.Second))
		Expect(a.countsEvery(10000)).To(Equal(40 * time.Second))
	})
	base := func() *v1alpha1.PatchPolicyStatus {
		w := int32(0)
		return &v1alpha1.PatchPolicyStatus{ObservedGeneration: 2, CurrentWave: &w, WavesGeneration: 2,
			Hosts:      v1alpha1.HostCounts{Matched: 10, Progressing: 10},
			Conditions: []metav1.Condition{{Type: ConditionHalted, Status: metav1.ConditionFalse, Reason: ReasonWithinBudget, Message: "no host failed"}},
			Waves:      []v1alpha1.WaveStatus{{LastHost: "a"}, {}}}
	}
	DescribeTable("tells a change agents act on from counts and messages",
		func(mutate func(st *v1alpha1.PatchPolicyStatus), gate bool) {
			cur := base()
			mutate(cur)
			Expect(gateChangedStatus(base(), cur)).To(Equal(gate))
		},
		Entry("counts", func(st *v1alpha1.PatchPolicyStatus) { st.Hosts.Compliant = 3 }, false),
		Entry("a message", func(st *v1alpha1.PatchPolicyStatus) { st.Conditions[0].Message = "1 hosts failed: a" }, false),
		Entry("a wave's counts", func(st *v1alpha1.PatchPolicyStatus) { st.Waves[0].Succeeded = 1 }, false),
		Entry("a halt", func(st *v1alpha1.PatchPolicyStatus) { st.Conditions[0].Status = metav1.ConditionTrue }, true),
		Entry("a wave opening", func(st *v1alpha1.PatchPolicyStatus) { w := int32(1); st.CurrentWave = &w }, true),
		Entry("a wave finishing", func(st *v1alpha1.PatchPolicyStatus) { t := metav1.Now(); st.Waves[0].FinishedAt = &t }, true),
		Entry("a patch set", func(st *v1alpha1.PatchPolicyStatus) { st.PatchSets = []v1alpha1.PatchSet{{Release: "debian-12"}} }, true),
		Entry("a new generation observed", func(st *v1alpha1.PatchPolicyStatus) { st.ObservedGeneration = 3 }, true),
	)
})
