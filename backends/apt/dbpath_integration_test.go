package apt_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apt"
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
)

// dpkg's database where the root's apt configuration moves it
// (Dir::State::status in ROOT/etc/apt/apt.conf.d, which apt reads after
// patchlet's APT_CONFIG). Before the backend asked apt-config (issue #13)
// it read and watched ROOT/var/lib/dpkg whatever apt said. apt 2.6 does
// not hand dpkg --admindir itself (measured: without the DPkg::Options
// line dpkg kept writing ROOT/var/lib/dpkg), so a root that moves the
// database says both.
var _ = Describe("apt with dpkg's database moved by the root's apt.conf.d", Ordered, Label("integration"), func() {
	var (
		root *testrepo.Root
		b    *apt.Backend
		ctx  = context.Background()
	)
	mta := testrepo.Package{Name: "tinymta", Version: "1.0", Provides: "mail-transport-agent, smtpd (= 2.0), tinymta-compat"}

	BeforeAll(func() {
		if _, err := exec.LookPath("apt-config"); err != nil {
			Skip("apt is not installed")
		}
		dir := GinkgoT().TempDir()
		builder, err := testrepo.NewBuilder(filepath.Join(dir, "build"))
		Expect(err).NotTo(HaveOccurred())
		repo, err := testrepo.NewRepo(filepath.Join(dir, "main"), testrepo.Release{
			Origin: "Debian", Label: "Debian", Suite: "stable", Codename: "bookworm", Version: "12.5"})
		Expect(err).NotTo(HaveOccurred())
		for _, p := range []testrepo.Package{mta, hello("1.0")} {
			deb, err := builder.Build(p)
			Expect(err).NotTo(HaveOccurred())
			Expect(repo.Add(deb)).To(Succeed())
		}
		Expect(repo.Publish()).To(Succeed())
		root, err = testrepo.NewRoot(filepath.Join(dir, "root"), repo)
		Expect(err).NotTo(HaveOccurred())
		admin := root.Path("var/lib/custom-dpkg")
		for _, d := range []string{"info", "updates", "triggers", "alternatives"} {
			Expect(os.MkdirAll(filepath.Join(admin, d), 0o755)).To(Succeed())
		}
		for _, f := range []string{"status", "available"} {
			Expect(os.WriteFile(filepath.Join(admin, f), nil, 0o644)).To(Succeed())
		}
		Expect(os.WriteFile(root.Path("etc/apt/apt.conf.d/50admindir"),
			[]byte("Dir::State::status \""+admin+"/status\";\nDPkg::Options {\"--admindir="+admin+"\";};\n"), 0o644)).To(Succeed())
		b, err = apt.New(apt.Options{Settings: backends.Settings{Root: root.Dir, StateDir: filepath.Join(dir, "state"), Log: GinkgoLogr}})
		Expect(err).NotTo(HaveOccurred())
	})

	It("watches where apt-config says dpkg's database is", func() {
		cmd := exec.Command("/usr/bin/apt-config", "shell", "S", "Dir::State::status/f")
		cmd.Env = b.Env()
		out, err := cmd.Output()
		Expect(err).NotTo(HaveOccurred())
		said, err := apt.ParseShellValue(out, "S")
		Expect(err).NotTo(HaveOccurred())
		Expect(said).To(Equal(root.Path("var/lib/custom-dpkg/status")))
		Expect(b.WatchPaths()[0]).To(Equal(filepath.Dir(said)))
		GinkgoWriter.Printf("apt-config's Dir::State::status: %s\n", said)
	})

	It("sees an install there, and what the package provides", func() {
		mustRun(b.RefreshStep())
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "tinymta"}, {Name: "hello"}})))
		status, err := os.ReadFile(root.Path("var/lib/custom-dpkg/status"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(status)).To(ContainSubstring("Package: tinymta"), "dpkg wrote where apt-config said")
		recordGolden("debian-12-dpkg-1.21.status-provides", status)
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).To(HaveKey("tinymta"))
		Expect(obs.Installed).To(HaveKey("hello"))
		Expect(obs.Provides).To(Equal(map[string][]string{
			"mail-transport-agent": {"tinymta"},
			"smtpd":                {"tinymta"},
			"tinymta-compat":       {"tinymta"},
		}))
	})
})
