// Package metrics owns patchlet's Prometheus metrics: their names, types,
// label sets and help texts, the registry they live in, the /metrics
// handler, and a small observer API that the reconcile loop and the HTTP API
// call. It depends on no other patchlet package but api/v1alpha1.
// docs/metrics.md lists the names, labels and the reasons behind them.
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
