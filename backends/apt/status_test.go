package apt_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apt"
)

const sampleStatus = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Multi-Arch: same
Version: 2.36-9+deb12u4
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
 .
 Package: not-a-package

Package: libc6
Status: install ok installed
Architecture: i386
Version: 2.36-9+deb12u4

Package: linux-image-amd64
Status: hold ok installed
Architecture: amd64
Version: 6.1.76-1

Package: removed
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: gone
Status: purge ok not-installed
Architecture: amd64

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2024a-0+deb12u1
`

var _ = Describe("ParseStatus", func() {
	It("reads installed packages, holds and foreign architectures", func() {
		db := apt.ParseStatus([]byte(sampleStatus), "amd64")
		Expect(db.Installed).To(Equal(map[string]backends.Package{
			"libc6":             {Name: "libc6", Version: "2.36-9+deb12u4", Arch: "amd64"},
			"libc6:i386":        {Name: "libc6", Version: "2.36-9+deb12u4", Arch: "i386"},
			"linux-image-amd64": {Name: "linux-image-amd64", Version: "6.1.76-1", Arch: "amd64", Held: true},
			"tzdata":            {Name: "tzdata", Version: "2024a-0+deb12u1", Arch: "all"},
		}))
		Expect(db.Interrupted).To(BeEmpty())
	})

	DescribeTable("flags what dpkg --audit flags",
		func(status string, interrupted bool) {
			data := "Package: p1\nStatus: " + status + "\nArchitecture: all\nVersion: 1.0\n"
			db := apt.ParseStatus([]byte(data), "amd64")
			if interrupted {
				Expect(db.Interrupted).To(Equal([]string{"p1"}))
			} else {
				Expect(db.Interrupted).To(BeEmpty())
			}
		},
		Entry("installed", "install ok installed", false),
		Entry("config-files", "deinstall ok config-files", false),
		Entry("not-installed", "purge ok not-installed", false),
		Entry("half-installed", "install reinstreq half-installed", true),
		Entry("unpacked", "install ok unpacked", true),
		Entry("half-configured", "install ok half-configured", true),
		Entry("triggers-awaited", "install ok triggers-awaited", true),
		Entry("triggers-pending", "install ok triggers-pending", true),
		Entry("reinst-required but not installed", "install reinstreq not-installed", true),
	)

	It("tolerates CRLF, a missing final newline and paragraphs without a blank line between", func() {
		data := "Package: a1\r\nStatus: install ok installed\r\nVersion: 1\r\n\r\nPackage: b2\nStatus: install ok installed\nVersion: 2\nPackage: c3\nstatus: install ok installed\nversion: 3"
		db := apt.ParseStatus([]byte(data), "amd64")
		Expect(db.Installed).To(HaveLen(3))
		Expect(db.Installed["c3"].Version).To(Equal("3"))
	})

	It("parses a generated 10,000-package database (speed: BenchmarkParseStatus10k)", func() {
		Expect(apt.ParseStatus(generateStatus(10000), "amd64").Installed).To(HaveLen(10000))
	})
})

// generateStatus returns a status file of n packages shaped like a real
// one (about 1.2 kB each, with conffiles and long descriptions).
func generateStatus(n int) []byte {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "Package: package-%d\nStatus: install ok installed\nPriority: optional\nSection: libs\n"+
			"Installed-Size: %d\nMaintainer: Debian Maintainers <maint@example.org>\nArchitecture: amd64\n"+
			"Multi-Arch: same\nSource: source-%d\nVersion: %d.%d-%d+deb12u1\n"+
			"Depends: libc6 (>= 2.34), libssl3 (>= 3.0.0), zlib1g (>= 1:1.2.0)\n"+
			"Conffiles:\n /etc/package-%d/main.conf 0123456789abcdef0123456789abcdef\n /etc/package-%d/extra.conf fedcba9876543210fedcba9876543210\n"+
			"Description: package number %d for the parser benchmark\n"+
			" This is a long description that spans several lines, as real packages\n"+
			" do, so that the parser has continuation lines to skip over quickly.\n"+
			" .\n It has a paragraph separator too.\n"+
			"Homepage: https://example.org/package-%d\n\n",
			i, i%5000, i, i%10, i%7, i%3, i, i, i, i)
	}
	return []byte(sb.String())
}

func BenchmarkParseStatus10k(b *testing.B) {
	data := generateStatus(10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		apt.ParseStatus(data, "amd64")
	}
}

var _ = Describe("Provides in the status file", func() {
	It("reads dpkg 1.21's Provides without version constraints", func() {
		data, err := os.ReadFile("testdata/debian-12-dpkg-1.21.status-provides")
		Expect(err).NotTo(HaveOccurred())
		db := apt.ParseStatus(data, "amd64")
		Expect(db.Provides).To(Equal(map[string][]string{"tinymta": {"mail-transport-agent", "smtpd", "tinymta-compat"}}))
	})

	It("keys a foreign architecture's provides as apt does, and drops packages not installed", func() {
		db := apt.ParseStatus([]byte("Package: libfoo\nStatus: install ok installed\nArchitecture: i386\nVersion: 1\nProvides: libfoo-abi-1,libfoo-any (= 1)\n\n"+
			"Package: gone\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 1\nProvides: ghost\n"), "amd64")
		Expect(db.Provides).To(Equal(map[string][]string{"libfoo:i386": {"libfoo-abi-1", "libfoo-any"}}))
	})
})
