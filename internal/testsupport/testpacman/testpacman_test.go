package testpacman_test

import (
	"context"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/internal/testsupport/testpacman"
)

var _ = Describe("a root with a repository", Label("integration"), func() {
	It("installs a built package with its files and runs its scriptlet", func(ctx context.Context) {
		tmp := GinkgoT().TempDir()
		repo, err := testpacman.NewRepo(filepath.Join(tmp, "repo"), "test")
		Expect(err).NotTo(HaveOccurred())
		Expect(repo.Add(testpacman.Package{Name: "hello", Version: "1.0-1",
			Files:   map[string]string{"etc/hello.conf": "greeting=hi\n"},
			Backup:  []string{"etc/hello.conf"},
			Install: "post_install() {\n  touch /tmp/hello-installed\n}\n"})).To(Succeed())
		root, err := testpacman.NewRoot(filepath.Join(tmp, "root"), repo)
		Expect(err).NotTo(HaveOccurred())

		_, err = root.Pacman(ctx, "-Syy", "hello")
		Expect(err).NotTo(HaveOccurred())
		Expect(os.ReadFile(root.Path("etc/hello.conf"))).To(Equal([]byte("greeting=hi\n")))
		Expect(root.Path("tmp/hello-installed")).To(BeAnExistingFile())
		Expect(root.Path("var/lib/pacman/local/hello-1.0-1/desc")).To(BeAnExistingFile())
		Expect(root.Path("var/cache/pacman/pkg/hello-1.0-1-any.pkg.tar.zst")).To(BeAnExistingFile())
	})
})
