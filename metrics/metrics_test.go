package metrics_test

import (
	"runtime"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/metrics"
)

var _ = Describe("Metrics", func() {
	var (
		clock *fakeClock
		m     *metrics.Metrics
		s     *scraper
	)
	BeforeEach(func() {
		clock = &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
		m = metrics.NewWithOptions(metrics.Options{Version: "1.2.3", Now: clock.Now})
		s = newScraper(m)
		DeferCleanup(s.Close)
	})

	It("reports the build with value 1", func() {
		fams := s.scrape()
		f := family(fams, "patchlet_build_info", dto.MetricType_GAUGE)
		Expect(f.GetMetric()).To(HaveLen(1))
		Expect(labelsOf(f.GetMetric()[0])).To(Equal(L{"version": "1.2.3", "goversion": runtime.Version()}))
		Expect(f.GetMetric()[0].GetGauge().GetValue()).To(Equal(1.0))
	})

	It("includes the Go and process collectors unless told not to", func() {
		Expect(s.scrape()).To(HaveKey("go_goroutines"))
		Expect(s.scrape()).To(HaveKey("process_resident_memory_bytes"))
		bare := newScraper(metrics.NewWithOptions(metrics.Options{NoRuntimeCollectors: true}))
		defer bare.Close()
		fams := bare.scrape()
		Expect(fams).NotTo(HaveKey("go_goroutines"))
		Expect(value(fams, "patchlet_build_info", L{"version": "unknown", "goversion": runtime.Version()})).To(Equal(1.0))
	})

	It("passes the Prometheus linter with every metric populated", func() {
		populate(m, clock)
		fams := s.scrape()
		for _, name := range allNames {
			Expect(fams).To(HaveKey(name))
		}
		problems, err := testutil.GatherAndLint(m.Registry())
		Expect(err).NotTo(HaveOccurred())
		Expect(problems).To(BeEmpty())
	})

	It("leaves nothing to a registry other than its own", func() {
		// Two agents in one process (as in tests) do not collide.
		other := metrics.New()
		other.ObservePass(metrics.PassError, time.Second)
		m.ObservePass(metrics.PassSuccess, time.Second)
		fams := s.scrape()
		Expect(value(fams, "patchlet_reconcile_passes_total", L{"result": "error"})).To(Equal(0.0))
		Expect(value(fams, "patchlet_reconcile_passes_total", L{"result": "success"})).To(Equal(1.0))
	})

	Describe("reconcile passes", func() {
		It("exists at zero for both results before the first pass", func() {
			fams := s.scrape()
			family(fams, "patchlet_reconcile_passes_total", dto.MetricType_COUNTER)
			Expect(seriesLabels(fams, "patchlet_reconcile_passes_total")).To(Equal([]string{"result=error", "result=success"}))
			Expect(value(fams, "patchlet_reconcile_passes_total", L{"result": "error"})).To(Equal(0.0))
		})

		It("counts passes by result and times them", func() {
			m.ObservePass(metrics.PassSuccess, 3*time.Millisecond)
			m.ObservePass(metrics.PassSuccess, 40*time.Millisecond)
			m.ObservePass(metrics.PassError, 2*time.Second)
			fams := s.scrape()
			Expect(value(fams, "patchlet_reconcile_passes_total", L{"result": "success"})).To(Equal(2.0))
			Expect(value(fams, "patchlet_reconcile_passes_total", L{"result": "error"})).To(Equal(1.0))
			h := family(fams, "patchlet_reconcile_pass_duration_seconds", dto.MetricType_HISTOGRAM).GetMetric()[0].GetHistogram()
			Expect(h.GetSampleCount()).To(Equal(uint64(3)))
			Expect(h.GetSampleSum()).To(BeNumerically("~", 2.043, 1e-9))
			Expect(bucket(h, 0.005)).To(Equal(uint64(1)))
			Expect(bucket(h, 0.05)).To(Equal(uint64(2)))
			Expect(bucket(h, 2.5)).To(Equal(uint64(3)))
		})
	})

	Describe("steps", func() {
		It("counts outcomes and times steps in seconds by step and backend", func() {
			m.ObserveStep("Upgrade", "apt", metrics.OutcomeSucceeded, 90*time.Second)
			m.ObserveStep("Upgrade", "apt", "LockHeld", 200*time.Millisecond)
			m.ObserveStep("Refresh", "apt", metrics.OutcomeSucceeded, 4*time.Second)
			fams := s.scrape()
			family(fams, "patchlet_steps_total", dto.MetricType_COUNTER)
			Expect(seriesLabels(fams, "patchlet_steps_total")).To(Equal([]string{
				"backend=apt,outcome=LockHeld,step=Upgrade",
				"backend=apt,outcome=Succeeded,step=Refresh",
				"backend=apt,outcome=Succeeded,step=Upgrade",
			}))
			Expect(value(fams, "patchlet_steps_total", L{"step": "Upgrade", "backend": "apt", "outcome": "LockHeld"})).To(Equal(1.0))
			f := family(fams, "patchlet_step_duration_seconds", dto.MetricType_HISTOGRAM)
			up := find(f, L{"step": "Upgrade", "backend": "apt"}).GetHistogram()
			Expect(up.GetSampleCount()).To(Equal(uint64(2)))
			Expect(up.GetSampleSum()).To(BeNumerically("~", 90.2, 1e-9))
			Expect(bucket(up, 0.25)).To(Equal(uint64(1)))
			Expect(bucket(up, 60)).To(Equal(uint64(1)))
			Expect(bucket(up, 120)).To(Equal(uint64(2)))
			Expect(find(f, L{"step": "Refresh", "backend": "apt"}).GetHistogram().GetSampleCount()).To(Equal(uint64(1)))
		})
	})

	Describe("policies", func() {
		It("reports each condition as 0 or 1 and the pending changes", func() {
			m.SetPolicy("web", false, true, false, false, 3)
			fams := s.scrape()
			family(fams, "patchlet_policy_condition", dto.MetricType_GAUGE)
			Expect(value(fams, "patchlet_policy_condition", L{"policy": "web", "type": "Ready"})).To(Equal(0.0))
			Expect(value(fams, "patchlet_policy_condition", L{"policy": "web", "type": "Progressing"})).To(Equal(1.0))
			Expect(value(fams, "patchlet_policy_condition", L{"policy": "web", "type": "Degraded"})).To(Equal(0.0))
			Expect(value(fams, "patchlet_policy_condition", L{"policy": "web", "type": "Stalled"})).To(Equal(0.0))
			family(fams, "patchlet_policy_pending_changes", dto.MetricType_GAUGE)
			Expect(value(fams, "patchlet_policy_pending_changes", L{"policy": "web"})).To(Equal(3.0))

			m.SetPolicy("web", true, false, false, false, 0)
			fams = s.scrape()
			Expect(value(fams, "patchlet_policy_condition", L{"policy": "web", "type": "Ready"})).To(Equal(1.0))
			Expect(value(fams, "patchlet_policy_condition", L{"policy": "web", "type": "Progressing"})).To(Equal(0.0))
			Expect(value(fams, "patchlet_policy_pending_changes", L{"policy": "web"})).To(Equal(0.0))
		})

		It("reads a PatchPolicy's conditions: only True counts", func() {
			p := &v1alpha1.PatchPolicy{}
			p.Name = "db"
			p.Status.Pending = 2
			p.Status.Conditions = []metav1.Condition{
				{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: "StepFailed"},
				{Type: v1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: "StepFailed"},
				{Type: v1alpha1.ConditionProgressing, Status: metav1.ConditionUnknown, Reason: "Unknown"},
			}
			m.SetPolicyStatus(p)
			fams := s.scrape()
			Expect(value(fams, "patchlet_policy_condition", L{"policy": "db", "type": "Ready"})).To(Equal(0.0))
			Expect(value(fams, "patchlet_policy_condition", L{"policy": "db", "type": "Degraded"})).To(Equal(1.0))
			Expect(value(fams, "patchlet_policy_condition", L{"policy": "db", "type": "Progressing"})).To(Equal(0.0))
			Expect(value(fams, "patchlet_policy_condition", L{"policy": "db", "type": "Stalled"})).To(Equal(0.0))
			Expect(value(fams, "patchlet_policy_pending_changes", L{"policy": "db"})).To(Equal(2.0))
		})

		It("removes every series of a deleted policy and keeps the others", func() {
			m.SetPolicy("web", true, false, false, false, 0)
			m.SetPolicy("db", false, false, true, false, 5)
			Expect(seriesLabels(s.scrape(), "patchlet_policy_pending_changes")).To(Equal([]string{"policy=db", "policy=web"}))

			m.DeletePolicy("web")
			fams := s.scrape()
			Expect(seriesLabels(fams, "patchlet_policy_pending_changes")).To(Equal([]string{"policy=db"}))
			Expect(seriesLabels(fams, "patchlet_policy_condition")).To(Equal([]string{
				"policy=db,type=Degraded", "policy=db,type=Progressing", "policy=db,type=Ready", "policy=db,type=Stalled",
			}))
			Expect(value(fams, "patchlet_policy_pending_changes", L{"policy": "db"})).To(Equal(5.0))

			m.DeletePolicy("db")
			m.DeletePolicy("never-existed")
			fams = s.scrape()
			Expect(fams).NotTo(HaveKey("patchlet_policy_condition"))
			Expect(fams).NotTo(HaveKey("patchlet_policy_pending_changes"))
		})

		It("keeps only the policies named to RetainPolicies", func() {
			for _, n := range []string{"a", "b", "c"} {
				m.SetPolicy(n, true, false, false, false, 1)
			}
			m.RetainPolicies([]string{"b"})
			fams := s.scrape()
			Expect(seriesLabels(fams, "patchlet_policy_pending_changes")).To(Equal([]string{"policy=b"}))
			Expect(fams["patchlet_policy_condition"].GetMetric()).To(HaveLen(4))

			// A policy set again after removal comes back.
			m.SetPolicy("a", false, false, false, true, 0)
			Expect(value(s.scrape(), "patchlet_policy_condition", L{"policy": "a", "type": "Stalled"})).To(Equal(1.0))
			m.RetainPolicies(nil)
			Expect(s.scrape()).NotTo(HaveKey("patchlet_policy_pending_changes"))
		})
	})

	Describe("the host", func() {
		It("has no host series before the first observation", func() {
			fams := s.scrape()
			for _, n := range []string{"patchlet_host_upgradable_packages", "patchlet_host_security_updates",
				"patchlet_host_reboot_required", "patchlet_package_index_age_seconds",
				"patchlet_package_index_last_refresh_timestamp_seconds"} {
				Expect(fams).NotTo(HaveKey(n))
			}
		})

		It("reports pending and security updates and a required reboot", func() {
			m.SetHost(12, 4, true, clock.Now().Add(-time.Hour))
			fams := s.scrape()
			family(fams, "patchlet_host_upgradable_packages", dto.MetricType_GAUGE)
			Expect(value(fams, "patchlet_host_upgradable_packages", L{})).To(Equal(12.0))
			Expect(value(fams, "patchlet_host_security_updates", L{})).To(Equal(4.0))
			Expect(value(fams, "patchlet_host_reboot_required", L{})).To(Equal(1.0))

			m.SetHost(0, 0, false, clock.Now())
			fams = s.scrape()
			Expect(value(fams, "patchlet_host_upgradable_packages", L{})).To(Equal(0.0))
			Expect(value(fams, "patchlet_host_reboot_required", L{})).To(Equal(0.0))
		})

		It("computes the index age at scrape time, so that it grows between observations", func() {
			refreshed := clock.Now().Add(-90 * time.Second)
			m.SetHost(1, 0, false, refreshed)
			fams := s.scrape()
			family(fams, "patchlet_package_index_age_seconds", dto.MetricType_GAUGE)
			Expect(value(fams, "patchlet_package_index_age_seconds", L{})).To(Equal(90.0))
			Expect(value(fams, "patchlet_package_index_last_refresh_timestamp_seconds", L{})).To(Equal(float64(refreshed.Unix())))

			clock.Step(30 * time.Minute)
			Expect(value(s.scrape(), "patchlet_package_index_age_seconds", L{})).To(Equal(1890.0))

			// A refresh resets it.
			m.SetHost(1, 0, false, clock.Now())
			Expect(value(s.scrape(), "patchlet_package_index_age_seconds", L{})).To(Equal(0.0))
		})

		It("leaves the index series out while no refresh time is known", func() {
			m.SetHost(3, 1, false, time.Time{})
			fams := s.scrape()
			Expect(value(fams, "patchlet_host_upgradable_packages", L{})).To(Equal(3.0))
			Expect(fams).NotTo(HaveKey("patchlet_package_index_age_seconds"))
			Expect(fams).NotTo(HaveKey("patchlet_package_index_last_refresh_timestamp_seconds"))
		})

		It("reads a Host's status", func() {
			t := metav1.NewTime(clock.Now().Add(-2 * time.Hour))
			m.SetHostStatus(&v1alpha1.HostStatus{
				Cache:          v1alpha1.CacheStatus{LastRefresh: &t},
				Packages:       v1alpha1.PackageCounts{Installed: 400, Upgradable: 7, Security: 2},
				RebootRequired: v1alpha1.RebootStatus{Required: true},
			})
			fams := s.scrape()
			Expect(value(fams, "patchlet_host_upgradable_packages", L{})).To(Equal(7.0))
			Expect(value(fams, "patchlet_host_security_updates", L{})).To(Equal(2.0))
			Expect(value(fams, "patchlet_host_reboot_required", L{})).To(Equal(1.0))
			Expect(value(fams, "patchlet_package_index_age_seconds", L{})).To(Equal(7200.0))
		})
	})

	Describe("queue depth", func() {
		It("reads the function at every scrape", func() {
			Expect(s.scrape()).NotTo(HaveKey("patchlet_work_queue_depth"))
			depth := 0
			m.SetQueueDepth(func() int { return depth })
			fams := s.scrape()
			family(fams, "patchlet_work_queue_depth", dto.MetricType_GAUGE)
			Expect(value(fams, "patchlet_work_queue_depth", L{})).To(Equal(0.0))
			depth = 3
			Expect(value(s.scrape(), "patchlet_work_queue_depth", L{})).To(Equal(3.0))
			m.SetQueueDepth(nil)
			Expect(s.scrape()).NotTo(HaveKey("patchlet_work_queue_depth"))
		})
	})

	It("does nothing, without panicking, through a nil *Metrics", func() {
		var nm *metrics.Metrics
		Expect(func() {
			nm.ObservePass(metrics.PassSuccess, time.Second)
			nm.ObserveStep("Upgrade", "apt", metrics.OutcomeSucceeded, time.Second)
			nm.SetPolicy("x", true, false, false, false, 0)
			nm.SetPolicyStatus(&v1alpha1.PatchPolicy{})
			nm.DeletePolicy("x")
			nm.RetainPolicies(nil)
			nm.SetHost(1, 1, true, time.Now())
			nm.SetHostStatus(&v1alpha1.HostStatus{})
			nm.SetQueueDepth(func() int { return 1 })
			nm.ObserveRequest("get", "hosts", 200, time.Millisecond)
		}).NotTo(Panic())
		Expect(nm.InstrumentHandler(nil, nil)).To(BeNil())
	})
})

