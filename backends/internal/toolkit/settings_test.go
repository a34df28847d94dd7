package toolkit_test

import (
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
	"github.com/patchlet/patchlet/executor"
)

var _ = Describe("Settings", func() {
	It("fills what is unset with the shared defaults and cleans the root", func() {
		s := backends.Settings{Root: "/srv/img/", StepTimeout: 5}
		Expect(toolkit.Resolve(&s, "apt")).To(Succeed())
		Expect(s.Root).To(Equal("/srv/img"))
		Expect(s.StateDir).To(Equal(backends.DefaultStateDir))
		Expect(s.PathEnv).To(Equal(backends.DefaultPath))
		Expect(s.RefreshTimeout).To(Equal(backends.DefaultRefreshTimeout))
		Expect(s.StepTimeout).To(BeEquivalentTo(5), "a set value is kept")
		Expect(s.Clock).NotTo(BeNil())
		Expect(s.Runner).To(Equal(executor.ExecRunner{}))
		empty := backends.Settings{}
		Expect(toolkit.Resolve(&empty, "apt")).To(Succeed())
		Expect(empty.Root).To(Equal("/"))
	})
	It("resolves the programs in the PATH it settled on", func() {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "zypper"), []byte("#!/bin/sh\n"), 0o755)).To(Succeed())
		zypper, rpm := "", "/opt/rpm"
		s := backends.Settings{PathEnv: dir}
		Expect(toolkit.Resolve(&s, "zypper", toolkit.Program{Path: &zypper, Name: "zypper"}, toolkit.Program{Path: &rpm, Name: "rpm"})).To(Succeed())
		Expect(zypper).To(Equal(filepath.Join(dir, "zypper")))
		Expect(rpm).To(Equal("/opt/rpm"), "a path given is kept")
		missing := ""
		Expect(toolkit.Resolve(&s, "zypper", toolkit.Program{Path: &missing, Name: "rpm"})).To(MatchError(exec.ErrNotFound))
	})
	It("refuses a relative root, naming the backend", func() {
		s := backends.Settings{Root: "srv/img"}
		Expect(toolkit.Resolve(&s, "pacman")).To(MatchError(`pacman root "srv/img" is not an absolute path`))
	})
})

var _ = Describe("ResolveProgram", func() {
	It("finds an unset program in the PATH given, keeps an absolute one and refuses a relative one", func() {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "dpkg"), []byte("#!/bin/sh\n"), 0o755)).To(Succeed())
		p := ""
		Expect(toolkit.ResolveProgram(&p, "dpkg", dir)).To(Succeed())
		Expect(p).To(Equal(filepath.Join(dir, "dpkg")))
		p = "/opt/bin/dpkg"
		Expect(toolkit.ResolveProgram(&p, "dpkg", dir)).To(Succeed())
		Expect(p).To(Equal("/opt/bin/dpkg"))
		p = "bin/dpkg"
		Expect(toolkit.ResolveProgram(&p, "dpkg", dir)).To(MatchError(`path of dpkg "bin/dpkg" is not absolute`))
		p = ""
		Expect(toolkit.ResolveProgram(&p, "rpm", dir)).To(MatchError(exec.ErrNotFound))
	})
})

var _ = Describe("InRoot", func() {
	It("joins paths to the root", func() {
		Expect(toolkit.InRoot("/srv/img", "run/zypp.pid", "/var/run/zypp.pid")).To(Equal([]string{"/srv/img/run/zypp.pid", "/srv/img/var/run/zypp.pid"}))
		Expect(toolkit.InRoot("/", "var/lib/rpm")).To(Equal([]string{"/var/lib/rpm"}))
	})
})

var _ = Describe("ResolveInRoot", func() {
	It("follows links inside the root, as if it were /", func() {
		root := GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(root, "run"), 0o755)).To(Succeed())
		Expect(os.MkdirAll(filepath.Join(root, "var"), 0o755)).To(Succeed())
		Expect(os.Symlink("/run", filepath.Join(root, "var/run"))).To(Succeed())
		Expect(toolkit.ResolveInRoot(root, "var/run/reboot-required")).To(Equal(filepath.Join(root, "run/reboot-required")))
		Expect(toolkit.ResolveInRoot(root, "../../etc/passwd")).To(Equal(filepath.Join(root, "etc/passwd")))
	})
})

var _ = Describe("Base", func() {
	It("resolves the settings and builds steps with the timeout of their type", func() {
		rules := toolkit.Rules{}
		b, err := toolkit.NewBase(backends.Settings{Root: "/srv/img/", PathEnv: "/nonexistent"}, "x", v1alpha1.FamilyRPM, &rules)
		Expect(err).NotTo(HaveOccurred())
		Expect(b.Name()).To(Equal("x"))
		Expect(b.Family()).To(Equal(v1alpha1.FamilyRPM))
		Expect(b.Cfg.Root).To(Equal("/srv/img"))
		Expect(b.Path("etc/zypp")).To(Equal("/srv/img/etc/zypp"))
		Expect(b.Env()).To(Equal([]string{"LC_ALL=C", "PATH=/nonexistent"}))
		refresh := b.NewStep(v1alpha1.StepRefresh, []string{"/x", "refresh"}, b.Env(), nil)
		Expect(refresh.Timeout).To(Equal(backends.DefaultRefreshTimeout))
		Expect(refresh.Packages).To(BeNil())
		names := []string{"vim"}
		install := b.NewStep(v1alpha1.StepInstall, []string{"/x", "install", "vim"}, b.Env(), names)
		names[0] = "changed"
		Expect(install.Timeout).To(Equal(backends.DefaultStepTimeout))
		Expect(install.Packages).To(Equal([]string{"vim"}), "the names are copied")
		b.Rename("y")
		Expect(b.Name()).To(Equal("y"))
		_, err = toolkit.NewBase(backends.Settings{Root: "srv"}, "x", v1alpha1.FamilyRPM, &rules)
		Expect(err).To(MatchError(`x root "srv" is not an absolute path`))
	})
})
