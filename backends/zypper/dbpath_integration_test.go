package zypper_test

import (
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/zypper"
	"github.com/patchlet/patchlet/internal/testsupport/testrpm"
)

// The rpm database where rpm's macros put it (see testrpm.DBPathSpecs).
var _ = Describe("zypper with the rpm database somewhere unusual", Ordered, Label("integration"), func() {
	var (
		root *testrpm.Root
		b    *zypper.Backend
	)
	BeforeAll(func() {
		if _, err := exec.LookPath("zypper"); err != nil {
			Skip("zypper is not installed (apt-get install zypper rpm createrepo-c)")
		}
		dir := GinkgoT().TempDir()
		var err error
		root, _, err = testrpm.NewRepoRoot(dir, hello("1.0"), testrpm.Virtual)
		Expect(err).NotTo(HaveOccurred())
		Expect(testrpm.PrepareUnusualDB(root)).To(Succeed())
		// libzypp takes a real directory ROOT/var/lib/rpm over the macro's
		// place (measured with zypper 1.14 / libzypp 17 on Debian 12; rpm
		// itself does not): only without one do they agree.
		Expect(os.Remove(root.Path("/var/lib/rpm"))).To(Succeed())
		b, err = zypper.New(zypper.Options{Settings: backends.Settings{Root: root.Dir, StateDir: filepath.Join(dir, "state"), Log: GinkgoLogr},
			Home: root.Home})
		Expect(err).NotTo(HaveOccurred())
	})
	testrpm.DBPathSpecs(func() (*testrpm.Root, backends.Backend) { return root, b }, func(s backends.Step) { mustRun(s) })
})
