package policy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/controllers/policy"
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
)

// buildProvider builds zeta-impl 1.0, which provides the virtual package
// zeta-virt (testrepo.Package has no Provides field), into repo.
func buildProvider(dir string, repo *testrepo.Repo) {
	GinkgoHelper()
	tree := filepath.Join(dir, "zeta-impl")
	Expect(os.MkdirAll(filepath.Join(tree, "DEBIAN"), 0o755)).To(Succeed())
	control := "Package: zeta-impl\nVersion: 1.0\nArchitecture: all\nMaintainer: patchlet tests <tests@patchlet.invalid>\n" +
		"Installed-Size: 1\nProvides: zeta-virt\nDescription: provides zeta-virt\n"
	Expect(os.WriteFile(filepath.Join(tree, "DEBIAN/control"), []byte(control), 0o644)).To(Succeed())
	deb := filepath.Join(dir, "zeta-impl_1.0_all.deb")
	out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", tree, deb).CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "dpkg-deb: %s", out)
	Expect(repo.Add(deb)).To(Succeed())
	Expect(repo.Publish()).To(Succeed())
}

// providesBlind is a backend that cannot tell which installed packages
// provide a name (Observation.Provides empty), as apt's was before it
// read Provides: the planner sees a virtual package never installed.
type providesBlind struct{ backends.Backend }

func (b providesBlind) Observe(ctx context.Context, names []string) (*backends.Observation, error) {
	obs, err := b.Backend.Observe(ctx, names)
	if obs != nil {
		obs.Provides = nil
	}
	return obs, err
}

// virtualSetup is a harness on a repository with zeta-impl (providing
// zeta-virt) and hello 1.0, and a policy that wants zeta-virt and hello.
func virtualSetup() *harness {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	Expect(os.Chmod(dir, 0o755)).To(Succeed()) // apt's _apt user reads the repository
	repo, err := testrepo.NewRepo(filepath.Join(dir, "repo"), testrepo.Release{Suite: "stable"})
	Expect(err).NotTo(HaveOccurred())
	Expect(sharedRepo.add(repo, helloPkg("1.0"))).To(Succeed())
	buildProvider(filepath.Join(dir, "build"), repo)
	h := setup(repo)
	Expect(h.apply(newPolicy("virt", v1alpha1.PackageSpec{Name: "zeta-virt"}, v1alpha1.PackageSpec{Name: "hello"}))).To(Succeed())
	return h
}

var _ = Describe("virtual packages and no-effect steps against real apt", Label("integration"), func() {
	// What really happens with apt (2.6, Debian 12): `apt-get install
	// zeta-virt`, a virtual package with one provider, installs zeta-impl
	// and exits 0; zeta-virt is never installed under its name, and the
	// same step exits 0 again, saying "zeta-impl is already the newest
	// version (1.0).". A backend that cannot tell providers started that
	// step at every pass (issue #13: 50 install steps a minute).
	It("bounds the step to two runs on a backend that cannot tell providers, then Stalled (NoEffect) in apt's words", func() {
		h := virtualSetup()
		h.ctl = policy.New(policy.Options{Store: h.store, Backend: providesBlind{h.backend}, Executor: h.executor,
			Log: h.log.WithName("controller"), HostName: hostName, Root: h.root.Dir, StateDir: h.stateDir,
			BootID: func() (string, error) { return "boot-1", nil }})
		start := time.Now()
		h.start()

		var pol *v1alpha1.PatchPolicy
		Eventually(func(g Gomega) {
			var err error
			pol, err = h.policy("virt")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(stalledNoEffect(pol)).To(BeTrue(), "conditions: %+v", pol.Status.Conditions)
		}).WithTimeout(30 * time.Second).WithPolling(poll).Should(Succeed())
		AddReportEntry("two no-effect steps to Stalled", time.Since(start).String())

		Expect(steps(h.operations(v1alpha1.StepInstall))).To(Equal([]string{"Install:Succeeded:", "Install:Succeeded:"}))
		Expect(version(h.installed(), "zeta-impl")).To(Equal("1.0"))
		Expect(version(h.installed(), "hello")).To(Equal("1.0"), "the rest of the policy went ahead")
		msg := condition(pol.Status.Conditions, v1alpha1.ConditionStalled).Message
		Expect(msg).To(HavePrefix("zeta-virt: NoEffect: apt-get install zeta-virt exited 0 twice but zeta-virt is still not installed; "+
			"run 1 installed zeta-impl 1.0 (apt-get said \"Setting up zeta-impl (1.0) ...\"); "+
			"run 2 changed nothing (apt-get said \"zeta-impl is already the newest version (1.0).\"); "+
			"if zeta-virt is a virtual package, name the package that provides it"), msg)
		Expect(condition(pol.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal("NoEffect"))

		runs := h.runner.n.Load()
		Consistently(func() int { return len(h.operations("")) }).WithTimeout(2*time.Second).
			Should(Equal(len(h.operations(""))), "no step runs again for this generation")
		Expect(h.runner.n.Load()-runs).To(BeNumerically("<=", 2), "no pass loop observing the host")
	})

	It("accepts a virtual package once its provider is installed, in one step, and says so", func() {
		h := virtualSetup()
		h.start()
		pol := eventuallyReady(h, "virt", 30*time.Second)
		Expect(steps(h.operations(v1alpha1.StepInstall))).To(Equal([]string{"Install:Succeeded:"}))
		Expect(condition(pol.Status.Conditions, v1alpha1.ConditionReady).Message).To(
			Equal("all packages as declared; zeta-virt provided by zeta-impl (zeta-virt is a virtual package)"))
		Expect(pol.Status.Plan).To(ConsistOf(HaveField("Reason", v1alpha1.PlanProvided)))
	})
})
