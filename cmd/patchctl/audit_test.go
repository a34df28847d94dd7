package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/audit"
)

var _ = Describe("patchctl audit verify", func() {
	var dir string
	BeforeEach(func() {
		dir = filepath.Join(GinkgoT().TempDir(), "audit")
		l, err := audit.Open(audit.Options{Dir: dir, Log: logr.Discard()})
		Expect(err).NotTo(HaveOccurred())
		for i := range 5 {
			Expect(l.RecordStep(context.Background(), audit.Step{Argv: []string{"/usr/bin/apt-get", "-y", "upgrade"}, ExitCode: i})).To(Succeed())
		}
		Expect(l.Close()).To(Succeed())
	})

	It("prints OK with a summary for an intact log", func() {
		r := ctl("", nil, "audit", "verify", "--dir", dir)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("OK: 5 records (1 to 5) in 1 files\n"))
	})

	It("names the file, line and record of a deleted line and exits 1", func() {
		p := filepath.Join(dir, audit.CurrentFile)
		b, err := os.ReadFile(p)
		Expect(err).NotTo(HaveOccurred())
		lines := strings.SplitAfter(string(b), "\n")
		Expect(os.WriteFile(p, []byte(strings.Join(append(lines[:2:2], lines[3:]...), "")), 0o600)).To(Succeed())
		r := ctl("", nil, "audit", "verify", "--dir", dir)
		Expect(r.code).To(Equal(1))
		Expect(r.stdout).To(BeEmpty())
		Expect(r.stderr).To(ContainSubstring("audit.log line 3 (record 4): records 3 to 3 are missing"))
	})

	It("fails on a directory that does not exist", func() {
		r := ctl("", nil, "audit", "verify", "--dir", filepath.Join(dir, "nope"))
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(ContainSubstring("no such file"))
	})
})
