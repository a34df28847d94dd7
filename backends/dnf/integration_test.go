package dnf_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/dnf"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
	"github.com/patchlet/patchlet/internal/testsupport/testrpm"
)

var (
	hello = func(v string) testrpm.Package {
		return testrpm.Package{Name: "hello", Version: v,
			Conffiles: map[string]string{"/etc/hello.conf": "# hello " + v + "\ngreeting=hi\n"},
			Files:     map[string]string{"/usr/share/hello/version": v + "\n"}}
	}
	secfix = func(v string) testrpm.Package { return testrpm.Package{Name: "secfix", Version: v} }
	kernel = testrpm.Package{Name: "kernel-core", Version: "6.1", Files: map[string]string{"/boot/vmlinuz-test": "k\n"}}
	epoch  = testrpm.Package{Name: "shadowy", Version: "0.5", Epoch: 2}
)

// run runs a step for real and returns its exit code and output.
func run(s backends.Step) (int, []byte) {
	ExpectWithOffset(1, s.Argv).NotTo(BeEmpty())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Argv[0], s.Argv[1:]...)
	cmd.Env = s.Env
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out
	}
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return 0, out
}

func mustRun(s backends.Step) []byte {
	code, out := run(s)
	ExpectWithOffset(1, code).To(Equal(0), string(out))
	return out
}

