// Package metrics owns patchlet's Prometheus metrics: their names, types,
// label sets and help texts, the registry they live in, the /metrics
// handler, and a small observer API that the reconcile loop and the HTTP
// API call. It depends on no other patchlet package but api/v1alpha1.
//
// We build on github.com/prometheus/client_golang, the well-kept reference
// library, rather than writing the exposition format ourselves. Every
// metric lives in a private prometheus.Registry owned by a Metrics value,
// never in the library's global default registry, so that tests and
// several agents in one process do not share state.
//
// # Names
//
// Every name starts with patchlet_, uses base units (seconds), counters
// end in _total, and booleans are gauges of 0 or 1:
//
//	patchlet_build_info{version,goversion}                     gauge, always 1
//	patchlet_policy_condition{policy,type}                     gauge 0/1; type is Ready, Progressing, Degraded or Stalled
//	patchlet_policy_pending_changes{policy}                    gauge
//	patchlet_host_upgradable_packages                          gauge
//	patchlet_host_security_updates                             gauge
//	patchlet_host_reboot_required                              gauge 0/1
//	patchlet_package_index_last_refresh_timestamp_seconds      gauge, Unix time
//	patchlet_package_index_age_seconds                         gauge, computed at scrape time
//	patchlet_reconcile_passes_total{result}                    counter; result is success or error
//	patchlet_reconcile_pass_duration_seconds                   histogram
//	patchlet_step_duration_seconds{step,backend}               histogram
//	patchlet_steps_total{step,backend,outcome}                 counter
//	patchlet_work_queue_depth                                  gauge, read at scrape time
//	patchlet_api_requests_total{verb,resource,code}            counter
//	patchlet_api_request_duration_seconds{verb,resource}       histogram (watches excluded)
//	patchlet_api_requests_in_flight                            gauge
//
// plus the standard go_* and process_* collectors.
//
// The host and index series appear once SetHost (or SetHostStatus) was
// called, and the index series only while a refresh time is known; the
// queue series appears once SetQueueDepth was called. An absent series
// means "not observed yet", never a misleading 0.
//
// # Cardinality
//
// Every label has a bounded set of values and no label carries a package
// name, an operation name, a client address or a raw URL path:
//
//   - policy: one per PatchPolicy on the host (tens at most); a deleted
//     policy's series are removed (DeletePolicy, RetainPolicies).
//   - type: the four condition types above.
//   - result: success, error.
//   - step: the v1alpha1.StepType values (Refresh, Install, Upgrade, Remove,
//     Hold, Unhold, Recover, Reboot); backend: the one backend in use.
//   - outcome: Succeeded or a backends failure reason (LockHeld,
//     StaleIndex, Interrupted, DiskFull, Timeout, PackageNotFound, Failed).
//   - verb, resource: RequestInfo maps every request onto a fixed set
//     (unknown paths become "other"); code: the HTTP status code.
//
// At these bounds a scrape is a few hundred series.
package metrics

import (
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Label values of patchlet_reconcile_passes_total.
const (
	PassSuccess = "success"
	PassError   = "error"
)

// OutcomeSucceeded is the outcome label of a step that succeeded; a failed
// step is labelled with its failure reason.
const OutcomeSucceeded = "Succeeded"

// Options configure a Metrics. The zero value is usable.
type Options struct {
	// Version is reported by patchlet_build_info (default "unknown").
	Version string
	// Now is the clock of patchlet_package_index_age_seconds (default
	// time.Now).
	Now func() time.Time
	// NoRuntimeCollectors leaves out the go_* and process_* metrics.
	NoRuntimeCollectors bool
}

// Metrics holds patchlet's metrics in a registry of its own. Create it
// with New or NewWithOptions. A nil *Metrics is valid: every observer
// method does nothing, so callers need no nil checks.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	policyCondition *prometheus.GaugeVec
	policyPending   *prometheus.GaugeVec

	passes       *prometheus.CounterVec
	passDuration prometheus.Histogram
	steps        *prometheus.CounterVec
	stepDuration *prometheus.HistogramVec

	apiRequests *prometheus.CounterVec
	apiDuration *prometheus.HistogramVec
	apiInFlight prometheus.Gauge

	host  *hostCollector
	queue *queueCollector

	mu       sync.Mutex
	policies map[string]struct{}
}

// New returns Metrics with the default options.
func New() *Metrics { return NewWithOptions(Options{}) }

// NewWithOptions returns Metrics with every metric registered in a fresh
// registry.
func NewWithOptions(o Options) *Metrics {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Version == "" {
		o.Version = "unknown"
	}
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		now:      o.Now,
		policies: map[string]struct{}{},
		policyCondition: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "patchlet_policy_condition",
			Help: "Whether a condition of a PatchPolicy is True (1) or not (0).",
		}, []string{"policy", "type"}),
		policyPending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "patchlet_policy_pending_changes",
			Help: "Package changes a PatchPolicy still has to make on this host.",
		}, []string{"policy"}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patchlet_reconcile_passes_total",
			Help: "Reconcile passes finished, by result (success or error).",
		}, []string{"result"}),
		passDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "patchlet_reconcile_pass_duration_seconds",
			Help:    "Duration of reconcile passes, steps included.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600},
		}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patchlet_steps_total",
			Help: "Package-manager steps finished, by step, backend and outcome (Succeeded or the failure reason).",
		}, []string{"step", "backend", "outcome"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patchlet_step_duration_seconds",
			Help:    "Duration of package-manager steps, by step and backend.",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600},
		}, []string{"step", "backend"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patchlet_api_requests_total",
			Help: "HTTP API requests answered, by verb, resource and status code.",
		}, []string{"verb", "resource", "code"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patchlet_api_request_duration_seconds",
			Help:    "Duration of HTTP API requests other than watches, by verb and resource.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"verb", "resource"}),
		apiInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "patchlet_api_requests_in_flight",
			Help: "HTTP API requests being served, open watches included.",
		}),
	}
	m.host = newHostCollector(o.Now)
	m.queue = &queueCollector{desc: prometheus.NewDesc("patchlet_work_queue_depth",
		"Reconcile keys waiting in the work queue.", nil, nil)}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "patchlet_build_info",
		Help:        "Always 1; labelled with the version of patchlet and of Go it was built with.",
		ConstLabels: prometheus.Labels{"version": o.Version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	m.reg.MustRegister(buildInfo, m.policyCondition, m.policyPending, m.passes, m.passDuration,
		m.steps, m.stepDuration, m.apiRequests, m.apiDuration, m.apiInFlight, m.host, m.queue)
	if !o.NoRuntimeCollectors {
		m.reg.MustRegister(collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	// Both results exist from the start, so that rate() sees the first error.
	m.passes.WithLabelValues(PassSuccess)
	m.passes.WithLabelValues(PassError)
	return m
}

// Registry returns the registry the metrics live in (for tests and for
// registering further collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format (or what the
// scraper negotiates). A failing collector is reported in the response
// rather than failing the whole scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}
