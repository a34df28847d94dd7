package pacman_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/pacman"
)

func golden(name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	Expect(err).NotTo(HaveOccurred())
	return b
}

var _ = Describe("parsers", func() {
	It("reads a local database entry's name, version and arch", func() {
		p, _, ok := pacman.ParseDesc(golden("arch.local-desc.stdout"))
		Expect(ok).To(BeTrue())
		Expect(p).To(Equal(backends.Package{Name: "linux", Version: "6.9.7.arch1-1", Arch: "x86_64"}))
	})
	It("reads what a local database entry provides, without versions (pacman 6.0.2's desc)", func() {
		p, provides, ok := pacman.ParseDesc(golden("pacman-6.0.2.local-desc-provides.stdout"))
		Expect(ok).To(BeTrue())
		Expect(p).To(Equal(backends.Package{Name: "tinymta", Version: "1.0-1", Arch: "any"}))
		Expect(provides).To(Equal([]string{"mail-transport-agent", "smtpd", "libtinymta.so", "tinymta"}))
	})
	It("rejects a desc without a version", func() {
		_, _, ok := pacman.ParseDesc([]byte("%NAME%\nfoo\n\n%ARCH%\nany\n"))
		Expect(ok).To(BeFalse())
	})
	It("lists pending upgrades from -Qu, leaving ignored (held) packages out", func() {
		Expect(pacman.ParseQueryUpgrades(golden("arch.pacman-Qu.stdout"))).To(Equal(map[string]backends.Upgrade{
			"foo":     {Name: "foo", From: "1.0-1", To: "1.1-1"},
			"linux":   {Name: "linux", From: "6.9.6.arch1-1", To: "6.9.7.arch1-1"},
			"openssl": {Name: "openssl", From: "3.3.0-1", To: "3.3.1-1"},
		}))
	})
	It("reads empty -Qu output as nothing pending", func() {
		Expect(pacman.ParseQueryUpgrades(nil)).To(BeEmpty())
	})
	It("reads pacman.conf's [options]: database, cache dirs, IgnorePkg", func() {
		c := pacman.ParseConf(golden("arch.pacman.conf"), "/")
		Expect(c.DBPath).To(Equal("/var/lib/pacman"))
		Expect(c.CacheDirs).To(Equal([]string{"/var/cache/pacman/pkg", "/mnt/cache"}))
		Expect(c.IgnorePkg).To(Equal([]string{"docker*", "firefox", "nginx"}))
		Expect(c.Ignored("docker-ce")).To(BeTrue())
		Expect(c.Ignored("nginx")).To(BeTrue())
		Expect(c.Ignored("not-an-option-here")).To(BeFalse())
		Expect(c.Ignored("vim")).To(BeFalse())
	})
	It("puts unset paths inside the root", func() {
		c := pacman.ParseConf([]byte("[options]\nSigLevel = Never\n"), "/srv/r")
		Expect(c.DBPath).To(Equal("/srv/r/var/lib/pacman"))
		Expect(c.CacheDirs).To(Equal([]string{"/srv/r/var/cache/pacman/pkg"}))
	})
})

var _ = Describe("Vercmp", func() {
	pairs := [][2]string{
		{"1.0-1", "1.0-1"}, {"1.0-1", "1.1-1"}, {"1.0-2", "1.0-10"}, {"1.0", "1.0-1"},
		{"1:1.0-1", "2.0-1"}, {"1.0a-1", "1.0-1"}, {"1.0.1-1", "1.0-1"}, {"1.0rc1-1", "1.0-1"},
		{"6.9.7.arch1-1", "6.9.10.arch1-1"}, {"1.01-1", "1.1-1"}, {"1.0.a-1", "1.0.1-1"},
		{"20240101-1", "20231231-1"}, {"1..0-1", "1.0-1"}, {"2.0_beta-1", "2.0-1"},
	}
	want := []int{0, -1, -1, 0, 1, -1, 1, -1, -1, 0, -1, 1, 1, 1} // 2.0_beta > 2.0: "_" is a separator
	It("orders versions as pacman does", func() {
		for i, p := range pairs {
			Expect(pacman.Vercmp(p[0], p[1])).To(Equal(want[i]), "%s vs %s", p[0], p[1])
			Expect(pacman.Vercmp(p[1], p[0])).To(Equal(-want[i]), "%s vs %s", p[1], p[0])
		}
	})
	It("agrees with the real vercmp", func() {
		path, err := exec.LookPath("vercmp")
		if err != nil {
			Skip("vercmp not installed (pacman-package-manager)")
		}
		for _, p := range pairs {
			out, err := exec.Command(path, p[0], p[1]).Output()
			Expect(err).NotTo(HaveOccurred())
			n, err := strconv.Atoi(strings.TrimSpace(string(out)))
			Expect(err).NotTo(HaveOccurred())
			Expect(pacman.Vercmp(p[0], p[1])).To(Equal(n), "%s vs %s", p[0], p[1])
		}
	})
})

var _ = DescribeTable("KernelRebootRequired",
	func(release string, installed []backends.Package, want bool, pkg string) {
		m := map[string]backends.Package{}
		for _, p := range installed {
			m[p.Name] = p
		}
		got, name := pacman.KernelRebootRequired(release, m)
		Expect(got).To(Equal(want))
		Expect(name).To(Equal(pkg))
	},
	Entry("running the installed kernel", "6.9.7-arch1-1", []backends.Package{{Name: "linux", Version: "6.9.7.arch1-1"}}, false, ""),
	Entry("a newer kernel installed", "6.9.6-arch1-1", []backends.Package{{Name: "linux", Version: "6.9.7.arch1-1"}}, true, "linux"),
	Entry("lts running, lts upgraded", "6.6.35-1-lts", []backends.Package{{Name: "linux", Version: "6.9.7.arch1-1"}, {Name: "linux-lts", Version: "6.6.36-1"}}, true, "linux-lts"),
	Entry("lts running and current, linux upgraded", "6.6.36-1-lts", []backends.Package{{Name: "linux", Version: "6.9.8.arch1-1"}, {Name: "linux-lts", Version: "6.6.36-1"}}, false, ""),
	Entry("zen", "6.9.7-zen1-1-zen", []backends.Package{{Name: "linux-zen", Version: "6.9.8.zen1-1"}}, true, "linux-zen"),
	Entry("no kernel package (container)", "6.1.0-18-amd64", []backends.Package{{Name: "bash", Version: "5.2-1"}}, false, ""),
	Entry("a custom kernel newer than the package", "6.10.0-arch1-1", []backends.Package{{Name: "linux", Version: "6.9.7.arch1-1"}}, false, ""),
	Entry("unknown release", "", []backends.Package{{Name: "linux", Version: "6.9.7.arch1-1"}}, false, ""),
)
