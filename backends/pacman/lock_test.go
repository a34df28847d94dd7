package pacman_test

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("LockHolder", func() {
	It("is free without db.lck, held with it, and names a process that has it open", func() {
		tmp := GinkgoT().TempDir()
		root := newFakeRoot(filepath.Join(tmp, "root"))
		b := newBackend(root.dir, filepath.Join(tmp, "state"), (&pacmanAnswers{}).runner(), "")

		_, _, held, err := b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse())

		lck := filepath.Join(root.dir, "var/lib/pacman/db.lck")
		Expect(os.WriteFile(lck, nil, 0o644)).To(Succeed())
		pid, cmd, held, err := b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue(), "a stale db.lck still blocks pacman")
		Expect(pid).To(BeZero(), "nobody has it open: holder unknown")
		Expect(cmd).To(BeEmpty())

		f, err := os.Open(lck)
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		pid, _, held, err = b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue())
		Expect(pid).To(Equal(os.Getpid()))
		Expect(b.LockPath()).To(Equal(lck))
	})
})
