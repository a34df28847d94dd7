package fleet_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/fleet"
	"github.com/patchlet/patchlet/internal/testsupport/fleettest"
	"github.com/patchlet/patchlet/internal/testsupport/testenv"
)

// countingRT counts the requests of every simulated agent.
type countingRT struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c countingRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.rt.RoundTrip(r)
}

// The rollout benchmark runs only when PATCHLET_FLEET_BENCH_HOSTS is set
// (hack/fleet-bench.sh): that many simulated agents converge one policy
// with maxConcurrent 5%; it reports the time to converge and the API
// requests per host during the rollout and in a quiet steady state.
var _ = Describe("rollout benchmark", Label("integration", "benchmark"), func() {
	It("converges a fleet with maxConcurrent 5%", func() {
		n, _ := strconv.Atoi(os.Getenv("PATCHLET_FLEET_BENCH_HOSTS"))
		if n <= 0 {
			Skip("set PATCHLET_FLEET_BENCH_HOSTS to run")
		}
		r := newFleetRun(map[string]string{"openssl": "3.0.2"})
		r.createPolicy(upgradeAll("bench", "bench", "5%", ""))
		var reqs atomic.Int64
		fo := fastFleet(false)
		fo.SlotTTL = 30 * time.Second
		fo.SlotRetry = 5 * time.Second
		fo.StatusInterval = 2 * time.Second
		fo.AggregateInterval = time.Second
		step := 200 * time.Millisecond
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				defer GinkgoRecover()
				name := fmt.Sprintf("bench-%05d", i)
				groups := []string{}
				o := fo
				o.LeaderCandidate = i < 2
				if o.LeaderCandidate {
					groups = append(groups, testenv.LeadersGroup)
				}
				cfg, err := env.HostConfig(name, groups...)
				Expect(err).NotTo(HaveOccurred())
				cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingRT{rt, &reqs} })
				a, err := fleettest.StartAgent(r.ctx, fleettest.AgentOptions{
					Name: name, Labels: map[string]string{"role": "bench"}, Config: cfg, Dir: r.dir, Repo: r.repo,
					Installed: map[string]string{"openssl": "3.0.1"}, StepDuration: step, Fleet: o, Log: agentLog(name),
				})
				Expect(err).NotTo(HaveOccurred())
				r.mu.Lock()
				r.agents[name] = a
				r.mu.Unlock()
			}()
		}
		wg.Wait()
		started := time.Since(start)
		Eventually(counts(r, "bench"), 60*time.Minute, time.Second).Should(HaveField("Compliant", BeEquivalentTo(n)))
		converged := time.Since(start)
		rollout := reqs.Load()
		time.Sleep(5 * time.Second) // let the last status writes land
		before := reqs.Load()
		const quiet = 30 * time.Second
		time.Sleep(quiet)
		steady := reqs.Load() - before
		slots, _ := fleet.SlotCount(r.policy("bench"), n)
		AddReportEntry("rollout", fmt.Sprintf("hosts=%d slots=%d step=%s started=%s converged=%s requests/host(rollout)=%.1f requests/host/min(steady)=%.3f",
			n, slots, step, started.Round(time.Millisecond), converged.Round(time.Millisecond),
			float64(rollout)/float64(n), float64(steady)/float64(n)/quiet.Minutes()))
		fmt.Fprintf(os.Stderr, "BENCH hosts=%d slots=%d step=%s started=%s converged=%s requests/host(rollout)=%.1f requests/host/min(steady)=%.3f\n",
			n, slots, step, started.Round(time.Millisecond), converged.Round(time.Millisecond),
			float64(rollout)/float64(n), float64(steady)/float64(n)/quiet.Minutes())
	})
})
