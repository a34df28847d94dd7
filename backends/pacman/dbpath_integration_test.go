package pacman_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/pacman"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
	"github.com/patchlet/patchlet/internal/testsupport/testpacman"
)

// The database where pacman reads its DBPath: in a file the root's
// pacman.conf Includes, before a later DBPath line (pacman takes the
// first). Before the backend asked pacman-conf (issue #13) it parsed
// pacman.conf itself, took the last DBPath and never saw an install.
var _ = Describe("pacman with DBPath from an Included file", Ordered, Label("integration"), func() {
	var (
		root *testpacman.Root
		b    *pacman.Backend
	)
	mta := testpacman.Package{Name: "tinymta", Version: "1.0-1", Files: map[string]string{"usr/share/tinymta/x": "x\n"},
		Provides: []string{"mail-transport-agent", "smtpd=2.0", "libtinymta.so=1-64", "tinymta"}}

	BeforeAll(func() {
		if _, err := exec.LookPath("pacman-conf"); err != nil {
			Skip("pacman not installed (Debian package pacman-package-manager)")
		}
		tmp := GinkgoT().TempDir()
		repo, err := testpacman.NewRepo(filepath.Join(tmp, "repo"), "test")
		Expect(err).NotTo(HaveOccurred())
		Expect(repo.Add(mta)).To(Succeed())
		root, err = testpacman.NewRoot(filepath.Join(tmp, "root"), repo)
		Expect(err).NotTo(HaveOccurred())
		custom := root.Path("var/lib/custom-pacman")
		for _, d := range []string{"local", "sync"} {
			Expect(os.MkdirAll(filepath.Join(custom, d), 0o755)).To(Succeed())
		}
		Expect(os.WriteFile(filepath.Join(custom, "local/ALPM_DB_VERSION"), []byte("9\n"), 0o644)).To(Succeed())
		include := root.Path("etc/pacman.d/dbpath.conf")
		Expect(os.WriteFile(include, []byte("DBPath = "+custom+"/\n"), 0o644)).To(Succeed())
		Expect(root.WriteConfig("Include = "+include, repo)).To(Succeed())
		b, err = pacman.New(pacman.Options{Settings: backends.Settings{Root: root.Dir, StateDir: filepath.Join(tmp, "state"), Log: GinkgoLogr}})
		Expect(err).NotTo(HaveOccurred())
	})

	It("watches where pacman-conf says the database is", func() {
		Expect(b.WatchPaths()).To(Equal([]string{root.Path("var/lib/custom-pacman"), root.Path("var/lib/custom-pacman/local")}))
		GinkgoWriter.Printf("pacman's database: %s\n", b.WatchPaths()[0])
	})

	It("sees an install there, and what the package provides", func(ctx context.Context) {
		mustRun(ctx, b.RefreshStep())
		mustRun(ctx, built(b.InstallStep([]backends.PackageRef{{Name: "tinymta"}})))
		desc := root.Path("var/lib/custom-pacman/local/tinymta-1.0-1/desc")
		Expect(desc).To(BeAnExistingFile(), "pacman installed into the Included DBPath")
		data, err := os.ReadFile(desc)
		Expect(err).NotTo(HaveOccurred())
		backendtest.RecordGolden("pacman-6.0.2.local-desc-provides.stdout", data)

		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).To(HaveKeyWithValue("tinymta", backends.Package{Name: "tinymta", Version: "1.0-1", Arch: "any"}))
		Expect(obs.Provides).To(Equal(map[string][]string{
			"mail-transport-agent": {"tinymta"},
			"smtpd":                {"tinymta"},
			"libtinymta.so":        {"tinymta"},
		}))
	})
})
