package pacman_test

import (
	"context"
	"path/filepath"
	"slices"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/pacman"
)

var _ = Describe("steps", func() {
	var (
		root *fakeRoot
		b    *pacman.Backend
		base []string
	)
	BeforeEach(func(ctx context.Context) {
		tmp := GinkgoT().TempDir()
		root = newFakeRoot(filepath.Join(tmp, "root"))
		root.install("foo", "1.1-1")
		root.cache("foo-1.0-1-any.pkg.tar.zst")
		runner := (&pacmanAnswers{sl: "core foo 1.1-1 [installed]\ncore bar 2.0-1\n"}).runner()
		b = newBackend(root.dir, filepath.Join(tmp, "state"), runner, "")
		_, err := b.Observe(ctx, nil)
		Expect(err).NotTo(HaveOccurred())
		base = []string{"/usr/bin/pacman", "--root", root.dir, "--config", filepath.Join(root.dir, "etc/pacman.conf"), "--noconfirm"}
	})

	It("refreshes with -Syy, LC_ALL=C and the refresh timeout", func() {
		s := b.RefreshStep()
		Expect(s.Argv).To(Equal(append(slices.Clone(base), "-Syy")))
		Expect(s.Env).To(ContainElement("LC_ALL=C"))
		Expect(s.Timeout).To(Equal(backends.DefaultRefreshTimeout))
	})
	It("installs a pin whose file is cached from the cache", func() {
		s := built(b.InstallStep([]backends.PackageRef{{Name: "foo", Version: "1.0-1"}}))
		Expect(s.Argv).To(Equal(append(slices.Clone(base), "-U", "--needed", filepath.Join(root.dir, "var/cache/pacman/pkg/foo-1.0-1-any.pkg.tar.zst"))))
		Expect(s.Packages).To(Equal([]string{"foo"}))
	})
	It("installs the repositories' current version by name=version after a refresh", func() {
		s := built(b.InstallStep([]backends.PackageRef{{Name: "bar", Version: "2.0-1"}, {Name: "baz"}}))
		Expect(s.Argv).To(Equal(append(slices.Clone(base), "-S", "-yy", "--needed", "bar=2.0-1", "baz")))
	})
	It("refuses a version neither cached nor current, and says why", func() {
		_, err := b.InstallStep([]backends.PackageRef{{Name: "bar", Version: "1.9-1"}})
		Expect(err).To(MatchError(ContainSubstring("neither in the package cache")))
		Expect(err).To(MatchError(ContainSubstring("(2.0-1)")))
		Expect(b.InstallStep([]backends.PackageRef{{Name: "bar", Version: "1.9-1"}})).Error().To(HaveOccurred())
	})
	It("refuses to mix a cached-only pin with repository packages", func() {
		_, err := b.InstallStep([]backends.PackageRef{{Name: "foo", Version: "1.0-1"}, {Name: "bar"}})
		Expect(err).To(MatchError(ContainSubstring("only in the package cache")))
	})
	DescribeTable("refuses names and versions that are not pacman's",
		func(ref backends.PackageRef) {
			Expect(b.InstallStep([]backends.PackageRef{ref})).Error().To(HaveOccurred())
		},
		Entry("option-like name", backends.PackageRef{Name: "--config=/x"}),
		Entry("upper case", backends.PackageRef{Name: "Foo"}),
		Entry("shell in version", backends.PackageRef{Name: "foo", Version: "1.0;rm"}),
		Entry("space in version", backends.PackageRef{Name: "foo", Version: "1.0 -1"}),
	)
	It("upgrades installed names only, refreshing in the same transaction", func() {
		s := built(b.UpgradeStep([]string{"foo", "notinstalled"}))
		Expect(s.Argv).To(Equal(append(slices.Clone(base), "-S", "-yy", "--needed", "foo")))
		Expect(s.Type).To(Equal(v1alpha1.StepUpgrade))
		Expect(b.UpgradeStep([]string{"notinstalled"})).Error().To(HaveOccurred())
	})
	It("removes with -R", func() {
		Expect(built(b.RemoveStep([]string{"foo"})).Argv).To(Equal(append(slices.Clone(base), "-R", "foo")))
	})
	It("refuses holds and recovery: pacman has neither", func() {
		Expect(b.HoldStep([]string{"foo"}, true)).Error().To(HaveOccurred())
		Expect(b.HoldStep([]string{"foo"}, false)).Error().To(MatchError(pacman.ErrHoldUnsupported))
		_, err := b.HoldStep([]string{"foo"}, true)
		Expect(err).To(MatchError(pacman.ErrHoldUnsupported))
		Expect(b.RecoverStep()).Error().To(MatchError(pacman.ErrRecoverUnsupported))
		Expect(b.Capabilities().Hold).To(BeFalse())
		Expect(b.Capabilities().Security).To(BeFalse())
	})
	It("names itself pacman in the pacman family", func() {
		Expect(b.Name()).To(Equal("pacman"))
		Expect(b.Family()).To(Equal(v1alpha1.FamilyPacman))
	})
})

// built unwraps a step the pacman backend must accept.
func built(s backends.Step, err error) backends.Step {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return s
}
