package apt_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apt"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
)

// aptAnswers is what the fake runner answers every command with.
type aptAnswers struct {
	stdout []byte
	err    error
}

// answer answers apt-config (asked once, at New) with the status file in
// the root the argv's APT_CONFIG names, and everything else with stdout.
func (a *aptAnswers) answer(argv []string) ([]byte, error) {
	if argv[0] == fakePaths.AptConfig {
		return nil, errors.New("no apt-config here") // New falls back to ROOT/var/lib/dpkg/status
	}
	return a.stdout, a.err
}

const dryRun = "Inst openssl [3.0.11-1~deb12u1] (3.0.11-1~deb12u2 Debian-Security:12/stable-security [amd64])\n"

const listsPackages = `Package: openssl
Version: 3.0.11-1~deb12u1
Architecture: amd64

Package: openssl
Version: 3.0.11-1~deb12u2
Architecture: amd64

Package: openssl
Version: 9.9
Architecture: arm64

Package: other
Version: 1.0
Architecture: all
`

func writeFile(path, content string) {
	GinkgoHelper()
	Expect(os.MkdirAll(filepath.Dir(path), 0o755)).To(Succeed())
	Expect(os.WriteFile(path, []byte(content), 0o644)).To(Succeed())
}

// touchLater moves a file's mtime forward, as a change a second later would.
func touchLater(path string) {
	GinkgoHelper()
	fi, err := os.Stat(path)
	Expect(err).NotTo(HaveOccurred())
	t := fi.ModTime().Add(time.Second)
	Expect(os.Chtimes(path, t, t)).To(Succeed())
}

