package packages_test

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
)

var _ = Describe("the deb package with real dpkg", Label("integration"), Ordered, func() {
	var r *testrepo.Root
	dpkg := func(args ...string) string {
		GinkgoHelper()
		out, err := command("/", r.Env(), "dpkg", append(r.DpkgArgs(), args...)...)
		Expect(err).NotTo(HaveOccurred())
		return out
	}
	status := func() string {
		GinkgoHelper()
		out, _ := command("/", nil, "dpkg-query", "--admindir="+r.Path("var/lib/dpkg"), "-W", "-f=${db:Status-Abbrev} ${Version}", "patchlet")
		return strings.Join(strings.Fields(out), " ")
	}

	BeforeAll(func() { r = newRoot() })

	It("installs without enabling or starting the agent", func() {
		out := dpkg("-i", v1.deb())
		Expect(status()).To(Equal("ii 1.0.0-1"))
		expectInstalled(r, "1.0.0")
		Expect(systemctlCalls(r)).To(Equal([]string{"daemon-reload"}))
		Expect(out).To(ContainSubstring("systemctl enable --now patchlet"))
		conffiles, err := command("/", nil, "dpkg-query", "--admindir="+r.Path("var/lib/dpkg"), "-W", "-f=${Conffiles}", "patchlet")
		Expect(err).NotTo(HaveOccurred())
		Expect(conffiles).To(ContainSubstring("/etc/patchlet/config.yaml"))
	})

	It("upgrades, keeping the state directory and a locally edited conffile, and restarts a running agent", func() {
		editConfigAndWriteState(r)
		// The options every patchlet apt step passes: keep the local file.
		dpkg("--force-confdef", "--force-confold", "-i", v2.deb())
		Expect(status()).To(Equal("ii 1.0.1-1"))
		expectInstalled(r, "1.0.1")
		expectStateKept(r)
		expectLocalConfigKept(r, "etc/patchlet/config.yaml")
		Expect(os.ReadFile(r.Path("etc/patchlet/config.yaml.dpkg-dist"))).To(HaveSuffix("# new in 1.0.1\n"))
		Expect(systemctlCalls(r)).To(Equal([]string{"daemon-reload", "daemon-reload", "--no-block try-restart patchlet.service"}))
	})

	It("removes the program but keeps the state and the configuration", func() {
		dpkg("--remove", "patchlet")
		Expect(status()).To(Equal("rc 1.0.1-1"))
		expectRemoved(r)
		expectStateKept(r)
		expectLocalConfigKept(r, "etc/patchlet/config.yaml")
		Expect(systemctlCalls(r)[3:]).To(Equal([]string{"stop patchlet.service", "disable patchlet.service", "daemon-reload"}))
	})

	It("deletes the state directory and the configuration only on purge", func() {
		dpkg("--purge", "patchlet")
		Expect(r.Path("var/lib/patchlet")).NotTo(BeAnExistingFile())
		Expect(r.Path("etc/patchlet")).NotTo(BeAnExistingFile())
	})
})

var _ = Describe("the rpm package with real rpm", Label("integration"), Ordered, func() {
	var r *testrepo.Root
	var home string
	rpm := func(args ...string) string {
		GinkgoHelper()
		// HOME keeps Debian's rpm away from the host's ~/.rpmdb and
		// ~/.rpmmacros; --dbpath is inside the root.
		out, err := command("/", []string{"HOME=" + home}, "rpm", append([]string{"--root", r.Dir, "--dbpath", "/var/lib/rpm"}, args...)...)
		Expect(err).NotTo(HaveOccurred())
		return out
	}

	BeforeAll(func() {
		r = newRoot()
		home = GinkgoT().TempDir()
	})

	It("installs without enabling or starting the agent, config.yaml marked noreplace", func() {
		rpm("-i", "--nodeps", v1.rpm())
		Expect(rpm("-q", "patchlet")).To(ContainSubstring("patchlet-1.0.0-1"))
		expectInstalled(r, "1.0.0")
		Expect(rpm("-qc", "patchlet")).To(ContainSubstring("/etc/patchlet/config.yaml"))
		Expect(systemctlCalls(r)).To(Equal([]string{"daemon-reload"}))
	})

	It("upgrades, keeping the state directory and a locally edited config, and restarts a running agent", func() {
		editConfigAndWriteState(r)
		rpm("-U", "--nodeps", v2.rpm())
		Expect(rpm("-q", "patchlet")).To(ContainSubstring("patchlet-1.0.1-1"))
		expectInstalled(r, "1.0.1")
		expectStateKept(r)
		expectLocalConfigKept(r, "etc/patchlet/config.yaml")
		Expect(os.ReadFile(r.Path("etc/patchlet/config.yaml.rpmnew"))).To(HaveSuffix("# new in 1.0.1\n"))
		Expect(systemctlCalls(r)).To(Equal([]string{"daemon-reload", "daemon-reload", "--no-block try-restart patchlet.service"}))
	})

	It("erases the program, stopping and disabling the agent, and keeps the state", func() {
		rpm("-e", "--nodeps", "patchlet")
		expectRemoved(r)
		expectStateKept(r)
		expectLocalConfigKept(r, "etc/patchlet/config.yaml.rpmsave")
		Expect(systemctlCalls(r)[3:]).To(Equal([]string{"stop patchlet.service", "disable patchlet.service", "daemon-reload"}))
	})
})

