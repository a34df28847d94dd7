package zypper_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/zypper"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
)

func exitError(code int) error {
	return exec.Command("/bin/sh", "-c", fmt.Sprintf("exit %d", code)).Run()
}

func fakeRoot() (root, bin string) {
	root = GinkgoT().TempDir()
	for _, d := range []string{"var/lib/rpm", "var/cache/zypp/solv/oss", "etc/zypp/repos.d", "run"} {
		Expect(os.MkdirAll(filepath.Join(root, d), 0o755)).To(Succeed())
	}
	Expect(os.WriteFile(filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"), []byte("db"), 0o644)).To(Succeed())
	bin = GinkgoT().TempDir()
	for _, n := range []string{"zypper", "rpm"} {
		Expect(os.WriteFile(filepath.Join(bin, n), []byte("#!/bin/sh\nexit 1\n"), 0o755)).To(Succeed())
	}
	return root, bin
}

var _ = Describe("parsers on recorded outputs", func() {
	It("reads list-updates, even after rpm's Alien warning", func() {
		out := append(backendtest.Golden("alien.prefix"), backendtest.Golden("debian-12-zypper-1.14.list-updates.stdout")...)
		ups, err := zypper.ParseUpdates(out)
		Expect(err).NotTo(HaveOccurred())
		Expect(ups).To(HaveLen(2))
		Expect(ups[0].Name).To(Equal("hello"))
		Expect(ups[0].Edition).To(Equal("2.0-1"))
		Expect(ups[0].EditionOld).To(Equal("1.0-1"))
		Expect(ups[0].Source.Alias).To(Equal("oss"))
	})

	It("reads security patches and their conflicts", func() {
		ps, err := zypper.ParseUpdates(backendtest.Golden("debian-12-zypper-1.14.list-patches-security.stdout"))
		Expect(err).NotTo(HaveOccurred())
		Expect(ps).To(HaveLen(1))
		Expect([]string{ps[0].Kind, ps[0].Name, ps[0].Category, ps[0].Status}).To(Equal([]string{"patch", "openSUSE-2026-1", "security", "needed"}))
		Expect(zypper.ParsePatchConflicts(backendtest.Golden("debian-12-zypper-1.14.info-patch.stdout"))).
			To(Equal([]zypper.Conflict{{Name: "secfix", EVR: "1.1-1"}}))
	})

	It("reads several conflicts of a patch on continuation lines", func() {
		out := "Conflicts   : [3]\n    libopenssl3.x86_64 < 3.1.4-9.1\n    openssl-3.x86_64 < 3.1.4-9.1\n    srcpackage:openssl-3 < 3.1.4-9.1\nSummary : x\n"
		Expect(zypper.ParsePatchConflicts([]byte(out))).To(Equal([]zypper.Conflict{
			{Name: "libopenssl3", EVR: "3.1.4-9.1"}, {Name: "openssl-3", EVR: "3.1.4-9.1"}, {Name: "srcpackage:openssl-3", EVR: "3.1.4-9.1"}}))
	})

	It("reads search results", func() {
		sols, err := zypper.ParseSearch(backendtest.Golden("debian-12-zypper-1.14.search.stdout"))
		Expect(err).NotTo(HaveOccurred())
		Expect(sols).To(HaveLen(4))
		Expect(sols[3]).To(Equal(zypper.Solvable{Status: "installed", Name: "shadowy", Kind: "package", Edition: "2:0.5-1", Arch: "noarch", Repository: "oss"}))
	})

	It("reads the locks file", func() {
		Expect(zypper.ParseLocks([]byte("\ntype: package\nmatch_type: glob\ncase_sensitive: on\nsolvable_name: hello\n\n" +
			"type: patch\nsolvable_name: openSUSE-1\n\nsolvable_name: kernel*\n"))).To(Equal([]string{"hello"}))
	})
})

var _ = Describe("classification", func() {
	DescribeTable("by exit code and words", func(file string, code int, reason v1alpha1.FailureReason, pid int, holder string) {
		f := zypper.ClassifyOutput(v1alpha1.StepInstall, code, backendtest.Golden(file))
		Expect(f.Reason).To(Equal(reason), f.Message)
		Expect(f.Message).NotTo(BeEmpty())
		Expect(f.LockHolderPID).To(Equal(pid))
		Expect(f.LockHolder).To(Equal(holder))
	},
		Entry(nil, "debian-12-zypper-1.14.remove-locked.stdout", zypper.ExitLocked, v1alpha1.FailureLockHeld, 4242, "sleep"),
		Entry(nil, "debian-12-zypper-1.14.install-unknown.stdout", zypper.ExitNotFound, v1alpha1.FailureNotFound, 0, ""),
		Entry(nil, "debian-12-zypper-1.14.install-unknown-version.stdout", zypper.ExitNotFound, v1alpha1.FailureNotFound, 0, ""),
	)

	It("names stale downloads and full disks", func() {
		Expect(zypper.ClassifyOutput(v1alpha1.StepUpgrade, 8, []byte("File './noarch/hello-2.0-1.noarch.rpm' not found on medium 'http://x/'\n")).Reason).To(Equal(v1alpha1.FailureStaleIndex))
		Expect(zypper.ClassifyOutput(v1alpha1.StepRefresh, 4, []byte("File './repodata/repomd.xml' not found on medium 'http://x/'\n")).Reason).To(Equal(v1alpha1.FailureFailed))
		Expect(zypper.ClassifyOutput(v1alpha1.StepUpgrade, 8, []byte("Installation of x failed:\nNo space left on device\n")).Reason).To(Equal(v1alpha1.FailureDiskFull))
		f := zypper.ClassifyOutput(v1alpha1.StepUpgrade, 8, []byte("Problem occurred\nrpm: RPM should not be used directly install RPM packages, use Alien instead!\n"))
		Expect(f).To(Equal(backends.Failure{Reason: v1alpha1.FailureFailed, Message: "Problem occurred"}))
	})
})

var _ = Describe("steps", func() {
	It("builds noninteractive zypper command lines for the root", func() {
		root, bin := fakeRoot()
		b, err := zypper.New(zypper.Options{Settings: backends.Settings{Root: root, PathEnv: bin, Log: GinkgoLogr}})
		Expect(err).NotTo(HaveOccurred())
		s := built(b.InstallStep([]backends.PackageRef{{Name: "hello", Version: "1.0-1"}, {Name: "vim"}}))
		Expect(s.Argv[:5]).To(Equal([]string{filepath.Join(bin, "zypper"), "--non-interactive", "--no-color", "--root", root}))
		Expect(s.Argv[5:]).To(Equal([]string{"install", "--oldpackage", "--", "hello=1.0-1", "vim"}))
		Expect(s.SuccessExitCodes).To(ConsistOf(zypper.ExitRebootNeeded, zypper.ExitRestartNeeded), "102/103: done, so the executor reports Succeeded")
		Expect(built(b.InstallStep([]backends.PackageRef{{Name: "vim"}})).Argv[5:]).To(Equal([]string{"install", "--", "vim"}))
		Expect(built(b.HoldStep([]string{"hello"}, true)).Argv[5:]).To(Equal([]string{"addlock", "--", "hello"}))
		Expect(built(b.HoldStep([]string{"hello"}, false)).Argv[5:]).To(Equal([]string{"removelock", "--", "hello"}))
		Expect(built(b.UpgradeStep([]string{"a", "b"})).Argv[5:]).To(Equal([]string{"update", "--", "a", "b"}))
		Expect(built(b.RemoveStep([]string{"a"})).Argv[5:]).To(Equal([]string{"remove", "--", "a"}))
		Expect(b.RefreshStep().Argv[5:]).To(Equal([]string{"refresh"}))
		Expect(b.InstallStep([]backends.PackageRef{{Name: "-x"}})).Error().To(HaveOccurred())
		Expect(b.InstallStep([]backends.PackageRef{{Name: "a", Version: "1 2"}})).Error().To(HaveOccurred())
		Expect(b.RemoveStep(nil)).Error().To(HaveOccurred())
	})
})

var _ = Describe("observe with a counting runner", func() {
	It("reads recorded outputs and spawns nothing on a no-op pass", func() {
		root, bin := fakeRoot()
		runner := &backendtest.CountingRunner{Fake: func(argv []string) ([]byte, error) {
			switch {
			case slices.Contains(argv, "--eval"):
				return []byte("/var/lib/rpm\n"), nil // asked once, at New
			case slices.Contains(argv, "-qa"):
				return []byte("hello\t0\t1.0\t1\tnoarch\t1700000000\nsecfix\t0\t1.0\t1\tnoarch\t1700000000\n"), nil
			case slices.Contains(argv, "list-updates"):
				return backendtest.Golden("debian-12-zypper-1.14.list-updates.stdout"), nil
			case slices.Contains(argv, "list-patches"):
				return backendtest.Golden("debian-12-zypper-1.14.list-patches-security.stdout"), nil
			case slices.Contains(argv, "info"):
				return backendtest.Golden("debian-12-zypper-1.14.info-patch.stdout"), nil
			case slices.Contains(argv, "search"):
				return backendtest.Golden("debian-12-zypper-1.14.search.stdout"), nil
			}
			return nil, exitError(1)
		}}
		b, err := zypper.New(zypper.Options{Settings: backends.Settings{Root: root, PathEnv: bin, Runner: runner, StateDir: GinkgoT().TempDir(), Log: GinkgoLogr}})
		Expect(err).NotTo(HaveOccurred())
		ctx := context.Background()
		obs, err := b.Observe(ctx, []string{"hello"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(6))
		Expect(obs.Upgrades["secfix"].Security).To(BeTrue())
		Expect(obs.Upgrades["hello"].Security).To(BeFalse())
		Expect(obs.Available["hello"]).To(Equal([]string{"2.0-1", "1.1-1", "1.0-1"}))
		Expect(obs.RebootRequired).To(BeFalse())

		_, err = b.Observe(ctx, []string{"hello"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(6), "a no-op observe spawns nothing")

		// libzypp's flag is read without a process.
		Expect(os.WriteFile(filepath.Join(root, "run/reboot-needed"), nil, 0o644)).To(Succeed())
		obs, err = b.Observe(ctx, []string{"hello"})
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.RebootRequired).To(BeTrue())
		Expect(runner.Count()).To(Equal(6))

		later := time.Now().Add(time.Minute)
		Expect(os.Chtimes(filepath.Join(root, "var/lib/rpm/rpmdb.sqlite"), later, later)).To(Succeed())
		_, err = b.Observe(ctx, []string{"hello"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(BeNumerically(">", 6))
	})
})

// built unwraps a step the zypper backend must accept.
func built(s backends.Step, err error) backends.Step {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return s
}
