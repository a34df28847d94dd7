package dropdir_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/controllers/dropdir"
)

var _ = DescribeTable("IsPolicyFile",
	func(name string, want bool) {
		Expect(dropdir.IsPolicyFile(name)).To(Equal(want))
	},
	Entry("yaml", "web.yaml", true),
	Entry("yml", "web.yml", true),
	Entry("json", "web.json", true),
	Entry("upper-case extension", "WEB.YAML", true),
	Entry("no extension", "web", false),
	Entry("other extension", "web.txt", false),
	Entry("dotfile", ".web.yaml", false),
	Entry("git-sync ..data", "..data", false),
	Entry("git-sync revision directory", "..2026_11_22_01_00_00.123", false),
	Entry("backup", "web.yaml~", false),
	Entry("vim swap", ".web.yaml.swp", false),
	Entry("vim swap, second", ".web.yaml.swx", false),
	Entry("vim swap without dot", "web.yaml.swp", false),
	Entry("vim probe", "4913", false),
	Entry("emacs auto-save", "#web.yaml#", false),
	Entry("emacs lock", ".#web.yaml", false),
	Entry("temporary", "web.tmp", false),
	Entry("temporary after the extension", "web.yaml.tmp", false),
)
