package apt_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends/apt"
)

var _ = DescribeTable("CompareVersions orders versions as dpkg does",
	func(older, newer string) {
		Expect(apt.CompareVersions(older, newer)).To(BeNumerically("<", 0))
		Expect(apt.CompareVersions(newer, older)).To(BeNumerically(">", 0))
		Expect(apt.CompareVersions(older, older)).To(Equal(0))
	},
	Entry("numbers compare as numbers", "1.9", "1.10"),
	Entry("tilde sorts before the end", "1.0~rc1", "1.0"),
	Entry("tilde before tilde-tilde reversed", "1.0~~", "1.0~"),
	Entry("epoch wins", "9.9", "1:0.1"),
	Entry("revision compares last", "2.36-9", "2.36-9+deb12u4"),
	Entry("letters before other characters", "1.0a", "1.0+"),
	Entry("end before letters", "1.0", "1.0a"),
	Entry("security suffixes", "3.0.11-1~deb12u1", "3.0.11-1~deb12u2"),
	Entry("ubuntu style", "2.35-0ubuntu3.1", "2.35-0ubuntu3.10"),
	Entry("leading zeros are ignored but not equal length", "1.01", "1.2"),
)

var _ = It("CompareVersions treats leading zeros and a missing revision as equal", func() {
	Expect(apt.CompareVersions("1.001", "1.1")).To(Equal(0))
	Expect(apt.CompareVersions("1.0", "1.0-0")).To(Equal(0))
	Expect(apt.CompareVersions("0:1.0", "1.0")).To(Equal(0))
})