var _ = Describe("Observe", func() {
	var (
		root    string
		runner  *backendtest.CountingRunner
		answers *aptAnswers
		b       *apt.Backend
		now     time.Time
		ctx     = context.Background()
	)

	BeforeEach(func() {
		root = GinkgoT().TempDir()
		writeFile(filepath.Join(root, "var/lib/dpkg/status"),
			"Package: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.11-1~deb12u1\n")
		Expect(os.MkdirAll(filepath.Join(root, "var/lib/dpkg/updates"), 0o755)).To(Succeed())
		writeFile(filepath.Join(root, "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"), listsPackages)
		Expect(os.MkdirAll(filepath.Join(root, "run"), 0o755)).To(Succeed())
		Expect(os.Symlink("/run", filepath.Join(root, "var/run"))).To(Succeed())
		answers = &aptAnswers{stdout: []byte(dryRun)}
		runner = &backendtest.CountingRunner{Fake: answers.answer}
		now = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
		var err error
		b, err = apt.New(apt.Options{Settings: backends.Settings{Root: root, StateDir: filepath.Join(root, "state"), Log: GinkgoLogr, Runner: runner, Clock: func() time.Time { return now }},
			Paths: fakePaths, Architecture: "amd64"})
		Expect(err).NotTo(HaveOccurred())
	})

	It("reports packages, upgrades and available versions, newest first, for this architecture", func() {
		obs, err := b.Observe(ctx, []string{"openssl", "absent"})
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Installed).To(Equal(map[string]backends.Package{
			"openssl": {Name: "openssl", Version: "3.0.11-1~deb12u1", Arch: "amd64"}}))
		Expect(obs.Upgrades).To(Equal(map[string]backends.Upgrade{
			"openssl": {Name: "openssl", From: "3.0.11-1~deb12u1", To: "3.0.11-1~deb12u2", Source: "stable-security", Security: true}}))
		Expect(obs.Available).To(Equal(map[string][]string{"openssl": {"3.0.11-1~deb12u2", "3.0.11-1~deb12u1"}}))
		Expect(obs.Interrupted).To(BeFalse())
		Expect(obs.RebootRequired).To(BeFalse())
		Expect(obs.IndexRefreshed).To(BeZero())

		Expect(runner.Argvs()).To(Equal([][]string{{"/x/apt-config", "shell", "STATUS", "Dir::State::status/f"},
			{"/x/apt-get", "-s", "-q", "-o", "Debug::NoLocking=1", "dist-upgrade"}}))
		Expect(runner.Envs()[1]).To(ContainElement("APT_CONFIG=" + filepath.Join(root, "state/apt-root.conf")))
	})

	It("spawns no process when nothing changed, and re-runs the dry run when the status or the lists change", func() {
		_, err := b.Observe(ctx, []string{"openssl"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(2))
		obs, err := b.Observe(ctx, []string{"openssl"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(2), "a second Observe with nothing changed runs nothing")
		Expect(obs.Upgrades).To(HaveKey("openssl"))

		// Callers may change what they got without changing the cache.
		delete(obs.Upgrades, "openssl")
		obs.Available["openssl"][0] = "changed"
		obs, err = b.Observe(ctx, []string{"openssl"})
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Upgrades).To(HaveKey("openssl"))
		Expect(obs.Available["openssl"][0]).To(Equal("3.0.11-1~deb12u2"))

		touchLater(filepath.Join(root, "var/lib/dpkg/status"))
		_, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(3))

		writeFile(filepath.Join(root, "var/lib/apt/lists/security_Packages"), "Package: openssl\nVersion: 3.0.11-1~deb12u3\nArchitecture: amd64\n")
		obs, err = b.Observe(ctx, []string{"openssl"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(4))
		Expect(obs.Available["openssl"]).To(Equal([]string{"3.0.11-1~deb12u3", "3.0.11-1~deb12u2", "3.0.11-1~deb12u1"}))

		_, err = b.Observe(ctx, []string{"openssl"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Count()).To(Equal(4))
	})

	It("asks apt-cache madison only for indexes it cannot read", func() {
		writeFile(filepath.Join(root, "var/lib/apt/lists/archive.ubuntu.com_ubuntu_dists_jammy_main_binary-amd64_Packages.lz4"), "binary")
		answers.stdout = []byte(" openssl | 3.0.2-0ubuntu1.12 | http://archive.ubuntu.com/ubuntu jammy-updates/main amd64 Packages\n")
		obs, err := b.Observe(ctx, []string{"openssl"})
		Expect(err).NotTo(HaveOccurred())
		Expect(runner.Argvs()).To(ContainElement([]string{"/x/apt-cache", "madison", "openssl"}))
		Expect(obs.Available["openssl"]).To(ContainElement("3.0.2-0ubuntu1.12"))
	})

	It("fails when the dry run fails on a healthy database", func() {
		answers.err = errors.New("apt-get -s dist-upgrade: exit status 100")
		_, err := b.Observe(ctx, nil)
		Expect(err).To(MatchError(ContainSubstring("simulate upgrade")))
	})

	It("reports an interrupted dpkg from its journal, and no upgrades when apt refuses the dry run", func() {
		writeFile(filepath.Join(root, "var/lib/dpkg/updates/tmp.i"), "#padding\n")
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Interrupted).To(BeFalse(), "dpkg's preallocated tmp.i is no journal entry")

		writeFile(filepath.Join(root, "var/lib/dpkg/updates/0000"), "Package: openssl\nStatus: install reinstreq half-installed\n")
		answers.err = errors.New("E: dpkg was interrupted")
		touchLater(filepath.Join(root, "var/lib/dpkg/status"))
		obs, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Interrupted).To(BeTrue())
		Expect(obs.InterruptedPackages).To(BeEmpty(), "the status file itself lists no interrupted package")
		Expect(obs.Upgrades).To(BeEmpty())
	})

	It("names the packages dpkg left interrupted, at the version the status file records", func() {
		writeFile(filepath.Join(root, "var/lib/dpkg/status"),
			"Package: openssl\nStatus: install reinstreq half-installed\nArchitecture: amd64\nVersion: 3.0.11-1~deb12u1\n\n"+
				"Package: libc6\nStatus: install ok unpacked\nArchitecture: i386\nVersion: 2.36-9\n\n"+
				"Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:1.2.13\n")
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.Interrupted).To(BeTrue())
		Expect(obs.InterruptedPackages).To(ConsistOf(
			backends.PackageRef{Name: "openssl", Version: "3.0.11-1~deb12u1"},
			backends.PackageRef{Name: "libc6:i386", Version: "2.36-9"}))
	})

	It("reports reboot-required through the root's /var/run link, never the host's", func() {
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.RebootRequired).To(BeFalse())

		writeFile(filepath.Join(root, "run/reboot-required"), "*** System restart required ***\n")
		writeFile(filepath.Join(root, "run/reboot-required.pkgs"), "linux-image-6.1.0-27-amd64\nlibc6\nlinux-image-6.1.0-27-amd64\n")
		obs, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.RebootRequired).To(BeTrue())
		Expect(obs.RebootPackages).To(Equal([]string{"linux-image-6.1.0-27-amd64", "libc6"}))
	})

	It("resolves absolute links inside the root", func() {
		Expect(os.Remove(filepath.Join(root, "var/run"))).To(Succeed())
		Expect(os.Symlink("/srv/../state-run", filepath.Join(root, "var/run"))).To(Succeed())
		writeFile(filepath.Join(root, "state-run/reboot-required"), "")
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.RebootRequired).To(BeTrue())
	})

	It("reports its own refresh record, else apt's success stamp, never in the future", func() {
		stamp := filepath.Join(root, "var/lib/apt/periodic/update-success-stamp")
		writeFile(stamp, "")
		stampTime := now.Add(-5 * time.Hour)
		Expect(os.Chtimes(stamp, stampTime, stampTime)).To(Succeed())
		obs, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.IndexRefreshed).To(BeTemporally("==", stampTime))

		refreshed := now.Add(-time.Hour)
		Expect(b.RecordRefresh(refreshed)).To(Succeed())
		obs, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.IndexRefreshed).To(BeTemporally("==", refreshed))

		// Survives a restart: a new backend on the same state dir.
		b2, err := apt.New(apt.Options{Settings: backends.Settings{Root: root, StateDir: filepath.Join(root, "state"), Runner: runner, Clock: func() time.Time { return now }},
			Paths: fakePaths})
		Expect(err).NotTo(HaveOccurred())
		obs, err = b2.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.IndexRefreshed).To(BeTemporally("==", refreshed))

		Expect(b.RecordRefresh(now.Add(time.Hour))).To(Succeed())
		obs, err = b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(obs.IndexRefreshed).To(BeTemporally("==", now))
	})

	It("fails without a dpkg status file", func() {
		Expect(os.Remove(filepath.Join(root, "var/lib/dpkg/status"))).To(Succeed())
		_, err := b.Observe(ctx, nil)
		Expect(err).To(MatchError(ContainSubstring("dpkg status")))
	})
})
