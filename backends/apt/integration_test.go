package apt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apt"
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
)

// Set PATCHLET_UPDATE_GOLDEN=1 to record the real outputs the integration
// tests see into testdata/ (the classifier's golden files).
const updateGoldenEnv = "PATCHLET_UPDATE_GOLDEN"

// goldenNames replaces the run's temporary paths and the test's pid in
// recorded outputs, so that re-recording changes only what apt changed.
var goldenNames = map[string]string{}

func recordGolden(name string, out []byte) {
	if os.Getenv(updateGoldenEnv) == "" {
		return
	}
	text := strings.ReplaceAll(string(out), fmt.Sprintf("process %d (", os.Getpid()), "process 4242 (")
	for from, to := range goldenNames {
		text = strings.ReplaceAll(text, from, to)
	}
	Expect(os.WriteFile(filepath.Join("testdata", name), []byte(text), 0o644)).To(Succeed())
}

// The repository's packages.
var (
	hello = func(v string) testrepo.Package {
		return testrepo.Package{Name: "hello", Version: v,
			Conffiles: map[string]string{"/etc/hello.conf": "# hello " + v + "\ngreeting=hi\n"},
			Files:     map[string]string{"/usr/share/hello/version": v + "\n"}}
	}
	kernel = func(v string) testrepo.Package {
		return testrepo.Package{Name: "linux-image-test", Version: v, RebootRequired: true}
	}
	secfix = func(v string) testrepo.Package { return testrepo.Package{Name: "secfix", Version: v} }
	meta   = func(v, abi string) testrepo.Package {
		return testrepo.Package{Name: "linux-image-meta", Version: v, Depends: "linux-image-" + abi}
	}
	abi = func(abi string) testrepo.Package {
		return testrepo.Package{Name: "linux-image-" + abi, Version: "1.0", RebootRequired: true}
	}
	flaky = testrepo.Package{Name: "flaky", Version: "1.0", PostinstFailWhile: "/etc/flaky-fail"}
	slow  = func(v string, sleep time.Duration) testrepo.Package {
		return testrepo.Package{Name: "slow", Version: v, PreinstSleep: sleep}
	}
	big = testrepo.Package{Name: "big", Version: "1.0",
		Files: map[string]string{"/usr/share/big/blob": strings.Repeat("x", 256*1024)}}
)

type fixture struct {
	builder *testrepo.Builder
	main    *testrepo.Repo
	sec     *testrepo.Repo
}

func newFixture(dir string) *fixture {
	b, err := testrepo.NewBuilder(filepath.Join(dir, "build"))
	Expect(err).NotTo(HaveOccurred())
	main, err := testrepo.NewRepo(filepath.Join(dir, "main"), testrepo.Release{
		Origin: "Debian", Label: "Debian", Suite: "stable", Codename: "bookworm", Version: "12.5"})
	Expect(err).NotTo(HaveOccurred())
	sec, err := testrepo.NewRepo(filepath.Join(dir, "security"), testrepo.Release{
		Origin: "Debian", Label: "Debian-Security", Suite: "stable-security", Codename: "bookworm-security", Version: "12"})
	Expect(err).NotTo(HaveOccurred())
	f := &fixture{builder: b, main: main, sec: sec}
	f.add(main, hello("1.0"), hello("1.1"), hello("2.0"), kernel("1.0"), kernel("2.0"), secfix("1.0"), flaky, slow("1.0", 0), slow("2.0", 30*time.Second), big)
	goldenNames[main.Dir] = "/srv/repo/main"
	goldenNames[sec.Dir] = "/srv/repo/security"
	f.add(sec, secfix("1.1"), meta("2.0", "abi2"), abi("abi2"), testrepo.Package{Name: "dual", Version: "1.1"})
	f.add(main, meta("1.0", "abi1"), abi("abi1"), testrepo.Package{Name: "dual", Version: "1.0"},
		testrepo.Package{Name: "dual", Version: "1.1"})
	return f
}

func (f *fixture) add(repo *testrepo.Repo, pkgs ...testrepo.Package) {
	for _, p := range pkgs {
		deb, err := f.builder.Build(p)
		Expect(err).NotTo(HaveOccurred())
		Expect(repo.Add(deb)).To(Succeed())
	}
	Expect(repo.Publish()).To(Succeed())
}

