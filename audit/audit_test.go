package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/audit"
)

func change(name string, before, after int64) audit.Entry {
	return audit.Entry{Change: &audit.Change{
		User: "alice", Groups: []string{"patchlet:operators"}, From: "192.0.2.7:41000",
		Verb: "update", Resource: "patchpolicies", Name: name,
		GenerationBefore: before, GenerationAfter: after,
	}}
}

func open(dir string, maxSize int64, keep int) *audit.Log {
	GinkgoHelper()
	l, err := audit.Open(audit.Options{Dir: dir, MaxSize: maxSize, Keep: keep, Log: logr.Discard()})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(l.Close)
	return l
}

// fill writes n change records.
func fill(l *audit.Log, n int) {
	GinkgoHelper()
	for i := range n {
		Expect(l.Record(context.Background(), change("web", int64(i), int64(i+1)))).To(Succeed())
	}
}

func lines(path string) []string {
	GinkgoHelper()
	b, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func writeLines(path string, ls []string) {
	GinkgoHelper()
	Expect(os.WriteFile(path, []byte(strings.Join(ls, "\n")+"\n"), 0o600)).To(Succeed())
}

func rotated(dir string) []string {
	GinkgoHelper()
	m, err := filepath.Glob(filepath.Join(dir, "audit-*.log"))
	Expect(err).NotTo(HaveOccurred())
	sort.Strings(m)
	return m
}

// verifyError runs Verify and returns its *VerifyError.
func verifyError(dir string) *audit.VerifyError {
	GinkgoHelper()
	err := audit.Verify(dir)
	Expect(err).To(HaveOccurred())
	var ve *audit.VerifyError
	Expect(errors.As(err, &ve)).To(BeTrue(), "%v", err)
	return ve
}

var _ = Describe("Log", func() {
	var dir string
	BeforeEach(func() { dir = filepath.Join(GinkgoT().TempDir(), "audit") })

	It("appends chained JSON lines that verify, and continues the chain after a reopen", func() {
		l := open(dir, 0, 0)
		fill(l, 3)
		Expect(l.RecordStep(context.Background(), audit.Step{Operation: "op-1", Argv: []string{"/usr/bin/apt-get", "-y", "upgrade"}, ExitCode: 100})).To(Succeed())
		Expect(l.Close()).To(Succeed())

		ls := lines(filepath.Join(dir, audit.CurrentFile))
		Expect(ls).To(HaveLen(4))
		var first, last audit.Entry
		Expect(json.Unmarshal([]byte(ls[0]), &first)).To(Succeed())
		Expect(json.Unmarshal([]byte(ls[3]), &last)).To(Succeed())
		Expect(first.Seq).To(Equal(uint64(1)))
		Expect(first.Prev).To(BeEmpty())
		Expect(first.Change.User).To(Equal("alice"))
		Expect(first.Change.GenerationAfter).To(Equal(int64(1)))
		Expect(last.Step.Argv).To(Equal([]string{"/usr/bin/apt-get", "-y", "upgrade"}))
		Expect(last.Step.ExitCode).To(Equal(100))
		Expect(last.Prev).To(HaveLen(64))

		fi, err := os.Stat(filepath.Join(dir, audit.CurrentFile))
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)))

		l = open(dir, 0, 0)
		fill(l, 2)
		sum, err := audit.VerifyDir(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(sum.Records).To(Equal(6))
		Expect(sum.Last).To(Equal(uint64(6)))
	})

	It("keeps the chain whole under concurrent writers", func() {
		l := open(dir, 2048, 50)
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				defer GinkgoRecover()
				fill(l, 10)
			})
		}
		wg.Wait()
		sum, err := audit.VerifyDir(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(sum.Records).To(Equal(40))
	})

	It("rotates by size, links the first record of a file to the last of the one before, and keeps N files", func() {
		l := open(dir, 1024, 3)
		fill(l, 40)
		rs := rotated(dir)
		Expect(rs).To(HaveLen(3))
		sum, err := audit.VerifyDir(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(sum.Files).To(Equal(4))
		Expect(sum.First).To(BeNumerically(">", 1), "the oldest files were pruned")
		Expect(sum.Last).To(Equal(uint64(40)))
		for _, f := range append(rs, filepath.Join(dir, audit.CurrentFile)) {
			fi, err := os.Stat(f)
			Expect(err).NotTo(HaveOccurred())
			Expect(fi.Size()).To(BeNumerically("<=", 1024))
		}
		var first audit.Entry
		Expect(json.Unmarshal([]byte(lines(filepath.Join(dir, audit.CurrentFile))[0]), &first)).To(Succeed())
		Expect(first.Prev).To(HaveLen(64))
	})

	It("recovers from a torn last record left by a crash", func() {
		l := open(dir, 0, 0)
		fill(l, 3)
		Expect(l.Close()).To(Succeed())
		f, err := os.OpenFile(filepath.Join(dir, audit.CurrentFile), os.O_WRONLY|os.O_APPEND, 0)
		Expect(err).NotTo(HaveOccurred())
		_, err = f.WriteString(`{"seq":4,"time":"2026-`)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Close()).To(Succeed())

		l = open(dir, 0, 0)
		fill(l, 1)
		sum, err := audit.VerifyDir(dir)
		Expect(err).NotTo(HaveOccurred())
		Expect(sum.Records).To(Equal(4))
	})

	It("refuses to continue a log whose newest records were cut off", func() {
		l := open(dir, 0, 0)
		fill(l, 4)
		Expect(l.Close()).To(Succeed())
		p := filepath.Join(dir, audit.CurrentFile)
		writeLines(p, lines(p)[:2])
		_, err := audit.Open(audit.Options{Dir: dir, Log: logr.Discard()})
		Expect(err).To(MatchError(audit.ErrBroken))
		Expect(err).To(MatchError(ContainSubstring("names record 4 but the log ends at record 2")))
	})
})

