package fsutil_test

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/internal/fsutil"
)

var _ = Describe("WriteFileAtomic", func() {
	var dir string
	BeforeEach(func() { dir = GinkgoT().TempDir() })

	It("creates the file with the content and permission asked for", func() {
		path := filepath.Join(dir, "stamp")
		Expect(fsutil.WriteFileAtomic(path, []byte("one\n"), 0o640)).To(Succeed())
		Expect(os.ReadFile(path)).To(Equal([]byte("one\n")))
		fi, err := os.Stat(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o640)))
	})

	It("replaces an existing file and leaves no temporary file behind", func() {
		path := filepath.Join(dir, "conf")
		Expect(os.WriteFile(path, []byte("old content that is longer"), 0o600)).To(Succeed())
		Expect(fsutil.WriteFileAtomic(path, []byte("new"), 0o644)).To(Succeed())
		Expect(os.ReadFile(path)).To(Equal([]byte("new")))
		entries, err := os.ReadDir(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(entries).To(HaveLen(1))
	})

	It("fails, naming the path, when the directory does not exist", func() {
		path := filepath.Join(dir, "missing", "stamp")
		Expect(fsutil.WriteFileAtomic(path, []byte("x"), 0o644)).To(MatchError(ContainSubstring(path)))
	})
})
