package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// policyConditionTypes are the values of the type label of
// patchlet_policy_condition.
var policyConditionTypes = [...]string{
	v1alpha1.ConditionReady, v1alpha1.ConditionProgressing, v1alpha1.ConditionDegraded, v1alpha1.ConditionStalled,
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ObservePass records one finished reconcile pass; result is PassSuccess or
// PassError.
func (m *Metrics) ObservePass(result string, d time.Duration) {
	if m == nil {
		return
	}
	m.passes.WithLabelValues(result).Inc()
	m.passDuration.Observe(d.Seconds())
}

// ObserveStep records one finished package-manager step: step is its
// v1alpha1.StepType, backend the backend's name, outcome OutcomeSucceeded
// or the failure reason.
func (m *Metrics) ObserveStep(step, backend, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.steps.WithLabelValues(step, backend, outcome).Inc()
	m.stepDuration.WithLabelValues(step, backend).Observe(d.Seconds())
}

// SetPolicy sets the condition and pending-change series of one policy.
func (m *Metrics) SetPolicy(name string, ready, progressing, degraded, stalled bool, pending int) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.policies[name] = struct{}{}
	for i, v := range [...]bool{ready, progressing, degraded, stalled} {
		m.policyCondition.WithLabelValues(name, policyConditionTypes[i]).Set(b2f(v))
	}
	m.policyPending.WithLabelValues(name).Set(float64(pending))
}

// SetPolicyStatus sets a policy's series from its status: each condition
// counts as 1 when it is True, and pending is status.pending.
func (m *Metrics) SetPolicyStatus(p *v1alpha1.PatchPolicy) {
	if m == nil || p == nil {
		return
	}
	c := p.Status.Conditions
	m.SetPolicy(p.Name,
		meta.IsStatusConditionTrue(c, v1alpha1.ConditionReady),
		meta.IsStatusConditionTrue(c, v1alpha1.ConditionProgressing),
		meta.IsStatusConditionTrue(c, v1alpha1.ConditionDegraded),
		meta.IsStatusConditionTrue(c, v1alpha1.ConditionStalled),
		int(p.Status.Pending))
}

// DeletePolicy removes every series of a policy that is gone.
func (m *Metrics) DeletePolicy(name string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deletePolicyLocked(name)
}

func (m *Metrics) deletePolicyLocked(name string) {
	delete(m.policies, name)
	m.policyCondition.DeletePartialMatch(prometheus.Labels{"policy": name})
	m.policyPending.DeletePartialMatch(prometheus.Labels{"policy": name})
}

// RetainPolicies removes the series of every policy not named, so that a
// caller that reports all policies once per pass needs no delete events.
func (m *Metrics) RetainPolicies(names []string) {
	if m == nil {
		return
	}
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for n := range m.policies {
		if !keep[n] {
			m.deletePolicyLocked(n)
		}
	}
}

// SetHost sets the host's series: pending upgrades, security updates among
// them, whether a reboot is required, and when the package index was last
// refreshed (the zero time when unknown: the index series are left out).
func (m *Metrics) SetHost(upgradable, security int, rebootRequired bool, indexRefreshed time.Time) {
	if m == nil {
		return
	}
	m.host.set(hostState{
		known: true, upgradable: upgradable, security: security,
		reboot: rebootRequired, refreshed: indexRefreshed,
	})
}

// SetHostStatus sets the host's series from a Host's status.
func (m *Metrics) SetHostStatus(st *v1alpha1.HostStatus) {
	if m == nil || st == nil {
		return
	}
	var refreshed time.Time
	if st.Cache.LastRefresh != nil {
		refreshed = st.Cache.LastRefresh.Time
	}
	m.SetHost(int(st.Packages.Upgradable), int(st.Packages.Security), st.RebootRequired.Required, refreshed)
}

// SetQueueDepth sets the function read at every scrape for
// patchlet_work_queue_depth (e.g. the work queue's Len); nil removes the
// series.
func (m *Metrics) SetQueueDepth(f func() int) {
	if m == nil {
		return
	}
	m.queue.mu.Lock()
	m.queue.f = f
	m.queue.mu.Unlock()
}

// hostState is the last host observation.
type hostState struct {
	known      bool
	upgradable int
	security   int
	reboot     bool
	refreshed  time.Time
}

// hostCollector emits the host's series from its last observation, and the
// index age from the clock at scrape time.
type hostCollector struct {
	now                                            func() time.Time
	upgradable, security, reboot, refreshedAt, age *prometheus.Desc

	mu sync.Mutex
	st hostState
}

func newHostCollector(now func() time.Time) *hostCollector {
	return &hostCollector{
		now: now,
		upgradable: prometheus.NewDesc("patchlet_host_upgradable_packages",
			"Installed packages with a newer version available.", nil, nil),
		security: prometheus.NewDesc("patchlet_host_security_updates",
			"Available upgrades that are security updates.", nil, nil),
		reboot: prometheus.NewDesc("patchlet_host_reboot_required",
			"Whether the host needs a reboot to finish applying updates (1) or not (0).", nil, nil),
		refreshedAt: prometheus.NewDesc("patchlet_package_index_last_refresh_timestamp_seconds",
			"Unix time of the last successful package index refresh.", nil, nil),
		age: prometheus.NewDesc("patchlet_package_index_age_seconds",
			"Seconds since the last successful package index refresh.", nil, nil),
	}
}

func (c *hostCollector) set(s hostState) {
	c.mu.Lock()
	c.st = s
	c.mu.Unlock()
}

func (c *hostCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.upgradable, c.security, c.reboot, c.refreshedAt, c.age} {
		ch <- d
	}
}

func (c *hostCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	s := c.st
	c.mu.Unlock()
	if !s.known {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.upgradable, prometheus.GaugeValue, float64(s.upgradable))
	ch <- prometheus.MustNewConstMetric(c.security, prometheus.GaugeValue, float64(s.security))
	ch <- prometheus.MustNewConstMetric(c.reboot, prometheus.GaugeValue, b2f(s.reboot))
	if s.refreshed.IsZero() {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.refreshedAt, prometheus.GaugeValue, float64(s.refreshed.UnixNano())/1e9)
	age := c.now().Sub(s.refreshed).Seconds()
	if age < 0 {
		age = 0 // a refresh stamped in the future (clock step): not negative
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
}

// queueCollector reads the queue depth at scrape time.
type queueCollector struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	f    func() int
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	f := c.f
	c.mu.Unlock()
	if f == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(f()))
}
