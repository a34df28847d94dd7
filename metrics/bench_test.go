package metrics_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/patchlet/patchlet/metrics"
)

// loaded returns Metrics holding what a busy agent would: 20 policies,
// every step with a few outcomes, and a spread of API requests.
func loaded(runtimeCollectors bool) *metrics.Metrics {
	m := metrics.NewWithOptions(metrics.Options{Version: "bench", NoRuntimeCollectors: !runtimeCollectors})
	for i := range 20 {
		m.SetPolicy(fmt.Sprintf("policy-%02d", i), i%2 == 0, i%3 == 0, i%5 == 0, false, i)
	}
	m.SetHost(40, 7, true, time.Now().Add(-time.Hour))
	m.SetQueueDepth(func() int { return 1 })
	for _, step := range []string{"Refresh", "Install", "Upgrade", "Remove", "Hold", "Unhold", "Recover", "Reboot"} {
		for _, out := range []string{metrics.OutcomeSucceeded, "Failed", "LockHeld"} {
			m.ObserveStep(step, "apt", out, 3*time.Second)
		}
	}
	for range 100 {
		m.ObservePass(metrics.PassSuccess, 5*time.Millisecond)
	}
	for _, vr := range [][2]string{{"list", "patchpolicies"}, {"get", "patchpolicies"}, {"watch", "patchpolicies"},
		{"create", "patchpolicies"}, {"update", "patchpolicies"}, {"patch", "patchpolicies"}, {"delete", "patchpolicies"},
		{"get", "patchpolicies/status"}, {"list", "hosts"}, {"get", "hosts"}, {"list", "operations"}, {"get", "operations/log"},
		{"get", "discovery"}, {"get", "health"}, {"get", "metrics"}, {"get", "version"}} {
		for _, code := range []int{200, 404} {
			m.ObserveRequest(vr[0], vr[1], code, time.Millisecond)
		}
	}
	return m
}

func benchmarkScrape(b *testing.B, runtimeCollectors bool) {
	m := loaded(runtimeCollectors)
	h := m.Handler()
	var size int
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 {
			b.Fatalf("scrape answered %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/scrape")
}

// BenchmarkScrape measures one scrape of a loaded agent's metrics.
func BenchmarkScrape(b *testing.B) { benchmarkScrape(b, true) }

// BenchmarkScrapePatchletOnly leaves out the go_* and process_* metrics.
func BenchmarkScrapePatchletOnly(b *testing.B) { benchmarkScrape(b, false) }

// BenchmarkInstrumentHandler measures what the middleware adds to a request.
func BenchmarkInstrumentHandler(b *testing.B) {
	m := metrics.NewWithOptions(metrics.Options{NoRuntimeCollectors: true})
	h := m.InstrumentHandler(httpNoop{}, nil)
	req := httptest.NewRequest("GET", "/apis/patchlet.io/v1alpha1/patchpolicies/web", nil)
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(discardWriter{}, req)
	}
}

type httpNoop struct{}

func (httpNoop) ServeHTTP(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") }

// discardWriter is a ResponseWriter that keeps nothing.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}
