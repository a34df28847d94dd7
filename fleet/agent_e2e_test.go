package fleet_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends/apt"
	"github.com/patchlet/patchlet/client"
	"github.com/patchlet/patchlet/fleet"
	"github.com/patchlet/patchlet/internal/testsupport/testenv"
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
)

// The end-to-end spec runs the real patchlet binary (cmd/patchlet) in
// fleet mode: --kubeconfig to the suite's kube-apiserver, the apt backend
// on an isolated root, the detached executor and a real health check from
// --checks-dir. Nothing of the agent is simulated.

// e2eAgent is one patchlet process with its own root, state, socket,
// checks directory and Kubernetes identity.
type e2eAgent struct {
	name      string
	bin       string
	root      *testrepo.Root
	sock      string
	checksLog string // the health check appends a line here per run
	logPath   string
	args      []string
	cmd       *exec.Cmd
	log       *os.File
}

// newE2EAgent prepares (does not start) the agent of host name on a fresh
// root served by repo, with hello 1.0 installed.
func newE2EAgent(bin, dir, name string, leader bool, repo *testrepo.Repo) *e2eAgent {
	GinkgoHelper()
	dir = filepath.Join(dir, name)
	root, err := testrepo.NewRoot(filepath.Join(dir, "root"), repo)
	Expect(err).NotTo(HaveOccurred())
	Expect(os.WriteFile(root.Path("etc/os-release"),
		[]byte("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"), 0o644)).To(Succeed())
	for _, args := range [][]string{{"update"}, {"install", "hello=1.0"}} {
		cmd := exec.Command("apt-get", append([]string{"-y", "-q"}, args...)...)
		cmd.Env = root.Env()
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "apt-get %s on %s: %s", strings.Join(args, " "), root.Dir, out)
	}
	Expect(installedVersion(root, "hello")).To(Equal("1.0"))

	a := &e2eAgent{name: name, bin: bin, root: root, sock: filepath.Join(dir, "patchlet.sock"),
		checksLog: filepath.Join(dir, "checks.log"), logPath: filepath.Join(dir, "agent.log")}

	// The checks directory and its check: root-owned, not writable by
	// group or others, as the agent requires.
	checks := filepath.Join(dir, "checks.d")
	Expect(os.Mkdir(checks, 0o755)).To(Succeed())
	Expect(os.Chmod(checks, 0o755)).To(Succeed())
	script := fmt.Sprintf("#!/bin/sh\necho \"$PATCHLET_POLICY $(date +%%s)\" >> %s\nexit 0\n", a.checksLog)
	Expect(os.WriteFile(filepath.Join(checks, "web"), []byte(script), 0o755)).To(Succeed())
	Expect(os.Chmod(filepath.Join(checks, "web"), 0o755)).To(Succeed())

	var groups []string
	if leader {
		groups = append(groups, testenv.LeadersGroup)
	}
	cfg, err := env.HostConfig(name, groups...)
	Expect(err).NotTo(HaveOccurred())
	kubeconfig := filepath.Join(dir, "kubeconfig")
	Expect(testenv.WriteKubeconfig(cfg, kubeconfig)).To(Succeed())

	policies := filepath.Join(dir, "policies.d")
	Expect(os.Mkdir(policies, 0o755)).To(Succeed())
	config := filepath.Join(dir, "config.yaml")
	Expect(os.WriteFile(config, []byte("{}\n"), 0o644)).To(Succeed())
	a.args = []string{
		"--root", root.Dir, "--state-dir", filepath.Join(dir, "state"), "--listen", "unix:" + a.sock,
		"--policy-dir", policies, "--checks-dir", checks, "--backend", "apt", "--executor", "detached",
		"--host-name", name, "--host-labels", "role=e2e", "--kubeconfig", kubeconfig,
		"--log-format", "json", "--config", config,
	}
	if leader {
		a.args = append(a.args, "--fleet-leader")
	}
	return a
}

func (a *e2eAgent) start() {
	GinkgoHelper()
	f, err := os.Create(a.logPath)
	Expect(err).NotTo(HaveOccurred())
	a.log = f
	a.cmd = exec.Command(a.bin, a.args...)
	a.cmd.Stdout, a.cmd.Stderr = f, f
	a.cmd.Env = []string{"PATH=" + testrepo.DefaultPath}
	Expect(a.cmd.Start()).To(Succeed())
	DeferCleanup(func() {
		a.stop()
		if CurrentSpecReport().Failed() || os.Getenv("PATCHLET_E2E_LOGS") != "" {
			b, _ := os.ReadFile(a.logPath)
			GinkgoWriter.Printf("agent %s log:\n%s\n", a.name, b)
		}
		_ = a.log.Close()
	})
}

