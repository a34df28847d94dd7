package rpm_test

import (
	"errors"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/rpm"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
)

var _ = Describe("rpm -qa parser", func() {
	It("reads the real output of Debian's rpm 4.18", func() {
		out, err := os.ReadFile("testdata/debian-12-rpm-4.18.qa.stdout")
		Expect(err).NotTo(HaveOccurred())
		pkgs := rpm.ParseQuery(out)
		Expect(pkgs).To(ConsistOf(rpm.Installed{Name: "hello", Version: "1.0", Release: "1", Arch: "noarch",
			InstallTime: time.Unix(1795313003, 0).UTC()}))
	})

	It("skips rpm's warnings and gpg-pubkey, keeps epochs and reports the newest of a multi-version name", func() {
		out, err := os.ReadFile("testdata/mixed.qa.stdout")
		Expect(err).NotTo(HaveOccurred())
		pkgs := rpm.ParseQuery(out)
		Expect(pkgs).To(HaveLen(5))
		m := rpm.Packages(pkgs)
		Expect(m).To(HaveLen(4))
		Expect(m["shadow-utils"]).To(Equal(backends.Package{Name: "shadow-utils", Version: "2:4.15.1-2.fc40", Arch: "x86_64"}))
		Expect(m["kernel-core"].Version).To(Equal("6.8.11-300.fc40"))
		Expect(m).NotTo(HaveKey("gpg-pubkey"))
	})
})

var _ = Describe("version comparison", func() {
	DescribeTable("Vercmp", func(a, b string, want int) {
		Expect(rpm.Vercmp(a, b)).To(Equal(want), "%s vs %s", a, b)
		Expect(rpm.Vercmp(b, a)).To(Equal(-want), "%s vs %s", b, a)
	},
		Entry(nil, "1.0", "1.0", 0),
		Entry(nil, "1.0", "1.1", -1),
		Entry(nil, "1.10", "1.9", 1),
		Entry(nil, "1.01", "1.1", 0),
		Entry(nil, "1.0a", "1.0", 1),
		Entry(nil, "1.0", "1.0.1", -1),
		Entry("numbers beat letters", "1.1", "1.a", 1),
		Entry("tilde sorts before the end", "1.0~rc1", "1.0", -1),
		Entry("tilde against tilde", "1.0~rc1", "1.0~rc2", -1),
		Entry("caret sorts after the end", "1.0^git1", "1.0", 1),
		Entry("caret before more version", "1.0^git1", "1.0.1", -1),
		Entry("separators are equal", "1_0", "1.0", 0),
		Entry(nil, "2.39", "2.4", 1),
		Entry(nil, "fc40", "fc39", 1),
		Entry(nil, "6.8.11", "6.8.5", 1),
	)

	DescribeTable("CompareEVR", func(a, b string, want int) {
		Expect(rpm.CompareEVR(a, b)).To(Equal(want))
	},
		Entry("epoch wins", "1:1.0-1", "2.0-1", 1),
		Entry("release compared", "1.0-2", "1.0-10", -1),
		Entry("a pin without release matches any release", "1.0", "1.0-7", 0),
		Entry("explicit zero epoch", "0:1.0-1", "1.0-1", 0),
	)

	It("sorts available versions newest first without duplicates", func() {
		Expect(rpm.SortNewestFirst([]string{"1.0-1", "1.10-1", "1:0.1-1", "1.9-1", "1.10-1"})).
			To(Equal([]string{"1:0.1-1", "1.10-1", "1.9-1", "1.0-1"}))
	})

	It("formats EVRs as dnf prints them", func() {
		Expect(rpm.FormatEVR(0, "1.0", "1")).To(Equal("1.0-1"))
		Expect(rpm.FormatEVR(3, "1.0", "1")).To(Equal("3:1.0-1"))
		_, v, r := rpm.SplitEVR("2:1.0-1.el9")
		Expect([]string{v, r}).To(Equal([]string{"1.0", "1.el9"}))
	})
})

