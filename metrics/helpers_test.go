package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/patchlet/patchlet/metrics"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// scraper serves a Metrics' handler on a real HTTP server.
type scraper struct {
	srv *httptest.Server
}

func newScraper(m *metrics.Metrics) *scraper {
	return &scraper{srv: httptest.NewServer(m.Handler())}
}

func (s *scraper) Close() { s.srv.Close() }

// raw scrapes /metrics as Prometheus does (text format) and returns the body.
func (s *scraper) raw() string {
	req, err := http.NewRequest(http.MethodGet, s.srv.URL+"/metrics", nil)
	ExpectWithOffset(2, err).NotTo(HaveOccurred())
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	ExpectWithOffset(2, err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	ExpectWithOffset(2, resp.StatusCode).To(Equal(http.StatusOK))
	ExpectWithOffset(2, resp.Header.Get("Content-Type")).To(HavePrefix("text/plain"))
	b, err := io.ReadAll(resp.Body)
	ExpectWithOffset(2, err).NotTo(HaveOccurred())
	return string(b)
}

// scrape scrapes and parses with the Prometheus text parser.
func (s *scraper) scrape() map[string]*dto.MetricFamily {
	body := s.raw()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), body)
	return fams
}

// family returns the named family, failing when it is absent.
func family(fams map[string]*dto.MetricFamily, name string, typ dto.MetricType) *dto.MetricFamily {
	f, ok := fams[name]
	ExpectWithOffset(1, ok).To(BeTrue(), "metric %s missing", name)
	ExpectWithOffset(1, f.GetType()).To(Equal(typ), "type of %s", name)
	ExpectWithOffset(1, f.GetHelp()).NotTo(BeEmpty(), "help of %s", name)
	return f
}

// labelsOf renders a metric's labels as k=v pairs in name order.
func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// find returns the one metric of a family whose labels are exactly lbls, or nil.
func find(f *dto.MetricFamily, lbls map[string]string) *dto.Metric {
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(lbls) {
			continue
		}
		ok := true
		for k, v := range labelsOf(m) {
			if lbls[k] != v {
				ok = false
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

// value returns a gauge's or counter's value for the labels; it fails when
// the series is absent.
func value(fams map[string]*dto.MetricFamily, name string, lbls map[string]string) float64 {
	f, ok := fams[name]
	ExpectWithOffset(1, ok).To(BeTrue(), "metric %s missing", name)
	m := find(f, lbls)
	ExpectWithOffset(1, m).NotTo(BeNil(), "series %s%v missing", name, lbls)
	switch f.GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	Fail("value of a " + f.GetType().String())
	return 0
}

// seriesLabels lists the label sets of a family, each rendered k=v,…, sorted.
func seriesLabels(fams map[string]*dto.MetricFamily, name string) []string {
	var out []string
	for _, m := range fams[name].GetMetric() {
		var kv []string
		for _, l := range m.GetLabel() {
			kv = append(kv, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(kv)
		out = append(out, strings.Join(kv, ","))
	}
	sort.Strings(out)
	return out
}

// L is shorthand for a label set.
type L = map[string]string
