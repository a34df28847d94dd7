package dnf_test

import (
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/dnf"
	"github.com/patchlet/patchlet/internal/testsupport/testrpm"
)

// The rpm database where rpm's macros put it (HOME/.rpmmacros), not where
// it usually is; a macros file in the root, which dnf ignores, names
// another place (see testrpm.DBPathSpecs).
var _ = Describe("dnf with the rpm database somewhere unusual", Ordered, Label("integration"), func() {
	var (
		root *testrpm.Root
		b    *dnf.Backend
	)
	BeforeAll(func() {
		if _, err := exec.LookPath("dnf"); err != nil {
			Skip("dnf is not installed (apt-get install dnf rpm createrepo-c)")
		}
		dir := GinkgoT().TempDir()
		var err error
		root, _, err = testrpm.NewRepoRoot(dir, hello("1.0"), testrpm.Virtual)
		Expect(err).NotTo(HaveOccurred())
		Expect(testrpm.PrepareUnusualDB(root)).To(Succeed())
		b, err = dnf.New(dnf.Options{Settings: backends.Settings{Root: root.Dir, StateDir: filepath.Join(dir, "state"), Log: GinkgoLogr},
			Home: root.Home})
		Expect(err).NotTo(HaveOccurred())
	})
	testrpm.DBPathSpecs(func() (*testrpm.Root, backends.Backend) { return root, b }, func(s backends.Step) { mustRun(s) })
})
