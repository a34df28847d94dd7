package fleet_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/fleet"
)

// wavePolicy is a generation-2 policy over role=web rolled out in waves.
func wavePolicy(waves ...v1alpha1.RolloutWave) *v1alpha1.PatchPolicy {
	p := rolloutPolicy(nil, ios("1"))
	p.Generation = 2
	p.Spec.Rollout.Waves = waves
	return p
}

func sized(n string, soak time.Duration) v1alpha1.RolloutWave {
	return v1alpha1.RolloutWave{Hosts: ios(n), Soak: v1alpha1.DurationPtr(soak)}
}

func zoneWave(zone string, soak time.Duration) v1alpha1.RolloutWave {
	return v1alpha1.RolloutWave{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"zone": zone}}, Soak: v1alpha1.DurationPtr(soak)}
}

// webHost is a role=web host reporting state for policy p at generation 2.
func webHost(name, zone, state string) *v1alpha1.Host {
	h := host(name, "web", "", 0)
	if zone != "" {
		h.Labels["zone"] = zone
	}
	if state != "" {
		h.Status.Policies = []v1alpha1.HostPolicyStatus{{Name: "p", State: v1alpha1.PolicyState(state), ObservedGeneration: 2}}
	}
	return h
}

// tenHosts are web-00 … web-09; web-01, web-05 and web-08 are in zone b.
func tenHosts(state func(name string) string) []*v1alpha1.Host {
	var out []*v1alpha1.Host
	for _, n := range []string{"web-00", "web-01", "web-02", "web-03", "web-04", "web-05", "web-06", "web-07", "web-08", "web-09"} {
		zone := "a"
		if n == "web-01" || n == "web-05" || n == "web-08" {
			zone = "b"
		}
		out = append(out, webHost(n, zone, state(n)))
	}
	return out
}

func none(string) string { return "" }

// record writes a plan into the policy's status, as the leader does.
func record(p *v1alpha1.PatchPolicy, ws fleet.WaveState) {
	fleet.ApplyWaves(p, &p.Status, ws)
}

