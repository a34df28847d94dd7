package toolkit_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

var _ = Describe("Cache", func() {
	It("answers for the key it was given, with copies", func() {
		var c toolkit.Cache[[]string]
		_, ok := c.Get("k1")
		Expect(ok).To(BeFalse(), "empty at first")
		got := c.Put("k1", map[string][]string{"vim": {"9.1-1", "9.0-1"}})
		got["vim"][0] = "changed"
		got["new"] = nil
		again, ok := c.Get("k1")
		Expect(ok).To(BeTrue())
		Expect(again).To(Equal(map[string][]string{"vim": {"9.1-1", "9.0-1"}}), "what Put returned is a copy")
		again["vim"][1] = "changed"
		third, _ := c.Get("k1")
		Expect(third["vim"]).To(Equal([]string{"9.1-1", "9.0-1"}), "what Get returned is a copy, versions too")
		_, ok = c.Get("k2")
		Expect(ok).To(BeFalse(), "another key")
		c.Put("k2", map[string][]string{})
		_, ok = c.Get("k1")
		Expect(ok).To(BeFalse(), "replaced")
	})
	It("never caches an empty key, and never hands out nil", func() {
		var c toolkit.Cache[backends.Upgrade]
		got := c.Put("", nil)
		Expect(got).NotTo(BeNil())
		Expect(got).To(BeEmpty())
		_, ok := c.Get("")
		Expect(ok).To(BeFalse())
		c.Put("k", map[string]backends.Upgrade{"vim": {Name: "vim", To: "2"}})
		up, ok := c.Get("k")
		Expect(ok).To(BeTrue())
		Expect(up).To(HaveKeyWithValue("vim", backends.Upgrade{Name: "vim", To: "2"}))
		_, ok = c.Get("")
		Expect(ok).To(BeFalse())
	})
})
