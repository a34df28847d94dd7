package policy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/client"
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
	"github.com/patchlet/patchlet/reconcile"
	"github.com/patchlet/patchlet/store"
)

// writeCheck installs a check script into the harness's checks directory
// (atomically, as an administrator replacing it would).
func writeCheck(h *harness, name, body string) {
	GinkgoHelper()
	tmp := filepath.Join(h.checksDir, ".new-"+name)
	Expect(os.WriteFile(tmp, []byte("#!/bin/sh\n"+body), 0o755)).To(Succeed())
	Expect(os.Chmod(tmp, 0o755)).To(Succeed())
	Expect(os.Rename(tmp, filepath.Join(h.checksDir, name))).To(Succeed())
}

// recordingGate grants every slot except for the policies in deny, and
// records the policies released.
type recordingGate struct {
	mu       sync.Mutex
	released []string
	deny     string
}

func (g *recordingGate) Acquire(_ context.Context, names []string) (bool, time.Time, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if slices.Contains(names, g.deny) {
		return false, time.Now().Add(200 * time.Millisecond), nil
	}
	return true, time.Time{}, nil
}

func (g *recordingGate) setDeny(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deny = name
}

func (g *recordingGate) releases(name string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, r := range g.released {
		if r == name {
			n++
		}
	}
	return n
}

func (g *recordingGate) Release(names []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.released = append(g.released, names...)
}

func (g *recordingGate) releasedPolicy(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Contains(g.released, name)
}

// hostEntry is the policy's entry in the Host's status.policies.
func hostEntry(h *harness, name string) v1alpha1.HostPolicyStatus {
	GinkgoHelper()
	host, err := h.host()
	Expect(err).NotTo(HaveOccurred())
	for _, e := range host.Status.Policies {
		if e.Name == name {
			return e
		}
	}
	return v1alpha1.HostPolicyStatus{}
}

func lines(path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Fields(string(b))
}

