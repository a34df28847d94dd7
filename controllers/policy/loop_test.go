package policy_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
	"github.com/patchlet/patchlet/store"
)

const poll = 20 * time.Millisecond

// setup makes a harness on the shared repository (or the given ones) whose
// loop is stopped when the test ends.
func setup(repos ...*testrepo.Repo) *harness {
	GinkgoHelper()
	if len(repos) == 0 {
		repos = []*testrepo.Repo{sharedRepo.repo}
	}
	h, err := newHarness(GinkgoT().TempDir(), GinkgoLogr, repos...)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(h.close()).To(Succeed()) })
	return h
}

// eventuallyReady waits until the policy is Ready and returns it.
func eventuallyReady(h *harness, name string, timeout time.Duration) *v1alpha1.PatchPolicy {
	GinkgoHelper()
	var pol *v1alpha1.PatchPolicy
	Eventually(func(g Gomega) {
		var err error
		pol, err = h.policy(name)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(isReady(pol)).To(BeTrue(), "conditions: %+v", pol.Status.Conditions)
	}).WithTimeout(timeout).WithPolling(poll).Should(Succeed())
	return pol
}

// steps lists the step types of the Operations, oldest first, with their phase.
func steps(ops []*v1alpha1.Operation) []string {
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = fmt.Sprintf("%s:%s:%s", op.Spec.Step, op.Status.Phase, op.Status.Reason)
	}
	return out
}

