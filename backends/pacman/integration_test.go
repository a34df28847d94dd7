package pacman_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/pacman"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
	"github.com/patchlet/patchlet/internal/testsupport/testpacman"
)

var (
	runStep = backendtest.RunStep
	mustRun = backendtest.MustRun
)

var _ = Describe("the pacman backend against real pacman", Ordered, Label("integration"), func() {
	var (
		repo   *testpacman.Repo
		root   *testpacman.Root
		b      *pacman.Backend
		runner *backendtest.CountingRunner
		now    time.Time
		kernel string
	)
	foo := func(v, conf string) testpacman.Package {
		return testpacman.Package{Name: "foo", Version: v,
			Files:   map[string]string{"etc/foo.conf": conf, "usr/share/foo/VERSION": v},
			Backup:  []string{"etc/foo.conf"},
			Install: "post_install() {\n  touch /tmp/foo-installed\n}\npost_upgrade() {\n  echo \"$2 -> $1\" >> /tmp/foo-upgraded\n}\n"}
	}
	linux := func(v string) testpacman.Package {
		return testpacman.Package{Name: "linux", Version: v, Arch: "x86_64",
			Files: map[string]string{"usr/lib/modules/" + v + "/pkgbase": "linux\n"}}
	}
	observe := func(ctx context.Context, names ...string) *backends.Observation {
		obs, err := b.Observe(ctx, names)
		Expect(err).NotTo(HaveOccurred())
		return obs
	}

	BeforeAll(func() {
		if _, err := exec.LookPath("pacman"); err != nil {
			Skip("pacman not installed (Debian package pacman-package-manager)")
		}
		tmp := GinkgoT().TempDir()
		var err error
		repo, err = testpacman.NewRepo(filepath.Join(tmp, "repo"), "test")
		Expect(err).NotTo(HaveOccurred())
		Expect(repo.Add(foo("1.0-1", "a=1\n"), linux("6.9.7.arch1-1"))).To(Succeed())
		root, err = testpacman.NewRoot(filepath.Join(tmp, "root"), repo)
		Expect(err).NotTo(HaveOccurred())
		runner = &backendtest.CountingRunner{} // runs for real
		now = time.Now()
		kernel = "6.9.7-arch1-1"
		b, err = pacman.New(pacman.Options{Settings: backends.Settings{Root: root.Dir, StateDir: filepath.Join(tmp, "state"), Log: logr.Discard(), Runner: runner, Clock: func() time.Time { return now }},
			KernelRelease: func() (string, error) { return kernel, nil }})
		Expect(err).NotTo(HaveOccurred())
	})

	It("refreshes and installs a pinned version from the repository", func(ctx context.Context) {
		mustRun(ctx, b.RefreshStep())
		Expect(b.RecordRefresh(now)).To(Succeed())
		obs := observe(ctx, "foo")
		Expect(obs.Available).To(HaveKeyWithValue("foo", []string{"1.0-1"}))
		s := built(b.InstallStep([]backends.PackageRef{{Name: "foo", Version: "1.0-1"}, {Name: "linux"}}))
		Expect(s.Argv).To(ContainElement("foo=1.0-1"))
		mustRun(ctx, s)
		obs = observe(ctx)
		Expect(obs.Installed).To(HaveKeyWithValue("foo", backends.Package{Name: "foo", Version: "1.0-1", Arch: "any"}))
		Expect(obs.Upgrades).To(BeEmpty())
		Expect(obs.RebootRequired).To(BeFalse())
		Expect(root.Path("tmp/foo-installed")).To(BeAnExistingFile(), "the install scriptlet ran in the root")
	})

	It("spawns nothing on an Observe with nothing changed", func(ctx context.Context) {
		observe(ctx)
		n := runner.Count()
		observe(ctx, "foo")
		Expect(runner.Count()).To(Equal(n))
	})

	It("sees a pending upgrade without touching the live sync database", func(ctx context.Context) {
		live := root.Path("var/lib/pacman/sync/test.db")
		before, err := os.ReadFile(live)
		Expect(err).NotTo(HaveOccurred())
		fi, err := os.Stat(live)
		Expect(err).NotTo(HaveOccurred())

		Expect(repo.Add(foo("1.1-1", "a=2\n"))).To(Succeed())
		now = now.Add(pacman.DefaultCheckInterval)
		obs := observe(ctx, "foo")
		Expect(obs.Upgrades).To(Equal(map[string]backends.Upgrade{"foo": {Name: "foo", From: "1.0-1", To: "1.1-1", Source: "test"}}))
		Expect(obs.Available["foo"]).To(Equal([]string{"1.1-1", "1.0-1"}), "the current one and the cached file")

		Expect(os.ReadFile(live)).To(Equal(before))
		fi2, err := os.Stat(live)
		Expect(err).NotTo(HaveOccurred())
		Expect(fi2.ModTime()).To(Equal(fi.ModTime()))
	})

	It("upgrades to the latest version and keeps a locally edited conffile (.pacnew)", func(ctx context.Context) {
		Expect(os.WriteFile(root.Path("etc/foo.conf"), []byte("a=1\nlocal=1\n"), 0o644)).To(Succeed())
		out := mustRun(ctx, built(b.UpgradeStep([]string{"foo"})))
		Expect(string(out)).To(ContainSubstring(".pacnew"))
		obs := observe(ctx)
		Expect(obs.Installed["foo"].Version).To(Equal("1.1-1"))
		Expect(obs.Upgrades).To(BeEmpty())
		Expect(os.ReadFile(root.Path("etc/foo.conf"))).To(Equal([]byte("a=1\nlocal=1\n")))
		Expect(os.ReadFile(root.Path("etc/foo.conf.pacnew"))).To(Equal([]byte("a=2\n")))
		Expect(os.ReadFile(root.Path("tmp/foo-upgraded"))).To(Equal([]byte("1.0-1 -> 1.1-1\n")))
	})

	It("installs a pin that is no longer in the repository from the package cache", func(ctx context.Context) {
		Expect(repo.Add(foo("1.2-1", "a=3\n"))).To(Succeed())
		mustRun(ctx, b.RefreshStep())
		obs := observe(ctx, "foo")
		Expect(obs.Available["foo"]).To(Equal([]string{"1.2-1", "1.1-1", "1.0-1"}))
		s := built(b.InstallStep([]backends.PackageRef{{Name: "foo", Version: "1.0-1"}}))
		Expect(s.Argv).To(ContainElement(root.Path("var/cache/pacman/pkg/foo-1.0-1-any.pkg.tar.zst")))
		mustRun(ctx, s)
		Expect(observe(ctx).Installed["foo"].Version).To(Equal("1.0-1"))
	})

	It("refuses a pin that is neither cached nor current, with the reason", func(ctx context.Context) {
		_, err := b.InstallStep([]backends.PackageRef{{Name: "foo", Version: "0.9-1"}})
		Expect(err).To(MatchError(ContainSubstring("neither in the package cache")))
	})

	It("classifies an unknown package as not found", func(ctx context.Context) {
		code, out := runStep(ctx, built(b.InstallStep([]backends.PackageRef{{Name: "nosuch"}})))
		Expect(code).To(Equal(1))
		f := b.Classify(backends.Step{}, code, out)
		Expect(f.Reason).To(Equal(v1alpha1.FailureNotFound))
		Expect(f.Message).To(Equal("target not found: nosuch"))
	})

	It("classifies a package file gone from the mirror as a stale index", func(ctx context.Context) {
		Expect(repo.Remove(foo("1.2-1", ""))).To(Succeed())
		Expect(os.Remove(root.Path("var/cache/pacman/pkg/foo-1.2-1-any.pkg.tar.zst"))).To(Or(Succeed(), MatchError(os.ErrNotExist)))
		s := built(b.UpgradeStep([]string{"foo"}))
		// Without the refresh: the sync database still names 1.2-1.
		s.Argv = append(s.Argv[:len(s.Argv)-3:len(s.Argv)-3], "--needed", "foo")
		code, out := runStep(ctx, s)
		Expect(code).To(Equal(1))
		Expect(b.Classify(s, code, out).Reason).To(Equal(v1alpha1.FailureStaleIndex), "%s", out)
	})

	It("reports the lock held while db.lck exists, and classifies the refusal", func(ctx context.Context) {
		lck := root.Path("var/lib/pacman/db.lck")
		Expect(os.WriteFile(lck, nil, 0o644)).To(Succeed())
		defer os.Remove(lck)
		_, _, held, err := b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue())
		code, out := runStep(ctx, built(b.RemoveStep([]string{"foo"})))
		Expect(code).To(Equal(1))
		Expect(b.Classify(backends.Step{}, code, out).Reason).To(Equal(v1alpha1.FailureLockHeld))
		Expect(observe(ctx).Installed).To(HaveKey("foo"), "nothing was removed")
	})

	It("says a reboot is needed after a kernel upgrade, until the new kernel runs", func(ctx context.Context) {
		Expect(repo.Add(linux("6.9.8.arch1-1"))).To(Succeed())
		mustRun(ctx, built(b.UpgradeStep([]string{"linux"})))
		obs := observe(ctx)
		Expect(obs.Installed["linux"].Version).To(Equal("6.9.8.arch1-1"))
		Expect(obs.RebootRequired).To(BeTrue())
		Expect(obs.RebootPackages).To(Equal([]string{"linux"}))
		kernel = "6.9.8-arch1-1"
		Expect(observe(ctx).RebootRequired).To(BeFalse())
	})

	It("removes a package", func(ctx context.Context) {
		mustRun(ctx, built(b.RemoveStep([]string{"foo"})))
		Expect(observe(ctx).Installed).NotTo(HaveKey("foo"))
	})
})
