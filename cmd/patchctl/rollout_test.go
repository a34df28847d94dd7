package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/rollout"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

// simHost is one simulated host: a real agent API over a real store and a
// tiny controller that marks every new generation of a policy Ready (or
// failed) after a delay, writing status through the store as the agent does.
type simHost struct {
	name   string
	agent  *agent
	server string

	mu sync.Mutex
	// fail: the controller reports a failed step instead of Ready.
	fail bool
	// seen and marked record, per generation, when the controller first saw
	// it and when it wrote its verdict.
	seen, marked map[int64]time.Time
}

func (h *simHost) setFail(b bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = b
}

func (h *simHost) hasPolicy(name string) bool {
	_, err := h.agent.store.Get(store.PatchPolicies, name)
	if apierrors.IsNotFound(err) {
		return false
	}
	Expect(err).NotTo(HaveOccurred())
	return true
}

// interval is when the controller worked on generation gen.
func (h *simHost) interval(gen int64) (time.Time, time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.seen[gen]
	return s, h.marked[gen], ok
}

// simulate runs the controller until the spec ends.
func (h *simHost) simulate(delay time.Duration) {
	h.seen, h.marked = map[int64]time.Time{}, map[int64]time.Time{}
	stop := make(chan struct{})
	done := make(chan struct{})
	DeferCleanup(func() { close(stop); <-done })
	go func() {
		defer close(done)
		defer GinkgoRecover()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			items, _, err := h.agent.store.List(store.PatchPolicies)
			Expect(err).NotTo(HaveOccurred())
			for _, it := range items {
				p := it.Object.(*v1alpha1.PatchPolicy).DeepCopy()
				if p.Status.ObservedGeneration == p.Generation {
					continue
				}
				h.mu.Lock()
				seen, ok := h.seen[p.Generation]
				if !ok {
					seen = time.Now()
					h.seen[p.Generation] = seen
				}
				fail := h.fail
				h.mu.Unlock()
				if time.Since(seen) < delay {
					continue
				}
				now := metav1.Now()
				set := func(typ string, st metav1.ConditionStatus, reason string) {
					meta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: typ, Status: st, Reason: reason,
						Message: "simulated", ObservedGeneration: p.Generation, LastTransitionTime: now})
				}
				if fail {
					// A failed step is retried by the agent: observedGeneration stays.
					if c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionDegraded); c != nil && c.ObservedGeneration == p.Generation {
						continue
					}
					set(v1alpha1.ConditionReady, metav1.ConditionFalse, "StepFailed")
					set(v1alpha1.ConditionDegraded, metav1.ConditionTrue, "DiskFull")
				} else {
					set(v1alpha1.ConditionReady, metav1.ConditionTrue, "Compliant")
					set(v1alpha1.ConditionDegraded, metav1.ConditionFalse, "Compliant")
					p.Status.ObservedGeneration = p.Generation
				}
				p.ResourceVersion = ""
				_, err := h.agent.store.UpdateStatus(store.PatchPolicies, p)
				Expect(err).NotTo(HaveOccurred())
				h.mu.Lock()
				h.marked[p.Generation] = time.Now()
				h.mu.Unlock()
			}
		}
	}()
}

// fleet starts n simulated hosts (the last tlsHosts of them over mutual
// TLS, the others on unix sockets) and writes their HOSTS.yaml; hosts get
// the label role=web, plus extra that are role=db.
func fleet(dir string, n, tlsHosts, extraDB int, delay time.Duration) ([]*simHost, string) {
	pki := newTestPKI(dir)
	var hosts []*simHost
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "defaults: {cert: client.crt, key: client.key, ca: ca.crt}\nhosts:\n")
	for i := range n + extraDB {
		h := &simHost{name: fmt.Sprintf("host-%02d", i+1)}
		role := "web"
		if i >= n {
			role = "db"
		}
		if i >= n-tlsHosts && i < n {
			a, addrs := startAgent(server.ListenConfig{Listen: "127.0.0.1:0", TLSCert: pki.serverCert, TLSKey: pki.serverKey, ClientCA: pki.caCert})
			h.agent, h.server = a, "https://"+addrs[0]
		} else {
			a, _ := startAgent()
			h.agent, h.server = a, a.server()
		}
		h.simulate(delay)
		fmt.Fprintf(&yaml, "- {name: %s, server: %q, labels: {role: %s}}\n", h.name, h.server, role)
		hosts = append(hosts, h)
	}
	return hosts, writeFile(dir, "hosts.yaml", yaml.String())
}

const rolloutPolicy = `apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata:
  name: web-security
spec:
  hostSelector: {matchLabels: {role: web}}
  updates: {apply: Security}
  rollout: {maxConcurrent: %s, maxFailures: %s}
`

