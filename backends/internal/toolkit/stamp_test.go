package toolkit_test

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

var _ = Describe("RefreshStamp", func() {
	var (
		dir   string
		stamp toolkit.RefreshStamp
		logs  *strings.Builder
	)
	BeforeEach(func() {
		dir = filepath.Join(GinkgoT().TempDir(), "state")
		stamp = toolkit.StampIn(dir, "apt")
		logs = &strings.Builder{}
	})
	log := func() logr.Logger {
		return funcr.New(func(prefix, args string) { logs.WriteString(args + "\n") }, funcr.Options{})
	}

	It("lives in the state dir, named after the backend", func() {
		Expect(stamp.Path()).To(Equal(filepath.Join(dir, "apt-index-refreshed")))
	})
	It("reads back the time it wrote, creating the state dir", func() {
		t := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))
		Expect(stamp.Write(t)).To(Succeed())
		data, err := os.ReadFile(stamp.Path())
		Expect(err).NotTo(HaveOccurred())
		Expect(string(data)).To(Equal("2024-05-06T05:08:09.123456789Z\n"))
		got, err := stamp.Read(log())
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Equal(t)).To(BeTrue(), got.String())
	})
	It("reads nothing recorded as zero, and an unreadable file as zero with a log line", func() {
		got, err := stamp.Read(log())
		Expect(err).NotTo(HaveOccurred())
		Expect(got.IsZero()).To(BeTrue())
		Expect(logs.String()).To(BeEmpty())
		Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
		Expect(os.WriteFile(stamp.Path(), []byte("yesterday\n"), 0o644)).To(Succeed())
		got, err = stamp.Read(log())
		Expect(err).NotTo(HaveOccurred())
		Expect(got.IsZero()).To(BeTrue())
		Expect(logs.String()).To(ContainSubstring("ignoring unreadable refresh stamp"))
	})
	It("fails to write where the state dir cannot be", func() {
		file := filepath.Join(GinkgoT().TempDir(), "file")
		Expect(os.WriteFile(file, nil, 0o644)).To(Succeed())
		Expect(toolkit.StampIn(file, "apk").Write(time.Now())).To(MatchError(ContainSubstring("create state dir")))
	})
	It("falls back to the package manager's hint only without a record, and never reports the future", func() {
		now := time.Date(2024, 5, 6, 12, 0, 0, 0, time.UTC)
		hint := now.Add(-time.Hour)
		fallback := func() time.Time { return hint }
		got, err := stamp.Refreshed(log(), now, fallback)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(hint))
		got, err = stamp.Refreshed(log(), now, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.IsZero()).To(BeTrue())

		Expect(stamp.Write(now.Add(-2 * time.Hour))).To(Succeed())
		got, err = stamp.Refreshed(log(), now, fallback)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Equal(now.Add(-2*time.Hour))).To(BeTrue(), "the record wins over the hint")

		Expect(stamp.Write(now.Add(time.Hour))).To(Succeed())
		got, err = stamp.Refreshed(log(), now, fallback)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(now), "a clock stepped back")
	})
})

var _ = Describe("NewestModTime", func() {
	It("is the latest mtime of the paths that exist", func() {
		dir := GinkgoT().TempDir()
		a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
		Expect(os.WriteFile(a, nil, 0o644)).To(Succeed())
		Expect(os.WriteFile(b, nil, 0o644)).To(Succeed())
		old, newer := time.Unix(1_000_000, 0), time.Unix(2_000_000, 0)
		Expect(os.Chtimes(a, newer, newer)).To(Succeed())
		Expect(os.Chtimes(b, old, old)).To(Succeed())
		Expect(toolkit.NewestModTime(b, filepath.Join(dir, "missing"), a).Equal(newer)).To(BeTrue())
		Expect(toolkit.NewestModTime(filepath.Join(dir, "missing")).IsZero()).To(BeTrue())
	})
})

var _ = Describe("ReadOptional", func() {
	It("reads a file, and a missing one as empty", func() {
		dir := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(dir, "world"), []byte("busybox\n"), 0o644)).To(Succeed())
		Expect(toolkit.ReadOptional(filepath.Join(dir, "world"))).To(Equal([]byte("busybox\n")))
		data, err := toolkit.ReadOptional(filepath.Join(dir, "missing"))
		Expect(err).NotTo(HaveOccurred())
		Expect(data).To(BeEmpty())
		_, err = toolkit.ReadOptional(dir)
		Expect(err).To(HaveOccurred(), "a directory is not a missing file")
	})
})
