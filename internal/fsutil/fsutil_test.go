package fsutil_test

import (
	"errors"
	"io/fs"
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

var _ = Describe("Write", func() {
	var dir string
	BeforeEach(func() { dir = GinkgoT().TempDir() })

	It("keeps os.CreateTemp's 0600 when no permission is given", func() {
		path := filepath.Join(dir, "state.json")
		Expect(fsutil.Write(path, []byte("{}\n"), fsutil.Options{})).To(Succeed())
		fi, err := os.Stat(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)))
	})

	It("names the temporary file with the pattern asked for", func() {
		// A directory in the way makes the rename fail after the temporary
		// file was written: it must be gone again, whatever its name.
		path := filepath.Join(dir, "busy")
		Expect(os.MkdirAll(filepath.Join(path, "x"), 0o700)).To(Succeed())
		err := fsutil.Write(path, []byte("x"), fsutil.Options{TempPattern: ".tmp-busy-"})
		Expect(err).To(MatchError(ContainSubstring("rename into " + path)))
		matches, err := filepath.Glob(filepath.Join(dir, ".tmp-busy-*"))
		Expect(err).NotTo(HaveOccurred())
		Expect(matches).To(BeEmpty())
	})

	Describe("a claim", func() {
		It("creates the file once", func() {
			path := filepath.Join(dir, "runner.json")
			Expect(fsutil.Write(path, []byte("first"), fsutil.Options{Claim: true})).To(Succeed())
			err := fsutil.Write(path, []byte("second"), fsutil.Options{Claim: true})
			Expect(errors.Is(err, fs.ErrExist)).To(BeTrue(), "%v", err)
			Expect(os.ReadFile(path)).To(Equal([]byte("first")))
			entries, err := os.ReadDir(dir)
			Expect(err).NotTo(HaveOccurred())
			Expect(entries).To(HaveLen(1), "the temporary file of the lost claim is removed")
		})

		It("never replaces a file another writer put there", func() {
			path := filepath.Join(dir, "result.json")
			Expect(fsutil.WriteFileAtomic(path, []byte("theirs"), 0o644)).To(Succeed())
			Expect(errors.Is(fsutil.Write(path, []byte("mine"), fsutil.Options{Claim: true}), fs.ErrExist)).To(BeTrue())
			Expect(os.ReadFile(path)).To(Equal([]byte("theirs")))
		})
	})
})

var _ = Describe("SyncDir", func() {
	It("fails, naming the directory, when it does not exist", func() {
		dir := filepath.Join(GinkgoT().TempDir(), "gone")
		Expect(fsutil.SyncDir(dir)).To(MatchError(ContainSubstring(dir)))
	})
})