var _ = Describe("health checks after a step, against real apt in an isolated root", Label("integration"), func() {
	var (
		h     *harness
		calls string
	)
	BeforeEach(func() {
		h = setup()
		calls = filepath.Join(GinkgoT().TempDir(), "calls")
	})

	// checkedPolicy pins hello 1.1 and names an exec check.
	checkedPolicy := func(check string, interval time.Duration, threshold int32) *v1alpha1.PatchPolicy {
		pol := newPolicy("web", v1alpha1.PackageSpec{Name: "hello", Version: "1.1"})
		pol.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: check},
			Interval: v1alpha1.DurationPtr(interval), FailureThreshold: threshold}
		return pol
	}

	It("runs the check once after the install step, turns Compliant, and a later pass runs nothing", func() {
		// The check records the version the step installed: it ran after it.
		writeCheck(h, "hello-ok", fmt.Sprintf("cat %s >> %s\n", h.root.Path("usr/share/hello/version"), calls))
		Expect(h.apply(checkedPolicy("hello-ok", 200*time.Millisecond, 3))).To(Succeed())
		h.start()
		pol := eventuallyReady(h, "web", 20*time.Second)
		Expect(lines(calls)).To(Equal([]string{"1.1"}))
		Expect(h.checker.n.Load()).To(BeEquivalentTo(1))
		hc := pol.Status.HealthCheck
		Expect(hc).NotTo(BeNil())
		Expect(hc.Result).To(Equal(v1alpha1.HealthPassed))
		Expect(hc.Operation).To(Equal(h.operations(v1alpha1.StepInstall)[0].Name))
		Expect(hc.BootID).To(Equal("boot-1"))
		Expect(hc.ObservedGeneration).To(Equal(pol.Generation))
		Expect(hc.Message).To(ContainSubstring("exit status 0"))
		Expect(condition(pol.Status.Conditions, "Ready").Reason).To(Equal("Compliant"))
		Eventually(func() string { return string(hostEntry(h, "web").State) }).WithTimeout(5 * time.Second).Should(Equal("Compliant"))

		Expect(h.stop()).To(Succeed())
		runs, checks := h.runner.n.Load(), h.checker.n.Load()
		for range 3 {
			_, err := h.ctl.Reconcile(context.Background(), hostName)
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(h.checker.n.Load()).To(Equal(checks), "a passed check is not run again")
		Expect(lines(calls)).To(HaveLen(1))
		Expect(h.runner.n.Load()).To(Equal(runs), "no process at all")
		pol, err := h.policy("web")
		Expect(err).NotTo(HaveOccurred())
		Expect(isReady(pol)).To(BeTrue())
	})

	It("is Pending, then Failed with the check's output after the threshold, holds the rollout slot, and recovers once the check passes", func() {
		gate := &recordingGate{}
		h.ctl.SetGate(gate)
		writeCheck(h, "db", "echo attempt >> "+calls+"\necho 'db is down' >&2\nexit 3\n")
		Expect(h.apply(checkedPolicy("db", 300*time.Millisecond, 3))).To(Succeed())
		h.start()
		Eventually(func(g Gomega) {
			pol, err := h.policy("web")
			g.Expect(err).NotTo(HaveOccurred())
			r := condition(pol.Status.Conditions, "Ready")
			g.Expect(r.Reason).To(Equal("HealthCheckPending"))
			g.Expect(r.Message).To(ContainSubstring("failed 1 of 3 attempts"))
		}).WithTimeout(20 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(version(h.installed(), "hello")).To(Equal("1.1"))

		var gen int64
		Eventually(func(g Gomega) {
			pol, err := h.policy("web")
			g.Expect(err).NotTo(HaveOccurred())
			gen = pol.Generation
			r := condition(pol.Status.Conditions, "Ready")
			g.Expect(r.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(r.Reason).To(Equal("HealthCheckFailed"))
			g.Expect(r.Message).To(ContainSubstring("exec db failed 3 times in a row"))
			g.Expect(r.Message).To(ContainSubstring("exit status 3"))
			g.Expect(r.Message).To(ContainSubstring("db is down"))
			d := condition(pol.Status.Conditions, "Degraded")
			g.Expect(d.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(d.Reason).To(Equal("HealthCheckFailed"))
			g.Expect(pol.Status.HealthCheck.Result).To(Equal(v1alpha1.HealthFailed))
			g.Expect(pol.Status.Hosts.Failed).To(BeEquivalentTo(1))
			g.Expect(hostEntry(h, "web").State).To(BeEquivalentTo("Failed"))
		}).WithTimeout(10 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(gate.releasedPolicy("web")).To(BeFalse(), "the slot is held while the check fails")
		// It keeps retrying at its interval.
		n := len(lines(calls))
		Eventually(func() int { return len(lines(calls)) }).WithTimeout(5 * time.Second).Should(BeNumerically(">", n))

		// The operator fixes the service; the policy is not touched.
		writeCheck(h, "db", "exit 0\n")
		pol := eventuallyReady(h, "web", 10*time.Second)
		Expect(pol.Generation).To(Equal(gen))
		Expect(pol.Status.HealthCheck.Result).To(Equal(v1alpha1.HealthPassed))
		Expect(condition(pol.Status.Conditions, "Degraded").Status).To(Equal(metav1.ConditionFalse))
		Eventually(func() string { return string(hostEntry(h, "web").State) }).WithTimeout(5 * time.Second).Should(Equal("Compliant"))
		Eventually(func() bool { return gate.releasedPolicy("web") }).WithTimeout(5 * time.Second).Should(BeTrue())
		Expect(h.operations(v1alpha1.StepInstall)).To(HaveLen(1), "a failing check never repeats the step")
	})

	It("runs the check again after a reboot (a new boot id) and for a new generation, not otherwise", func() {
		writeCheck(h, "ok", "echo run >> "+calls+"\n")
		Expect(h.apply(checkedPolicy("ok", 200*time.Millisecond, 3))).To(Succeed())
		h.start()
		eventuallyReady(h, "web", 20*time.Second)
		Expect(lines(calls)).To(HaveLen(1))

		h.bootID.Store("boot-2")
		h.ctl.Enqueue()
		Eventually(func(g Gomega) {
			pol, err := h.policy("web")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pol.Status.HealthCheck.BootID).To(Equal("boot-2"))
			g.Expect(isReady(pol)).To(BeTrue())
		}).WithTimeout(10 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(lines(calls)).To(HaveLen(2))

		obj, err := h.store.Get(store.PatchPolicies, "web")
		Expect(err).NotTo(HaveOccurred())
		pol := obj.(*v1alpha1.PatchPolicy)
		pol.Spec.HealthCheck.Timeout = v1alpha1.DurationPtr(5 * time.Second)
		_, err = h.store.Update(store.PatchPolicies, pol)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			p, err := h.policy("web")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Generation).To(BeNumerically(">", pol.Generation))
			g.Expect(p.Status.HealthCheck.ObservedGeneration).To(Equal(p.Generation))
			g.Expect(isReady(p)).To(BeTrue())
		}).WithTimeout(10 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(lines(calls)).To(HaveLen(3))
		Expect(h.operations(v1alpha1.StepInstall)).To(HaveLen(1))

		h.ctl.Enqueue()
		Consistently(func() []string { return lines(calls) }).WithTimeout(500 * time.Millisecond).WithPolling(poll).Should(HaveLen(3))
	})

	It("runs a due check and gives its slot back while another policy waits for a rollout slot", func() {
		gate := &recordingGate{}
		h.ctl.SetGate(gate)
		writeCheck(h, "ok", "echo run >> "+calls+"\n")
		Expect(h.apply(checkedPolicy("ok", 200*time.Millisecond, 3))).To(Succeed())
		h.start()
		eventuallyReady(h, "web", 20*time.Second)
		Eventually(func() bool { return gate.releasedPolicy("web") }).WithTimeout(5 * time.Second).Should(BeTrue())

		// Another policy now waits for a slot it does not get; the host rebooted.
		gate.setDeny("other")
		Expect(h.apply(newPolicy("other", v1alpha1.PackageSpec{Name: "slow", Version: "1.0"}))).To(Succeed())
		Eventually(func(g Gomega) {
			p, err := h.policy("other")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(condition(p.Status.Conditions, "Ready").Message).To(ContainSubstring(reconcile.WaitingForRollout))
		}).WithTimeout(10 * time.Second).WithPolling(poll).Should(Succeed())
		released := gate.releases("web")
		h.bootID.Store("boot-2")
		h.ctl.Enqueue()
		Eventually(func() []string { return lines(calls) }).WithTimeout(10 * time.Second).Should(HaveLen(2))
		Eventually(func() int { return gate.releases("web") }).WithTimeout(5 * time.Second).Should(BeNumerically(">", released))
		Eventually(func(g Gomega) {
			pol, err := h.policy("web")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(pol.Status.HealthCheck.BootID).To(Equal("boot-2"))
			g.Expect(isReady(pol)).To(BeTrue())
		}).WithTimeout(5 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(version(h.installed(), "slow")).To(BeEmpty(), "the other policy still waits")
	})

	It("runs the check only after the reboot the policy wants, not before", func() {
		writeCheck(h, "ok", "echo run >> "+calls+"\n")
		pol := newPolicy("kernel", v1alpha1.PackageSpec{Name: "linux-image-test"})
		pol.Spec.Reboot = &v1alpha1.RebootSpec{Policy: v1alpha1.RebootIfRequired}
		pol.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: "ok"}}
		Expect(h.apply(pol)).To(Succeed())
		h.start()
		Eventually(h.rebooter.calls.Load).WithTimeout(20 * time.Second).WithPolling(poll).Should(BeEquivalentTo(1))
		h.ctl.Enqueue()
		Consistently(func() []string { return lines(calls) }).WithTimeout(500 * time.Millisecond).WithPolling(poll).Should(BeEmpty())
		p, err := h.policy("kernel")
		Expect(err).NotTo(HaveOccurred())
		Expect(condition(p.Status.Conditions, "Ready").Reason).To(Equal("RebootPending"))

		// The host came back.
		h.bootID.Store("boot-2")
		Expect(os.Remove(h.root.Path("run/reboot-required"))).To(Succeed())
		Expect(os.Remove(h.root.Path("run/reboot-required.pkgs"))).To(Succeed())
		h.ctl.Enqueue()
		p = eventuallyReady(h, "kernel", 10*time.Second)
		Expect(lines(calls)).To(HaveLen(1))
		Expect(p.Status.HealthCheck.BootID).To(Equal("boot-2"))
		Expect(p.Status.HealthCheck.Result).To(Equal(v1alpha1.HealthPassed))
	})

	It("probes an httpGet check after the step", func() {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			if r.URL.Path != "/healthz" {
				http.NotFound(w, r)
				return
			}
			_, _ = w.Write([]byte("ok"))
		}))
		DeferCleanup(srv.Close)
		pol := newPolicy("web", v1alpha1.PackageSpec{Name: "hello", Version: "1.1"})
		pol.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{HTTPGet: &v1alpha1.HTTPGetCheck{URL: srv.URL + "/healthz"}}
		Expect(h.apply(pol)).To(Succeed())
		h.start()
		got := eventuallyReady(h, "web", 20*time.Second)
		Expect(got.Status.HealthCheck.Result).To(Equal(v1alpha1.HealthPassed))
		Expect(got.Status.HealthCheck.Message).To(ContainSubstring(srv.URL + "/healthz"))
		Expect(got.Status.HealthCheck.Message).To(ContainSubstring("200 OK"))
		Expect(hits.Load()).To(BeEquivalentTo(1))
		h.ctl.Enqueue()
		Consistently(hits.Load).WithTimeout(500 * time.Millisecond).WithPolling(poll).Should(BeEquivalentTo(1))
	})
})

