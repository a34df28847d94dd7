package apt_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apt"
)

var fakePaths = apt.Paths{AptGet: "/x/apt-get", AptMark: "/x/apt-mark", AptCache: "/x/apt-cache", Dpkg: "/x/dpkg", AptConfig: "/x/apt-config"}

func newBackend(root string, runner backends.Runner) *apt.Backend {
	GinkgoHelper()
	b, err := apt.New(apt.Options{Settings: backends.Settings{Root: root, StateDir: GinkgoT().TempDir(), Log: GinkgoLogr, Runner: runner},
		Paths: fakePaths})
	Expect(err).NotTo(HaveOccurred())
	return b
}

var aptOpts = []string{"-y", "-q", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold",
	"-o", "DPkg::Lock::Timeout=0"}

func concat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var _ = Describe("steps", func() {
	When("managing the host root", func() {
		var b *apt.Backend
		BeforeEach(func() { b = newBackend("/", nil) })

		It("builds every step with absolute paths and exactly the noninteractive environment", func() {
			env := []string{"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "PATH=" + backends.DefaultPath}
			Expect(b.RefreshStep()).To(Equal(backends.Step{
				Type: v1alpha1.StepRefresh, Env: env, Timeout: 120 * time.Second,
				Argv: concat([]string{"/x/apt-get", "update", "--error-on=any"}, aptOpts),
			}))
			Expect(built(b.InstallStep([]backends.PackageRef{{Name: "hello", Version: "1:2.0-1"}, {Name: "libc6:i386"}}))).To(Equal(backends.Step{
				Type: v1alpha1.StepInstall, Env: env, Timeout: 30 * time.Minute, Packages: []string{"hello", "libc6:i386"},
				Argv: concat([]string{"/x/apt-get"}, aptOpts, []string{"--allow-downgrades", "install", "hello=1:2.0-1", "libc6:i386"}),
			}))
			Expect(built(b.InstallStep([]backends.PackageRef{{Name: "hello"}})).Argv).To(Equal(
				concat([]string{"/x/apt-get"}, aptOpts, []string{"install", "hello"})), "no downgrades without a pin")
			Expect(built(b.UpgradeStep([]string{"openssl", "libssl3", "openssl"}))).To(Equal(backends.Step{
				Type: v1alpha1.StepUpgrade, Env: env, Timeout: 30 * time.Minute, Packages: []string{"openssl", "libssl3"},
				Argv: concat([]string{"/x/apt-get"}, aptOpts, []string{"install", "--only-upgrade", "openssl", "libssl3"}),
			}))
			Expect(built(b.RemoveStep([]string{"telnet"})).Argv).To(Equal(concat([]string{"/x/apt-get"}, aptOpts, []string{"remove", "telnet"})))
			Expect(built(b.HoldStep([]string{"linux-image-amd64"}, true))).To(Equal(backends.Step{
				Type: v1alpha1.StepHold, Env: env, Timeout: 30 * time.Minute, Packages: []string{"linux-image-amd64"},
				Argv: []string{"/x/apt-mark", "-o", "DPkg::Lock::Timeout=0", "hold", "linux-image-amd64"},
			}))
			unhold := built(b.HoldStep([]string{"linux-image-amd64"}, false))
			Expect(unhold.Type).To(Equal(v1alpha1.StepUnhold))
			Expect(unhold.Argv).To(Equal([]string{"/x/apt-mark", "-o", "DPkg::Lock::Timeout=0", "unhold", "linux-image-amd64"}))
			Expect(built(b.RecoverStep())).To(Equal(backends.Step{
				Type: v1alpha1.StepRecover, Env: env, Timeout: 30 * time.Minute,
				Argv: []string{"/x/dpkg", "--force-confdef", "--force-confold", "--configure", "-a"},
			}))
		})

		It("reinstalls interrupted packages at their recorded version, refusing what install refuses", func() {
			s := built(b.ReinstallStep([]backends.PackageRef{{Name: "slow", Version: "1.0"}, {Name: "libc6:i386"}}))
			Expect(s.Type).To(Equal(v1alpha1.StepInstall))
			Expect(s.Packages).To(Equal([]string{"slow", "libc6:i386"}))
			Expect(s.Argv).To(Equal(concat([]string{"/x/apt-get"}, aptOpts,
				[]string{"--allow-downgrades", "install", "--reinstall", "slow=1.0", "libc6:i386"})))
			Expect(built(b.ReinstallStep([]backends.PackageRef{{Name: "slow"}})).Argv).To(Equal(
				concat([]string{"/x/apt-get"}, aptOpts, []string{"install", "--reinstall", "slow"})))
			_, err := b.ReinstallStep([]backends.PackageRef{{Name: "-o", Version: "1"}})
			Expect(err).To(MatchError(ContainSubstring("reinstall: invalid package name")))
			Expect(b.ReinstallStep(nil)).Error().To(HaveOccurred())
		})

		It("gives every step its own slices", func() {
			s1 := built(b.UpgradeStep([]string{"a1"}))
			s2 := built(b.UpgradeStep([]string{"b2"}))
			s1.Argv[0], s1.Env[0] = "changed", "changed"
			Expect(s2.Argv[0]).To(Equal("/x/apt-get"))
			Expect(s2.Env[0]).To(Equal("DEBIAN_FRONTEND=noninteractive"))
			Expect(built(b.UpgradeStep([]string{"b2"})).Argv).To(Equal(s2.Argv))
		})

		DescribeTable("refuses names and versions that could reach a command line as something else",
			func(build func(*apt.Backend) (backends.Step, error)) {
				s, err := build(b)
				Expect(err).To(HaveOccurred())
				Expect(s.Argv).To(BeNil(), "an executor cannot start a refused step")
				Expect(s.Packages).To(BeEmpty())
			},
			Entry("an option as a name",
				func(b *apt.Backend) (backends.Step, error) { return b.UpgradeStep([]string{"-o=APT::Foo"}) }),
			Entry("one bad name among good ones",
				func(b *apt.Backend) (backends.Step, error) { return b.RemoveStep([]string{"ok", "Bad Name"}) }),
			Entry("a version with a space",
				func(b *apt.Backend) (backends.Step, error) {
					return b.InstallStep([]backends.PackageRef{{Name: "hello", Version: "1.0 --force-yes"}})
				}),
			Entry("a bad architecture qualifier",
				func(b *apt.Backend) (backends.Step, error) { return b.HoldStep([]string{"libc6:-x"}, true) }),
			Entry("no packages at all",
				func(b *apt.Backend) (backends.Step, error) { return b.InstallStep(nil) }),
			Entry("the same package pinned twice",
				func(b *apt.Backend) (backends.Step, error) {
					return b.InstallStep([]backends.PackageRef{{Name: "a1", Version: "1"}, {Name: "a1", Version: "2"}})
				}),
		)
	})

	When("managing another root", func() {
		It("points apt at it through APT_CONFIG and dpkg through --root and --log", func() {
			stateDir := GinkgoT().TempDir()
			b, err := apt.New(apt.Options{Settings: backends.Settings{Root: "/srv/image/", StateDir: stateDir, RefreshTimeout: time.Minute, StepTimeout: time.Hour},
				Paths: fakePaths})
			Expect(err).NotTo(HaveOccurred())
			conf := stateDir + "/apt-root.conf"
			env := []string{"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "PATH=" + backends.DefaultPath, "APT_CONFIG=" + conf}
			for _, s := range []backends.Step{b.RefreshStep(), built(b.UpgradeStep([]string{"hello"})), built(b.HoldStep([]string{"hello"}, true)), built(b.RecoverStep())} {
				Expect(s.Env).To(Equal(env))
			}
			Expect(b.RefreshStep().Timeout).To(Equal(time.Minute))
			Expect(built(b.RecoverStep()).Timeout).To(Equal(time.Hour))
			Expect(built(b.RecoverStep()).Argv).To(Equal([]string{"/x/dpkg", "--root=/srv/image", "--log=/srv/image/var/log/dpkg.log",
				"--force-confdef", "--force-confold", "--configure", "-a"}))
			Expect(readFile(conf)).To(Equal(apt.AptConfig("/srv/image")))
			Expect(apt.AptConfig("/srv/image")).To(ContainSubstring("Dir \"/srv/image/\";\n" +
				"Dir::State::status \"/srv/image/var/lib/dpkg/status\";\n" +
				"DPkg::Options {\"--root=/srv/image\"; \"--log=/srv/image/var/log/dpkg.log\";};\n"))
		})

		It("refuses roots that are relative or would break the configuration", func() {
			for _, root := range []string{"srv/image", "/srv/a\";Dir \"/", "/srv/a\nb"} {
				_, err := apt.New(apt.Options{Settings: backends.Settings{Root: root, StateDir: GinkgoT().TempDir()}, Paths: fakePaths})
				Expect(err).To(HaveOccurred(), root)
			}
		})
	})

	It("finds the real programs in PATH once, as absolute paths", func() {
		b, err := apt.New(apt.Options{Settings: backends.Settings{Root: "/", StateDir: GinkgoT().TempDir()}})
		Expect(err).NotTo(HaveOccurred())
		Expect(b.RefreshStep().Argv[0]).To(Equal("/usr/bin/apt-get"))
		Expect(built(b.RecoverStep()).Argv[0]).To(Equal("/usr/bin/dpkg"))
		_, err = apt.New(apt.Options{Settings: backends.Settings{Root: "/", StateDir: GinkgoT().TempDir(), PathEnv: "/nonexistent"}})
		Expect(err).To(MatchError(ContainSubstring("apt-get")))
	})
})

// built unwraps a step the apt backend must accept.
func built(s backends.Step, err error) backends.Step {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return s
}
