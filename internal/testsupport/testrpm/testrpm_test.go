package testrpm_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/internal/testsupport/testrpm"
)

var _ = Describe("testrpm", Label("integration"), func() {
	It("builds rpms once, publishes a repository and dnf installs from it into a root", func() {
		dir := GinkgoT().TempDir()
		b, err := testrpm.NewBuilder(filepath.Join(dir, "build"))
		Expect(err).NotTo(HaveOccurred())
		hello := testrpm.Package{Name: "hello", Version: "1.0",
			Conffiles: map[string]string{"/etc/hello.conf": "greeting=hi\n"},
			Files:     map[string]string{"/usr/share/hello/version": "1.0\n"},
			Post:      "touch /tmp/hello-post-ran"}
		p1, err := b.Build(hello)
		Expect(err).NotTo(HaveOccurred())
		p2, err := b.Build(hello)
		Expect(err).NotTo(HaveOccurred())
		Expect(p2).To(Equal(p1), "the second build is the cached file")

		repo, err := testrpm.NewRepo(b, filepath.Join(dir, "repo"), "test")
		Expect(err).NotTo(HaveOccurred())
		Expect(repo.Add(hello)).To(Succeed())
		repo.SetAdvisories(testrpm.Advisory{ID: "T-1", Type: "security", Severity: "Important", Title: "fix", Packages: []testrpm.Package{hello}})
		Expect(repo.Publish()).To(Succeed())
		Expect(filepath.Join(repo.Dir, "repodata/updateinfo.xml.gz")).To(BeAnExistingFile())

		root, err := testrpm.NewRoot(filepath.Join(dir, "root"), repo)
		Expect(err).NotTo(HaveOccurred())
		cmd := exec.Command("dnf", "--installroot="+root.Dir, "--releasever=1", "--disableplugin=*", "-y", "install", "hello")
		cmd.Env = root.Env()
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out))
		data, err := os.ReadFile(root.Path("/etc/hello.conf"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(data)).To(Equal("greeting=hi\n"))
		Expect(root.Path("/tmp/hello-post-ran")).To(BeAnExistingFile(), "the scriptlet ran with the root's /bin/sh")
		Expect(root.Path("/var/lib/rpm/rpmdb.sqlite")).To(BeAnExistingFile())
		Expect(strings.Contains(string(out), "testrpm-sh")).To(BeTrue(), "the /bin/sh provider was pulled in")
	})
})
