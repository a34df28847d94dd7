package v1alpha1_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1 "github.com/patchlet/patchlet/api/v1alpha1"
)

var _ = Describe("PinMatches", func() {
	DescribeTable("which versions satisfy a pin",
		func(family, pin, version string, want bool) {
			Expect(v1.PinMatches(family, pin, version)).To(Equal(want))
		},
		Entry("rpm: upstream version, any release", v1.FamilyRPM, "3.0", "3.0-1", true),
		Entry("rpm: upstream version, a dist release", v1.FamilyRPM, "3.0", "3.0-2.el9", true),
		Entry("rpm: not a prefix", v1.FamilyRPM, "3.0", "3.0.1-1", false),
		Entry("rpm: release given, it must agree", v1.FamilyRPM, "3.0-1", "3.0-2", false),
		Entry("rpm: full EVR", v1.FamilyRPM, "3.0-1", "3.0-1", true),
		Entry("rpm: no epoch in the pin matches any epoch", v1.FamilyRPM, "3.0-1", "2:3.0-1", true),
		Entry("rpm: an epoch in the pin must agree", v1.FamilyRPM, "1:3.0", "2:3.0-1", false),
		Entry("rpm: epoch 0 is no epoch", v1.FamilyRPM, "0:3.0", "3.0-1", true),
		Entry("debian: exact only", v1.FamilyDebian, "3.0", "3.0-1", false),
		Entry("debian: exact", v1.FamilyDebian, "3.0-1", "3.0-1", true),
		Entry("pacman: exact only", v1.FamilyPacman, "3.0", "3.0-1", false),
		Entry("no family: exact only", "", "3.0", "3.0-1", false),
	)

	It("resolves a pin to the newest matching version offered", func() {
		v, ok := v1.ResolvePin(v1.FamilyRPM, "3.0", []string{"3.1-1", "3.0-2", "3.0-1"})
		Expect(ok).To(BeTrue())
		Expect(v).To(Equal("3.0-2"))
		_, ok = v1.ResolvePin(v1.FamilyDebian, "3.0", []string{"3.0-1"})
		Expect(ok).To(BeFalse())
	})
})
