package policy_test

import (
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/controllers/policy"
	"github.com/patchlet/patchlet/store"
)

var _ = Describe("metrics of the loop", Label("integration"), func() {
	It("counts passes and steps and reports the policy and the host", func() {
		h := setup()
		Expect(h.apply(newPolicy("pin", v1alpha1.PackageSpec{Name: "hello", Version: "1.1"}))).To(Succeed())
		h.start()
		eventuallyReady(h, "pin", 20*time.Second)
		scrape := func() string {
			rec := httptest.NewRecorder()
			h.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			return rec.Body.String()
		}
		// The second pass observes what the first one's steps did.
		Eventually(scrape).Should(And(
			ContainSubstring(`patchlet_policy_condition{policy="pin",type="Ready"} 1`),
			MatchRegexp(`patchlet_reconcile_passes_total{result="success"} [2-9]`),
			ContainSubstring(`patchlet_host_upgradable_packages 1`),
		))
		body := scrape()
		Expect(body).To(ContainSubstring(`patchlet_steps_total{backend="apt",outcome="Succeeded",step="Install"} 1`))
		Expect(body).To(ContainSubstring(`patchlet_steps_total{backend="apt",outcome="Succeeded",step="Refresh"} 1`))
		Expect(body).To(ContainSubstring(`patchlet_policy_pending_changes{policy="pin"} 0`))
		Expect(body).To(ContainSubstring(`patchlet_work_queue_depth 0`))

		Expect(h.store.Delete(store.PatchPolicies, "pin", "")).Error().NotTo(HaveOccurred())
		Eventually(scrape).ShouldNot(ContainSubstring(`policy="pin"`))
	})

	It("passes over the backend's lock files in the watched directories, and not over the database", func() {
		h := setup()
		Expect(h.apply(newPolicy("pin", v1alpha1.PackageSpec{Name: "hello", Version: "1.1"}))).To(Succeed())
		h.start()
		eventuallyReady(h, "pin", 20*time.Second)
		passes := func() int {
			rec := httptest.NewRecorder()
			h.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
			m := regexp.MustCompile(`patchlet_reconcile_passes_total\{result="success"\} (\d+)`).FindStringSubmatch(rec.Body.String())
			Expect(m).To(HaveLen(2))
			n, err := strconv.Atoi(m[1])
			Expect(err).NotTo(HaveOccurred())
			return n
		}
		// Settled: no pass for longer than the watch's debounce.
		n := passes()
		Eventually(func() bool {
			before := passes()
			time.Sleep(2 * policy.DefaultWatchDebounce)
			n = passes()
			return n == before
		}).WithTimeout(10 * time.Second).Should(BeTrue())

		// apt's locks, taken and dropped (apt-get does so on every run): no pass.
		for _, l := range []string{"var/lib/dpkg/lock", "var/lib/dpkg/lock-frontend", "var/lib/apt/lists/lock"} {
			Expect(os.WriteFile(h.root.Path(l), nil, 0o640)).To(Succeed())
			Expect(os.Chmod(h.root.Path(l), 0o600)).To(Succeed())
		}
		Consistently(passes).WithTimeout(3 * policy.DefaultWatchDebounce).Should(Equal(n))

		// Another tool changing the database: a pass.
		Expect(os.WriteFile(h.root.Path("var/lib/dpkg/patchlet-test"), []byte("x"), 0o644)).To(Succeed())
		Eventually(passes).WithTimeout(10 * time.Second).Should(BeNumerically(">", n))
	})
})