// peakOverlap is the largest number of hosts the controllers worked on at
// once (a lower bound of how many patchctl had applying at once).
func peakOverlap(hosts []*simHost) int {
	type ev struct {
		t     time.Time
		delta int
	}
	var evs []ev
	for _, h := range hosts {
		if s, e, ok := h.interval(1); ok && !e.IsZero() {
			evs = append(evs, ev{s, +1}, ev{e, -1})
		}
	}
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].t.Equal(evs[j].t) {
			return evs[i].delta < evs[j].delta
		}
		return evs[i].t.Before(evs[j].t)
	})
	cur, peak := 0, 0
	for _, e := range evs {
		cur += e.delta
		peak = max(peak, cur)
	}
	return peak
}

// summaryRows maps each host of the summary table to its columns.
func summaryRows(stdout string) map[string][]string {
	rows := map[string][]string{}
	ls := lines(stdout)
	Expect(columns(ls[0])).To(Equal([]string{"HOST", "STATE", "READY", "REASON", "DURATION"}))
	for _, l := range ls[1:] {
		if strings.TrimSpace(l) == "" {
			break
		}
		c := columns(l)
		rows[c[0]] = c
	}
	return rows
}

var _ = Describe("rollout", func() {
	var dir string
	BeforeEach(func() { dir = GinkgoT().TempDir() })

	It("rolls out to the selected hosts, never more than maxConcurrent at once", func() {
		hosts, hostsFile := fleet(dir, 6, 2, 1, 250*time.Millisecond)
		pol := writeFile(dir, "policy.yaml", fmt.Sprintf(rolloutPolicy, "2", "0"))
		state := filepath.Join(dir, "state.json")
		r := ctl("", nil, "rollout", "-f", pol, "--hosts", hostsFile, "--state", state, "--interval", "50ms")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)

		rows := summaryRows(r.stdout)
		Expect(rows).To(HaveLen(6), "only the selected hosts")
		for _, h := range hosts[:6] {
			Expect(rows[h.name][1:4]).To(Equal([]string{"Succeeded", "True", "Compliant"}), h.name)
			Expect(h.hasPolicy("web-security")).To(BeTrue())
		}
		Expect(hosts[6].hasPolicy("web-security")).To(BeFalse(), "a host the selector does not pick never receives the policy")
		Expect(r.stdout).To(ContainSubstring("web-security: 6 succeeded, 0 failed, 0 applying, 0 not started"))
		Expect(peakOverlap(hosts)).To(Equal(2), "two at once, never three")
		Expect(r.stderr).To(ContainSubstring("host-01: started"))
		Expect(r.stderr).To(ContainSubstring("host-06: succeeded after"))

		By("running it again: finished hosts are checked, not applied again")
		rv := getPolicy(hosts[0].agent.store, "web-security").ResourceVersion
		r = ctl("", nil, "rollout", "-f", pol, "--hosts", hostsFile, "--state", state, "--interval", "50ms")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(getPolicy(hosts[0].agent.store, "web-security").ResourceVersion).To(Equal(rv))
		Expect(r.stderr).NotTo(ContainSubstring("started"))
	})

	It("halts once failures cross maxFailures, and resumes only when told to", func() {
		hosts, hostsFile := fleet(dir, 6, 0, 0, 100*time.Millisecond)
		hosts[1].setFail(true)
		hosts[2].setFail(true)
		pol := writeFile(dir, "policy.yaml", fmt.Sprintf(rolloutPolicy, "1", "1"))
		state := filepath.Join(dir, "state.json")
		args := []string{"rollout", "-f", pol, "--hosts", hostsFile, "--state", state, "--interval", "50ms"}
		r := ctl("", nil, args...)
		Expect(r.code).To(Equal(1), r.stdout+r.stderr)
		rows := summaryRows(r.stdout)
		Expect(rows["host-01"][1]).To(Equal("Succeeded"))
		Expect(rows["host-02"][1:4]).To(Equal([]string{"Failed", "False", "StepFailed"}))
		Expect(rows["host-03"][1]).To(Equal("Failed"))
		for _, h := range []string{"host-04", "host-05", "host-06"} {
			Expect(rows[h][1]).To(Equal("NotStarted"))
		}
		Expect(r.stdout).To(ContainSubstring("failed hosts: host-02, host-03"))
		Expect(r.stdout).To(ContainSubstring("HALTED"))
		Expect(r.stderr).To(ContainSubstring("--resume-halted"))
		for _, h := range hosts[3:] {
			Expect(h.hasPolicy("web-security")).To(BeFalse(), "hosts not started are left alone")
		}

		By("running it again without --resume-halted: still halted, nothing sent")
		r = ctl("", nil, args...)
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(ContainSubstring("is halted"))
		Expect(hosts[3].hasPolicy("web-security")).To(BeFalse())

		By("resuming after the failing hosts were fixed")
		hosts[1].setFail(false)
		hosts[2].setFail(false)
		// The simulated agent retries the failed step, which now succeeds.
		r = ctl("", nil, append(args, "--resume-halted")...)
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(r.stdout).To(ContainSubstring("6 succeeded, 0 failed"))
		for _, h := range hosts {
			Expect(h.hasPolicy("web-security")).To(BeTrue())
		}
	})

	It("waits for each wave to soak before the next one", func() {
		hosts, hostsFile := fleet(dir, 4, 0, 0, 50*time.Millisecond)
		pol := writeFile(dir, "policy.yaml", fmt.Sprintf(rolloutPolicy, "100%", "0"))
		r := ctl("", nil, "rollout", "-f", pol, "--hosts", hostsFile, "--state", filepath.Join(dir, "s.json"),
			"--interval", "50ms", "--waves", "1,100%", "--soak", "700ms")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		_, canaryDone, _ := hosts[0].interval(1)
		for _, h := range hosts[1:] {
			seen, _, ok := h.interval(1)
			Expect(ok).To(BeTrue())
			Expect(seen.Sub(canaryDone)).To(BeNumerically(">=", 700*time.Millisecond), h.name)
		}
		Expect(r.stderr).To(ContainSubstring("wave 2/2 waits for the previous wave to soak"))
		Expect(peakOverlap(hosts[1:])).To(Equal(3), "the second wave runs all at once")
	})

	It("resumes after an interruption without sending the policy again", func() {
		hosts, hostsFile := fleet(dir, 4, 0, 0, 300*time.Millisecond)
		pol := writeFile(dir, "policy.yaml", fmt.Sprintf(rolloutPolicy, "1", "0"))
		state := filepath.Join(dir, "state.json")
		args := []string{"--server", "unix:/nonexistent", "rollout", "-f", pol, "--hosts", hostsFile, "--state", state, "--interval", "50ms"}
		s := (&agent{socket: "/nonexistent"}).start(args[2:]...)
		Eventually(func() bool { _, _, ok := hosts[1].interval(1); return ok }, 10*time.Second, 20*time.Millisecond).Should(BeTrue())
		Expect(s.cmd.Process.Signal(syscall.SIGINT)).To(Succeed())
		Eventually(s.exited, 10*time.Second).Should(BeTrue())
		Expect(s.exitCode()).To(Equal(1))
		Expect(s.errOut.String()).To(ContainSubstring("interrupted"))
		Expect(hosts[2].hasPolicy("web-security")).To(BeFalse())
		b, err := os.ReadFile(state)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(ContainSubstring(`"phase": "Applying"`))

		r := ctl("", nil, args...)
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		Expect(r.stdout).To(ContainSubstring("4 succeeded"))
		Expect(r.stderr).NotTo(ContainSubstring("host-01: started"), "a finished host is not started again")
		for _, h := range hosts {
			Expect(getPolicy(h.agent.store, "web-security").Generation).To(Equal(int64(1)))
		}
	})

	DescribeTable("rejects a wrong command line with exit status 2",
		func(args []string, want string) {
			_, hostsFile := fleet(dir, 1, 0, 0, time.Millisecond)
			pol := writeFile(dir, "policy.yaml", fmt.Sprintf(rolloutPolicy, "1", "0"))
			full := []string{"rollout"}
			for _, a := range args {
				full = append(full, strings.NewReplacer("POLICY", pol, "HOSTS", hostsFile).Replace(a))
			}
			r := ctl("", nil, full...)
			Expect(r.code).To(Equal(2), r.stderr)
			Expect(r.stderr).To(ContainSubstring(want))
		},
		Entry("no hosts file", []string{"-f", "POLICY"}, "missing --hosts"),
		Entry("no policy", []string{"--hosts", "HOSTS"}, "missing -f"),
		Entry("bad waves", []string{"-f", "POLICY", "--hosts", "HOSTS", "--waves", "50%,10%"}, "must increase"),
		Entry("bad maxConcurrent", []string{"-f", "POLICY", "--hosts", "HOSTS", "--max-concurrent", "0"}, "maxConcurrent"),
	)
})