// stop asks the agent to stop (SIGTERM) and waits for it.
func (a *e2eAgent) stop() {
	if a.cmd == nil || a.cmd.ProcessState != nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
}

// installedVersion is the version of pkg the root's dpkg status file says
// is installed ("" when it is not).
func installedVersion(root *testrepo.Root, pkg string) string {
	b, _ := os.ReadFile(root.Path("var/lib/dpkg/status"))
	return apt.ParseStatus(b, "amd64").Installed[pkg].Version
}

// dpkgLogTime is the time of the first line of the root's dpkg.log that
// ends with suffix (dpkg writes local time, whole seconds).
func dpkgLogTime(root *testrepo.Root, suffix string) (time.Time, bool) {
	b, err := os.ReadFile(root.Path("var/log/dpkg.log"))
	if err != nil {
		return time.Time{}, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if len(line) < 20 || !strings.HasSuffix(line, suffix) {
			continue
		}
		t, err := time.ParseInLocation(time.DateTime, line[:19], time.Local)
		if err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// checkRuns are the times (whole seconds) the health check of a host ran
// for policy.
func checkRuns(path, policy string) []time.Time {
	b, _ := os.ReadFile(path)
	var out []time.Time
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || f[0] != policy {
			continue
		}
		if s, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			out = append(out, time.Unix(s, 0))
		}
	}
	return out
}

// buildAgent builds cmd/patchlet (static, as it ships) into dir.
func buildAgent(dir string) string {
	GinkgoHelper()
	bin := filepath.Join(dir, "patchlet")
	build := exec.Command("go", "build", "-o", bin, "./cmd/patchlet")
	build.Dir = ".."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build ./cmd/patchlet: %s", out)
	return bin
}

