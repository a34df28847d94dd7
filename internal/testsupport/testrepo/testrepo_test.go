package testrepo_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
)

var _ = Describe("Builder", func() {
	It("builds a .deb whose control fields and conffiles dpkg-deb reads back, once per spec", func() {
		b, err := testrepo.NewBuilder(GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		p := testrepo.Package{
			Name: "hello", Version: "1:2.0-1",
			Files:     map[string]string{"/usr/share/hello/data": "x"},
			Conffiles: map[string]string{"/etc/hello.conf": "v=2\n"},
		}
		deb, err := b.Build(p)
		Expect(err).NotTo(HaveOccurred())
		Expect(filepath.Base(deb)).To(Equal("hello_1%3a2.0-1_all.deb"))
		out, err := exec.Command("dpkg-deb", "--field", deb, "Package", "Version", "Installed-Size").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(out)).To(ContainSubstring("Version: 1:2.0-1"))
		Expect(string(out)).To(ContainSubstring("Installed-Size: "))
		conf, err := exec.Command("dpkg-deb", "--info", deb, "conffiles").Output()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(conf)).To(Equal("/etc/hello.conf\n"))

		again, err := b.Build(p)
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(Equal(deb))
		p.Version = "2.1"
		other, err := b.Build(p)
		Expect(err).NotTo(HaveOccurred())
		Expect(other).NotTo(Equal(deb))
	})

	It("refuses names and paths that are not valid", func() {
		b, err := testrepo.NewBuilder(GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		_, err = b.Build(testrepo.Package{Name: "-rf", Version: "1.0"})
		Expect(err).To(HaveOccurred())
		_, err = b.Build(testrepo.Package{Name: "ok", Version: "1.0", Files: map[string]string{"../x": ""}})
		Expect(err).To(HaveOccurred())
	})
})

var _ = Describe("Repo and Root", Label("integration"), func() {
	It("lets the host's apt-get install a package into the root only", func() {
		tmp := GinkgoT().TempDir()
		b, err := testrepo.NewBuilder(filepath.Join(tmp, "build"))
		Expect(err).NotTo(HaveOccurred())
		repo, err := testrepo.NewRepo(filepath.Join(tmp, "repo"), testrepo.Release{Suite: "stable"})
		Expect(err).NotTo(HaveOccurred())
		deb, err := b.Build(testrepo.Package{Name: "hello", Version: "1.0", RebootRequired: true,
			Conffiles: map[string]string{"/etc/hello.conf": "v=1\n"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(repo.Add(deb)).To(Succeed())
		Expect(repo.Publish()).To(Succeed())
		root, err := testrepo.NewRoot(filepath.Join(tmp, "root"), repo)
		Expect(err).NotTo(HaveOccurred())

		for _, args := range [][]string{
			{"apt-get", "update", "--error-on=any"},
			{"apt-get", "install", "-y", "hello"},
		} {
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = root.Env()
			out, err := cmd.CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), string(out))
		}
		status, err := os.ReadFile(root.Path("var/lib/dpkg/status"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(status)).To(ContainSubstring("Package: hello\nStatus: install ok installed"))
		Expect(root.Path("etc/hello.conf")).To(BeAnExistingFile())
		pkgs, err := os.ReadFile(root.Path("run/reboot-required.pkgs"))
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.TrimSpace(string(pkgs))).To(Equal("hello"))
	})
})