var _ = Describe("rollout live view", func() {
	It("draws a bar, the counts, the wave and the hosts applying and failed", func() {
		now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
		st := &rollout.State{Policy: "web", Hosts: []rollout.HostProgress{
			{Name: "a", Phase: rollout.Succeeded, StartedAt: now.Add(-time.Minute), FinishedAt: now},
			{Name: "b", Phase: rollout.Applying, StartedAt: now.Add(-30 * time.Second), Reason: "Applying", Message: "3 packages\nto upgrade"},
			{Name: "c", Phase: rollout.Failed, Reason: "StepFailed", Message: "disk full"},
			{Name: "d", Phase: rollout.Pending},
		}}
		out := renderLiveView(rollout.Progress{State: st, Decision: rollout.Decision{Wave: 1}}, 3, rollout.Limits{MaxConcurrent: 2}, now)
		Expect(out[0]).To(ContainSubstring("[" + strings.Repeat("#", 15) + strings.Repeat(".", 15) + "] 2/4 done: 1 succeeded, 1 failed, 1 applying (max 2), wave 2/3"))
		Expect(out).To(HaveLen(3))
		Expect(columns(out[1])).To(Equal([]string{"b", "Applying", "30s", "Applying: 3 packages …"}))
		Expect(columns(out[2])).To(Equal([]string{"c", "Failed", "-", "StepFailed: disk full"}))
	})
})