// buildHelloRepo is a local apt repository with hello 1.0 and 2.0.
func buildHelloRepo(dir string) *testrepo.Repo {
	GinkgoHelper()
	b, err := testrepo.NewBuilder(filepath.Join(dir, "build"))
	Expect(err).NotTo(HaveOccurred())
	repo, err := testrepo.NewRepo(filepath.Join(dir, "repo"), testrepo.Release{
		Origin: "Debian", Label: "Debian", Suite: "stable", Codename: "bookworm", Version: "12.5"})
	Expect(err).NotTo(HaveOccurred())
	for _, v := range []string{"1.0", "2.0"} {
		deb, err := b.Build(testrepo.Package{Name: "hello", Version: v,
			Files: map[string]string{"/usr/share/hello/version": v + "\n"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(repo.Add(deb)).To(Succeed())
	}
	Expect(repo.Publish()).To(Succeed())
	return repo
}

var _ = Describe("the real patchlet agent in fleet mode", Label("integration"), func() {
	It("rolls a cluster PatchPolicy out to two real agents wave by wave, with health checks, and keeps the local copies read-only", func() {
		needEnv()
		const (
			policyName = "e2e-upgrade"
			probeName  = "e2e-probe"
			soak       = 3 * time.Second
			poll       = 200 * time.Millisecond
			// prompt bounds how long after its wave opens a host starts:
			// the agent wakes waiting hosts at once (fleet.Agent.SetWake);
			// without that they ask again only after the default slot
			// retry of 10-20s.
			prompt = 9 * time.Second
		)
		ctx := context.Background()
		dir := GinkgoT().TempDir()
		bin := buildAgent(dir)
		repo := buildHelloRepo(dir)
		admin, err := fleet.NewRESTClient(env.Admin)
		Expect(err).NotTo(HaveOccurred())
		// Registered first, run last: after both agents stopped.
		DeferCleanup(func() {
			for _, p := range []string{policyName, probeName} {
				_ = admin.Delete().Resource(fleet.ResourcePatchPolicies).Name(p).Do(ctx).Error()
			}
			for _, h := range []string{"e2e-a", "e2e-b"} {
				_ = admin.Delete().Resource(fleet.ResourceHosts).Name(h).Do(ctx).Error()
			}
		})
		getPolicy := func(name string) (*v1alpha1.PatchPolicy, error) {
			out := &v1alpha1.PatchPolicy{}
			return out, admin.Get().Resource(fleet.ResourcePatchPolicies).Name(name).Do(ctx).Into(out)
		}
		getHost := func(name string) (*v1alpha1.Host, error) {
			out := &v1alpha1.Host{}
			return out, admin.Get().Resource(fleet.ResourceHosts).Name(name).Do(ctx).Into(out)
		}
		create := func(p *v1alpha1.PatchPolicy) {
			GinkgoHelper()
			Expect(admin.Post().Resource(fleet.ResourcePatchPolicies).Body(p).Do(ctx).Error()).To(Succeed())
		}
		selector := &metav1.LabelSelector{MatchLabels: map[string]string{"role": "e2e"}}

		By("starting agent e2e-a (leader candidate) and agent e2e-b, each on its own root with hello 1.0")
		a := newE2EAgent(bin, dir, "e2e-a", true, repo)
		b := newE2EAgent(bin, dir, "e2e-b", false, repo)
		a.start()
		b.start()

		By("both Hosts register in the cluster with their labels")
		for _, ag := range []*e2eAgent{a, b} {
			Eventually(func(g Gomega) {
				h, err := getHost(ag.name)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(h.Labels).To(HaveKeyWithValue("role", "e2e"))
				g.Expect(h.Status.Backend).NotTo(BeNil())
				g.Expect(h.Status.Backend.Name).To(Equal("apt"))
			}).WithTimeout(60 * time.Second).WithPolling(poll).Should(Succeed())
		}

		By("the leader counts both hosts (an Audit policy that changes nothing), so it will assign the waves over both")
		probe := &v1alpha1.PatchPolicy{}
		probe.Name = probeName
		probe.Spec.HostSelector = selector
		probe.Spec.Mode = v1alpha1.ModeAudit
		probe.Spec.Packages = []v1alpha1.PackageSpec{{Name: "hello"}}
		create(probe)
		Eventually(func(g Gomega) {
			p, err := getPolicy(probeName)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Hosts.Matched).To(BeEquivalentTo(2))
		}).WithTimeout(60 * time.Second).WithPolling(poll).Should(Succeed())

		By("creating the cluster policy: hello Latest, health check web, one host at a time, wave 0 = one host soaking 3s")
		pol := &v1alpha1.PatchPolicy{}
		pol.Name = policyName
		pol.Spec.HostSelector = selector
		pol.Spec.Packages = []v1alpha1.PackageSpec{{Name: "hello", State: v1alpha1.PackageLatest}}
		pol.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: "web"},
			Interval: v1alpha1.DurationPtr(time.Second)}
		one := intstr.FromInt32(1)
		pol.Spec.Rollout = &v1alpha1.RolloutSpec{MaxConcurrent: &one,
			Waves: []v1alpha1.RolloutWave{{Hosts: &one, Soak: v1alpha1.DurationPtr(soak)}}}
		create(pol)
		created := time.Now()

		By("e2e-a (wave 0) upgrades first; e2e-b is still at 1.0 then")
		Eventually(func() string { return installedVersion(a.root, "hello") }).
			WithTimeout(90 * time.Second).WithPolling(poll).Should(Equal("2.0"))
		Expect(installedVersion(b.root, "hello")).To(Equal("1.0"), "e2e-b must wait for wave 0 to finish and soak")

		By("e2e-b (the implicit wave 1) upgrades after wave 0 finished and soaked")
		Eventually(func() string { return installedVersion(b.root, "hello") }).
			WithTimeout(90 * time.Second).WithPolling(poll).Should(Equal("2.0"))

		By("the cluster policy: 2 matched, 2 compliant, Ready, wave 1 open, wave 0 = e2e-a")
		var cluster *v1alpha1.PatchPolicy
		Eventually(func(g Gomega) {
			p, err := getPolicy(policyName)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.Status.Hosts).To(Equal(v1alpha1.HostCounts{Matched: 2, Compliant: 2}))
			ready := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
			g.Expect(p.Status.CurrentWave).To(HaveValue(BeEquivalentTo(1)))
			g.Expect(p.Status.WavesGeneration).To(Equal(p.Generation))
			g.Expect(p.Status.Waves).To(HaveLen(2))
			g.Expect(p.Status.Waves[0].LastHost).To(Equal("e2e-a"))
			g.Expect(p.Status.Waves[0].FinishedAt).NotTo(BeNil())
			cluster = p
		}).WithTimeout(60 * time.Second).WithPolling(poll).Should(Succeed())
		Expect([]int32{cluster.Status.Waves[0].Hosts, cluster.Status.Waves[1].Hosts}).To(Equal([]int32{1, 1}))

		By("dpkg's logs: e2e-a was upgraded before wave 0 finished, e2e-b only after the soak")
		aDone, ok := dpkgLogTime(a.root, " status installed hello:all 2.0")
		Expect(ok).To(BeTrue(), "e2e-a's dpkg.log records hello 2.0 installed")
		bStart, ok := dpkgLogTime(b.root, " upgrade hello:all 1.0 2.0")
		Expect(ok).To(BeTrue(), "e2e-b's dpkg.log records the upgrade of hello")
		bDone, ok := dpkgLogTime(b.root, " status installed hello:all 2.0")
		Expect(ok).To(BeTrue(), "e2e-b's dpkg.log records hello 2.0 installed")
		finished := cluster.Status.Waves[0].FinishedAt.Time
		GinkgoWriter.Printf("timeline: policy created %s, e2e-a installed %s, wave 0 finished %s, soak over %s, e2e-b upgrade %s..%s\n",
			created.Format(time.TimeOnly), aDone.Format(time.TimeOnly), finished.Local().Format(time.TimeOnly),
			finished.Add(soak).Local().Format(time.TimeOnly), bStart.Format(time.TimeOnly), bDone.Format(time.TimeOnly))
		Expect(aDone).NotTo(BeTemporally(">", finished), "wave 0 finished at %s", finished)
		Expect(bStart).NotTo(BeTemporally("<", finished.Add(soak)), "wave 0 finished at %s, soak %s", finished, soak)

		By("a host waiting at the gate starts when its wave opens, not at its next slot retry (10-20s)")
		aStart, ok := dpkgLogTime(a.root, " upgrade hello:all 1.0 2.0")
		Expect(ok).To(BeTrue(), "e2e-a's dpkg.log records the upgrade of hello")
		Expect(aStart.Sub(created.Truncate(time.Second))).To(BeNumerically("<=", prompt),
			"e2e-a waits for the leader to open wave 0 and must be woken then")
		Expect(bStart.Sub(finished.Add(soak))).To(BeNumerically("<=", prompt),
			"e2e-b waits for wave 1 and must be woken when the soak is over")

		By("each host's health check ran after its upgrade, and never before it")
		for _, h := range []struct {
			agent       *e2eAgent
			start, done time.Time
		}{{a, aStart, aDone}, {b, bStart, bDone}} {
			runs := checkRuns(h.agent.checksLog, policyName)
			Expect(runs).To(ContainElement(BeTemporally(">=", h.done)), "%s's check runs", h.agent.name)
			Expect(runs).To(HaveEach(BeTemporally(">=", h.start)), "%s's check runs", h.agent.name)
		}

		By("both cluster Hosts report the policy Compliant at the cluster generation")
		for _, ag := range []*e2eAgent{a, b} {
			Eventually(func(g Gomega) {
				h, err := getHost(ag.name)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(h.Status.Policies).To(ContainElement(And(
					HaveField("Name", policyName), HaveField("State", BeEquivalentTo("Compliant")),
					HaveField("ObservedGeneration", cluster.Generation))))
			}).WithTimeout(30 * time.Second).WithPolling(poll).Should(Succeed())
		}

		By("the local copy on e2e-a is the cluster's and read-only over the agent's API")
		c, err := client.New(client.Options{Server: "unix:" + a.sock, RequestTimeout: 10 * time.Second})
		Expect(err).NotTo(HaveOccurred())
		local, err := c.PatchPolicies().Get(ctx, policyName)
		Expect(err).NotTo(HaveOccurred())
		Expect(local.Annotations).To(HaveKeyWithValue(fleet.AnnotationSource, fleet.SourceCluster))
		Expect(local.Annotations).To(HaveKeyWithValue(fleet.AnnotationClusterGeneration, strconv.FormatInt(cluster.Generation, 10)))
		local.Spec.Suspend = true
		_, err = c.PatchPolicies().Update(ctx, local)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "update of the local copy: %v", err)
		Expect(err).To(MatchError(ContainSubstring("copy of the cluster's PatchPolicy")))
		again, err := c.PatchPolicies().Get(ctx, policyName)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Spec.Suspend).To(BeFalse(), "the refused update changed nothing")
	})
})
