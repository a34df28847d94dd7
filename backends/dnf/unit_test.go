package dnf_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/dnf"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
)

// exitError returns a real *exec.ExitError with the given code.
func exitError(code int) error {
	return exec.Command("/bin/sh", "-c", fmt.Sprintf("exit %d", code)).Run()
}

// fakeRoot makes a root with an rpm database file and a metadata cache,
// and a fake bin dir holding executables named dnf, yum and rpm.
func fakeRoot() (root, bin string) {
	root = GinkgoT().TempDir()
	for _, d := range []string{"var/lib/rpm", "var/cache/dnf/base-1234/repodata", "var/cache/yum/x86_64/7/base", "etc/yum.repos.d"} {
		Expect(os.MkdirAll(filepath.Join(root, d), 0o755)).To(Succeed())
	}
	Expect(os.WriteFile(filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"), []byte("db"), 0o644)).To(Succeed())
	bin = GinkgoT().TempDir()
	for _, n := range []string{"dnf", "yum", "rpm"} {
		Expect(os.WriteFile(filepath.Join(bin, n), []byte("#!/bin/sh\nexit 1\n"), 0o755)).To(Succeed())
	}
	return root, bin
}

const rpmQA = "hello\t0\t1.0\t1\tnoarch\t1700000000\nsecfix\t0\t1.0\t1\tnoarch\t1700000000\n" +
	"kernel\t0\t3.10.0\t1160.el7\tx86_64\t1700000000\nbind-license\t32\t9.11.4\t26.P2.el7_9.14\tnoarch\t1700000000\n"

var _ = Describe("parsers on recorded outputs", func() {
	It("reads dnf 4.14's repoquery of upgrades", func() {
		Expect(dnf.ParseRepoquery(backendtest.Golden("debian-12-dnf-4.14.repoquery-upgrades.stdout"))).To(Equal([]dnf.Candidate{
			{Name: "hello", EVR: "2.0-1", Arch: "noarch", Repo: "base"},
			{Name: "secfix", EVR: "1.1-1", Arch: "noarch", Repo: "base"},
		}))
	})

	It("reads dnf 4.14's check-update table", func() {
		Expect(dnf.ParseCheckUpdate(backendtest.Golden("debian-12-dnf-4.14.check-update.stdout"))).To(Equal([]dnf.Candidate{
			{Name: "hello", EVR: "2.0-1", Arch: "noarch", Repo: "base"},
			{Name: "secfix", EVR: "1.1-1", Arch: "noarch", Repo: "base"},
		}))
	})

	It("reads dnf 4.14's security advisories", func() {
		as := dnf.ParseUpdateinfo(backendtest.Golden("debian-12-dnf-4.14.updateinfo-security.stdout"))
		Expect(as).To(Equal([]dnf.Advisory{{ID: "TEST-2026-0001", Type: "Important/Sec.", Name: "secfix", EVR: "1.1-1"}}))
		Expect(as[0].IsSecurity()).To(BeTrue())
	})

	It("reads yum 3.4's check-update with epochs, a wrapped name and obsoletes", func() {
		cs := dnf.ParseCheckUpdate(backendtest.Golden("centos-7-yum-3.4.check-update.stdout"))
		Expect(cs).To(Equal([]dnf.Candidate{
			{Name: "bind-license", EVR: "32:9.11.4-26.P2.el7_9.16", Arch: "noarch", Repo: "updates"},
			{Name: "glibc", EVR: "2.17-326.el7_9.3", Arch: "x86_64", Repo: "updates"},
			{Name: "kernel", EVR: "3.10.0-1160.119.1.el7", Arch: "x86_64", Repo: "updates"},
			{Name: "NetworkManager-libnm", EVR: "1:1.18.8-2.el7_9", Arch: "x86_64", Repo: "updates"},
			{Name: "python-perf-debuginfo-common-with-a-long-name", EVR: "3.10.0-1160.119.1.el7", Arch: "x86_64", Repo: "updates"},
		}))
	})

	It("reads yum 3.4's security advisories with epochs in the NEVRA", func() {
		as := dnf.ParseUpdateinfo(backendtest.Golden("centos-7-yum-3.4.updateinfo-list-security.stdout"))
		Expect(as).To(Equal([]dnf.Advisory{
			{ID: "RHSA-2024:1249", Type: "Important/Sec.", Name: "kernel", EVR: "3.10.0-1160.119.1.el7"},
			{ID: "RHSA-2023:7783", Type: "Moderate/Sec.", Name: "bind-license", EVR: "32:9.11.4-26.P2.el7_9.15"},
		}))
	})

	It("reads versionlock lists of dnf and yum", func() {
		Expect(dnf.ParseVersionlock([]byte("# comment\nhello-0:1.0-1.*\n!nope-0:1-1.*\n0:kernel-3.10.0-1160.el7.*\n"))).
			To(Equal([]string{"hello", "kernel"}))
	})
})

var _ = Describe("classification", func() {
	step := backends.Step{Type: v1alpha1.StepInstall}
	DescribeTable("recorded failures", func(file string, code int, reason v1alpha1.FailureReason, pid int, holder string) {
		f := dnf.ClassifyOutput(step.Type, code, backendtest.Golden(file))
		Expect(f.Reason).To(Equal(reason), f.Message)
		Expect(f.Message).NotTo(BeEmpty())
		Expect(f.LockHolderPID).To(Equal(pid))
		Expect(f.LockHolder).To(Equal(holder))
	},
		Entry(nil, "debian-12-dnf-4.14.remove-rpmdb-locked.stdout", 200, v1alpha1.FailureLockHeld, 4242, "sleep"),
		Entry(nil, "debian-12-dnf-4.14.remove-rpm-locked.stdout", 1, v1alpha1.FailureLockHeld, 0, ""),
		Entry(nil, "debian-12-dnf-4.14.install-unknown.stdout", 1, v1alpha1.FailureNotFound, 0, ""),
		Entry(nil, "debian-12-dnf-4.14.install-unknown-version.stdout", 1, v1alpha1.FailureNotFound, 0, ""),
		Entry(nil, "centos-7-yum-3.4.install-locked.stdout", 1, v1alpha1.FailureLockHeld, 4242, ""),
		Entry(nil, "centos-7-yum-3.4.install-unknown.stdout", 1, v1alpha1.FailureNotFound, 0, ""),
		Entry(nil, "centos-7-yum-3.4.remove-unknown.stdout", 1, v1alpha1.FailureNotFound, 0, ""),
		Entry(nil, "centos-7-yum-3.4.install-stale.stdout", 1, v1alpha1.FailureStaleIndex, 0, ""),
		Entry(nil, "centos-7-yum-3.4.install-diskfull.stdout", 1, v1alpha1.FailureDiskFull, 0, ""),
	)

	It("does not call a failed download during a refresh a stale index", func() {
		f := dnf.ClassifyOutput(v1alpha1.StepRefresh, 1, []byte("Error: Failed to download metadata for repo 'base': Cannot download repomd.xml"))
		Expect(f.Reason).To(Equal(v1alpha1.FailureFailed))
		Expect(f.Message).To(Equal("Failed to download metadata for repo 'base': Cannot download repomd.xml"))
	})
})

var _ = Describe("steps", func() {
	var b *dnf.Backend
	BeforeEach(func() {
		root, bin := fakeRoot()
		var err error
		b, err = dnf.New(dnf.Options{Settings: backends.Settings{Root: root, PathEnv: bin, StateDir: GinkgoT().TempDir(), Log: GinkgoLogr}})
		Expect(err).NotTo(HaveOccurred())
	})

	It("builds noninteractive dnf command lines for the root", func() {
		s := built(b.InstallStep([]backends.PackageRef{{Name: "hello", Version: "1.0-1"}, {Name: "shadowy", Version: "2:0.5-1"}, {Name: "vim"}}))
		Expect(s.Argv[0]).To(HavePrefix("/"))
		Expect(s.Argv).To(ContainElements("-y", "--setopt=exit_on_lock=True", "--installroot="+b.Cfg.Root, "--releasever=1", "--disableplugin=*"))
		Expect(s.Argv[len(s.Argv)-5:]).To(Equal([]string{"install", "--", "hello-1.0-1", "shadowy-2:0.5-1", "vim"}))
		Expect(s.Env).To(ContainElement("LC_ALL=C"))
		Expect(s.Packages).To(Equal([]string{"hello", "shadowy", "vim"}))
		Expect(built(b.UpgradeStep([]string{"a", "a", "b"})).Argv).To(HaveSuffix2("upgrade", "--", "a", "b"))
		Expect(b.RefreshStep().Argv).To(ContainElements("makecache", "--refresh"))
	})

	DescribeTable("refuses what must not reach argv", func(refs []backends.PackageRef) {
		Expect(b.InstallStep(refs)).Error().To(HaveOccurred())
	},
		Entry("an option as a name", []backends.PackageRef{{Name: "--setopt=x"}}),
		Entry("a shell word as a version", []backends.PackageRef{{Name: "hello", Version: "1.0;rm"}}),
		Entry("nothing", []backends.PackageRef{}),
		Entry("a name twice", []backends.PackageRef{{Name: "a"}, {Name: "a", Version: "1"}}),
	)

	It("refuses holds without versionlock and builds them with it", func() {
		Expect(b.Capabilities().Hold).To(BeFalse())
		Expect(b.HoldStep([]string{"hello"}, true)).Error().To(HaveOccurred())
		root, bin := fakeRoot()
		yes := true
		b2, err := dnf.New(dnf.Options{Settings: backends.Settings{Root: root, PathEnv: bin}, Versionlock: &yes})
		Expect(err).NotTo(HaveOccurred())
		Expect(b2.Capabilities().Hold).To(BeTrue())
		Expect(built(b2.HoldStep([]string{"hello"}, true)).Argv).To(HaveSuffix2("versionlock", "add", "--", "hello"))
		Expect(built(b2.HoldStep([]string{"hello"}, false)).Argv).To(HaveSuffix2("versionlock", "delete", "--", "hello"))
	})

	It("speaks yum's command set in yum mode, and dnf's where yum is dnf", func() {
		root, bin := fakeRoot()
		y, err := dnf.New(dnf.Options{Settings: backends.Settings{Root: root, PathEnv: bin}, Mode: dnf.ModeYum})
		Expect(err).NotTo(HaveOccurred())
		Expect(y.Name()).To(Equal("yum"))
		Expect(built(y.UpgradeStep([]string{"a"})).Argv).To(HaveSuffix2("update", "--", "a"))
		Expect(built(y.UpgradeStep([]string{"a"})).Argv).To(ContainElement("--setopt=exit_on_lock=1"))

		Expect(os.Remove(filepath.Join(bin, "yum"))).To(Succeed())
		Expect(os.Symlink("dnf", filepath.Join(bin, "yum"))).To(Succeed())
		d, err := dnf.New(dnf.Options{Settings: backends.Settings{Root: root, PathEnv: bin}, Mode: dnf.ModeYum})
		Expect(err).NotTo(HaveOccurred())
		Expect(d.Name()).To(Equal("dnf"))
		Expect(built(d.UpgradeStep([]string{"a"})).Argv).To(HaveSuffix2("upgrade", "--", "a"))
	})
})

// HaveSuffix2 matches a slice ending in want.
func HaveSuffix2(want ...string) OmegaMatcher {
	return WithTransform(func(s []string) []string {
		if len(s) < len(want) {
			return s
		}
		return s[len(s)-len(want):]
	}, Equal(want))
}

var _ = Describe("observe with a counting runner", func() {
	fakeYum := func(argv []string) ([]byte, error) {
		joined := strings.Join(argv, " ")
		switch {
		case slices.Contains(argv, "--eval"):
			return []byte("/var/lib/rpm\n"), nil // CentOS 7's rpm 4.11
		case strings.Contains(joined, "-qa"):
			return []byte(rpmQA), nil
		case slices.Contains(argv, "check-update"):
			return backendtest.Golden("centos-7-yum-3.4.check-update.stdout"), exitError(100)
		case slices.Contains(argv, "updateinfo"):
			return backendtest.Golden("centos-7-yum-3.4.updateinfo-list-security.stdout"), nil
		case slices.Contains(argv, "list"):
			return backendtest.Golden("centos-7-yum-3.4.list-available.stdout"), nil
		}
		return nil, exitError(1)
	}

	It("observes yum 3.4 from recorded outputs and spawns nothing the second time", func() {
		root, bin := fakeRoot()
		runner := &backendtest.CountingRunner{Fake: fakeYum}
		b, err := dnf.New(dnf.Options{Settings: backends.Settings{Root: root, PathEnv: bin, Runner: runner, StateDir: GinkgoT().TempDir(), Log: GinkgoLogr}, Mode: dnf.ModeYum})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Argvs()[0][1:]).To(Equal([]string{"--root", root, "--eval", "%{_dbpath}"}), "asked once, at New")
		Expect(b.WatchPaths()[0]).To(Equal(filepath.Join(root, "var/lib/rpm")))
		ctx := context.Background()
		obs, err := b.Observe(ctx, []string{"kernel"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(5))
		Expect(obs.Installed["bind-license"].Version).To(Equal("32:9.11.4-26.P2.el7_9.14"))
		Expect(obs.Upgrades["kernel"]).To(Equal(backends.Upgrade{Name: "kernel", From: "3.10.0-1160.el7", To: "3.10.0-1160.119.1.el7", Source: "updates", Security: true}))
		Expect(obs.Upgrades["bind-license"].Security).To(BeTrue())
		Expect(obs.Upgrades["glibc"].Security).To(BeFalse())
		Expect(obs.Upgrades).NotTo(HaveKey("grub2"), "obsoletes are not upgrades")
		Expect(obs.Available["kernel"]).To(Equal([]string{"3.10.0-1160.119.1.el7", "3.10.0-1160.118.1.el7", "3.10.0-1160.el7"}))

		for range 3 {
			_, err = b.Observe(ctx, []string{"kernel"})
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(runner.Count()).To(Equal(5), "a no-op observe spawns nothing")

		// An rpm database change re-reads the packages and the upgrades.
		later := time.Now().Add(time.Minute)
		Expect(os.Chtimes(filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"), later, later)).To(Succeed())
		_, err = b.Observe(ctx, []string{"kernel"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(9))
	})
})

// built unwraps a step the dnf backend must accept.
func built(s backends.Step, err error) backends.Step {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return s
}