// allNames are the patchlet_ families once every observer was called.
var allNames = []string{
	"patchlet_build_info",
	"patchlet_policy_condition",
	"patchlet_policy_pending_changes",
	"patchlet_host_upgradable_packages",
	"patchlet_host_security_updates",
	"patchlet_host_reboot_required",
	"patchlet_package_index_last_refresh_timestamp_seconds",
	"patchlet_package_index_age_seconds",
	"patchlet_reconcile_passes_total",
	"patchlet_reconcile_pass_duration_seconds",
	"patchlet_step_duration_seconds",
	"patchlet_steps_total",
	"patchlet_work_queue_depth",
	"patchlet_api_requests_total",
	"patchlet_api_request_duration_seconds",
	"patchlet_api_requests_in_flight",
}

// populate calls every observer once.
func populate(m *metrics.Metrics, clock *fakeClock) {
	m.SetPolicy("web", true, false, false, false, 0)
	m.SetHost(5, 1, true, clock.Now().Add(-time.Minute))
	m.ObservePass(metrics.PassSuccess, time.Millisecond)
	m.ObserveStep("Refresh", "apt", metrics.OutcomeSucceeded, 3*time.Second)
	m.SetQueueDepth(func() int { return 1 })
	m.ObserveRequest("list", "patchpolicies", 200, time.Millisecond)
}

// bucket returns the cumulative count of the bucket with upper bound le.
func bucket(h *dto.Histogram, le float64) uint64 {
	for _, b := range h.GetBucket() {
		if b.GetUpperBound() == le {
			return b.GetCumulativeCount()
		}
	}
	Fail("no bucket with le " + time.Duration(le*float64(time.Second)).String())
	return 0
}