var _ = Describe("the reconcile loop against real apt in an isolated root", Label("integration"), func() {
	It("installs a pinned version although a newer one exists", func() {
		h := setup()
		Expect(h.apply(newPolicy("pin", v1alpha1.PackageSpec{Name: "hello", Version: "1.1"}))).To(Succeed())
		h.start()
		pol := eventuallyReady(h, "pin", 20*time.Second)
		Expect(version(h.installed(), "hello")).To(Equal("1.1"))
		Expect(pol.Status.LastOperation).NotTo(BeEmpty())

		host, err := h.host()
		Expect(err).NotTo(HaveOccurred())
		Expect(host.Status.Upgradable).To(ContainElement(HaveField("Name", "hello")), "2.0 is still available")
		Expect(steps(h.operations(""))).To(Equal([]string{"Refresh:Succeeded:", "Install:Succeeded:"}))
	})

	It("upgrades a package to the latest version", func() {
		h := setup()
		Expect(h.preinstall("hello=1.0")).To(Succeed())
		Expect(h.apply(newPolicy("latest", v1alpha1.PackageSpec{Name: "hello", State: v1alpha1.PackageLatest}))).To(Succeed())
		h.start()
		eventuallyReady(h, "latest", 20*time.Second)
		Expect(version(h.installed(), "hello")).To(Equal("2.0"))
		Expect(h.dpkgLog()).To(ContainSubstring(" upgrade hello:all 1.0 2.0"))
	})

	It("keeps a locally edited conffile through an upgrade and writes the new one as .dpkg-dist", func() {
		h := setup()
		Expect(h.preinstall("hello=1.0")).To(Succeed())
		conf := h.root.Path("etc/hello.conf")
		Expect(os.WriteFile(conf, []byte("# edited by the operator\ngreeting=moin\n"), 0o644)).To(Succeed())
		Expect(h.apply(newPolicy("latest", v1alpha1.PackageSpec{Name: "hello", State: v1alpha1.PackageLatest}))).To(Succeed())
		h.start()
		eventuallyReady(h, "latest", 20*time.Second)
		Expect(version(h.installed(), "hello")).To(Equal("2.0"))
		Expect(os.ReadFile(conf)).To(BeEquivalentTo("# edited by the operator\ngreeting=moin\n"))
		Expect(os.ReadFile(conf + ".dpkg-dist")).To(BeEquivalentTo("# hello 2.0\ngreeting=hi\n"))
	})

	It("reports a required reboot on the Host and as the RebootRequired condition", func() {
		h := setup()
		Expect(h.apply(newPolicy("kernel", v1alpha1.PackageSpec{Name: "linux-image-test"}))).To(Succeed())
		start := time.Now().Add(-time.Second)
		h.start()
		pol := eventuallyReady(h, "kernel", 20*time.Second)
		rc := condition(pol.Status.Conditions, "RebootRequired")
		Expect(rc.Status).To(Equal(metav1.ConditionTrue))
		Expect(rc.Message).To(ContainSubstring("linux-image-test"))
		Expect(pol.Status.Hosts.RebootRequired).To(BeEquivalentTo(1))

		Eventually(func(g Gomega) {
			host, err := h.host()
			g.Expect(err).NotTo(HaveOccurred())
			rr := host.Status.RebootRequired
			g.Expect(rr.Required).To(BeTrue())
			g.Expect(rr.Packages).To(Equal([]string{"linux-image-test"}))
			g.Expect(rr.Since).NotTo(BeNil())
			g.Expect(rr.Since.Time).To(BeTemporally(">=", start))
			g.Expect(rr.Since.Time).To(BeTemporally("<=", time.Now()))
			hc := condition(host.Status.Conditions, "RebootRequired")
			g.Expect(hc.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(hc.Message).To(ContainSubstring("linux-image-test"))
		}).WithTimeout(5 * time.Second).WithPolling(poll).Should(Succeed())
	})

	It("reboots once when a policy allows it, after recording the boot, and clears the requirement once the boot id changed", func() {
		h := setup()
		pol := newPolicy("kernel", v1alpha1.PackageSpec{Name: "linux-image-test"})
		pol.Spec.Reboot = &v1alpha1.RebootSpec{Policy: v1alpha1.RebootIfRequired}
		Expect(h.apply(pol)).To(Succeed())
		h.start()
		Eventually(h.rebooter.calls.Load).WithTimeout(20 * time.Second).WithPolling(poll).Should(BeEquivalentTo(1))
		// The boot was recorded (fsynced) before the reboot command ran.
		rec, err := os.ReadFile(filepath.Join(h.stateDir, "reboot.json"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(rec)).To(ContainSubstring(`"bootID":"boot-1"`))

		// More passes in the same boot never ask again for the same requirement.
		for range 3 {
			h.ctl.Enqueue()
		}
		Consistently(h.rebooter.calls.Load).WithTimeout(time.Second).WithPolling(poll).Should(BeEquivalentTo(1))
		host, err := h.host()
		Expect(err).NotTo(HaveOccurred())
		Expect(host.Status.RebootRequired.Required).To(BeTrue())

		// The host came back: a new boot id, /run emptied as a reboot does.
		h.bootID.Store("boot-2")
		Expect(os.Remove(h.root.Path("run/reboot-required"))).To(Succeed())
		Expect(os.Remove(h.root.Path("run/reboot-required.pkgs"))).To(Succeed())
		h.ctl.Enqueue()
		eventuallyReady(h, "kernel", 10*time.Second)
		Eventually(func(g Gomega) {
			host, err := h.host()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(host.Status.RebootRequired.Required).To(BeFalse())
		}).WithTimeout(5 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(h.rebooter.calls.Load()).To(BeEquivalentTo(1))
	})

	It("keeps reporting a required reboot whose marker vanished until the boot id changes", func() {
		h := setup()
		Expect(h.apply(newPolicy("kernel", v1alpha1.PackageSpec{Name: "linux-image-test"}))).To(Succeed())
		h.start()
		eventuallyReady(h, "kernel", 20*time.Second)
		Expect(os.Remove(h.root.Path("run/reboot-required"))).To(Succeed())
		h.ctl.Enqueue()
		Consistently(func(g Gomega) {
			host, err := h.host()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(host.Status.RebootRequired.Required).To(BeTrue())
		}).WithTimeout(time.Second).WithPolling(poll).Should(Succeed())
		Expect(h.rebooter.calls.Load()).To(BeZero(), "reboot policy Never")
	})

	It("does not reboot outside the reboot window, and says when it will", func() {
		h := setup()
		pol := newPolicy("kernel", v1alpha1.PackageSpec{Name: "linux-image-test"})
		opens := time.Now().UTC().Add(6 * time.Hour)
		pol.Spec.Reboot = &v1alpha1.RebootSpec{Policy: v1alpha1.RebootIfRequired, Window: &v1alpha1.TimeWindow{
			Start: opens.Format("15:04"), Duration: "1h", TimeZone: "UTC"}}
		Expect(h.apply(pol)).To(Succeed())
		h.start()
		Eventually(func(g Gomega) {
			p, err := h.policy("kernel")
			g.Expect(err).NotTo(HaveOccurred())
			r := condition(p.Status.Conditions, "Ready")
			g.Expect(r.Reason).To(Equal("RebootPending"))
			g.Expect(r.Message).To(ContainSubstring(opens.Format("T15:04")))
		}).WithTimeout(20 * time.Second).WithPolling(poll).Should(Succeed())
		h.ctl.Enqueue()
		Consistently(h.rebooter.calls.Load).WithTimeout(time.Second).WithPolling(poll).Should(BeZero())
	})

	It("waits while another process holds the dpkg lock, naming it, and proceeds soon after the release", func() {
		h := setup()
		lock, err := os.OpenFile(h.root.Path("var/lib/dpkg/lock-frontend"), os.O_RDWR|os.O_CREATE, 0o640)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(lock.Close)
		Expect(syscall.FcntlFlock(lock.Fd(), syscall.F_SETLK, &syscall.Flock_t{Type: syscall.F_WRLCK})).To(Succeed())

		Expect(h.apply(newPolicy("locked", v1alpha1.PackageSpec{Name: "hello"}))).To(Succeed())
		h.start()
		pid := strconv.Itoa(os.Getpid())
		Eventually(func(g Gomega) {
			pol, err := h.policy("locked")
			g.Expect(err).NotTo(HaveOccurred())
			d := condition(pol.Status.Conditions, "Degraded")
			g.Expect(d.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(d.Reason).To(BeEquivalentTo(v1alpha1.FailureLockHeld))
			g.Expect(d.Message).To(ContainSubstring("process " + pid))
			g.Expect(condition(pol.Status.Conditions, "Ready").Status).To(Equal(metav1.ConditionFalse))
		}).WithTimeout(20 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(h.operations(v1alpha1.StepInstall)).To(BeEmpty(), "no step runs against a held lock")
		Expect(version(h.installed(), "hello")).To(BeEmpty())

		Expect(syscall.FcntlFlock(lock.Fd(), syscall.F_SETLK, &syscall.Flock_t{Type: syscall.F_UNLCK})).To(Succeed())
		released := time.Now()
		eventuallyReady(h, "locked", 5*time.Second)
		took := time.Since(released)
		AddReportEntry("lock released to Ready", took.String())
		GinkgoWriter.Printf("lock released to Ready in %s\n", took)
		Expect(took).To(BeNumerically("<", 3*time.Second))
		Expect(version(h.installed(), "hello")).To(Equal("2.0"))
		Expect(steps(h.operations(v1alpha1.StepInstall))).To(Equal([]string{"Install:Succeeded:"}))
	})

	It("reports a full disk as Degraded DiskFull with apt's words and keeps the store intact", func() {
		h := setup()
		// copy: makes apt download into the archives, as from a mirror.
		Expect(h.copySources(sharedRepo.repo)).To(Succeed())
		archives := h.root.Path("var/cache/apt/archives")
		if err := syscall.Mount("tmpfs", archives, "tmpfs", 0, "size=64k"); err != nil {
			Skip(fmt.Sprintf("cannot mount a small tmpfs on %s (need CAP_SYS_ADMIN): %v", archives, err))
		}
		DeferCleanup(func() { Expect(syscall.Unmount(archives, syscall.MNT_DETACH)).To(Succeed()) })
		Expect(os.MkdirAll(filepath.Join(archives, "partial"), 0o755)).To(Succeed())

		Expect(h.apply(newPolicy("big", v1alpha1.PackageSpec{Name: "big"}))).To(Succeed())
		h.start()
		var msg string
		Eventually(func(g Gomega) {
			pol, err := h.policy("big")
			g.Expect(err).NotTo(HaveOccurred())
			d := condition(pol.Status.Conditions, "Degraded")
			g.Expect(d.Status).To(Equal(metav1.ConditionTrue))
			g.Expect(d.Reason).To(BeEquivalentTo(v1alpha1.FailureDiskFull))
			g.Expect(d.Message).To(ContainSubstring("You don't have enough free space in "))
			msg = d.Message
		}).WithTimeout(20 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(h.stop()).To(Succeed())
		Expect(version(h.installed(), "big")).To(BeEmpty())

		reopened, err := store.Open(h.stateDir, store.Options{})
		Expect(err).NotTo(HaveOccurred())
		obj, err := reopened.Get(store.PatchPolicies, "big")
		Expect(err).NotTo(HaveOccurred())
		d := condition(obj.(*v1alpha1.PatchPolicy).Status.Conditions, "Degraded")
		Expect(d.Reason).To(BeEquivalentTo(v1alpha1.FailureDiskFull))
		Expect(d.Message).To(ContainSubstring("You don't have enough free space"), "last written: %s", msg)
		_, err = reopened.Get(store.Hosts, hostName)
		Expect(err).NotTo(HaveOccurred())
		ops, _, err := reopened.List(store.Operations)
		Expect(err).NotTo(HaveOccurred())
		Expect(ops).NotTo(BeEmpty())
		failed := 0
		for _, it := range ops {
			op := it.Object.(*v1alpha1.Operation)
			if op.Spec.Step != v1alpha1.StepInstall || op.Status.Phase == v1alpha1.OperationRunning || op.Status.Phase == v1alpha1.OperationPending {
				continue // a retry cut short by the stop: the next agent re-attaches to it
			}
			Expect(op.Status.Phase).To(Equal(v1alpha1.OperationFailed))
			Expect(op.Status.Reason).To(BeEquivalentTo(v1alpha1.FailureDiskFull))
			Expect(op.Status.OutputTail).To(ContainSubstring("You don't have enough free space"))
			failed++
		}
		Expect(failed).To(BeNumerically(">=", 1))
	})

	It("refreshes once and retries once when the repository dropped a file the index still lists", func() {
		mirror, err := testrepo.NewRepo(filepath.Join(GinkgoT().TempDir(), "mirror"), testrepo.Release{Suite: "stable"})
		Expect(err).NotTo(HaveOccurred())
		old, newer := testrepo.Package{Name: "fresh", Version: "1.0"}, testrepo.Package{Name: "fresh", Version: "2.0"}
		Expect(sharedRepo.add(mirror, old, newer)).To(Succeed())
		h := setup()
		// copy: copies the index into the root, so that it goes stale.
		Expect(h.copySources(mirror)).To(Succeed())
		Expect(h.aptGet("update")).To(Succeed())
		Expect(h.backend.RecordRefresh(time.Now())).To(Succeed())
		// The mirror drops 2.0 after the root fetched its index.
		Expect(mirror.Delete(newer)).To(Succeed())
		Expect(mirror.Publish()).To(Succeed())

		Expect(h.apply(newPolicy("fresh", v1alpha1.PackageSpec{Name: "fresh"}))).To(Succeed())
		h.start()
		eventuallyReady(h, "fresh", 20*time.Second)
		Expect(version(h.installed(), "fresh")).To(Equal("1.0"))
		Expect(steps(h.operations(""))).To(Equal([]string{
			"Install:Failed:" + string(v1alpha1.FailureStaleIndex), "Refresh:Succeeded:", "Install:Succeeded:"}))
	})

	When("the policy is satisfied", func() {
		var h *harness
		BeforeEach(func() {
			h = setup()
			Expect(h.apply(newPolicy("pin", v1alpha1.PackageSpec{Name: "hello", Version: "1.1"}))).To(Succeed())
			h.start()
			eventuallyReady(h, "pin", 20*time.Second)
			Expect(h.stop()).To(Succeed())
		})

		It("spawns no process on another pass", func() {
			ops, runs := len(h.operations("")), h.runner.n.Load()
			stepDirs, err := h.executor.List()
			Expect(err).NotTo(HaveOccurred())

			res, err := h.ctl.Reconcile(context.Background(), hostName)
			Expect(err).NotTo(HaveOccurred())
			Expect(res.RequeueAfter).To(BeNumerically(">", time.Minute), "nothing to do until the index ages")

			Expect(h.operations("")).To(HaveLen(ops))
			Expect(h.runner.n.Load()).To(Equal(runs), "no dry run either")
			Expect(h.executor.List()).To(Equal(stepDirs))
			pol, err := h.policy("pin")
			Expect(err).NotTo(HaveOccurred())
			Expect(isReady(pol)).To(BeTrue())
		})

		It("refreshes the index once for two passes within maxAge", func() {
			Expect(h.operations(v1alpha1.StepRefresh)).To(HaveLen(1))
			_, err := h.ctl.Reconcile(context.Background(), hostName)
			Expect(err).NotTo(HaveOccurred())
			Expect(h.operations(v1alpha1.StepRefresh)).To(HaveLen(1))
		})
	})

	It("with maxAge 0s refreshes before the change it makes, then never by the clock", func() {
		h := setup()
		pol := newPolicy("every-change", v1alpha1.PackageSpec{Name: "hello", Version: "1.1"})
		pol.Spec.Cache = &v1alpha1.CacheSpec{MaxAge: v1alpha1.DurationPtr(0)}
		Expect(h.apply(pol)).To(Succeed())
		h.start()
		eventuallyReady(h, "every-change", 20*time.Second)
		Expect(version(h.installed(), "hello")).To(Equal("1.1"))
		Expect(steps(h.operations(""))).To(Equal([]string{"Refresh:Succeeded:", "Install:Succeeded:"}))
		// A satisfied policy: no refresh loop (a 1ns timer after each
		// refresh would start one at every pass).
		Consistently(func() int { return len(h.operations(v1alpha1.StepRefresh)) }).
			WithTimeout(3 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal(1))
	})

	It("runs no change on an index older than maxAge whose refresh failed, says why, and retries with backoff", func() {
		mirror, err := testrepo.NewRepo(filepath.Join(GinkgoT().TempDir(), "mirror"), testrepo.Release{Suite: "stable"})
		Expect(err).NotTo(HaveOccurred())
		Expect(sharedRepo.add(mirror, testrepo.Package{Name: "aged", Version: "1.0"})).To(Succeed())
		h := setup()
		Expect(h.root.SetSources(sharedRepo.repo, mirror)).To(Succeed())
		Expect(h.aptGet("update")).To(Succeed())
		// The index is 5h old, past the default maxAge of 4h, and the
		// mirror loses its index (its packages stay): the refresh the pass
		// needs fails, while the old index would still install "aged".
		Expect(h.backend.RecordRefresh(time.Now().Add(-5 * time.Hour))).To(Succeed())
		Expect(os.Remove(filepath.Join(mirror.Dir, "Release"))).To(Succeed())
		Expect(os.Remove(filepath.Join(mirror.Dir, "Packages"))).To(Succeed())

		Expect(h.apply(newPolicy("aged", v1alpha1.PackageSpec{Name: "aged"}))).To(Succeed())
		audit := newPolicy("watch", v1alpha1.PackageSpec{Name: "aged"})
		audit.Spec.Mode = v1alpha1.ModeAudit
		Expect(h.apply(audit)).To(Succeed())
		h.start()
		Eventually(func(g Gomega) {
			p, err := h.policy("aged")
			g.Expect(err).NotTo(HaveOccurred())
			r := condition(p.Status.Conditions, "Ready")
			g.Expect(r.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(r.Reason).To(Equal(v1alpha1.ReasonCacheRefreshFailed))
			g.Expect(r.Message).To(ContainSubstring(mirror.Dir), "the failing source is named")
			g.Expect(r.Message).To(MatchRegexp(`no change runs on a package index 5h0m[0-9]+s old, older than spec.cache.maxAge 4h0m0s`))
			host, err := h.host()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(host.Status.Cache.State).To(Equal(v1alpha1.CacheFailed))
			g.Expect(host.Status.Cache.Message).To(ContainSubstring(mirror.Dir))
			w, err := h.policy("watch")
			g.Expect(err).NotTo(HaveOccurred())
			r = condition(w.Status.Conditions, "Ready")
			g.Expect(r.Reason).To(Equal("Drifted"), "Audit still reports, on the old index")
			g.Expect(r.Message).To(MatchRegexp(`judged on a package index 5h0m[0-9]+s old; its refresh failed: .*` + mirror.Dir))
		}).WithTimeout(20 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(version(h.installed(), "aged")).To(BeEmpty(), "no install on the old index")
		// Retried with backoff (1.5 s, then 3 s in the harness), never in a loop.
		Consistently(func() []string { return steps(h.operations("")) }).WithTimeout(time.Second).WithPolling(100 * time.Millisecond).
			Should(HaveEach(HavePrefix("Refresh:Failed")))
		Expect(len(h.operations(v1alpha1.StepRefresh))).To(BeNumerically("<=", 2))

		// The mirror is repaired: the next retry refreshes, then installs.
		Expect(mirror.Publish()).To(Succeed())
		eventuallyReady(h, "aged", 20*time.Second)
		Expect(version(h.installed(), "aged")).To(Equal("1.0"))
		ops := steps(h.operations(""))
		Expect(ops[len(ops)-2:]).To(Equal([]string{"Refresh:Succeeded:", "Install:Succeeded:"}))
		Expect(ops[:len(ops)-2]).To(HaveEach(HavePrefix("Refresh:Failed")))
		host, err := h.host()
		Expect(err).NotTo(HaveOccurred())
		Expect(host.Status.Cache.State).To(Equal(v1alpha1.CacheFresh))
	})

	It("refreshes an index older than the default maxAge with no Enforce policy, so cache.state is true", func() {
		h := setup()
		Expect(h.aptGet("update")).To(Succeed())
		Expect(h.backend.RecordRefresh(time.Now().Add(-5 * time.Hour))).To(Succeed())
		h.start()
		Eventually(func(g Gomega) {
			host, err := h.host()
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(host.Status.Cache.State).To(Equal(v1alpha1.CacheFresh))
		}).WithTimeout(20 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(steps(h.operations(""))).To(Equal([]string{"Refresh:Succeeded:"}))
		Consistently(func() int { return len(h.operations("")) }).WithTimeout(time.Second).WithPolling(100 * time.Millisecond).Should(Equal(1))
	})

	It("changes nothing in Audit mode and reports the drift with its plan", func() {
		h := setup()
		Expect(h.preinstall("hello=1.0")).To(Succeed())
		status := h.statusFile()
		lists, err := os.ReadDir(h.root.Path("var/lib/apt/lists"))
		Expect(err).NotTo(HaveOccurred())

		pol := newPolicy("audit", v1alpha1.PackageSpec{Name: "hello", State: v1alpha1.PackageLatest},
			v1alpha1.PackageSpec{Name: "linux-image-test"})
		pol.Spec.Mode = v1alpha1.ModeAudit
		Expect(h.apply(pol)).To(Succeed())
		h.start()
		Eventually(func(g Gomega) {
			p, err := h.policy("audit")
			g.Expect(err).NotTo(HaveOccurred())
			r := condition(p.Status.Conditions, "Ready")
			g.Expect(r.Status).To(Equal(metav1.ConditionFalse))
			g.Expect(r.Reason).To(Equal("Drifted"))
			g.Expect(p.Status.ObservedGeneration).To(Equal(p.Generation))
			g.Expect(p.Status.Plan).To(ConsistOf(
				And(HaveField("Package", "hello"), HaveField("Action", v1alpha1.ActionUpgrade),
					HaveField("From", "1.0"), HaveField("To", "2.0")),
				And(HaveField("Package", "linux-image-test"), HaveField("Action", v1alpha1.ActionInstall)),
			))
		}).WithTimeout(20 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(h.stop()).To(Succeed())

		// The index, of unknown age, is refreshed at the default maxAge;
		// nothing else runs.
		Expect(steps(h.operations(""))).To(Equal([]string{"Refresh:Succeeded:"}))
		Expect(h.statusFile()).To(Equal(status), "the dpkg status file is byte-identical")
		Expect(os.ReadDir(h.root.Path("var/lib/apt/lists"))).To(HaveLen(len(lists)), "the same repository's lists")
		Expect(h.root.Path("run/reboot-required")).NotTo(BeAnExistingFile())
	})

	It("recovers an interrupted database once, then waits for a repair by hand instead of looping", func() {
		h := setup()
		// A package dpkg left half-installed whose version no repository has.
		Expect(os.WriteFile(h.root.Path("var/lib/dpkg/status"), []byte("Package: ghost\nStatus: install reinstreq half-installed\n"+
			"Priority: optional\nSection: misc\nMaintainer: nobody <nobody@patchlet.invalid>\nArchitecture: all\nVersion: 9.9\n"+
			"Description: gone\n"), 0o644)).To(Succeed())
		Expect(h.apply(newPolicy("hello", v1alpha1.PackageSpec{Name: "hello"}))).To(Succeed())
		h.start()

		Eventually(func(g Gomega) {
			pol, err := h.policy("hello")
			g.Expect(err).NotTo(HaveOccurred())
			d := condition(pol.Status.Conditions, "Degraded")
			g.Expect(d.Reason).To(BeEquivalentTo(v1alpha1.FailureInterrupted))
			g.Expect(d.Message).To(ContainSubstring("ghost still interrupted"))
		}).WithTimeout(20 * time.Second).WithPolling(poll).Should(Succeed())
		Expect(steps(h.operations(v1alpha1.StepRecover))).To(Equal([]string{"Recover:Succeeded:"}))
		Expect(h.operations(v1alpha1.StepInstall)).To(HaveLen(1), "one reinstall")
		Expect(h.operations(v1alpha1.StepInstall)[0].Spec.Argv).To(ContainElement("--reinstall"))
		Expect(h.operations(v1alpha1.StepInstall)[0].Spec.Argv).To(ContainElement("ghost"), "9.9 is in no index: the candidate")

		// Passes go on (the steps changed the database, which triggers
		// them), but run nothing for the same interruption.
		ops := len(h.operations(""))
		h.ctl.Enqueue()
		Consistently(func() int { return len(h.operations("")) }).
			WithTimeout(1500 * time.Millisecond).WithPolling(50 * time.Millisecond).Should(Equal(ops))
		Expect(version(h.installed(), "hello")).To(BeEmpty())

		// The operator repairs it; the loop notices and carries on.
		out, err := exec.Command("dpkg", slices.Concat(h.root.DpkgArgs(), []string{"--remove", "--force-remove-reinstreq", "ghost"})...).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "%s", out)
		eventuallyReady(h, "hello", 20*time.Second)
		Expect(version(h.installed(), "hello")).To(Equal("2.0"))
		Expect(h.operations(v1alpha1.StepRecover)).To(HaveLen(1))
	})

	When("the runner is killed while dpkg runs a maintainer script", func() {
		// runUntilPreinst starts an upgrade of slow 1.0 to 2.0 and returns
		// its Operation once dpkg runs the sleeping preinst of 2.0.
		runUntilPreinst := func(h *harness) *v1alpha1.Operation {
			GinkgoHelper()
			Expect(h.preinstall("slow=1.0")).To(Succeed())
			Expect(h.apply(newPolicy("slow", v1alpha1.PackageSpec{Name: "slow", State: v1alpha1.PackageLatest}))).To(Succeed())
			h.start()
			var op *v1alpha1.Operation
			Eventually(func(g Gomega) {
				ops := h.operations(v1alpha1.StepUpgrade)
				g.Expect(ops).To(HaveLen(1))
				op = ops[0]
				g.Expect(op.Status.Phase).To(Equal(v1alpha1.OperationRunning))
				g.Expect(op.Status.PID).NotTo(BeZero(), "the Operation records the runner's pid")
				g.Expect(h.dpkgLog()).To(ContainSubstring(" upgrade slow:all 1.0 2.0"))
			}).WithTimeout(20 * time.Second).WithPolling(poll).Should(Succeed())
			return op
		}

		It("waits for an apt-get that outlives its runner instead of recovering under it", func() {
			// On this platform apt-get goes on without its runner (the
			// parent-death signal the runner sets does not take it down)
			// and finishes the upgrade; should it die with the runner, the
			// database is interrupted and recovered once instead.
			h := setup()
			op := runUntilPreinst(h)
			aptGet := children(int(op.Status.PID))
			Expect(aptGet).To(HaveLen(1))
			Expect(syscall.Kill(int(op.Status.PID), syscall.SIGKILL)).To(Succeed())
			time.Sleep(200 * time.Millisecond)

			if running(aptGet[0]) {
				AddReportEntry("apt-get after its runner was killed", "still running")
				Eventually(func(g Gomega) {
					pol, err := h.policy("slow")
					g.Expect(err).NotTo(HaveOccurred())
					d := condition(pol.Status.Conditions, "Degraded")
					g.Expect(d.Reason).To(BeEquivalentTo(v1alpha1.FailureLockHeld))
					g.Expect(d.Message).To(ContainSubstring(fmt.Sprintf("process %d (apt-get)", aptGet[0])))
				}).WithTimeout(10 * time.Second).WithPolling(poll).Should(Succeed())
				eventuallyReady(h, "slow", 20*time.Second)
				Expect(h.operations(v1alpha1.StepRecover)).To(BeEmpty(), "nothing was interrupted")
				Expect(strings.Count(h.dpkgLog(), " upgrade slow:")).To(Equal(1))
			} else {
				AddReportEntry("apt-get after its runner was killed", "died")
				eventuallyReady(h, "slow", 30*time.Second)
				Expect(steps(h.operations(v1alpha1.StepRecover))).To(Equal([]string{"Recover:Succeeded:"}))
			}
			Expect(version(h.installed(), "slow")).To(Equal("2.0"))
			Expect(h.installed().Interrupted).To(BeEmpty())
			Expect(steps(h.operations(v1alpha1.StepUpgrade))[0]).To(Equal("Upgrade:Failed:" + string(v1alpha1.FailureInterrupted)))
		})

		It("runs dpkg --configure -a exactly once when the runner and apt-get die, then succeeds", func() {
			h := setup()
			op := runUntilPreinst(h)
			// What the runner's parent-death signal is meant to do.
			aptGet := children(int(op.Status.PID))
			Expect(aptGet).To(HaveLen(1))
			Expect(syscall.Kill(int(op.Status.PID), syscall.SIGKILL)).To(Succeed())
			Expect(syscall.Kill(aptGet[0], syscall.SIGKILL)).To(Succeed())

			eventuallyReady(h, "slow", 30*time.Second)
			Expect(version(h.installed(), "slow")).To(Equal("2.0"))
			Expect(h.installed().Interrupted).To(BeEmpty())
			// Exactly one recover step: it finishes the configuration, or,
			// when dpkg died while unpacking, refuses the half-installed
			// package, which the one reinstall then repairs.
			Expect(steps(h.operations(v1alpha1.StepRecover))).To(Or(
				Equal([]string{"Recover:Succeeded:"}),
				Equal([]string{"Recover:Failed:" + string(v1alpha1.FailureFailed)})))
			Expect(steps(h.operations(v1alpha1.StepUpgrade))[0]).To(Equal("Upgrade:Failed:" + string(v1alpha1.FailureInterrupted)))
			GinkgoWriter.Printf("operations: %v\n", steps(h.operations("")))
		})

		It("reinstalls a package dpkg left half-installed once dpkg --configure -a is done, once", func() {
			h := setup()
			op := runUntilPreinst(h)
			// Everything dies at once (the OOM killer, a killed cgroup):
			// dpkg leaves slow half-installed, which --configure -a cannot finish.
			killTree(int(op.Status.PID))

			eventuallyReady(h, "slow", 30*time.Second)
			Expect(version(h.installed(), "slow")).To(Equal("2.0"))
			Expect(h.installed().Interrupted).To(BeEmpty())
			// Exactly one recover step. Depending on where dpkg died it
			// finishes, or refuses the half-installed package ("you
			// should reinstall it"), which the one reinstall repairs.
			Expect(steps(h.operations(v1alpha1.StepRecover))).To(Or(
				Equal([]string{"Recover:Succeeded:"}),
				Equal([]string{"Recover:Failed:" + string(v1alpha1.FailureFailed)})))
			var reinstalls []*v1alpha1.Operation
			for _, o := range h.operations(v1alpha1.StepInstall) {
				if strings.Contains(strings.Join(o.Spec.Argv, " "), "--reinstall") {
					reinstalls = append(reinstalls, o)
				}
			}
			Expect(steps(reinstalls)).To(Equal([]string{"Install:Succeeded:"}))
			Expect(reinstalls[0].Spec.Argv).To(ContainElement("slow=1.0"), "at the version dpkg recorded")
		})
	})
})

// running reports whether pid is a live process (not a zombie).
func running(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

// children returns the pids of pid's child processes.
func children(pid int) []int {
	GinkgoHelper()
	return processTree()[pid]
}

// killTree SIGKILLs pid and all its descendants at once.
func killTree(pid int) {
	GinkgoHelper()
	pids := []int{pid}
	children := processTree()
	for i := 0; i < len(pids); i++ {
		pids = append(pids, children[pids[i]]...)
	}
	Expect(len(pids)).To(BeNumerically(">=", 3), "runner, apt-get and dpkg")
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// processTree maps every process to its children.
func processTree() map[int][]int {
	GinkgoHelper()
	children := map[int][]int{}
	entries, err := os.ReadDir("/proc")
	Expect(err).NotTo(HaveOccurred())
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(fields[1])
		children[ppid] = append(children[ppid], p)
	}
	return children
}
