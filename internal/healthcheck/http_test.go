package healthcheck_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/healthcheck"
)

func httpCheck(url string, insecure bool, timeout time.Duration) *v1alpha1.HealthCheckSpec {
	return &v1alpha1.HealthCheckSpec{
		HTTPGet: &v1alpha1.HTTPGetCheck{URL: url, InsecureSkipTLSVerify: insecure},
		Timeout: v1alpha1.DurationPtr(timeout),
	}
}

var _ = Describe("httpGet checks", func() {
	var (
		checker   *healthcheck.Checker
		srv       *httptest.Server
		hits      atomic.Int32
		keepAlive atomic.Bool
		release   chan struct{}
	)
	ctx := context.Background()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		keepAlive.Store(!r.Close)
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("fine"))
		case "/broken":
			http.Error(w, "database unreachable", http.StatusInternalServerError)
		case "/moved":
			http.Redirect(w, r, "/broken", http.StatusFound)
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			http.NotFound(w, r)
		}
	})
	BeforeEach(func() {
		checker = healthcheck.New(healthcheck.Options{Log: GinkgoLogr})
		hits.Store(0)
		release = make(chan struct{})
		DeferCleanup(func() { close(release) })
	})

	When("the server speaks plain HTTP", func() {
		BeforeEach(func() {
			srv = httptest.NewServer(handler)
			DeferCleanup(srv.Close)
		})

		DescribeTable("passes on 200-399 and fails otherwise, naming the URL and the status",
			func(path string, wantPassed bool, want string) {
				passed, msg := checker.Check(ctx, "pol", httpCheck(srv.URL+path, false, 5*time.Second))
				Expect(passed).To(Equal(wantPassed), msg)
				Expect(msg).To(ContainSubstring(srv.URL + path))
				Expect(msg).To(ContainSubstring(want))
			},
			Entry("200", "/ok", true, "200 OK"),
			Entry("500", "/broken", false, "500 Internal Server Error"),
			Entry("404", "/missing", false, "404 Not Found"),
			Entry("a redirect", "/moved", true, "302 Found"),
		)

		It("does not follow a redirect: the 3xx itself passes", func() {
			passed, msg := checker.Check(ctx, "pol", httpCheck(srv.URL+"/moved", false, 5*time.Second))
			Expect(passed).To(BeTrue(), msg)
			Expect(msg).To(ContainSubstring("302 Found"))
			Expect(hits.Load()).To(BeEquivalentTo(1), "the redirect target (a 500) was not fetched")
		})

		It("asks the server to close the connection (no keep-alive)", func() {
			passed, _ := checker.Check(ctx, "pol", httpCheck(srv.URL+"/ok", false, 5*time.Second))
			Expect(passed).To(BeTrue())
			Expect(keepAlive.Load()).To(BeFalse())
		})

		It("fails when the server does not answer within the timeout", func() {
			start := time.Now()
			passed, msg := checker.Check(ctx, "pol", httpCheck(srv.URL+"/slow", false, 200*time.Millisecond))
			Expect(passed).To(BeFalse())
			Expect(msg).To(ContainSubstring("no answer within 200ms"))
			Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		})

		It("fails when nothing listens, with the error", func() {
			url := srv.URL + "/ok"
			srv.Close()
			passed, msg := checker.Check(ctx, "pol", httpCheck(url, false, time.Second))
			Expect(passed).To(BeFalse())
			Expect(msg).To(ContainSubstring(url))
			Expect(msg).To(ContainSubstring("connection refused"))
		})
	})

	When("the server has a self-signed certificate", func() {
		BeforeEach(func() {
			srv = httptest.NewTLSServer(handler)
			DeferCleanup(srv.Close)
		})

		It("fails verification by default", func() {
			passed, msg := checker.Check(ctx, "pol", httpCheck(srv.URL+"/ok", false, 5*time.Second))
			Expect(passed).To(BeFalse())
			Expect(msg).To(ContainSubstring("certificate"))
		})

		It("passes with insecureSkipTLSVerify", func() {
			passed, msg := checker.Check(ctx, "pol", httpCheck(srv.URL+"/ok", true, 5*time.Second))
			Expect(passed).To(BeTrue(), msg)
			Expect(msg).To(ContainSubstring("200 OK"))
		})
	})

	DescribeTable("refuses a URL the API would not accept, without a request",
		func(url string) {
			passed, msg := checker.Check(ctx, "pol", httpCheck(url, false, time.Second))
			Expect(passed).To(BeFalse())
			Expect(msg).To(ContainSubstring("refused"))
		},
		Entry("file scheme", "file:///etc/shadow"),
		Entry("credentials", "http://user:secret@127.0.0.1/"),
		Entry("no host", "http:///healthz"),
	)
})
