package policy_test

import (
	"net/http/httptest"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
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
})
