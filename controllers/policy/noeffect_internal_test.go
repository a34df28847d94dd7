package policy

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
)

var aptOpts = []string{"-y", "-q", "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold", "-o", "DPkg::Lock::Timeout=0"}

func aptStep(tail []string, pkgs ...string) backends.Step {
	return backends.Step{Type: v1alpha1.StepInstall, Argv: append(append([]string{"/usr/bin/apt-get"}, aptOpts...), tail...), Packages: pkgs}
}

var _ = Describe("no-effect messages", func() {
	DescribeTable("commandLine: the program and its subcommand on, without the options every step carries",
		func(s backends.Step, want string) { Expect(commandLine(s)).To(Equal(want)) },
		Entry("apt install", aptStep([]string{"install", "zeta-virt"}, "zeta-virt"), "apt-get install zeta-virt"),
		Entry("apt pinned install", aptStep([]string{"--allow-downgrades", "install", "hello=2.0"}, "hello"), "apt-get install hello=2.0"),
		Entry("apt upgrade", aptStep([]string{"install", "--only-upgrade", "hello"}, "hello"), "apt-get install --only-upgrade hello"),
		Entry("options before the packages, no subcommand word", backends.Step{Argv: []string{"/usr/bin/pacman", "--noconfirm", "--root", "/r", "-Syy", "--needed", "zeta"}, Packages: []string{"zeta"}},
			"pacman -Syy --needed zeta"),
		Entry("no package in the argv: all of it", backends.Step{Argv: []string{"/usr/bin/apt-get", "-y", "upgrade"}}, "apt-get -y upgrade"),
	)

	DescribeTable("lineNaming: the package manager's last line naming the package as a word",
		func(out, pkg, want string) { Expect(lineNaming([]byte(out), pkg)).To(Equal(want)) },
		Entry("apt's virtual package note", "Reading package lists...\nNote, selecting 'zeta-impl' instead of 'zeta-virt'\nzeta-impl is already the newest version (1.0).\n", "zeta-virt",
			"Note, selecting 'zeta-impl' instead of 'zeta-virt'"),
		Entry("a sentence ending in the name's version", "hello is already the newest version (1.0).\n0 upgraded, 0 newly installed\n", "hello",
			"hello is already the newest version (1.0)."),
		Entry("not a longer name", "hello-doc is already the newest version (1.0).\n", "hello", ""),
	)

	It("changes names what a run changed on the host, not the packages the step was asked for", func() {
		before := &backends.Observation{Installed: map[string]backends.Package{"a": {Version: "1"}, "gone": {Version: "1"}}}
		after := &backends.Observation{Installed: map[string]backends.Package{"a": {Version: "2"}, "zeta-impl": {Version: "1.0"}, "hello": {Version: "1.0"}}}
		Expect(changes(before, after, map[string]bool{"hello": true})).To(Equal("changed a 1 → 2, installed zeta-impl 1.0, removed gone"))
		Expect(changes(before, before, nil)).To(Equal("changed nothing"))
	})
})
