package rollout_test

import (
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/rollout"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// hostsIn builds n Pending hosts named h0…, in the given waves.
func hostsIn(waves []int) []rollout.HostProgress {
	out := make([]rollout.HostProgress, len(waves))
	for i, w := range waves {
		out[i] = rollout.HostProgress{Name: "h" + string(rune('a'+i)), Wave: w, Phase: rollout.Pending}
	}
	return out
}

// phases sets the hosts' phases from a string: P pending, A applying,
// S succeeded, F failed.
func phases(hs []rollout.HostProgress, s string) []rollout.HostProgress {
	m := map[rune]rollout.Phase{'P': rollout.Pending, 'A': rollout.Applying, 'S': rollout.Succeeded, 'F': rollout.Failed}
	for i, c := range s {
		hs[i].Phase = m[c]
	}
	return hs
}

// simulate runs the scheduler against hosts that finish a fixed time after
// starting (failing when fail says so) on a fake clock, and returns the
// largest number applying at once and the final hosts.
func simulate(s rollout.Schedule, hs []rollout.HostProgress, fail map[int]bool, took time.Duration) (int, []rollout.HostProgress, bool) {
	now := t0
	halted := false
	peak := 0
	for step := 0; step < 10000; step++ {
		for i := range hs {
			if hs[i].Phase == rollout.Applying && now.Sub(hs[i].StartedAt) >= took {
				hs[i].Phase, hs[i].FinishedAt = rollout.Succeeded, now
				if fail[i] {
					hs[i].Phase = rollout.Failed
				}
			}
		}
		d := rollout.Next(s, hs, halted, now)
		halted = d.Halted
		for _, i := range d.Start {
			Expect(hs[i].Phase).To(Equal(rollout.Pending), "only pending hosts are started")
			hs[i].Phase, hs[i].StartedAt = rollout.Applying, now
		}
		n := 0
		for _, h := range hs {
			if h.Phase == rollout.Applying {
				n++
			}
		}
		peak = max(peak, n)
		if d.Finished {
			return peak, hs, halted
		}
		now = now.Add(time.Second)
	}
	Fail("the rollout never finished")
	return 0, nil, false
}

var _ = Describe("Next", func() {
	sched := func(conc, fails int, soaks ...time.Duration) rollout.Schedule {
		if len(soaks) == 0 {
			soaks = []time.Duration{0}
		}
		return rollout.Schedule{Limits: rollout.Limits{MaxConcurrent: conc, MaxFailures: fails}, Soaks: soaks}
	}

	DescribeTable("which hosts start",
		func(s rollout.Schedule, waves []int, state string, halted bool, wantStart []int, wantHalted, wantFinished bool) {
			d := rollout.Next(s, phases(hostsIn(waves), state), halted, t0)
			Expect(d.Start).To(Equal(wantStart))
			Expect(d.Halted).To(Equal(wantHalted))
			Expect(d.Finished).To(Equal(wantFinished))
		},
		Entry("fills free slots in order", sched(2, 0), []int{0, 0, 0, 0}, "PPPP", false, []int{0, 1}, false, false),
		Entry("never more than maxConcurrent applying", sched(2, 0), []int{0, 0, 0, 0}, "APPP", false, []int{1}, false, false),
		Entry("no slot free", sched(2, 0), []int{0, 0, 0, 0}, "SAAP", false, []int(nil), false, false),
		Entry("failures up to maxFailures are tolerated", sched(2, 1), []int{0, 0, 0, 0}, "FSPP", false, []int{2, 3}, false, false),
		Entry("crossing maxFailures halts: nothing starts", sched(2, 1), []int{0, 0, 0, 0}, "FFPP", false, []int(nil), true, true),
		Entry("maxFailures 0 halts on the first failure", sched(4, 0), []int{0, 0, 0, 0}, "FAPP", false, []int(nil), true, false),
		Entry("halted stays halted", sched(4, 5), []int{0, 0, 0}, "SPP", true, []int(nil), true, true),
		Entry("a later wave waits for the earlier one", sched(3, 0), []int{0, 0, 1, 1}, "SAPP", false, []int(nil), false, false),
		Entry("a later wave starts once the earlier finished", sched(3, 0), []int{0, 0, 1, 1}, "SSPP", false, []int{2, 3}, false, false),
		Entry("all done", sched(3, 0), []int{0, 1}, "SS", false, []int(nil), false, true),
		Entry("failed within budget still finishes", sched(3, 1), []int{0, 0}, "SF", false, []int(nil), false, true),
	)

	It("waits for the previous wave to soak since its last host finished", func() {
		hs := phases(hostsIn([]int{0, 0, 1}), "SSP")
		hs[0].FinishedAt, hs[1].FinishedAt = t0.Add(-9*time.Minute), t0.Add(-5*time.Minute)
		s := sched(5, 0, 10*time.Minute, 0)
		d := rollout.Next(s, hs, false, t0)
		Expect(d.Start).To(BeEmpty())
		Expect(d.SoakUntil).To(Equal(t0.Add(5 * time.Minute)))
		Expect(d.Wave).To(Equal(1))
		Expect(rollout.Next(s, hs, false, t0.Add(5*time.Minute-time.Second)).Start).To(BeEmpty())
		Expect(rollout.Next(s, hs, false, t0.Add(5*time.Minute)).Start).To(Equal([]int{2}))
	})

	DescribeTable("a simulated rollout on a fake clock",
		func(n, conc, fails int, failing []int, wantPeak int, wantHalted bool, wantSucceeded int) {
			fail := map[int]bool{}
			for _, i := range failing {
				fail[i] = true
			}
			peak, hs, halted := simulate(sched(conc, fails), hostsIn(make([]int, n)), fail, 3*time.Second)
			Expect(peak).To(Equal(wantPeak))
			Expect(halted).To(Equal(wantHalted))
			ok := 0
			for _, h := range hs {
				if h.Phase == rollout.Succeeded {
					ok++
				}
				Expect(h.Phase).NotTo(Equal(rollout.Applying))
			}
			Expect(ok).To(Equal(wantSucceeded))
		},
		Entry("50 hosts, 5 at once", 50, 5, 0, nil, 5, false, 50),
		Entry("7 hosts, 3 at once", 7, 3, 0, nil, 3, false, 7),
		Entry("halts within the batch that crossed maxFailures", 20, 4, 1, []int{1, 2}, 4, true, 2),
		Entry("one failure tolerated", 10, 2, 1, []int{3}, 2, false, 9),
	)

	It("rolls waves out in order, each after the previous one soaked", func() {
		assign, soaks := rollout.AssignWaves(10, mustWaves("10%,50%,100%", time.Minute))
		Expect(assign).To(Equal([]int{0, 1, 1, 1, 1, 2, 2, 2, 2, 2}))
		hs := hostsIn(assign)
		now := t0
		s := rollout.Schedule{Limits: rollout.Limits{MaxConcurrent: 10}, Soaks: soaks}
		for step := 0; step < 1000; step++ {
			for i := range hs {
				if hs[i].Phase == rollout.Applying && now.Sub(hs[i].StartedAt) >= 2*time.Second {
					hs[i].Phase, hs[i].FinishedAt = rollout.Succeeded, now
				}
			}
			d := rollout.Next(s, hs, false, now)
			for _, i := range d.Start {
				hs[i].Phase, hs[i].StartedAt = rollout.Applying, now
			}
			if d.Finished {
				break
			}
			now = now.Add(time.Second)
		}
		last := func(w int) (end time.Time) {
			for _, h := range hs {
				if h.Wave == w && h.FinishedAt.After(end) {
					end = h.FinishedAt
				}
			}
			return end
		}
		for _, h := range hs {
			Expect(h.Phase).To(Equal(rollout.Succeeded))
			if h.Wave > 0 {
				Expect(h.StartedAt).To(BeTemporally(">=", last(h.Wave-1).Add(time.Minute)), h.Name)
			}
		}
		Expect(hs[1].StartedAt).To(Equal(last(0).Add(time.Minute)), "the next wave starts as soon as the soak is over")
	})
})

func mustWaves(s string, soak time.Duration) []rollout.WaveSpec {
	w, err := rollout.ParseWaves(s, soak)
	Expect(err).NotTo(HaveOccurred())
	return w
}

var _ = Describe("waves", func() {
	DescribeTable("AssignWaves",
		func(n int, spec string, want []int, wantWaves int) {
			assign, soaks := rollout.AssignWaves(n, mustWaves(spec, time.Minute))
			Expect(assign).To(Equal(want))
			Expect(soaks).To(HaveLen(wantWaves))
		},
		Entry("no waves: one wave", 3, "", []int{0, 0, 0}, 1),
		Entry("percentages round up", 5, "10%,50%,100%", []int{0, 1, 1, 2, 2}, 3),
		Entry("counts", 5, "1,3", []int{0, 1, 1, 2, 2}, 3),
		Entry("empty waves are dropped", 2, "10%,20%,100%", []int{0, 1}, 2),
		Entry("counts past the end", 2, "1,5,10", []int{0, 1}, 2),
	)
	DescribeTable("ParseWaves rejects",
		func(spec string) {
			_, err := rollout.ParseWaves(spec, 0)
			Expect(err).To(HaveOccurred())
		},
		Entry("zero", "0"), Entry("over 100%", "150%"), Entry("decreasing", "50%,10%"),
		Entry("garbage", "ten"), Entry("empty element", "10%,,100%"),
	)
})

var _ = Describe("ResolveLimits", func() {
	pct := func(s string) *intstr.IntOrString { v := intstr.FromString(s); return &v }
	cnt := func(n int32) *intstr.IntOrString { v := intstr.FromInt32(n); return &v }
	DescribeTable("resolves against the selected hosts",
		func(r *v1alpha1.RolloutSpec, n int, want rollout.Limits) {
			l, err := rollout.ResolveLimits(r, n)
			Expect(err).NotTo(HaveOccurred())
			Expect(l).To(Equal(want))
		},
		Entry("defaults: one at a time, halt on the first failure", nil, 10, rollout.Limits{MaxConcurrent: 1, MaxFailures: 0}),
		Entry("percentages round down", &v1alpha1.RolloutSpec{MaxConcurrent: pct("25%"), MaxFailures: pct("25%")}, 10, rollout.Limits{MaxConcurrent: 2, MaxFailures: 2}),
		Entry("maxConcurrent is at least 1", &v1alpha1.RolloutSpec{MaxConcurrent: pct("10%")}, 3, rollout.Limits{MaxConcurrent: 1}),
		Entry("counts", &v1alpha1.RolloutSpec{MaxConcurrent: cnt(3), MaxFailures: cnt(2)}, 10, rollout.Limits{MaxConcurrent: 3, MaxFailures: 2}),
	)
})

var _ = Describe("Judge", func() {
	cond := func(typ string, st metav1.ConditionStatus, gen int64, reason string) metav1.Condition {
		return metav1.Condition{Type: typ, Status: st, ObservedGeneration: gen, Reason: reason, Message: reason + " message"}
	}
	policy := func(gen, observed int64, conds ...metav1.Condition) *v1alpha1.PatchPolicy {
		p := &v1alpha1.PatchPolicy{}
		p.Generation = gen
		p.Status.ObservedGeneration = observed
		p.Status.Conditions = conds
		return p
	}
	T, F := metav1.ConditionTrue, metav1.ConditionFalse
	DescribeTable("decides a host's phase",
		func(p *v1alpha1.PatchPolicy, elapsed time.Duration, want rollout.Phase, wantReason string) {
			v := rollout.Judge(p, t0, t0.Add(elapsed), 10*time.Minute)
			Expect(v.Phase).To(Equal(want))
			Expect(v.Reason).To(Equal(wantReason))
		},
		Entry("Ready for the current generation", policy(2, 2, cond("Ready", T, 2, "Compliant")), time.Second, rollout.Succeeded, "Compliant"),
		Entry("Ready for an older generation is not enough", policy(3, 2, cond("Ready", T, 2, "Compliant")), time.Second, rollout.Applying, rollout.ReasonWaiting),
		Entry("no status yet", policy(1, 0), time.Second, rollout.Applying, rollout.ReasonWaiting),
		Entry("applying", policy(1, 0, cond("Ready", F, 1, "Applying")), time.Minute, rollout.Applying, "Applying"),
		Entry("a step failed for good", policy(1, 0, cond("Ready", F, 1, "StepFailed"), cond("Degraded", T, 1, "DiskFull")), time.Second, rollout.Failed, "StepFailed"),
		Entry("a held lock is waited for", policy(1, 0, cond("Ready", F, 1, "StepFailed"), cond("Degraded", T, 1, "LockHeld")), time.Minute, rollout.Applying, "StepFailed"),
		Entry("…until the timeout", policy(1, 0, cond("Ready", F, 1, "StepFailed"), cond("Degraded", T, 1, "LockHeld")), 10*time.Minute, rollout.Failed, rollout.ReasonTimeout),
		Entry("stalled: the agent is done, not Ready", policy(1, 1, cond("Ready", F, 1, "VersionNotAvailable"), cond("Stalled", T, 1, "VersionNotAvailable")), time.Second, rollout.Failed, "VersionNotAvailable"),
		Entry("the agent's labels do not match", policy(1, 1, cond("Ready", T, 1, "NotSelected")), time.Second, rollout.Failed, v1alpha1.ReasonNotSelected),
		Entry("waiting for a window until the timeout", policy(1, 0, cond("Ready", F, 1, "WaitingForWindow")), 11*time.Minute, rollout.Failed, rollout.ReasonTimeout),
	)
})

var _ = Describe("hosts file", func() {
	It("parses hosts, fills defaults and resolves relative paths", func() {
		hs, err := rollout.ParseHosts([]byte(`
defaults: {cert: c.crt, key: c.key, ca: /etc/ca.crt}
hosts:
- {name: web-1, server: "https://web-1:8443", labels: {role: web}}
- {name: db-1, server: "unix:/run/p.sock", labels: {role: db}, ca: other.crt}
`), "/inv")
		Expect(err).NotTo(HaveOccurred())
		Expect(hs).To(HaveLen(2))
		Expect(hs[0].Credentials).To(Equal(rollout.Credentials{Cert: "/inv/c.crt", Key: "/inv/c.key", CA: "/etc/ca.crt"}))
		Expect(hs[1].CA).To(Equal("/inv/other.crt"))
		sel, err := rollout.Select(hs, &metav1.LabelSelector{MatchLabels: map[string]string{"role": "db"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(sel).To(HaveLen(1))
		Expect(sel[0].Name).To(Equal("db-1"))
		all, _ := rollout.Select(hs, nil)
		Expect(all).To(HaveLen(2))
	})
	DescribeTable("rejects",
		func(doc, want string) {
			_, err := rollout.ParseHosts([]byte(doc), "")
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("unknown fields", "hosts: [{name: a, server: 'unix:/x', lables: {}}]", "lables"),
		Entry("duplicate names", "hosts: [{name: a, server: 'unix:/x'}, {name: a, server: 'unix:/y'}]", "appears twice"),
		Entry("missing server", "hosts: [{name: a}]", "server: required"),
		Entry("bad scheme", "hosts: [{name: a, server: 'ftp://x'}]", "want https"),
		Entry("no hosts", "hosts: []", "no hosts"),
	)
})

var _ = Describe("state", func() {
	It("saves atomically, loads, reconciles with the selection and resumes a halt", func() {
		path := filepath.Join(GinkgoT().TempDir(), "st.json")
		hosts := []rollout.Host{{Name: "a"}, {Name: "b"}, {Name: "c"}}
		st := rollout.NewState("web", "sha256:x", hosts, t0)
		st.Hosts[0].Phase, st.Hosts[1].Phase = rollout.Succeeded, rollout.Failed
		st.Halted, st.HaltReason = true, "1 host(s) failed"
		Expect(rollout.SaveState(path, st)).To(Succeed())
		entries, _ := os.ReadDir(filepath.Dir(path))
		Expect(entries).To(HaveLen(1), "no temporary file is left behind")

		back, err := rollout.LoadState(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(back).To(Equal(st))

		dropped := back.Reconcile([]rollout.Host{{Name: "d"}, {Name: "b"}, {Name: "a"}})
		Expect(dropped).To(Equal([]string{"c"}))
		Expect(back.Hosts).To(HaveLen(3))
		Expect(back.Hosts[0]).To(Equal(rollout.HostProgress{Name: "d", Phase: rollout.Pending}))
		Expect(back.Hosts[1].Phase).To(Equal(rollout.Failed))
		Expect(back.Hosts[2].Phase).To(Equal(rollout.Succeeded))

		back.ResumeHalted()
		Expect(back.Halted).To(BeFalse())
		Expect(back.Hosts[1].Phase).To(Equal(rollout.Pending), "failed hosts are retried")
		Expect(back.Hosts[2].Phase).To(Equal(rollout.Succeeded))

		_, err = rollout.LoadState(filepath.Join(filepath.Dir(path), "none.json"))
		Expect(err).To(MatchError(os.ErrNotExist))
	})

	It("resumes a rollout from its state: finished hosts are not started again", func() {
		hs := phases(hostsIn([]int{0, 0, 0, 0, 0}), "SSFAP")
		d := rollout.Next(rollout.Schedule{Limits: rollout.Limits{MaxConcurrent: 2, MaxFailures: 1}, Soaks: []time.Duration{0}}, hs, false, t0)
		Expect(d.Start).To(Equal([]int{4}))
	})

	It("hashes what is sent, so a changed spec is a new rollout", func() {
		p := &v1alpha1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web"}}
		h1, err := rollout.SpecHash(p)
		Expect(err).NotTo(HaveOccurred())
		p.Status.ObservedGeneration = 7
		h2, _ := rollout.SpecHash(p)
		Expect(h2).To(Equal(h1), "status is not part of it")
		p.Spec.Suspend = true
		h3, _ := rollout.SpecHash(p)
		Expect(h3).NotTo(Equal(h1))
	})
})

var _ = Describe("WavesFromPolicy", func() {
	soak := v1alpha1.Duration("10m")
	It("turns each wave's own size into cumulative ends, with each wave's soak", func() {
		specs, err := rollout.WavesFromPolicy(20, []v1alpha1.RolloutWave{
			{Hosts: ptr.To(intstr.FromInt32(1)), Soak: &soak},
			{Hosts: ptr.To(intstr.FromString("25%"))},
			{Hosts: ptr.To(intstr.FromString("100%"))},
		})
		Expect(err).NotTo(HaveOccurred())
		assign, soaks := rollout.AssignWaves(20, specs)
		Expect(assign[0]).To(Equal(0))
		Expect(assign[1]).To(Equal(1))
		Expect(assign[5]).To(Equal(1))
		Expect(assign[6]).To(Equal(2))
		Expect(assign[19]).To(Equal(2))
		Expect(soaks[0]).To(Equal(10 * time.Minute))
	})
	It("refuses selector waves and sizes below one host, naming the wave", func() {
		_, err := rollout.WavesFromPolicy(10, []v1alpha1.RolloutWave{{Selector: &metav1.LabelSelector{}}})
		Expect(err).To(MatchError(ContainSubstring("spec.rollout.waves[0]")))
		_, err = rollout.WavesFromPolicy(10, []v1alpha1.RolloutWave{{Hosts: ptr.To(intstr.FromInt32(0))}})
		Expect(err).To(MatchError(ContainSubstring("spec.rollout.waves[0].hosts")))
	})
})
