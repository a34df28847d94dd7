package toolkit_test

import (
	"errors"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
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

var _ = Describe("CachedVersions", func() {
	It("asks for the valid names, sorted, once per fingerprint and names", func() {
		var c toolkit.Cache[[]string]
		var asked [][]string
		list := func(names []string) (map[string][]string, error) {
			asked = append(asked, names)
			return map[string][]string{names[0]: {"2", "1"}}, nil
		}
		valid := toolkit.NameRule(v1alpha1.FamilyRPM)
		get := func(fp string, names ...string) map[string][]string {
			GinkgoHelper()
			got, err := toolkit.CachedVersions(&c, fp, names, valid, logr.Discard(), list)
			Expect(err).NotTo(HaveOccurred())
			return got
		}
		Expect(get("fp1", "vim", "-x", "bash")).To(Equal(map[string][]string{"bash": {"2", "1"}}))
		Expect(get("fp1", "bash", "vim")).To(Equal(map[string][]string{"bash": {"2", "1"}}))
		Expect(asked).To(Equal([][]string{{"bash", "vim"}}), "the same names again: cached")
		get("fp2", "bash", "vim")
		get("fp2", "bash")
		Expect(asked).To(HaveLen(3), "another fingerprint, other names")
		Expect(get("fp2", "-x")).To(BeEmpty())
		Expect(asked).To(HaveLen(3), "no valid name: nothing asked")
	})
	It("caches no failure", func() {
		var c toolkit.Cache[[]string]
		calls := 0
		failing := func([]string) (map[string][]string, error) { calls++; return nil, errors.New("offline") }
		for range 2 {
			_, err := toolkit.CachedVersions(&c, "fp", []string{"vim"}, toolkit.NameRule(v1alpha1.FamilyRPM), logr.Discard(), failing)
			Expect(err).To(MatchError("offline"))
		}
		Expect(calls).To(Equal(2))
	})
})
