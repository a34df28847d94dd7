package server_test

import (
	"io"
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/metrics"
	"github.com/patchlet/patchlet/server"
)

var _ = Describe("/metrics", func() {
	It("serves the metrics and counts every request by verb, resource and code", func() {
		m := metrics.NewWithOptions(metrics.Options{NoRuntimeCollectors: true})
		ts := newLoopbackServer(server.Options{
			Metrics:    m.Handler(),
			Instrument: func(h http.Handler) http.Handler { return m.InstrumentHandler(h, metrics.RequestInfo) },
		})
		get := func(path string) (int, string) {
			resp, err := ts.client.Get(ts.base + path)
			Expect(err).NotTo(HaveOccurred())
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		code, _ := get(api + "/patchpolicies")
		Expect(code).To(Equal(200))
		code, _ = get(api + "/patchpolicies/nope")
		Expect(code).To(Equal(404))
		var body string
		code, body = get("/metrics")
		Expect(code).To(Equal(200))
		Expect(body).To(ContainSubstring(`patchlet_api_requests_total{code="200",resource="patchpolicies",verb="list"} 1`))
		Expect(body).To(ContainSubstring(`patchlet_api_requests_total{code="404",resource="patchpolicies",verb="get"} 1`))
		Expect(body).To(ContainSubstring(`patchlet_api_requests_in_flight 1`)) // this scrape
	})
})
