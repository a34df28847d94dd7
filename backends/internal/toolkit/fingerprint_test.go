package toolkit_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

var _ = Describe("Fingerprint", func() {
	var dir, file, sub string
	write := func(p, content string) { Expect(os.WriteFile(p, []byte(content), 0o644)).To(Succeed()) }
	touch := func(p string, sec int64) { Expect(os.Chtimes(p, time.Unix(sec, 0), time.Unix(sec, 0))).To(Succeed()) }
	sum := func(f *toolkit.Fingerprint) string {
		s, err := f.Sum()
		Expect(err).NotTo(HaveOccurred())
		return s
	}
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		file = filepath.Join(dir, "status")
		sub = filepath.Join(dir, "lists")
		Expect(os.Mkdir(sub, 0o755)).To(Succeed())
		write(file, "a")
		write(filepath.Join(sub, "index"), "b")
		write(filepath.Join(sub, "lock"), "")
	})

	It("changes when a file's mtime or size changes, or it appears, and only then", func() {
		missing := filepath.Join(dir, "preferences")
		fp := func() string { return sum(new(toolkit.Fingerprint).Files(file, missing)) }
		before := fp()
		Expect(fp()).To(Equal(before))
		touch(file, 1_000_000)
		afterTouch := fp()
		Expect(afterTouch).NotTo(Equal(before))
		write(file, "ab")
		touch(file, 1_000_000)
		afterGrow := fp()
		Expect(afterGrow).NotTo(Equal(afterTouch))
		write(missing, "")
		Expect(fp()).NotTo(Equal(afterGrow))
	})

	It("stamps the entries of a directory that keep accepts, not the directory's own mtime", func() {
		notLock := func(e fs.DirEntry) bool { return e.Name() != "lock" }
		fp := func() string { return sum(new(toolkit.Fingerprint).Entries(notLock, sub, filepath.Join(dir, "nodir"))) }
		before := fp()
		Expect(before).To(ContainSubstring("index "))
		Expect(before).NotTo(ContainSubstring("lock"))
		touch(filepath.Join(sub, "lock"), 1_000_000)
		touch(sub, 1_000_000)
		Expect(fp()).To(Equal(before), "the lock and the directory's mtime do not count")
		touch(filepath.Join(sub, "index"), 1_000_000)
		afterTouch := fp()
		Expect(afterTouch).NotTo(Equal(before))
		write(filepath.Join(sub, "new"), "")
		Expect(fp()).NotTo(Equal(afterTouch), "an entry added")
	})

	It("stamps a path by what it is with Contents, leaving out lock files", func() {
		write(filepath.Join(sub, "rpmdb.sqlite-shm"), "")
		write(filepath.Join(sub, ".rpm.lock"), "")
		write(filepath.Join(sub, "metadata_lock.pid"), "")
		fp := func() string { return sum(new(toolkit.Fingerprint).Contents(toolkit.NotLocks, file, sub)) }
		before := fp()
		for _, n := range []string{"rpmdb.sqlite-shm", ".rpm.lock", "metadata_lock.pid"} {
			write(filepath.Join(sub, n), "changed")
		}
		Expect(fp()).To(Equal(before))
		write(file, "changed")
		Expect(fp()).NotTo(Equal(before))
	})

	It("keeps the first error", func() {
		notADir := filepath.Join(file, "x") // ENOTDIR, not a missing file
		_, err := new(toolkit.Fingerprint).Files(notADir).Entries(nil, sub).Sum()
		Expect(err).To(MatchError(ContainSubstring("stat " + notADir)))
		_, err = new(toolkit.Fingerprint).Entries(nil, file).Files(notADir).Sum()
		Expect(err).To(MatchError(ContainSubstring("read " + file)))
	})
})
