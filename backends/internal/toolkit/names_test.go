package toolkit_test

import (
	"strings"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

var _ = Describe("package names on a command line", func() {
	rpmName := toolkit.NameRule(v1alpha1.FamilyRPM)

	DescribeTable("a family's rule refuses what could pass for an option",
		func(family, name string, want bool) {
			Expect(toolkit.NameRule(family)(name)).To(Equal(want))
		},
		Entry("an RPM name", v1alpha1.FamilyRPM, "python3-dnf", true),
		Entry("an option", v1alpha1.FamilyRPM, "--setopt=x", false),
		Entry("an apk name", v1alpha1.FamilyAPK, "busybox", true),
		Entry("an apk option", v1alpha1.FamilyAPK, "-X", false),
		Entry("a pacman name", v1alpha1.FamilyPacman, "@x11", true),
		Entry("a pacman option", v1alpha1.FamilyPacman, "--overwrite=*", false),
		Entry("empty", v1alpha1.FamilyPacman, "", false),
	)

	It("validates names with the backend's rule, deduplicated in order", func() {
		Expect(toolkit.PackageArgs([]string{"vim", "bash", "vim"}, rpmName)).To(Equal([]string{"vim", "bash"}))
		_, err := toolkit.PackageArgs([]string{"vim", "--nogpgcheck"}, rpmName)
		Expect(err).To(MatchError(`invalid package name "--nogpgcheck"`))
		_, err = toolkit.PackageArgs(nil, rpmName)
		Expect(err).To(MatchError("no packages given"))
		onlyA := func(n string) bool { return n == "a" }
		_, err = toolkit.PackageArgs([]string{"a", "vim"}, onlyA)
		Expect(err).To(MatchError(`invalid package name "vim"`), "the backend's own rule decides")
	})

	It("renders an install's packages, pinned ones with the backend's pin", func() {
		pkgs := []backends.PackageRef{{Name: "hello", Version: "1.0-1"}, {Name: "vim"}}
		args, names, pinned, err := toolkit.InstallArgs(pkgs, rpmName, v1alpha1.FamilyRPM, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(args).To(Equal([]string{"hello=1.0-1", "vim"}))
		Expect(names).To(Equal([]string{"hello", "vim"}))
		Expect(pinned).To(BeTrue())
		dash := func(n, v string) string { return n + "-" + v }
		args, _, _, err = toolkit.InstallArgs(pkgs, rpmName, v1alpha1.FamilyRPM, dash)
		Expect(err).NotTo(HaveOccurred())
		Expect(args).To(Equal([]string{"hello-1.0-1", "vim"}))
		_, _, pinned, err = toolkit.InstallArgs(pkgs[1:], rpmName, v1alpha1.FamilyRPM, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(pinned).To(BeFalse())
	})

	DescribeTable("refuses an install it cannot render safely",
		func(pkgs []backends.PackageRef, want string) {
			_, _, _, err := toolkit.InstallArgs(pkgs, rpmName, v1alpha1.FamilyRPM, nil)
			Expect(err).To(MatchError(want))
		},
		Entry("nothing", nil, "no packages given"),
		Entry("an option for a name", []backends.PackageRef{{Name: "-y"}}, `invalid package name "-y"`),
		Entry("an option for a version", []backends.PackageRef{{Name: "vim", Version: "--force"}}, `invalid version "--force" of package "vim"`),
		Entry("a name twice", []backends.PackageRef{{Name: "vim"}, {Name: "vim", Version: "9.0-1"}}, `package "vim" given twice`),
	)

	It("keeps the valid names asked about, sorted and deduplicated, and logs the others", func() {
		var logs strings.Builder
		log := funcr.New(func(_, args string) { logs.WriteString(args + "\n") }, funcr.Options{})
		Expect(toolkit.Wanted([]string{"vim", "-x", "bash", "vim"}, rpmName, log)).To(Equal([]string{"bash", "vim"}))
		Expect(logs.String()).To(ContainSubstring(`"ignoring invalid package name"`))
		Expect(logs.String()).To(ContainSubstring(`"-x"`))
		Expect(toolkit.Wanted(nil, rpmName, log)).To(BeEmpty())
	})

	It("upgrades only the installed packages, and refuses when none is", func() {
		var logs strings.Builder
		log := funcr.New(func(_, args string) { logs.WriteString(args + "\n") }, funcr.Options{})
		installed := func() (map[string]backends.Package, error) {
			return map[string]backends.Package{"vim": {Name: "vim"}, "bash": {Name: "bash"}}, nil
		}
		Expect(toolkit.UpgradeArgs([]string{"vim", "nano", "bash", "vim"}, rpmName, installed, log)).To(Equal([]string{"vim", "bash"}))
		Expect(logs.String()).To(ContainSubstring(`"not upgrading a package that is not installed" "package"="nano"`))
		_, err := toolkit.UpgradeArgs([]string{"nano"}, rpmName, installed, log)
		Expect(err).To(MatchError("none of [nano] is installed"))
		_, err = toolkit.UpgradeArgs([]string{"-y"}, rpmName, installed, log)
		Expect(err).To(MatchError(`invalid package name "-y"`))
	})
})

var _ = Describe("HoldArgs", func() {
	rpmName := toolkit.NameRule(v1alpha1.FamilyRPM)

	It("gives the step type, the verb and the checked names", func() {
		typ, verb, args, err := toolkit.HoldArgs([]string{"vim", "vim"}, true, rpmName, "addlock", "removelock")
		Expect(err).NotTo(HaveOccurred())
		Expect(typ).To(Equal(v1alpha1.StepHold))
		Expect(verb).To(Equal("addlock"))
		Expect(args).To(Equal([]string{"vim"}))
		typ, verb, _, _ = toolkit.HoldArgs([]string{"vim"}, false, rpmName, "addlock", "removelock")
		Expect(typ).To(Equal(v1alpha1.StepUnhold))
		Expect(verb).To(Equal("removelock"))
		_, _, _, err = toolkit.HoldArgs([]string{"-x"}, false, rpmName, "addlock", "removelock")
		Expect(err).To(MatchError(`removelock: invalid package name "-x"`))
	})
})