var _ = Describe("Verify", func() {
	var dir, current string
	BeforeEach(func() {
		dir = filepath.Join(GinkgoT().TempDir(), "audit")
		current = filepath.Join(dir, audit.CurrentFile)
	})

	It("accepts an empty or absent log", func() {
		Expect(audit.Verify(dir)).To(MatchError(os.ErrNotExist))
		Expect(os.MkdirAll(dir, 0o700)).To(Succeed())
		Expect(audit.Verify(dir)).To(Succeed())
		l := open(dir, 0, 0)
		Expect(l.Close()).To(Succeed())
		Expect(audit.Verify(dir)).To(Succeed())
	})

	When("a single file was tampered with", func() {
		BeforeEach(func() {
			l := open(dir, 0, 0)
			fill(l, 6)
			Expect(l.Close()).To(Succeed())
			Expect(audit.Verify(dir)).To(Succeed())
		})

		It("finds an edited byte in the record that was edited", func() {
			ls := lines(current)
			ls[2] = strings.Replace(ls[2], `"name":"web"`, `"name":"wab"`, 1)
			writeLines(current, ls)
			ve := verifyError(dir)
			Expect(ve.File).To(Equal(audit.CurrentFile))
			Expect(ve.Line).To(Equal(3))
			Expect(ve.Seq).To(Equal(uint64(3)))
			Expect(ve.Reason).To(ContainSubstring("changed"))
		})

		It("finds an edit whose own hash was recomputed at the link of the next record", func() {
			// An attacker who edits record 3 and fixes its hash still breaks record 4's link.
			var e audit.Entry
			ls := lines(current)
			Expect(json.Unmarshal([]byte(ls[2]), &e)).To(Succeed())
			e.Change.Name = "evil"
			line, err := audit.Encode(e)
			Expect(err).NotTo(HaveOccurred())
			ls[2] = string(line)
			writeLines(current, ls)
			ve := verifyError(dir)
			Expect(ve.Line).To(Equal(4))
			Expect(ve.Seq).To(Equal(uint64(4)))
			Expect(ve.Reason).To(ContainSubstring("link to the previous record"))
		})

		It("finds a deleted line", func() {
			ls := lines(current)
			writeLines(current, append(ls[:3:3], ls[4:]...))
			ve := verifyError(dir)
			Expect(ve.Line).To(Equal(4))
			Expect(ve.Seq).To(Equal(uint64(5)))
			Expect(ve.Reason).To(ContainSubstring("records 4 to 4 are missing"))
		})

		It("finds a deleted first line", func() {
			writeLines(current, lines(current)[1:])
			ve := verifyError(dir)
			Expect(ve.Line).To(Equal(1))
			Expect(ve.Reason).To(ContainSubstring("records 1 to 1 were removed"))
		})

		It("finds a file truncated in the middle of a record", func() {
			b, err := os.ReadFile(current)
			Expect(err).NotTo(HaveOccurred())
			cut := bytes.Index(b, []byte(`{"seq":5`)) + 30
			Expect(os.WriteFile(current, b[:cut], 0o600)).To(Succeed())
			ve := verifyError(dir)
			Expect(ve.Line).To(Equal(5))
			Expect(ve.Seq).To(Equal(uint64(5)))
			Expect(ve.Reason).To(ContainSubstring("truncated"))
		})

		It("finds records cut off at a line boundary at the end", func() {
			writeLines(current, lines(current)[:4])
			ve := verifyError(dir)
			Expect(ve.Line).To(Equal(4))
			Expect(ve.Seq).To(Equal(uint64(4)))
			Expect(ve.Reason).To(ContainSubstring("records 5 to 6 were cut off"))
		})

		It("finds swapped records", func() {
			ls := lines(current)
			ls[1], ls[2] = ls[2], ls[1]
			writeLines(current, ls)
			ve := verifyError(dir)
			Expect(ve.Line).To(Equal(2))
			Expect(ve.Seq).To(Equal(uint64(3)))
		})

		It("finds a deleted head", func() {
			Expect(os.Remove(filepath.Join(dir, audit.HeadFile))).To(Succeed())
			Expect(verifyError(dir).File).To(Equal(audit.HeadFile))
		})
	})

	When("the log spans rotated files", func() {
		BeforeEach(func() {
			l := open(dir, 1024, 20)
			fill(l, 30)
			Expect(l.Close()).To(Succeed())
			Expect(len(rotated(dir))).To(BeNumerically(">=", 4))
			Expect(audit.Verify(dir)).To(Succeed())
		})

		It("finds a deleted rotated file in the middle", func() {
			rs := rotated(dir)
			Expect(os.Remove(rs[1])).To(Succeed())
			ve := verifyError(dir)
			Expect(ve.File).To(Equal(filepath.Base(rs[2])))
			Expect(ve.Reason).To(ContainSubstring("a file was deleted"))
		})

		It("finds the oldest rotated file deleted", func() {
			rs := rotated(dir)
			Expect(os.Remove(rs[0])).To(Succeed())
			ve := verifyError(dir)
			Expect(ve.File).To(Equal(filepath.Base(rs[1])))
			Expect(ve.Seq).To(Equal(uint64(1)))
		})

		It("finds a rotated file truncated at a line boundary", func() {
			rs := rotated(dir)
			ls := lines(rs[1])
			writeLines(rs[1], ls[:len(ls)-1])
			ve := verifyError(dir)
			Expect(ve.File).To(Equal(filepath.Base(rs[2])))
			Expect(ve.Reason).To(ContainSubstring("missing"))
			var last audit.Entry
			Expect(json.Unmarshal([]byte(ls[len(ls)-1]), &last)).To(Succeed())
			Expect(ve.Seq).To(Equal(last.Seq), "the record cut off is named")
		})

		It("finds an edited byte in a rotated file", func() {
			rs := rotated(dir)
			b, err := os.ReadFile(rs[2])
			Expect(err).NotTo(HaveOccurred())
			i := bytes.Index(b, []byte(`"alice"`))
			b[i+1] = 'A'
			Expect(os.WriteFile(rs[2], b, 0o600)).To(Succeed())
			ve := verifyError(dir)
			Expect(ve.File).To(Equal(filepath.Base(rs[2])))
			Expect(ve.Line).To(Equal(1))
		})
	})
})
