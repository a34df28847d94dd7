package pacman_test

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/pacman"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
)

var _ = Describe("Observe", func() {
	var (
		root    *fakeRoot
		state   string
		runner  *backendtest.CountingRunner
		answers *pacmanAnswers
	)
	BeforeEach(func() {
		tmp := GinkgoT().TempDir()
		root = newFakeRoot(filepath.Join(tmp, "root"))
		state = filepath.Join(tmp, "state")
		answers = &pacmanAnswers{
			qu: "foo 1.0-1 -> 1.1-1\nbar 2.0-1 -> 2.1-1 [ignored]\n",
			sl: "core foo 1.1-1 [installed: 1.0-1]\ncore bar 2.1-1 [installed: 2.0-1]\ncore linux 6.9.8.arch1-1 [installed: 6.9.7.arch1-1]\n",
		}
		runner = answers.runner()
		root.install("foo", "1.0-1")
		root.install("bar", "2.0-1")
		root.install("linux", "6.9.7.arch1-1")
	})

	It("reads the local database and checks upgrades in a private database", func(ctx context.Context) {
		b := newBackend(root.dir, state, runner, "6.9.7-arch1-1")
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).To(HaveKeyWithValue("foo", backends.Package{Name: "foo", Version: "1.0-1", Arch: "any"}))
		Expect(obs.Installed).To(HaveLen(3))
		Expect(obs.Upgrades).To(Equal(map[string]backends.Upgrade{"foo": {Name: "foo", From: "1.0-1", To: "1.1-1", Source: "core"}}))
		Expect(obs.RebootRequired).To(BeFalse())

		private := filepath.Join(state, "pacman-checkdb")
		argvs := runner.Argvs()
		Expect(argvs[0]).To(Equal([]string{"/usr/bin/pacman-conf", "--config", filepath.Join(root.dir, "etc/pacman.conf"), "--rootdir", root.dir, "DBPath"}))
		for _, argv := range argvs[1:] {
			Expect(argv[:6]).To(Equal([]string{"/usr/bin/pacman", "--root", root.dir, "--config", filepath.Join(root.dir, "etc/pacman.conf"), "--noconfirm"}))
			Expect(argv).To(ContainElements("--dbpath", private), "the live sync database is never touched")
		}
		Expect(os.Readlink(filepath.Join(private, "local"))).To(Equal(filepath.Join(root.dir, "var/lib/pacman/local")))
	})

	It("spawns nothing on a second pass when nothing changed", func(ctx context.Context) {
		b := newBackend(root.dir, state, runner, "6.9.7-arch1-1")
		_, err := b.Observe(ctx, []string{"foo"})
		Expect(err).NotTo(HaveOccurred())
		n := runner.Count()
		Expect(n).To(Equal(4)) // pacman-conf at New, -Syy, -Qu, -Sl

		obs, err := b.Observe(ctx, []string{"foo"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(n))
		Expect(obs.Upgrades).To(HaveKey("foo"))
		Expect(obs.Available).To(HaveKeyWithValue("foo", []string{"1.1-1"}))
	})

	It("checks again after a package changed, a refresh was recorded or pacman.conf changed", func(ctx context.Context) {
		b := newBackend(root.dir, state, runner, "6.9.7-arch1-1")
		_, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())

		n := runner.Count()
		root.uninstall("foo", "1.0-1")
		root.install("foo", "1.1-1")
		answers.qu = ""
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(n+3), "installing changed the local database")
		Expect(obs.Installed["foo"].Version).To(Equal("1.1-1"))
		Expect(obs.Upgrades).To(BeEmpty(), "-Qu exiting 1 with no output is nothing pending")

		n = runner.Count()
		Expect(b.RecordRefresh(time.Now())).To(Succeed())
		_, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(n + 3))

		n = runner.Count()
		root.writeConf("IgnorePkg = foo")
		obs, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(n + 3))
		Expect(obs.Installed["foo"].Held).To(BeTrue(), "IgnorePkg is pacman's hold")
	})

	It("checks again once CheckInterval has passed, even with nothing changed", func(ctx context.Context) {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		b, err := pacman.New(pacman.Options{Settings: backends.Settings{Root: root.dir, StateDir: state, Runner: runner, Clock: func() time.Time { return now }},
			Pacman: "/usr/bin/pacman", CheckInterval: time.Hour, KernelRelease: func() (string, error) { return "", nil }})
		Expect(err).NotTo(HaveOccurred())
		_, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		n := runner.Count()
		now = now.Add(59 * time.Minute)
		_, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(n))
		now = now.Add(time.Minute)
		_, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(n + 3))
	})

	It("falls back to the live sync databases when the private sync fails", func(ctx context.Context) {
		answers.syncErr = os.ErrDeadlineExceeded
		b := newBackend(root.dir, state, runner, "6.9.7-arch1-1")
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Upgrades).To(HaveKey("foo"))
		calls := runner.Argvs()
		Expect(calls[len(calls)-1]).NotTo(ContainElement("--dbpath"))
	})

	It("lists the sync database's version and the cached files' versions, newest first", func(ctx context.Context) {
		root.cache("foo-1.0-1-any.pkg.tar.zst")
		root.cache("foo-0.9-1-any.pkg.tar.zst")
		root.cache("foo-0.9-1-any.pkg.tar.zst.sig")
		root.cache("foo-bar-3.0-1-any.pkg.tar.zst")
		b := newBackend(root.dir, state, runner, "6.9.7-arch1-1")
		obs, err := b.Observe(ctx, []string{"foo", "nosuch", "-bad"})
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Available).To(Equal(map[string][]string{"foo": {"1.1-1", "1.0-1", "0.9-1"}}))
	})

	It("says a reboot is needed when the running kernel is older than the installed one", func(ctx context.Context) {
		b := newBackend(root.dir, state, runner, "6.9.6-arch1-1")
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.RebootRequired).To(BeTrue())
		Expect(obs.RebootPackages).To(Equal([]string{"linux"}))
	})

	It("reports patchlet's own refresh time", func(ctx context.Context) {
		b := newBackend(root.dir, state, runner, "6.9.7-arch1-1")
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.IndexRefreshed).To(BeZero())
		t := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		Expect(b.RecordRefresh(t)).To(Succeed())
		obs, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.IndexRefreshed.Equal(t)).To(BeTrue())
	})
})
