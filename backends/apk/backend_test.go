package apk_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apk"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
)

// apkAnswer answers apk list -u and apk policy with recorded output.
func apkAnswer(argv []string) ([]byte, error) {
	switch {
	case slices.Contains(argv, "list"):
		return golden("apk-3.0.6.alpine-like.list-u.stdout"), nil
	case slices.Contains(argv, "policy"):
		return golden("apk-3.0.6.alpine-like.policy.stdout"), nil
	}
	return nil, fmt.Errorf("unexpected %v", argv)
}

var _ = Describe("Backend on a recorded Alpine-like root (real apk 3.0.6 output)", func() {
	var (
		root, state string
		runner      *backendtest.CountingRunner
		b           *apk.Backend
		kernel      string
	)
	write := func(rel string, data []byte) {
		p := filepath.Join(root, rel)
		Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
		Expect(os.WriteFile(p, data, 0o644)).To(Succeed())
	}
	BeforeEach(func() {
		tmp := GinkgoT().TempDir()
		root, state = filepath.Join(tmp, "root"), filepath.Join(tmp, "state")
		write("lib/apk/db/installed", golden("apk-3.0.6.alpine-like.installed"))
		write("etc/apk/world", golden("apk-3.0.6.alpine-like.world"))
		write("etc/apk/repositories", []byte("https://dl-cdn.alpinelinux.org/alpine/v3.20/main\n"))
		write("var/cache/apk/APKINDEX.abcd1234.tar.gz", []byte("index"))
		runner = &backendtest.CountingRunner{Fake: apkAnswer}
		kernel = "6.6.36-0-lts"
		var err error
		b, err = apk.New(apk.Options{Settings: backends.Settings{Root: root, StateDir: state, Log: logr.Discard(), Runner: runner},
			Apk: "/sbin/apk", KernelRelease: func() (string, error) { return kernel, nil }})
		Expect(err).NotTo(HaveOccurred())
	})

	It("observes packages, holds, upgrades (held ones left out) and versions", func(ctx context.Context) {
		obs, err := b.Observe(ctx, []string{"curl"})
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).To(HaveLen(5))
		Expect(obs.Installed["nginx"].Held).To(BeTrue(), "world pins nginx=1.26.1-r0")
		Expect(obs.Installed["curl"].Held).To(BeFalse())
		Expect(obs.Upgrades).To(HaveKey("curl"))
		Expect(obs.Upgrades).NotTo(HaveKey("nginx"))
		Expect(obs.Available["curl"]).To(Equal([]string{"8.10.0-r0", "8.9.1-r0", "8.9.0-r0"}))
		Expect(obs.Upgrades["curl"].To).To(Equal("8.10.0-r0"), "apk list -u lists 8.9.1-r0 and 8.10.0-r0")
		Expect(obs.RebootRequired).To(BeFalse())
		Expect(runner.Argvs()[0]).To(Equal([]string{"/sbin/apk", "--root", root, "--no-progress", "list", "-u"}))
	})

	It("spawns nothing on a second Observe with nothing changed", func(ctx context.Context) {
		_, err := b.Observe(ctx, []string{"curl"})
		Expect(err).NotTo(HaveOccurred())
		n := runner.Count()
		Expect(n).To(Equal(2))
		_, err = b.Observe(ctx, []string{"curl"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(n))

		write("var/cache/apk/APKINDEX.abcd1234.tar.gz", []byte("index refreshed"))
		_, err = b.Observe(ctx, []string{"curl"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(n+2), "a refreshed index is asked again")

		Expect(b.RecordRefresh(time.Now())).To(Succeed())
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(n+3), "no names: no apk policy")
		Expect(obs.IndexRefreshed).NotTo(BeZero())
	})

	It("says a reboot is needed once the kernel package is newer than the running kernel", func(ctx context.Context) {
		kernel = "6.6.30-0-lts"
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.RebootRequired).To(BeTrue())
		Expect(obs.RebootPackages).To(Equal([]string{"linux-lts"}))
	})

	It("builds apk's command lines", func() {
		base := []string{"/sbin/apk", "--root", root, "--no-progress"}
		Expect(b.RefreshStep().Argv).To(Equal(append(slices.Clone(base), "update", "--update-cache")))
		Expect(built(b.InstallStep([]backends.PackageRef{{Name: "curl", Version: "8.9.0-r0"}, {Name: "jq"}})).Argv).
			To(Equal(append(slices.Clone(base), "add", "curl~8.9.0-r0", "jq")))
		Expect(built(b.UpgradeStep([]string{"curl", "notinstalled"})).Argv).To(Equal(append(slices.Clone(base), "upgrade", "curl")))
		Expect(built(b.RemoveStep([]string{"curl"})).Argv).To(Equal(append(slices.Clone(base), "del", "curl")))
		hold := built(b.HoldStep([]string{"curl"}, true))
		Expect(hold.Argv).To(Equal(append(slices.Clone(base), "add", "curl=8.9.0-r0")))
		Expect(hold.Packages).To(Equal([]string{"curl"}))
		unhold := built(b.HoldStep([]string{"nginx"}, false))
		Expect(unhold.Type).To(Equal(v1alpha1.StepUnhold))
		Expect(unhold.Argv).To(Equal(append(slices.Clone(base), "add", "nginx")))
		Expect(b.HoldStep([]string{"notinstalled"}, true)).Error().To(HaveOccurred())
		Expect(b.RecoverStep()).Error().To(HaveOccurred())
		Expect(b.Capabilities().Hold).To(BeTrue())
		Expect(b.Capabilities().Security).To(BeFalse())
		Expect(b.Family()).To(Equal(v1alpha1.FamilyAPK))
	})

	DescribeTable("refuses names and versions that are not apk's",
		func(ref backends.PackageRef) {
			Expect(b.InstallStep([]backends.PackageRef{ref})).Error().To(HaveOccurred())
		},
		Entry("option-like", backends.PackageRef{Name: "--allow-untrusted"}),
		Entry("constraint smuggled in the name", backends.PackageRef{Name: "curl<9"}),
		Entry("upper case", backends.PackageRef{Name: "Curl"}),
		Entry("space in version", backends.PackageRef{Name: "curl", Version: "8.9 -r0"}),
	)

	It("reports the database lock and its holder from /proc/locks", func() {
		_, _, held, err := b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse(), "no lock file")

		lck := filepath.Join(root, "lib/apk/db/lock")
		f, err := os.OpenFile(lck, os.O_CREATE|os.O_RDWR, 0o600)
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		_, _, held, err = b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse(), "a lock file nobody locked")

		Expect(unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)).To(Succeed())
		pid, _, held, err := b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue())
		Expect(pid).To(Equal(os.Getpid()))
		Expect(unix.Flock(int(f.Fd()), unix.LOCK_UN)).To(Succeed())
		_, _, held, err = b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse())
	})
})