var _ = Describe("the archlinux package with real pacman", Label("integration"), Ordered, func() {
	var r *testrepo.Root
	pacman := func(args ...string) string {
		GinkgoHelper()
		out, err := command("/", nil, "pacman", append([]string{
			"--root", r.Dir, "--dbpath", r.Path("var/lib/pacman"), "--config", r.Path("etc/pacman.conf"), "--noconfirm",
		}, args...)...)
		Expect(err).NotTo(HaveOccurred())
		return out
	}

	BeforeAll(func() {
		r = newRoot()
		conf := fmt.Sprintf("[options]\nRootDir = %[1]s\nDBPath = %[1]s/var/lib/pacman/\nCacheDir = %[1]s/var/cache/pacman/pkg/\n"+
			"LogFile = %[1]s/var/log/pacman.log\nGPGDir = %[1]s/etc/pacman.d/gnupg/\nHookDir = %[1]s/etc/pacman.d/hooks/\n"+
			"Architecture = auto\nSigLevel = Never\nLocalFileSigLevel = Never\n", r.Dir)
		Expect(os.WriteFile(r.Path("etc/pacman.conf"), []byte(conf), 0o644)).To(Succeed())
	})

	It("installs without enabling or starting the agent", func() {
		pacman("-U", v1.arch())
		Expect(pacman("-Q", "patchlet")).To(Equal("patchlet 1.0.0-1\n"))
		expectInstalled(r, "1.0.0")
		Expect(systemctlCalls(r)).To(Equal([]string{"daemon-reload"}))
	})

	It("upgrades, keeping the state directory and a locally edited backup file, and restarts a running agent", func() {
		editConfigAndWriteState(r)
		pacman("-U", v2.arch())
		Expect(pacman("-Q", "patchlet")).To(Equal("patchlet 1.0.1-1\n"))
		expectInstalled(r, "1.0.1")
		expectStateKept(r)
		expectLocalConfigKept(r, "etc/patchlet/config.yaml")
		Expect(os.ReadFile(r.Path("etc/patchlet/config.yaml.pacnew"))).To(HaveSuffix("# new in 1.0.1\n"))
		Expect(systemctlCalls(r)).To(Equal([]string{"daemon-reload", "daemon-reload", "--no-block try-restart patchlet.service"}))
	})

	It("removes the program, stopping and disabling the agent, and keeps the state", func() {
		pacman("-R", "patchlet")
		expectRemoved(r)
		expectStateKept(r)
		expectLocalConfigKept(r, "etc/patchlet/config.yaml.pacsave")
		Expect(systemctlCalls(r)[3:]).To(Equal([]string{"stop patchlet.service", "disable patchlet.service", "daemon-reload"}))
	})
})

// No apk binary is available on Debian (TESTING.md): the apk package is
// checked by reading it.
var _ = Describe("the apk package", func() {
	It("holds the program, the config, the state directory, the scripts and an OpenRC service, but no systemd unit", func() {
		entries, pkginfo := readAPK(v1.apk())
		Expect(pkginfo).To(MatchRegexp(`(?m)^pkgname = patchlet$`))
		Expect(pkginfo).To(MatchRegexp(`(?m)^pkgver = 1\.0\.0-r1$`))
		for _, name := range []string{".post-install", ".post-upgrade", ".pre-deinstall", ".post-deinstall",
			"usr/bin/patchlet", "usr/bin/patchctl", "etc/patchlet/config.yaml", "etc/patchlet/policies.d/"} {
			Expect(entries).To(HaveKey(name))
		}
		Expect(entries).To(HaveKeyWithValue("var/lib/patchlet/", os.ModeDir|0o700))
		Expect(entries["usr/bin/patchlet"].Perm()).To(Equal(os.FileMode(0o755)))
		Expect(entries["etc/init.d/patchlet"].Perm()).To(Equal(os.FileMode(0o755)))
		for name := range entries {
			Expect(name).NotTo(ContainSubstring("systemd"))
		}
	})
})

// readAPK returns the entries of an apk (concatenated gzip streams of tar
// segments) with their modes, and its .PKGINFO.
func readAPK(path string) (map[string]os.FileMode, string) {
	GinkgoHelper()
	f, err := os.Open(path)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	zr, err := gzip.NewReader(f)
	Expect(err).NotTo(HaveOccurred())
	tr := tar.NewReader(zr)
	entries := map[string]os.FileMode{}
	var pkginfo string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		Expect(err).NotTo(HaveOccurred())
		entries[h.Name] = h.FileInfo().Mode()
		if h.Name == ".PKGINFO" {
			b, err := io.ReadAll(tr)
			Expect(err).NotTo(HaveOccurred())
			pkginfo = string(b)
		}
	}
	return entries, pkginfo
}

var _ = Describe("the systemd unit", func() {
	const unit = "../../packaging/systemd/patchlet.service"

	It("pins the systemd executor, so that package steps run outside the sandbox", func() {
		b, err := os.ReadFile(unit)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(b)).To(MatchRegexp(`(?m)^ExecStart=/usr/bin/patchlet .*--executor=systemd`))
		Expect(string(b)).To(MatchRegexp(`(?m)^KillMode=process$`))
		Expect(string(b)).To(MatchRegexp(`(?m)^ProtectSystem=strict$`))
	})

	It("keeps the systemd-analyze exposure at or below 3.0", func() {
		if _, err := exec.LookPath("systemd-analyze"); err != nil {
			Skip("systemd-analyze is not installed")
		}
		out, err := command(".", nil, "systemd-analyze", "security", "--offline=yes", "--no-pager", unit)
		Expect(err).NotTo(HaveOccurred())
		m := regexp.MustCompile(`Overall exposure level for patchlet\.service: ([0-9.]+)`).FindStringSubmatch(out)
		Expect(m).NotTo(BeNil(), out)
		level, err := strconv.ParseFloat(m[1], 64)
		Expect(err).NotTo(HaveOccurred())
		Expect(level).To(BeNumerically("<=", 3.0), out)
	})
})
