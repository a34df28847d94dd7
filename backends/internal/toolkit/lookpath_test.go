package toolkit_test

import (
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

var _ = Describe("LookPath", func() {
	It("finds the first executable file of the name in the absolute directories of the given PATH", func() {
		a, b := GinkgoT().TempDir(), GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(a, "apt-get"), []byte("#!/bin/sh\n"), 0o644)).To(Succeed()) // not executable
		Expect(os.Mkdir(filepath.Join(a, "dpkg"), 0o755)).To(Succeed())                               // a directory
		Expect(os.WriteFile(filepath.Join(b, "apt-get"), []byte("#!/bin/sh\n"), 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(b, "dpkg"), []byte("#!/bin/sh\n"), 0o755)).To(Succeed())
		path := "relative:" + a + ":" + b
		Expect(toolkit.LookPath("apt-get", path)).To(Equal(filepath.Join(b, "apt-get")))
		Expect(toolkit.LookPath("dpkg", path)).To(Equal(filepath.Join(b, "dpkg")))
		_, err := toolkit.LookPath("rpm", path)
		Expect(err).To(MatchError(exec.ErrNotFound))
		Expect(err).To(MatchError(ContainSubstring("find rpm in relative:")))
	})
})