// built unwraps a step the apk backend must accept.
func built(s backends.Step, err error) backends.Step {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return s
}

var _ = Describe("Backend on a root whose lib is an absolute symlink", func() {
	It("finds lib/apk/db inside the root (ROOT/usr/lib/apk/db), never the host's", func(ctx context.Context) {
		root := filepath.Join(GinkgoT().TempDir(), "root")
		db := filepath.Join(root, "usr/lib/apk/db")
		Expect(os.MkdirAll(db, 0o755)).To(Succeed())
		Expect(os.Symlink("/usr/lib", filepath.Join(root, "lib"))).To(Succeed())
		Expect(os.WriteFile(filepath.Join(db, "installed"), golden("apk-3.0.6.installed"), 0o644)).To(Succeed())
		b, err := apk.New(apk.Options{Settings: backends.Settings{Root: root, StateDir: GinkgoT().TempDir(), Log: logr.Discard(),
			Runner: &backendtest.CountingRunner{Fake: apkAnswer}}, Apk: "/sbin/apk"})
		Expect(err).NotTo(HaveOccurred())

		Expect(b.WatchPaths()).To(ContainElement(db))
		Expect(b.LockFiles()).To(Equal([]string{filepath.Join(db, "lock")}))
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).To(HaveKey("foo"), "read from ROOT/usr/lib/apk/db/installed")

		// The lock is looked up there too.
		f, err := os.Create(filepath.Join(db, "lock"))
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		Expect(unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)).To(Succeed())
		pid, _, held, err := b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue())
		Expect(pid).To(Equal(os.Getpid()))
	})
})