var _ = Describe("dnf against the real dnf in an isolated root", Ordered, Label("integration"), func() {
	var (
		root   *testrpm.Root
		repo   *testrpm.Repo
		b      *dnf.Backend
		runner *backendtest.CountingRunner
		ctx    = context.Background()
	)

	BeforeAll(func() {
		if _, err := exec.LookPath("dnf"); err != nil {
			Skip("dnf is not installed (apt-get install dnf rpm createrepo-c)")
		}
		dir := GinkgoT().TempDir()
		builder, err := testrpm.NewBuilder(filepath.Join(dir, "build"))
		Expect(err).NotTo(HaveOccurred())
		repo, err = testrpm.NewRepo(builder, filepath.Join(dir, "repo"), "base")
		Expect(err).NotTo(HaveOccurred())
		Expect(repo.Add(hello("1.0"), hello("1.1"), hello("2.0"), secfix("1.0"), secfix("1.1"), kernel, epoch)).To(Succeed())
		repo.SetAdvisories(testrpm.Advisory{ID: "TEST-2026-0001", Type: "security", Severity: "Important",
			Title: "secfix fix", Packages: []testrpm.Package{secfix("1.1")}})
		Expect(repo.Publish()).To(Succeed())
		root, err = testrpm.NewRoot(filepath.Join(dir, "root"), repo)
		Expect(err).NotTo(HaveOccurred())
		backendtest.GoldenNames[root.Dir] = "/ROOT"
		backendtest.GoldenNames[repo.Dir] = "/REPO"
		runner = &backendtest.CountingRunner{}
		b, err = dnf.New(dnf.Options{Settings: backends.Settings{Root: root.Dir, StateDir: filepath.Join(dir, "state"), Log: GinkgoLogr, Runner: runner},
			Home: root.Home})
		Expect(err).NotTo(HaveOccurred())
	})

	It("observes an empty root before any refresh", func() {
		obs, err := b.Observe(ctx, []string{"hello"})
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).To(BeEmpty())
		Expect(obs.Upgrades).To(BeEmpty())
		Expect(obs.IndexRefreshed.IsZero()).To(BeTrue())
	})

	It("refreshes and lists the available versions newest first", func() {
		mustRun(b.RefreshStep())
		now := time.Now()
		Expect(b.RecordRefresh(now)).To(Succeed())
		obs, err := b.Observe(ctx, []string{"hello", "shadowy", "nosuch"})
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Available["hello"]).To(Equal([]string{"2.0-1", "1.1-1", "1.0-1"}), "%q", runner.Argvs())
		Expect(obs.Available["shadowy"]).To(Equal([]string{"2:0.5-1"}))
		Expect(obs.Available).NotTo(HaveKey("nosuch"))
		Expect(obs.IndexRefreshed).To(BeTemporally("~", now, time.Millisecond))
	})

	It("installs pinned versions", func() {
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "hello", Version: "1.0-1"}, {Name: "secfix", Version: "1.0"}, {Name: "shadowy", Version: "2:0.5-1"}})))
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed["hello"].Version).To(Equal("1.0-1"))
		Expect(obs.Installed["secfix"].Version).To(Equal("1.0-1"))
		Expect(obs.Installed["shadowy"].Version).To(Equal("2:0.5-1"))
	})

	It("detects pending upgrades and which ones fix a security advisory", func() {
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Upgrades).To(HaveLen(2))
		Expect(obs.Upgrades["hello"]).To(Equal(backends.Upgrade{Name: "hello", From: "1.0-1", To: "2.0-1", Source: "base"}))
		Expect(obs.Upgrades["secfix"]).To(Equal(backends.Upgrade{Name: "secfix", From: "1.0-1", To: "1.1-1", Source: "base", Security: true}))

		// Record what the parsers read.
		for name, args := range map[string][]string{
			"repoquery-upgrades":  {"repoquery", "--upgrades", "--latest-limit=1", "--qf", `%{name}\t%{epoch}\t%{version}\t%{release}\t%{arch}\t%{reponame}`},
			"updateinfo-security": {"updateinfo", "list", "--security"},
			"check-update":        {"check-update"},
			"list-showduplicates": {"list", "--showduplicates", "hello"},
		} {
			argv := append([]string{"/usr/bin/dnf", "--installroot=" + root.Dir, "--releasever=1", "--disableplugin=*", "-q", "-C"}, args...)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Env = root.Env()
			out, _ := cmd.Output()
			backendtest.RecordGolden("debian-12-dnf-4.14."+name+".stdout", out)
		}
	})

	It("spawns nothing on a second observe of an unchanged root", func() {
		_, err := b.Observe(ctx, []string{"hello"})
		Expect(err).NotTo(HaveOccurred())
		before := runner.Count()
		start := time.Now()
		obs, err := b.Observe(ctx, []string{"hello"})
		GinkgoWriter.Printf("no-op observe took %s\n", time.Since(start))
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(before), "commands run: %v", runner.Argvs()[before:])
		Expect(obs.Upgrades).To(HaveLen(2))
		Expect(obs.Available["hello"]).To(HaveLen(3))
	})

	It("upgrades to the newest version and keeps a locally changed conffile, writing .rpmnew", func() {
		Expect(os.WriteFile(root.Path("/etc/hello.conf"), []byte("greeting=local\n"), 0o644)).To(Succeed())
		mustRun(built(b.UpgradeStep([]string{"hello"})))
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed["hello"].Version).To(Equal("2.0-1"))
		Expect(obs.Upgrades).NotTo(HaveKey("hello"))
		Expect(os.ReadFile(root.Path("/etc/hello.conf"))).To(BeEquivalentTo("greeting=local\n"))
		Expect(os.ReadFile(root.Path("/etc/hello.conf.rpmnew"))).To(ContainSubstring("hello 2.0"))
	})

	It("downgrades to an older pin", func() {
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "hello", Version: "1.1-1"}})))
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed["hello"].Version).To(Equal("1.1-1"))
	})

	It("takes a pin without a release as rpm does: the index's release of it, and any release installed satisfies it", func() {
		for _, pin := range []string{"1.0", "1.1"} { // back at 1.1-1 for the specs after this one
			obs, err := b.Observe(ctx, []string{"hello"})
			Expect(err).NotTo(HaveOccurred())
			Expect(v1alpha1.PinMatches(v1alpha1.FamilyRPM, pin, obs.Installed["hello"].Version)).To(BeFalse())
			resolved, ok := v1alpha1.ResolvePin(v1alpha1.FamilyRPM, pin, obs.Available["hello"])
			Expect(ok).To(BeTrue(), "%s in %q", pin, obs.Available["hello"])
			Expect(resolved).To(Equal(pin + "-1"))
			mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "hello", Version: resolved}})))
			obs, err = b.Observe(ctx, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(v1alpha1.PinMatches(v1alpha1.FamilyRPM, pin, obs.Installed["hello"].Version)).To(BeTrue(), obs.Installed["hello"].Version)
		}
	})

	It("says a reboot is required after a kernel is installed since boot", func() {
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.RebootRequired).To(BeFalse())
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "kernel-core"}})))
		obs, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.RebootRequired).To(BeTrue())
		Expect(obs.RebootPackages).To(Equal([]string{"kernel-core"}))

		// Booted after the install: nothing to do.
		proc := GinkgoT().TempDir()
		future := time.Now().Add(time.Hour).Unix()
		Expect(os.WriteFile(filepath.Join(proc, "stat"), []byte("btime "+strconv.FormatInt(future, 10)+"\n"), 0o644)).To(Succeed())
		b2, err := dnf.New(dnf.Options{Settings: backends.Settings{Root: root.Dir, StateDir: GinkgoT().TempDir(), Log: GinkgoLogr}, Home: root.Home, ProcRoot: proc})
		Expect(err).NotTo(HaveOccurred())
		obs, err = b2.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.RebootRequired).To(BeFalse())
	})

	It("classifies a held dnf lock as LockHeld with the holder", func() {
		sleeper := exec.Command("sleep", "30")
		Expect(sleeper.Start()).To(Succeed())
		defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
		lock := root.Path("/var/lib/dnf/rpmdb_lock.pid")
		Expect(os.WriteFile(lock, []byte(strconv.Itoa(sleeper.Process.Pid)), 0o644)).To(Succeed())
		defer os.Remove(lock)

		pid, cmd, held, err := b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue())
		Expect(pid).To(Equal(sleeper.Process.Pid))
		Expect(cmd).To(Equal("sleep"))

		step := built(b.RemoveStep([]string{"hello"}))
		code, out := run(step)
		Expect(code).To(Equal(dnf.ExitLocked), string(out))
		backendtest.GoldenNames[strconv.Itoa(sleeper.Process.Pid)] = "4242"
		backendtest.RecordGolden("debian-12-dnf-4.14.remove-rpmdb-locked.stdout", out)
		delete(backendtest.GoldenNames, strconv.Itoa(sleeper.Process.Pid))
		f := b.Classify(step, code, out)
		Expect(f.Reason).To(Equal(v1alpha1.FailureLockHeld))
		Expect(f.LockHolderPID).To(Equal(sleeper.Process.Pid))
		Expect(f.LockHolder).To(Equal("sleep"))
	})

	It("classifies rpm's held transaction lock as LockHeld", func() {
		f, err := os.OpenFile(root.Path("/var/lib/rpm/.rpm.lock"), os.O_RDWR|os.O_CREATE, 0o644)
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		lk := unix.Flock_t{Type: unix.F_WRLCK}
		Expect(unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)).To(Succeed())
		_, _, held, err := b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue())

		step := built(b.RemoveStep([]string{"hello"}))
		code, out := run(step)
		Expect(code).NotTo(Equal(0))
		backendtest.RecordGolden("debian-12-dnf-4.14.remove-rpm-locked.stdout", out)
		Expect(b.Classify(step, code, out).Reason).To(Equal(v1alpha1.FailureLockHeld))
		lk.Type = unix.F_UNLCK
		Expect(unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)).To(Succeed())
	})

	It("classifies an unknown package and an unknown version as PackageNotFound", func() {
		for name, refs := range map[string][]backends.PackageRef{
			"install-unknown":         {{Name: "nosuch"}},
			"install-unknown-version": {{Name: "hello", Version: "9.9-1"}},
		} {
			step := built(b.InstallStep(refs))
			code, out := run(step)
			Expect(code).To(Equal(1), string(out))
			backendtest.RecordGolden("debian-12-dnf-4.14."+name+".stdout", out)
			Expect(b.Classify(step, code, out).Reason).To(Equal(v1alpha1.FailureNotFound), string(out))
		}
	})

	It("refuses holds without versionlock", func() {
		Expect(b.Capabilities()).To(Equal(backends.Capabilities{Hold: false, Security: true}))
		Expect(b.HoldStep([]string{"hello"}, true)).Error().To(HaveOccurred())
	})

	It("removes packages", func() {
		mustRun(built(b.RemoveStep([]string{"secfix"})))
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).NotTo(HaveKey("secfix"))
		Expect(obs.Upgrades).NotTo(HaveKey("secfix"))
	})
})
