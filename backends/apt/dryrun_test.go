package apt_test

import (
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apt"
)

var _ = Describe("ParseDryRun", func() {
	It("reads the pending upgrades of a real simulated dist-upgrade", func() {
		out, err := os.ReadFile("testdata/debian-12.apt-get-s-dist-upgrade.stdout")
		Expect(err).NotTo(HaveOccurred())
		Expect(apt.ParseDryRun(out)).To(Equal(map[string]backends.Upgrade{
			"hello":            {Name: "hello", From: "1.0", To: "2.0", Source: "stable"},
			"secfix":           {Name: "secfix", From: "1.0", To: "1.1", Source: "stable-security", Security: true},
			"dual":             {Name: "dual", From: "1.0", To: "1.1", Source: "stable-security", Security: true},
			"linux-image-meta": {Name: "linux-image-meta", From: "1.0", To: "2.0", Source: "stable-security", Security: true},
			"linux-image-abi2": {Name: "linux-image-abi2", To: "1.0", Source: "stable-security", Security: true},
		}))
	})

	It("reads Ubuntu suites, foreign architectures and unlabelled repositories", func() {
		out := "NOTE: This is only a simulation!\n" +
			"Inst libssl3 [3.0.2-0ubuntu1.10] (3.0.2-0ubuntu1.12 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64])\n" +
			"Inst libc6:i386 [2.35-0ubuntu3.1] (2.35-0ubuntu3.4 Ubuntu:22.04/jammy-updates [i386]) []\n" +
			"Inst local (1.2 localhost [all])\n" +
			"Remv oldpkg [1.0]\n" +
			"Conf libssl3 (3.0.2-0ubuntu1.12 Ubuntu:22.04/jammy-updates, Ubuntu:22.04/jammy-security [amd64])\n" +
			"Inst broken line without parens\n"
		Expect(apt.ParseDryRun([]byte(out))).To(Equal(map[string]backends.Upgrade{
			"libssl3":    {Name: "libssl3", From: "3.0.2-0ubuntu1.10", To: "3.0.2-0ubuntu1.12", Source: "jammy-security", Security: true},
			"libc6:i386": {Name: "libc6:i386", From: "2.35-0ubuntu3.1", To: "2.35-0ubuntu3.4", Source: "jammy-updates"},
			"local":      {Name: "local", To: "1.2", Source: "localhost"},
		}))
	})

	It("finds nothing in an up-to-date system", func() {
		Expect(apt.ParseDryRun([]byte("Reading package lists...\n0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"))).To(BeEmpty())
	})
})
