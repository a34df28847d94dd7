package metrics_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	dto "github.com/prometheus/client_model/go"

	"github.com/patchlet/patchlet/metrics"
)

var _ = Describe("API requests", func() {
	var (
		m       *metrics.Metrics
		s       *scraper
		api     *httptest.Server
		release chan struct{}
	)
	BeforeEach(func() {
		m = metrics.NewWithOptions(metrics.Options{NoRuntimeCollectors: true})
		s = newScraper(m)
		DeferCleanup(s.Close)
		release = make(chan struct{})
		// A stand-in for the API: the path says what to answer.
		mux := http.NewServeMux()
		mux.HandleFunc("GET /apis/patchlet.io/v1alpha1/patchpolicies", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("watch") != "true" {
				_, _ = io.WriteString(w, `{"items":[]}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "{\"type\":\"ADDED\"}\n")
			_ = http.NewResponseController(w).Flush()
			<-release
		})
		mux.HandleFunc("GET /apis/patchlet.io/v1alpha1/patchpolicies/{name}", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "not found", http.StatusNotFound)
		})
		mux.HandleFunc("POST /apis/patchlet.io/v1alpha1/patchpolicies", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
		})
		mux.HandleFunc("PUT /apis/patchlet.io/v1alpha1/patchpolicies/{name}/status", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusConflict)
		})
		mux.HandleFunc("DELETE /apis/patchlet.io/v1alpha1/hosts/{name}", func(w http.ResponseWriter, r *http.Request) {
			// Nothing written: net/http answers 200.
		})
		api = httptest.NewServer(m.InstrumentHandler(mux, nil))
		DeferCleanup(api.Close)
		DeferCleanup(func() {
			select {
			case <-release:
			default:
				close(release)
			}
		})
	})

	do := func(method, path string) int {
		req, err := http.NewRequest(method, api.URL+path, strings.NewReader(""))
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		resp, err := http.DefaultClient.Do(req)
		ExpectWithOffset(1, err).NotTo(HaveOccurred())
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	It("counts requests by verb, resource and the code answered", func() {
		Expect(do("GET", "/apis/patchlet.io/v1alpha1/patchpolicies")).To(Equal(200))
		Expect(do("GET", "/apis/patchlet.io/v1alpha1/patchpolicies")).To(Equal(200))
		Expect(do("GET", "/apis/patchlet.io/v1alpha1/patchpolicies/web")).To(Equal(404))
		Expect(do("POST", "/apis/patchlet.io/v1alpha1/patchpolicies")).To(Equal(201))
		Expect(do("PUT", "/apis/patchlet.io/v1alpha1/patchpolicies/web/status")).To(Equal(409))
		Expect(do("DELETE", "/apis/patchlet.io/v1alpha1/hosts/h1")).To(Equal(200))
		Expect(do("GET", "/no/such/path")).To(Equal(404))

		fams := s.scrape()
		family(fams, "patchlet_api_requests_total", dto.MetricType_COUNTER)
		Expect(seriesLabels(fams, "patchlet_api_requests_total")).To(Equal([]string{
			"code=200,resource=hosts,verb=delete",
			"code=200,resource=patchpolicies,verb=list",
			"code=201,resource=patchpolicies,verb=create",
			"code=404,resource=other,verb=get",
			"code=404,resource=patchpolicies,verb=get",
			"code=409,resource=patchpolicies/status,verb=update",
		}))
		Expect(value(fams, "patchlet_api_requests_total", L{"verb": "list", "resource": "patchpolicies", "code": "200"})).To(Equal(2.0))

		f := family(fams, "patchlet_api_request_duration_seconds", dto.MetricType_HISTOGRAM)
		Expect(find(f, L{"verb": "list", "resource": "patchpolicies"}).GetHistogram().GetSampleCount()).To(Equal(uint64(2)))
		Expect(value(fams, "patchlet_api_requests_in_flight", L{})).To(Equal(0.0))
	})

	It("adds no series per object name", func() {
		for i := range 50 {
			do("GET", fmt.Sprintf("/apis/patchlet.io/v1alpha1/patchpolicies/p%d", i))
		}
		fams := s.scrape()
		Expect(fams["patchlet_api_requests_total"].GetMetric()).To(HaveLen(1))
		Expect(value(fams, "patchlet_api_requests_total", L{"verb": "get", "resource": "patchpolicies", "code": "404"})).To(Equal(50.0))
	})

	It("lets a watch stream through it, counts it in flight, and keeps it out of the duration histogram", func() {
		resp, err := http.Get(api.URL + "/apis/patchlet.io/v1alpha1/patchpolicies?watch=true")
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		// The first event arrives while the handler is still running:
		// the wrapper passed the flush on.
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		Expect(err).NotTo(HaveOccurred())
		Expect(line).To(ContainSubstring("ADDED"))
		Expect(value(s.scrape(), "patchlet_api_requests_in_flight", L{})).To(Equal(1.0))

		close(release)
		Eventually(func() float64 {
			return value(s.scrape(), "patchlet_api_requests_in_flight", L{})
		}).Should(Equal(0.0))
		fams := s.scrape()
		Expect(value(fams, "patchlet_api_requests_total", L{"verb": "watch", "resource": "patchpolicies", "code": "200"})).To(Equal(1.0))
		Expect(fams).NotTo(HaveKey("patchlet_api_request_duration_seconds"))
	})

	It("records a request reported through ObserveRequest", func() {
		m.ObserveRequest("get", "hosts", 403, 2*time.Millisecond)
		fams := s.scrape()
		Expect(value(fams, "patchlet_api_requests_total", L{"verb": "get", "resource": "hosts", "code": "403"})).To(Equal(1.0))
		h := find(fams["patchlet_api_request_duration_seconds"], L{"verb": "get", "resource": "hosts"}).GetHistogram()
		Expect(h.GetSampleSum()).To(BeNumerically("~", 0.002, 1e-9))
	})

	It("uses the caller's names when it is given a resourceOf", func() {
		h := metrics.InstrumentHandler(m, http.NotFoundHandler(), func(*http.Request) (string, string) { return "get", "custom" })
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/whatever", nil))
		Expect(value(s.scrape(), "patchlet_api_requests_total", L{"verb": "get", "resource": "custom", "code": "404"})).To(Equal(1.0))
	})

	It("serves observers and scrapes at once without a race", func() {
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				for j := range 50 {
					name := fmt.Sprintf("p%d", (i+j)%3)
					m.SetPolicy(name, j%2 == 0, false, false, false, j)
					m.ObservePass(metrics.PassSuccess, time.Millisecond)
					m.ObserveStep("Upgrade", "apt", metrics.OutcomeSucceeded, time.Second)
					m.SetHost(j, 0, false, time.Now())
					m.SetQueueDepth(func() int { return j })
					if j%10 == 0 {
						m.DeletePolicy(name)
					}
				}
			}()
		}
		for range 5 {
			s.scrape()
		}
		wg.Wait()
		Expect(value(s.scrape(), "patchlet_reconcile_passes_total", L{"result": "success"})).To(Equal(200.0))
	})
})

var _ = DescribeTable("RequestInfo names requests with bounded labels",
	func(method, target, verb, resource string) {
		v, r := metrics.RequestInfo(httptest.NewRequest(method, target, nil))
		Expect(v).To(Equal(verb))
		Expect(r).To(Equal(resource))
	},
	Entry("list", "GET", "/apis/patchlet.io/v1alpha1/patchpolicies", "list", "patchpolicies"),
	Entry("list with a selector", "GET", "/apis/patchlet.io/v1alpha1/operations?labelSelector=a%3Db", "list", "operations"),
	Entry("watch", "GET", "/apis/patchlet.io/v1alpha1/hosts?watch=true", "watch", "hosts"),
	Entry("watch=1", "GET", "/apis/patchlet.io/v1alpha1/hosts?watch=1", "watch", "hosts"),
	Entry("watch=false lists", "GET", "/apis/patchlet.io/v1alpha1/hosts?watch=false", "list", "hosts"),
	Entry("get", "GET", "/apis/patchlet.io/v1alpha1/hosts/node-1", "get", "hosts"),
	Entry("get status", "GET", "/apis/patchlet.io/v1alpha1/patchpolicies/web/status", "get", "patchpolicies/status"),
	Entry("operation log", "GET", "/apis/patchlet.io/v1alpha1/operations/op-1/log", "get", "operations/log"),
	Entry("create", "POST", "/apis/patchlet.io/v1alpha1/patchpolicies", "create", "patchpolicies"),
	Entry("update", "PUT", "/apis/patchlet.io/v1alpha1/patchpolicies/web", "update", "patchpolicies"),
	Entry("update status", "PUT", "/apis/patchlet.io/v1alpha1/patchpolicies/web/status", "update", "patchpolicies/status"),
	Entry("patch", "PATCH", "/apis/patchlet.io/v1alpha1/patchpolicies/web", "patch", "patchpolicies"),
	Entry("delete", "DELETE", "/apis/patchlet.io/v1alpha1/patchpolicies/web", "delete", "patchpolicies"),
	Entry("delete collection", "DELETE", "/apis/patchlet.io/v1alpha1/operations", "deletecollection", "operations"),
	Entry("unknown resource", "GET", "/apis/patchlet.io/v1alpha1/secrets", "get", "other"),
	Entry("unknown subresource", "GET", "/apis/patchlet.io/v1alpha1/hosts/h/exec", "get", "other"),
	Entry("too deep", "GET", "/apis/patchlet.io/v1alpha1/hosts/h/status/x", "get", "other"),
	Entry("group version discovery", "GET", "/apis/patchlet.io/v1alpha1", "get", "discovery"),
	Entry("group discovery", "GET", "/apis/patchlet.io", "get", "discovery"),
	Entry("apis", "GET", "/apis", "get", "discovery"),
	Entry("api", "GET", "/api", "get", "discovery"),
	Entry("openapi", "GET", "/openapi/v2", "get", "discovery"),
	Entry("another group", "GET", "/apis/apps/v1/deployments", "get", "other"),
	Entry("healthz", "GET", "/healthz", "get", "health"),
	Entry("the JSON health of hubs", "GET", "/health", "get", "health"),
	Entry("readyz verbose", "GET", "/readyz?verbose", "get", "health"),
	Entry("livez", "GET", "/livez", "get", "health"),
	Entry("metrics", "GET", "/metrics", "get", "metrics"),
	Entry("version", "GET", "/version", "get", "version"),
	Entry("anything else", "GET", "/etc/passwd", "get", "other"),
	Entry("an invented method", "BREW", "/apis/patchlet.io/v1alpha1/patchpolicies", "other", "patchpolicies"),
	Entry("an invented method elsewhere", "BREW", "/healthz", "other", "health"),
)