var _ = Describe("reboot required", func() {
	boot := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	pkg := func(name string, at time.Time) rpm.Installed {
		return rpm.Installed{Name: name, Version: "1", Release: "1", Arch: "x86_64", InstallTime: at}
	}

	It("names the reboot packages installed after boot", func() {
		ok, names := rpm.RebootRequired([]rpm.Installed{
			pkg("kernel-core", boot.Add(time.Hour)), pkg("glibc", boot.Add(time.Minute)),
			pkg("openssl-libs", boot.Add(-time.Hour)), pkg("vim", boot.Add(time.Hour)),
		}, boot, nil)
		Expect(ok).To(BeTrue())
		Expect(names).To(Equal([]string{"glibc", "kernel-core"}))
	})

	It("says nothing is needed when every such package predates the boot", func() {
		ok, names := rpm.RebootRequired([]rpm.Installed{pkg("kernel-core", boot.Add(-time.Second)), pkg("vim", boot.Add(time.Hour))}, boot, nil)
		Expect(ok).To(BeFalse())
		Expect(names).To(BeEmpty())
	})

	It("uses a configured list instead of the default", func() {
		ok, names := rpm.RebootRequired([]rpm.Installed{pkg("kernel-core", boot.Add(time.Hour)), pkg("myfirmware", boot.Add(time.Hour))}, boot, []string{"myfirm*"})
		Expect(ok).To(BeTrue())
		Expect(names).To(Equal([]string{"myfirmware"}))
	})

	It("prefers a false negative when the boot time is unknown", func() {
		ok, _ := rpm.RebootRequired([]rpm.Installed{pkg("kernel-core", boot)}, time.Time{}, nil)
		Expect(ok).To(BeFalse())
		proc := GinkgoT().TempDir()
		_, _, err := rpm.RebootCheck(nil, proc, nil)
		Expect(err).To(HaveOccurred())
	})

	It("reads btime from a proc root", func() {
		proc := GinkgoT().TempDir()
		Expect(os.WriteFile(filepath.Join(proc, "stat"), []byte("cpu  1 2 3\nbtime 1772352000\nprocesses 5\n"), 0o644)).To(Succeed())
		t, err := rpm.BootTime(proc)
		Expect(err).NotTo(HaveOccurred())
		Expect(t).To(Equal(time.Unix(1772352000, 0).UTC()))
		ok, names, err := rpm.RebootCheck([]rpm.Installed{pkg("systemd", t.Add(time.Second))}, proc, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
		Expect(names).To(Equal([]string{"systemd"}))
	})
})

var _ = Describe("provides", func() {
	It("reads the provides of Debian's rpm 4.18 (rpm -qa --queryformat QueryFormat), leaving out paths, sonames, qualified capabilities and the own name", func() {
		out, err := os.ReadFile("testdata/debian-12-rpm-4.18.qa-provides.stdout")
		Expect(err).NotTo(HaveOccurred())
		Expect(rpm.ParseQuery(out)).To(ConsistOf(rpm.Installed{Name: "foo", Version: "1.0", Release: "1", Arch: "noarch",
			InstallTime: time.Unix(1796309633, 0).UTC()}))
		Expect(rpm.ParseProvides(out)).To(Equal(map[string][]string{"foo": {"virtfoo", "virtver"}}))
	})
})

var _ = Describe("where the database is", func() {
	DescribeTable("ParseDBPath", func(out, want string, ok bool) {
		got, err := rpm.ParseDBPath([]byte(out))
		if !ok {
			Expect(err).To(HaveOccurred())
			return
		}
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal(want))
	},
		Entry("Debian 12's rpm 4.18 (recorded)", string(must(os.ReadFile("testdata/debian-12-rpm-4.18.eval-dbpath.stdout"))), "/tmp/rpmx/home/.rpmdb", true),
		Entry("Fedora's", "/usr/lib/sysimage/rpm\n", "/usr/lib/sysimage/rpm", true),
		Entry("a warning line before it", "warning: something\n/var/lib/rpm/\n", "/var/lib/rpm", true),
		Entry("nothing", "\n", "", false),
		Entry("an unexpanded macro", "%{_dbpath}\n", "", false),
		Entry("relative", "var/lib/rpm\n", "", false),
	)

	fake := func(out string, err error) *backendtest.CountingRunner {
		return &backendtest.CountingRunner{Fake: func([]string) ([]byte, error) { return []byte(out), err }}
	}

	It("asks rpm once, with its environment, and joins the answer to the root", func() {
		root := GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(root, "var/lib"), 0o755)).To(Succeed())
		// Fedora's /var/lib/rpm links to the real place, absolutely: it stays in the root.
		Expect(os.Symlink("/usr/lib/sysimage/rpm", filepath.Join(root, "var/lib/rpm"))).To(Succeed())
		r := fake("/var/lib/rpm\n", nil)
		d := &rpm.DB{Root: root, Rpm: "/usr/bin/rpm", Env: []string{"HOME=/h"}, Runner: r}
		d.Locate(GinkgoLogr)
		Expect(r.Argvs()).To(Equal([][]string{{"/usr/bin/rpm", "--root", root, "--eval", "%{_dbpath}"}}))
		Expect(r.Envs()).To(Equal([][]string{{"HOME=/h"}}))
		Expect(d.Dirs()).To(Equal([]string{filepath.Join(root, "usr/lib/sysimage/rpm")}))
	})

	It("falls back to the usual places when rpm cannot say", func() {
		d := &rpm.DB{Root: "/r", Rpm: "/usr/bin/rpm", Runner: fake("", errors.New("exit status 1"))}
		d.Locate(GinkgoLogr)
		Expect(d.Dirs()).To(Equal([]string{"/r/usr/lib/sysimage/rpm", "/r/var/lib/rpm"}))
		d = &rpm.DB{Root: "/", Rpm: "/usr/bin/rpm", Runner: fake("%{_dbpath}\n", nil)}
		d.Locate(GinkgoLogr)
		Expect(d.Dirs()).To(Equal(rpm.DBPaths("/")))
	})
})

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