// run runs a step as the tests' executor: exact argv and env, stdin
// /dev/null; it returns the exit code and the combined output.
func run(step backends.Step) (int, []byte) {
	GinkgoHelper()
	Expect(step.Argv).NotTo(BeEmpty())
	Expect(filepath.IsAbs(step.Argv[0])).To(BeTrue())
	cmd := exec.Command(step.Argv[0], step.Argv[1:]...)
	cmd.Env = step.Env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, out.Bytes()
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), out.Bytes()
	}
	Fail("run " + strings.Join(step.Argv, " ") + ": " + err.Error())
	return -1, nil
}

func mustRun(step backends.Step) []byte {
	GinkgoHelper()
	code, out := run(step)
	Expect(code).To(Equal(0), "%s\n%s", strings.Join(step.Argv, " "), out)
	return out
}

var _ = Describe("apt backend against a real isolated root", Label("integration"), Ordered, ContinueOnFailure, func() {
	var (
		fx       *fixture
		root     *testrepo.Root
		b        *apt.Backend
		stateDir string
		ctx      = context.Background()
	)

	BeforeAll(func() {
		fx = newFixture(GinkgoT().TempDir())
	})

	BeforeEach(func() {
		dir := GinkgoT().TempDir()
		var err error
		root, err = testrepo.NewRoot(filepath.Join(dir, "root"), fx.main, fx.sec)
		Expect(err).NotTo(HaveOccurred())
		goldenNames[root.Dir] = "/srv/root"
		DeferCleanup(func() { delete(goldenNames, root.Dir) })
		stateDir = filepath.Join(dir, "state")
		b, err = apt.New(apt.Options{Settings: backends.Settings{Root: root.Dir, StateDir: stateDir, Log: GinkgoLogr}})
		Expect(err).NotTo(HaveOccurred())
		mustRun(b.RefreshStep())
	})

	observe := func(names ...string) *backends.Observation {
		GinkgoHelper()
		obs, err := b.Observe(ctx, names)
		Expect(err).NotTo(HaveOccurred())
		return obs
	}

	It("refreshes, records the refresh and reports pending upgrades with their security class", func() {
		refreshed := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
		Expect(b.RecordRefresh(refreshed)).To(Succeed())
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "hello", Version: "1.0"}, {Name: "secfix"}})))

		obs := observe("hello", "secfix", "absent")
		Expect(obs.IndexRefreshed).To(BeTemporally("==", refreshed))
		Expect(obs.Installed).To(HaveKeyWithValue("hello", backends.Package{Name: "hello", Version: "1.0", Arch: "all"}))
		Expect(obs.Installed).To(HaveKeyWithValue("secfix", backends.Package{Name: "secfix", Version: "1.1", Arch: "all"}))
		Expect(obs.Upgrades).To(Equal(map[string]backends.Upgrade{
			"hello": {Name: "hello", From: "1.0", To: "2.0", Source: "stable"},
		}))
		Expect(obs.Available).To(Equal(map[string][]string{
			"hello":  {"2.0", "1.1", "1.0"},
			"secfix": {"1.1", "1.0"},
		}))
		Expect(obs.Interrupted).To(BeFalse())
		Expect(obs.RebootRequired).To(BeFalse())

		// Older versions from the main suite: their upgrades come from
		// the security suite (dual 1.1 from both), and the new kernel
		// needs a new package, which dist-upgrade reports.
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "secfix", Version: "1.0"},
			{Name: "linux-image-meta", Version: "1.0"}, {Name: "dual", Version: "1.0"}})))
		obs = observe()
		Expect(obs.Upgrades).To(Equal(map[string]backends.Upgrade{
			"hello":            {Name: "hello", From: "1.0", To: "2.0", Source: "stable"},
			"secfix":           {Name: "secfix", From: "1.0", To: "1.1", Source: "stable-security", Security: true},
			"dual":             {Name: "dual", From: "1.0", To: "1.1", Source: "stable-security", Security: true},
			"linux-image-meta": {Name: "linux-image-meta", From: "1.0", To: "2.0", Source: "stable-security", Security: true},
			"linux-image-abi2": {Name: "linux-image-abi2", To: "1.0", Source: "stable-security", Security: true},
		}))

		cmd := exec.Command("/usr/bin/apt-get", "-s", "-q", "-o", "Debug::NoLocking=1", "dist-upgrade")
		cmd.Env = b.Env()
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred())
		recordGolden("debian-12.apt-get-s-dist-upgrade.stdout", out)
		Expect(apt.ParseDryRun(out)).To(Equal(obs.Upgrades))

		// Why dist-upgrade: a plain upgrade keeps the new kernel back.
		cmd = exec.Command("/usr/bin/apt-get", "-s", "-q", "-o", "Debug::NoLocking=1", "upgrade")
		cmd.Env = b.Env()
		out, err = cmd.Output()
		Expect(err).NotTo(HaveOccurred())
		recordGolden("debian-12.apt-get-s-upgrade.stdout", out)
		Expect(apt.ParseDryRun(out)).NotTo(HaveKey("linux-image-meta"))
		Expect(string(out)).To(MatchRegexp(`kept back:\n  linux-image-meta`))
	})

	It("installs a pinned older version and upgrades to the newest", func() {
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "hello"}})))
		Expect(observe().Installed["hello"].Version).To(Equal("2.0"))

		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "hello", Version: "1.1"}})))
		obs := observe()
		Expect(obs.Installed["hello"].Version).To(Equal("1.1"))
		Expect(obs.Upgrades).To(HaveKeyWithValue("hello", HaveField("To", "2.0")))

		mustRun(built(b.UpgradeStep([]string{"hello", "secfix"})))
		obs = observe()
		Expect(obs.Installed["hello"].Version).To(Equal("2.0"))
		Expect(obs.Installed).NotTo(HaveKey("secfix"), "--only-upgrade must not install what is not installed")
		Expect(obs.Upgrades).To(BeEmpty())
	})

	It("keeps a locally edited conffile across an upgrade and writes .dpkg-dist", func() {
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "hello", Version: "1.0"}})))
		conf := root.Path("etc/hello.conf")
		Expect(os.WriteFile(conf, []byte("greeting=local edit\n"), 0o644)).To(Succeed())

		mustRun(built(b.UpgradeStep([]string{"hello"})))
		Expect(observe().Installed["hello"].Version).To(Equal("2.0"))
		Expect(os.ReadFile(conf)).To(Equal([]byte("greeting=local edit\n")))
		Expect(os.ReadFile(conf + ".dpkg-dist")).To(ContainSubstring("# hello 2.0"))
	})

	It("holds and releases a package", func() {
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "hello", Version: "1.0"}})))
		mustRun(built(b.HoldStep([]string{"hello"}, true)))
		obs := observe()
		Expect(obs.Installed["hello"].Held).To(BeTrue())
		Expect(obs.Upgrades).NotTo(HaveKey("hello"), "a held package is not upgraded")

		mustRun(built(b.HoldStep([]string{"hello"}, false)))
		obs = observe()
		Expect(obs.Installed["hello"].Held).To(BeFalse())
		Expect(obs.Upgrades).To(HaveKey("hello"))

		mustRun(built(b.RemoveStep([]string{"hello"})))
		Expect(observe().Installed).NotTo(HaveKey("hello"))
	})

	It("reports the reboot a package's postinst asks for, inside the root only", func() {
		_, hostErrBefore := os.Stat("/run/reboot-required")
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "linux-image-test", Version: "1.0"}})))
		mustRun(built(b.UpgradeStep([]string{"linux-image-test"})))
		obs := observe()
		Expect(obs.RebootRequired).To(BeTrue())
		Expect(obs.RebootPackages).To(Equal([]string{"linux-image-test"}))
		_, hostErrAfter := os.Stat("/run/reboot-required")
		Expect(errors.Is(hostErrAfter, os.ErrNotExist)).To(Equal(errors.Is(hostErrBefore, os.ErrNotExist)))
	})

	It("classifies a lock held by another process as LockHeld with its pid", func() {
		lock, err := os.OpenFile(root.Path("var/lib/dpkg/lock-frontend"), os.O_RDWR|os.O_CREATE, 0o640)
		Expect(err).NotTo(HaveOccurred())
		defer lock.Close()
		Expect(syscall.FcntlFlock(lock.Fd(), syscall.F_SETLK, &syscall.Flock_t{Type: syscall.F_WRLCK})).To(Succeed())

		step := built(b.InstallStep([]backends.PackageRef{{Name: "hello"}}))
		code, out := run(step)
		Expect(code).To(Equal(100))
		recordGolden("debian-12.apt-get-install.lock-held.out", out)
		f := b.Classify(step, code, out)
		Expect(f.Reason).To(Equal(v1alpha1.FailureLockHeld))
		Expect(f.LockHolderPID).To(Equal(os.Getpid()))
		comm, err := os.ReadFile("/proc/self/comm")
		Expect(err).NotTo(HaveOccurred())
		Expect(f.LockHolder).To(Equal(strings.TrimSpace(string(comm))))
		Expect(f.Message).To(HavePrefix("Could not get lock " + root.Path("var/lib/dpkg/lock-frontend")))
	})

	It("classifies an unknown package and an unknown version as PackageNotFound", func() {
		step := built(b.InstallStep([]backends.PackageRef{{Name: "no-such-package"}}))
		code, out := run(step)
		Expect(code).To(Equal(100))
		recordGolden("debian-12.apt-get-install.unknown-package.out", out)
		f := b.Classify(step, code, out)
		Expect(f).To(Equal(backends.Failure{Reason: v1alpha1.FailureNotFound, Message: "Unable to locate package no-such-package"}))

		step = built(b.InstallStep([]backends.PackageRef{{Name: "hello", Version: "9.9"}}))
		code, out = run(step)
		Expect(code).To(Equal(100))
		recordGolden("debian-12.apt-get-install.unknown-version.out", out)
		Expect(b.Classify(step, code, out)).To(Equal(backends.Failure{
			Reason: v1alpha1.FailureNotFound, Message: "Version '9.9' for 'hello' was not found"}))

		step = built(b.HoldStep([]string{"no-such-package"}, true))
		code, out = run(step)
		Expect(code).To(Equal(100))
		recordGolden("debian-12.apt-mark-hold.unknown-package.out", out)
		Expect(b.Classify(step, code, out).Reason).To(Equal(v1alpha1.FailureNotFound))
	})

	It("classifies a package gone from the repository since the refresh as StaleIndex", func() {
		repo, err := testrepo.NewRepo(filepath.Join(GinkgoT().TempDir(), "stale"), testrepo.Release{Suite: "stale"})
		Expect(err).NotTo(HaveOccurred())
		goldenNames[repo.Dir] = "/srv/repo/stale"
		DeferCleanup(func() { delete(goldenNames, repo.Dir) })
		fx.add(repo, hello("1.0"), hello("2.0"))
		Expect(root.SetSources(repo)).To(Succeed())
		mustRun(b.RefreshStep())
		Expect(repo.Delete(hello("2.0"))).To(Succeed())

		step := built(b.InstallStep([]backends.PackageRef{{Name: "hello"}}))
		code, out := run(step)
		Expect(code).To(Equal(100))
		recordGolden("debian-12.apt-get-install.stale-index.out", out)
		f := b.Classify(step, code, out)
		Expect(f.Reason).To(Equal(v1alpha1.FailureStaleIndex))
		Expect(f.Message).To(ContainSubstring("hello_2.0_all.deb"))

		// After a refresh the same step succeeds (with the version left).
		Expect(repo.Publish()).To(Succeed())
		mustRun(b.RefreshStep())
		mustRun(step)
		Expect(observe().Installed["hello"].Version).To(Equal("1.0"))
	})

	It("detects a failed configure as interrupted and recovers it", func() {
		flag := root.Path("etc/flaky-fail")
		Expect(os.WriteFile(flag, nil, 0o644)).To(Succeed())
		step := built(b.InstallStep([]backends.PackageRef{{Name: "flaky"}}))
		code, out := run(step)
		Expect(code).To(Equal(100))
		recordGolden("debian-12.apt-get-install.postinst-failed.out", out)
		f := b.Classify(step, code, out)
		Expect(f.Reason).To(Equal(v1alpha1.FailureFailed))
		Expect(f.Message).To(ContainSubstring("Sub-process /usr/bin/dpkg returned an error code (1)"))

		obs := observe()
		Expect(obs.Interrupted).To(BeTrue())
		Expect(obs.Installed).To(HaveKey("flaky"))

		Expect(os.Remove(flag)).To(Succeed())
		mustRun(built(b.RecoverStep()))
		Expect(observe().Interrupted).To(BeFalse())
	})

	It("detects dpkg killed in the middle and classifies apt's refusal as Interrupted", func() {
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "slow", Version: "1.0"}})))
		// The upgrade's preinst sleeps; dpkg has journalled the old
		// package's new state by then.
		step := built(b.UpgradeStep([]string{"slow"}))
		cmd := exec.Command(step.Argv[0], step.Argv[1:]...)
		cmd.Env = step.Env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		Expect(cmd.Start()).To(Succeed())
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		Eventually(func() []string {
			entries, _ := os.ReadDir(root.Path("var/lib/dpkg/updates"))
			var journal []string
			for _, e := range entries {
				if strings.Trim(e.Name(), "0123456789") == "" {
					journal = append(journal, e.Name())
				}
			}
			return journal
		}).WithTimeout(10 * time.Second).WithPolling(20 * time.Millisecond).ShouldNot(BeEmpty())
		// While dpkg runs, its half-done state is no interruption.
		Expect(observe().Interrupted).To(BeFalse())
		// apt runs dpkg in a session of its own: kill dpkg (the holder of
		// the database lock) and its maintainer script, then apt-get.
		lockFile, err := os.Open(root.Path("var/lib/dpkg/lock"))
		Expect(err).NotTo(HaveOccurred())
		defer lockFile.Close()
		lk := syscall.Flock_t{Type: syscall.F_WRLCK}
		Expect(syscall.FcntlFlock(lockFile.Fd(), syscall.F_GETLK, &lk)).To(Succeed())
		Expect(lk.Type).NotTo(Equal(int16(syscall.F_UNLCK)))
		dpkgGroup, err := syscall.Getpgid(int(lk.Pid))
		Expect(err).NotTo(HaveOccurred())
		Expect(dpkgGroup).NotTo(Equal(syscall.Getpgrp()))
		Expect(syscall.Kill(-dpkgGroup, syscall.SIGKILL)).To(Succeed())
		Expect(syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)).To(Succeed())
		Eventually(done).WithTimeout(10 * time.Second).Should(Receive())
		Eventually(func() int16 { // until dpkg is gone for good
			lk := syscall.Flock_t{Type: syscall.F_WRLCK}
			Expect(syscall.FcntlFlock(lockFile.Fd(), syscall.F_GETLK, &lk)).To(Succeed())
			return lk.Type
		}).WithTimeout(10 * time.Second).WithPolling(10 * time.Millisecond).Should(Equal(int16(syscall.F_UNLCK)))

		Expect(observe().Interrupted).To(BeTrue())
		next := built(b.InstallStep([]backends.PackageRef{{Name: "hello"}}))
		code, out := run(next)
		Expect(code).To(Equal(100))
		recordGolden("debian-12.apt-get-install.dpkg-interrupted.out", out)
		Expect(b.Classify(next, code, out).Reason).To(Equal(v1alpha1.FailureInterrupted))

		// dpkg --configure -a merges the journal, so apt runs again, but a
		// package dpkg left half-installed still needs a reinstall.
		mustRun(built(b.RecoverStep()))
		mustRun(next)
		Expect(observe().Interrupted).To(BeTrue())
		// A plain install of the same version leaves it half-installed;
		// only a reinstall (no step of the Backend interface yet) fixes it.
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "slow", Version: "1.0"}})))
		Expect(observe().Interrupted).To(BeTrue())
		reinstall := built(b.InstallStep([]backends.PackageRef{{Name: "slow", Version: "1.0"}}))
		reinstall.Argv = append(reinstall.Argv, "--reinstall")
		mustRun(reinstall)
		obs := observe()
		Expect(obs.Interrupted).To(BeFalse())
		Expect(obs.Installed["slow"].Version).To(Equal("1.0"))
	})

	It("classifies a full disk as DiskFull", func() {
		target := root.Path("usr/share/big")
		Expect(os.MkdirAll(target, 0o755)).To(Succeed())
		if err := syscall.Mount("tmpfs", target, "tmpfs", 0, "size=64k"); err != nil {
			Skip("cannot mount a tmpfs: " + err.Error())
		}
		DeferCleanup(func() { Expect(syscall.Unmount(target, syscall.MNT_DETACH)).To(Succeed()) })
		step := built(b.InstallStep([]backends.PackageRef{{Name: "big"}}))
		code, out := run(step)
		Expect(code).To(Equal(100))
		recordGolden("debian-12.apt-get-install.disk-full.out", out)
		Expect(b.Classify(step, code, out).Reason).To(Equal(v1alpha1.FailureDiskFull))
	})
})

func readFile(path string) string {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	return string(data)
}