var _ = Describe("rollout waves in fleet mode", func() {
	t0 := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

	It("assigns sized waves in name order after the earlier waves, selector waves by label, the rest to an implicit wave", func() {
		p := wavePolicy(sized("1", 0), sized("30%", 0), zoneWave("b", 0))
		ws := fleet.PlanWaves(p, tenHosts(none), false, t0)
		Expect(ws.Waves).To(HaveLen(4))
		Expect(ws.Waves[0].LastHost).To(Equal("web-00"))
		Expect(ws.Waves[1].LastHost).To(Equal("web-03"), "30% of 10 hosts is 3: web-01, web-02, web-03 (web-01 is in zone b, but the earlier wave takes it)")
		Expect(ws.Waves[2].LastHost).To(BeEmpty())
		Expect([]int32{ws.Waves[0].Hosts, ws.Waves[1].Hosts, ws.Waves[2].Hosts, ws.Waves[3].Hosts}).To(Equal([]int32{1, 3, 2, 4}))
		record(p, ws)

		wave := func(name, zone string) int {
			w, ok := fleet.WaveOf(p, name, map[string]string{"role": "web", "zone": zone})
			Expect(ok).To(BeTrue())
			return w
		}
		Expect(wave("web-00", "a")).To(Equal(0))
		Expect(wave("web-01", "b")).To(Equal(1))
		Expect(wave("web-03", "a")).To(Equal(1))
		Expect(wave("web-05", "b")).To(Equal(2))
		Expect(wave("web-04", "a")).To(Equal(3))
		By("hosts that join later are placed against the recorded boundaries")
		Expect(wave("aaa", "a")).To(Equal(0))
		Expect(wave("web-025", "a")).To(Equal(1))
		Expect(wave("zzz", "b")).To(Equal(2))
		Expect(wave("zzz", "a")).To(Equal(3))
	})

	It("assigns nothing before a host matches, and a host waits until its generation is assigned", func() {
		p := wavePolicy(sized("1", 0))
		Expect(fleet.PlanWaves(p, nil, false, t0).Waves).To(BeNil())
		_, ok := fleet.WaveOf(p, "web-00", map[string]string{"role": "web"})
		Expect(ok).To(BeFalse())

		record(p, fleet.PlanWaves(p, tenHosts(none), false, t0))
		_, ok = fleet.WaveOf(p, "web-00", map[string]string{"role": "web"})
		Expect(ok).To(BeTrue())
		p.Generation = 3 // a spec change
		_, ok = fleet.WaveOf(p, "web-00", map[string]string{"role": "web"})
		Expect(ok).To(BeFalse(), "the assignment of generation 2 does not hold for 3")
	})

	It("opens the next wave only after the current one finished and soaked", func() {
		p := wavePolicy(sized("1", 10*time.Minute), sized("50%", time.Hour))
		ws := fleet.PlanWaves(p, tenHosts(none), false, t0)
		Expect(ws.Current).To(Equal(0))
		Expect(ws.WakeAt.IsZero()).To(BeTrue())
		record(p, ws)

		By("the canary succeeds: wave 0 finished, soaking for 10m")
		done := func(names ...string) func(string) string {
			return func(n string) string {
				for _, d := range names {
					if d == n {
						return "Compliant"
					}
				}
				return "Progressing"
			}
		}
		ws = fleet.PlanWaves(p, tenHosts(done("web-00")), false, t0.Add(time.Minute))
		Expect(ws.Current).To(Equal(0))
		Expect(ws.Waves[0].FinishedAt.Time).To(Equal(t0.Add(time.Minute)))
		Expect(fleet.PlanWaves(p, tenHosts(done("web-00")), false, t0.Add(time.Minute+time.Millisecond)).Waves[0].FinishedAt.Time).To(
			Equal(t0.Add(time.Minute+time.Second)), "a finish is recorded rounded up to the second")
		Expect(ws.WakeAt).To(Equal(t0.Add(11 * time.Minute)))
		record(p, ws)
		Expect(p.Status.CurrentWave).To(HaveValue(BeEquivalentTo(0)))
		Expect(meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionProgressing)).To(BeNil(), "ApplyWaves only annotates conditions ApplyAggregate set")

		ws = fleet.PlanWaves(p, tenHosts(done("web-00")), false, t0.Add(10*time.Minute))
		Expect(ws.Current).To(Equal(0), "still soaking")
		ws = fleet.PlanWaves(p, tenHosts(done("web-00")), false, t0.Add(11*time.Minute))
		Expect(ws.Current).To(Equal(1))
		Expect(ws.WakeAt.IsZero()).To(BeTrue())
		record(p, ws)

		By("the current wave never moves back, even when a host joins an earlier wave")
		hosts := append(tenHosts(done("web-00")), webHost("aaa", "a", "Progressing"))
		ws = fleet.PlanWaves(p, hosts, false, t0.Add(12*time.Minute))
		Expect(ws.Current).To(Equal(1))
		Expect(ws.Waves[0].Hosts).To(BeEquivalentTo(2))
	})

	It("counts a failed host within maxFailures as finished, and opens nothing while halted", func() {
		p := wavePolicy(sized("2", 0), sized("2", 0))
		state := func(n string) string {
			switch n {
			case "web-00":
				return "Compliant"
			case "web-01":
				return "Failed"
			}
			return ""
		}
		record(p, fleet.PlanWaves(p, tenHosts(none), false, t0))
		ws := fleet.PlanWaves(p, tenHosts(state), false, t0)
		Expect(ws.Current).To(Equal(1))
		Expect(ws.Waves[0].Succeeded).To(BeEquivalentTo(1))
		Expect(ws.Waves[0].Failed).To(BeEquivalentTo(1))

		ws = fleet.PlanWaves(p, tenHosts(state), true, t0)
		Expect(ws.Current).To(Equal(0))
		Expect(ws.Waves[0].FinishedAt).To(BeNil())
	})

	It("skips a wave no host falls into without soaking it", func() {
		p := wavePolicy(sized("1", 0), zoneWave("nowhere", time.Hour), sized("1", time.Hour))
		record(p, fleet.PlanWaves(p, tenHosts(none), false, t0))
		ws := fleet.PlanWaves(p, tenHosts(func(n string) string {
			if n == "web-00" {
				return "Compliant"
			}
			return ""
		}), false, t0)
		Expect(ws.Current).To(Equal(2))
		Expect(ws.Waves[1].Hosts).To(BeZero())
	})

	It("starts over at wave 0 when the spec changes", func() {
		p := wavePolicy(sized("1", 0), sized("1", 0))
		all := func(string) string { return "Compliant" }
		record(p, fleet.PlanWaves(p, tenHosts(all), false, t0))
		Expect(p.Status.CurrentWave).To(HaveValue(BeEquivalentTo(2)))
		p.Generation = 3
		ws := fleet.PlanWaves(p, tenHosts(all), false, t0) // the hosts report generation 2 only
		Expect(ws.Current).To(Equal(0))
		record(p, ws)
		Expect(p.Status.WavesGeneration).To(BeEquivalentTo(3))
	})

	It("names the open wave in the Ready and Progressing messages", func() {
		p := wavePolicy(sized("1", time.Hour), sized("100%", 0))
		hosts := tenHosts(func(n string) string {
			if n == "web-00" {
				return "Compliant"
			}
			return ""
		})
		st := fleet.ApplyAggregate(p, fleet.Aggregated(p, hosts), metav1.NewTime(t0))
		fleet.ApplyWaves(p, &st, fleet.PlanWaves(p, hosts, false, t0))
		c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionProgressing)
		Expect(c.Message).To(ContainSubstring("wave 1 of 2 open (1 of its 1 hosts succeeded, 0 failed); soaking until 2026-11-22T04:00:00Z"))
		Expect(meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionStalled)).To(BeNil())
	})
})
