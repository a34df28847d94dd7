package toolkit_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

var _ = Describe("VirtualProvides", func() {
	It("maps virtual names to sorted installed providers, leaving out installed names", func() {
		installed := map[string]backends.Package{
			"exim4":      {Name: "exim4"},
			"postfix":    {Name: "postfix"},
			"libc6:i386": {Name: "libc6"},
			"awk":        {Name: "awk"},
		}
		got := toolkit.VirtualProvides(installed, map[string][]string{
			"postfix":    {"mail-transport-agent", "postfix", "awk"},
			"exim4":      {"mail-transport-agent", "mail-transport-agent"},
			"libc6:i386": {"libc6", "libc-i386"},
			"gone":       {"ghost"},
		})
		Expect(got).To(Equal(map[string][]string{
			"mail-transport-agent": {"exim4", "postfix"},
			"libc-i386":            {"libc6:i386"},
		}))
	})

	It("is empty, not nil, without providers", func() {
		Expect(toolkit.VirtualProvides(nil, nil)).To(BeEmpty())
		Expect(toolkit.VirtualProvides(nil, nil)).NotTo(BeNil())
	})
})
