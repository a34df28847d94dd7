package testrpm

import (
	"context"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
)

// UnusualDBPath is where DBPathSpecs' root keeps its rpm database.
const UnusualDBPath = "/var/lib/custom-rpmdb"

// PrepareUnusualDB moves r's rpm database to UnusualDBPath (HOME's
// .rpmmacros) and writes a root macros file naming yet another place,
// which rpm, dnf and zypper ignore with --root (they read the host's
// macros and HOME's, never the root's).
func PrepareUnusualDB(r *Root) error {
	if err := r.SetDBPath(UnusualDBPath); err != nil {
		return err
	}
	if err := os.MkdirAll(r.Path("/etc/rpm"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(r.Path("/etc/rpm/macros"), []byte("%_dbpath /var/lib/root-macros-rpmdb\n"), 0o644)
}

// DBPathSpecs are an RPM backend's specs (in an Ordered container) on a
// root that NewRepoRoot made with hello and Virtual and PrepareUnusualDB
// prepared: get returns them once BeforeAll made them, run runs a step
// and fails on a non-zero exit. Before the backends asked rpm (issue
// #13) they stamped only DBDirs, so an install was never seen.
func DBPathSpecs(get func() (*Root, backends.Backend), run func(backends.Step)) {
	ctx := context.Background()
	built := func(s backends.Step, err error) backends.Step {
		GinkgoHelper()
		Expect(err).NotTo(HaveOccurred())
		return s
	}

	It("watches where rpm says the database is", func() {
		root, b := get()
		Expect(b.WatchPaths()[0]).To(Equal(root.Path(UnusualDBPath)))
		GinkgoWriter.Printf("rpm's database: %s\n", b.WatchPaths()[0])
	})

	It("sees an install in that database, and what the installed package provides", func() {
		root, b := get()
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).To(BeEmpty())
		run(b.RefreshStep())
		run(built(b.InstallStep([]backends.PackageRef{{Name: "hello"}, {Name: Virtual.Name}})))
		Expect(root.Path(UnusualDBPath+"/rpmdb.sqlite")).To(BeAnExistingFile(), "the package manager wrote the database where rpm said")
		Expect(root.Path("/var/lib/root-macros-rpmdb")).NotTo(BeADirectory())

		obs, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).To(HaveKey("hello"))
		Expect(obs.Installed[Virtual.Name].Version).To(Equal("1.0-1"))
		Expect(obs.Provides).To(Equal(map[string][]string{
			"mail-transport-agent": {Virtual.Name},
			"smtpd":                {Virtual.Name},
		}))
	})

	It("sees a removal", func() {
		_, b := get()
		run(built(b.RemoveStep([]string{Virtual.Name})))
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).NotTo(HaveKey(Virtual.Name))
		Expect(obs.Provides).To(BeEmpty())
	})
}
