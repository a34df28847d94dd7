package packages_test

import (
	"os"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
)

// fakeSystemctl records its arguments, one call a line, in
// /var/log/systemctl.calls inside the root where the maintainer scripts
// run.
const fakeSystemctl = "#!/bin/sh\necho \"$*\" >>/var/log/systemctl.calls\n"

// newRoot makes an isolated root for a package manager: testrepo's
// minimal root (static busybox as /bin/sh, /dev/null, an empty dpkg
// database) plus a fake systemctl and /run/systemd/system, so that the
// maintainer scripts believe systemd runs and their systemctl calls can be
// checked.
func newRoot() *testrepo.Root {
	r, err := testrepo.NewRoot(GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	for _, d := range []string{"run/systemd/system", "var/log", "var/tmp", "var/lib/rpm", "var/lib/pacman", "var/cache/pacman/pkg", "etc/pacman.d/hooks"} {
		Expect(os.MkdirAll(r.Path(d), 0o755)).To(Succeed())
	}
	Expect(os.Chmod(r.Path("var/tmp"), 0o1777)).To(Succeed())
	Expect(os.WriteFile(r.Path("usr/bin/systemctl"), []byte(fakeSystemctl), 0o755)).To(Succeed())
	if err := os.Symlink("busybox", r.Path("bin/rmdir")); err != nil && !os.IsExist(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	return r
}

// systemctlCalls are the recorded systemctl calls in r, oldest first.
func systemctlCalls(r *testrepo.Root) []string {
	b, err := os.ReadFile(r.Path("var/log/systemctl.calls"))
	if os.IsNotExist(err) {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// installedVersion runs the installed agent and returns what it says its
// version is.
func installedVersion(r *testrepo.Root) string {
	out, err := command("/", nil, r.Path("usr/bin/patchlet"), "version")
	Expect(err).NotTo(HaveOccurred())
	return strings.TrimSpace(out)
}

// expectInstalled checks the files every format ships.
func expectInstalled(r *testrepo.Root, version string) {
	GinkgoHelper()
	Expect(installedVersion(r)).To(Equal("patchlet " + version))
	Expect(r.Path("usr/bin/patchctl")).To(BeAnExistingFile())
	Expect(r.Path("usr/lib/systemd/system/patchlet.service")).To(BeAnExistingFile())
	Expect(r.Path("usr/share/doc/patchlet/README.md")).To(BeAnExistingFile())
	Expect(r.Path("etc/patchlet/config.yaml")).To(BeAnExistingFile())
	fi, err := os.Stat(r.Path("etc/patchlet/policies.d"))
	Expect(err).NotTo(HaveOccurred())
	Expect(fi.IsDir()).To(BeTrue())
	fi, err = os.Stat(r.Path("var/lib/patchlet"))
	Expect(err).NotTo(HaveOccurred())
	Expect(fi.IsDir()).To(BeTrue())
	Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o700)), "state directory mode")
}

// expectRemoved checks that the program files are gone.
func expectRemoved(r *testrepo.Root) {
	GinkgoHelper()
	for _, f := range []string{"usr/bin/patchlet", "usr/bin/patchctl", "usr/lib/systemd/system/patchlet.service"} {
		Expect(r.Path(f)).NotTo(BeAnExistingFile())
	}
}

// localEdit and stateFile are what an administrator and the agent leave
// behind between install and upgrade.
const localEdit = "# edited on this host\n"

func stateFile(r *testrepo.Root) string { return r.Path("var/lib/patchlet/objects/policy.json") }

func editConfigAndWriteState(r *testrepo.Root) {
	GinkgoHelper()
	f, err := os.OpenFile(r.Path("etc/patchlet/config.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	Expect(err).NotTo(HaveOccurred())
	_, err = f.WriteString(localEdit)
	Expect(err).NotTo(HaveOccurred())
	Expect(f.Close()).To(Succeed())
	Expect(os.MkdirAll(filepath.Dir(stateFile(r)), 0o700)).To(Succeed())
	Expect(os.WriteFile(stateFile(r), []byte(`{"kind":"PatchPolicy"}`), 0o600)).To(Succeed())
}

func expectStateKept(r *testrepo.Root) {
	GinkgoHelper()
	Expect(os.ReadFile(stateFile(r))).To(Equal([]byte(`{"kind":"PatchPolicy"}`)))
}

func expectLocalConfigKept(r *testrepo.Root, path string) {
	GinkgoHelper()
	b, err := os.ReadFile(r.Path(path))
	Expect(err).NotTo(HaveOccurred())
	Expect(string(b)).To(HaveSuffix(localEdit))
}
