package zypper_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/zypper"
	"github.com/patchlet/patchlet/internal/testsupport/testrpm"
)

// The rpm database where rpm's macros put it, not where it usually is:
// before the backend asked rpm (issue #13), its fingerprint stamped only
// usr/lib/sysimage/rpm and var/lib/rpm, so the installed-package cache
// never invalidated and an install was never seen.
var _ = Describe("zypper with the rpm database somewhere unusual", Ordered, Label("integration"), func() {
	var (
		root *testrpm.Root
		b    *zypper.Backend
		ctx  = context.Background()
	)
	mta := testrpm.Package{Name: "tinymta", Version: "1.0",
		Provides: []string{"mail-transport-agent", "smtpd = 2.0", "/usr/sbin/sendmail", "libtinymta.so.1()(64bit)", "config(tinymta) = 1.0"}}

	BeforeAll(func() {
		if _, err := exec.LookPath("zypper"); err != nil {
			Skip("zypper is not installed (apt-get install zypper rpm createrepo-c)")
		}
		dir := GinkgoT().TempDir()
		builder, err := testrpm.NewBuilder(filepath.Join(dir, "build"))
		Expect(err).NotTo(HaveOccurred())
		repo, err := testrpm.NewRepo(builder, filepath.Join(dir, "repo"), "base")
		Expect(err).NotTo(HaveOccurred())
		Expect(repo.Add(hello("1.0"), mta)).To(Succeed())
		Expect(repo.Publish()).To(Succeed())
		root, err = testrpm.NewRoot(filepath.Join(dir, "root"), repo)
		Expect(err).NotTo(HaveOccurred())
		Expect(root.SetDBPath("/var/lib/custom-rpmdb")).To(Succeed())
		// libzypp takes a real directory ROOT/var/lib/rpm over the macro's
		// place (measured with zypper 1.14 / libzypp 17 on Debian 12; rpm
		// itself does not): only without one do they agree.
		Expect(os.Remove(root.Path("/var/lib/rpm"))).To(Succeed())
		// A macros file in the root names yet another place: with --root,
		// rpm and zypper read the host's macros and HOME's, never the root's.
		Expect(os.MkdirAll(root.Path("/etc/rpm"), 0o755)).To(Succeed())
		Expect(os.WriteFile(root.Path("/etc/rpm/macros"), []byte("%_dbpath /var/lib/root-macros-rpmdb\n"), 0o644)).To(Succeed())
		b, err = zypper.New(zypper.Options{Settings: backends.Settings{Root: root.Dir, StateDir: filepath.Join(dir, "state"), Log: GinkgoLogr},
			Home: root.Home})
		Expect(err).NotTo(HaveOccurred())
	})

	It("watches where rpm says the database is", func() {
		Expect(b.WatchPaths()[0]).To(Equal(root.Path("/var/lib/custom-rpmdb")))
		GinkgoWriter.Printf("rpm's database: %s\n", b.WatchPaths()[0])
	})

	It("sees an install in that database, and what the installed package provides", func() {
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).To(BeEmpty())
		mustRun(b.RefreshStep())
		mustRun(built(b.InstallStep([]backends.PackageRef{{Name: "hello"}, {Name: "tinymta"}})))
		Expect(root.Path("/var/lib/custom-rpmdb/rpmdb.sqlite")).To(BeAnExistingFile(), "zypper wrote the database where rpm said")
		Expect(root.Path("/var/lib/root-macros-rpmdb")).NotTo(BeADirectory())

		obs, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).To(HaveKey("hello"))
		Expect(obs.Installed["tinymta"].Version).To(Equal("1.0-1"))
		Expect(obs.Provides).To(Equal(map[string][]string{
			"mail-transport-agent": {"tinymta"},
			"smtpd":                {"tinymta"},
		}))
	})

	It("sees a removal", func() {
		mustRun(built(b.RemoveStep([]string{"tinymta"})))
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).NotTo(HaveKey("tinymta"))
		Expect(obs.Provides).To(BeEmpty())
	})
})