var _ = Describe("the agent's checks directory", Label("integration"), func() {
	It("runs a policy's exec check from checks-dir, set in the config file", func() {
		dir := GinkgoT().TempDir()
		root, err := testrepo.NewRoot(filepath.Join(dir, "root"), sharedRepo.repo)
		Expect(err).NotTo(HaveOccurred())
		state, policies, checks := filepath.Join(dir, "state"), filepath.Join(dir, "policies"), filepath.Join(dir, "checks")
		Expect(os.MkdirAll(policies, 0o755)).To(Succeed())
		Expect(os.MkdirAll(checks, 0o755)).To(Succeed())
		ran := filepath.Join(dir, "ran")
		Expect(os.WriteFile(filepath.Join(checks, "web"), []byte("#!/bin/sh\necho \"$PATCHLET_POLICY\" >> "+ran+"\n"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(policies, "web.yaml"), []byte(
			"apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata:\n  name: web\nspec:\n  packages:\n  - name: hello\n    version: \"1.1\"\n"+
				"  healthCheck:\n    exec:\n      name: web\n"), 0o644)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("checks-dir: "+checks+"\n"), 0o644)).To(Succeed())
		log, err := os.Create(filepath.Join(dir, "agent.log"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(log.Close)
		sock := filepath.Join(state, "sock")
		agent := &agentProcess{log: log, args: []string{
			"--root", root.Dir, "--state-dir", state, "--listen", "unix:" + sock, "--policy-dir", policies,
			"--backend", "apt", "--executor", "detached", "--host-name", "h", "--log-format", "json",
			"--config", filepath.Join(dir, "config.yaml"),
		}}
		agent.start()
		DeferCleanup(agent.stop)
		c, err := client.New(client.Options{Server: "unix:" + sock})
		Expect(err).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			pol, err := c.PatchPolicies().Get(context.Background(), "web")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(isReady(pol)).To(BeTrue(), "conditions: %+v", pol.Status.Conditions)
			g.Expect(pol.Status.HealthCheck).NotTo(BeNil())
			g.Expect(pol.Status.HealthCheck.Message).To(ContainSubstring(filepath.Join(checks, "web")))
		}).WithTimeout(30 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(lines(ran)).To(Equal([]string{"web"}))
	})
})
