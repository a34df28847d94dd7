package toolkit_test

import (
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

var _ = Describe("reading a failed step's output", func() {
	lines := toolkit.OutputLines([]byte("Reading package lists...\r\nGet:1 http://x Failed to fetch a\nE: Failed to fetch b\n"))

	It("splits lines, CRLF or not", func() {
		Expect(lines).To(Equal([]string{"Reading package lists...", "Get:1 http://x Failed to fetch a", "E: Failed to fetch b", ""}))
	})
	It("prefers a matching line that carries the error marker", func() {
		output := []byte("Reading package lists...\r\nGet:1 http://x Failed to fetch a\nE: Failed to fetch b\n")
		rule := toolkit.Rule{Reason: v1alpha1.FailureStaleIndex, Pattern: regexp.MustCompile(`Failed to fetch`)}
		f := toolkit.Rules{Marker: "E: ", Trim: []string{"E: "}, Rules: []toolkit.Rule{rule}}.Classify(v1alpha1.StepInstall, 100, output)
		Expect(f.Reason).To(Equal(v1alpha1.FailureStaleIndex))
		Expect(f.Message).To(Equal("Failed to fetch b"))
		f = toolkit.Rules{Rules: []toolkit.Rule{rule}}.Classify(v1alpha1.StepInstall, 100, output)
		Expect(f.Message).To(Equal("Get:1 http://x Failed to fetch a"))
		rule.Pattern = regexp.MustCompile(`No space left`)
		f = toolkit.Rules{Marker: "E: ", Rules: []toolkit.Rule{rule}}.Classify(v1alpha1.StepInstall, 100, output)
		Expect(f.Reason).To(Equal(v1alpha1.FailureFailed))
	})
	It("trims the first marker a line starts with", func() {
		Expect(toolkit.TrimMarker("  E: Unable to locate package x ", "W: ", "E: ")).To(Equal("Unable to locate package x"))
		Expect(toolkit.TrimMarker(" plain ", "E: ")).To(Equal("plain"))
	})
	It("falls back to the output's tail, then the exit code", func() {
		Expect(toolkit.OutputSummary([]byte("  boom \n"), 3)).To(Equal("boom"))
		Expect(toolkit.OutputSummary(nil, 3)).To(Equal("exit code 3"))
	})
	It("walks lines without their newline or carriage return", func() {
		var got []string
		for data := []byte("a\r\nb\n\nc"); len(data) > 0; {
			var line []byte
			line, data = toolkit.NextLine(data)
			got = append(got, string(line))
		}
		Expect(got).To(Equal([]string{"a", "b", "", "c"}))
	})
})

var _ = Describe("LastLine", func() {
	It("is what pick makes of the last line it accepts", func() {
		notRpm := func(l string) (string, bool) { return l, l != "" && !strings.HasPrefix(l, "rpm: ") }
		Expect(toolkit.LastLine([]string{"first", "  second  ", "rpm: warning", ""}, notRpm)).To(Equal("second"))
		Expect(toolkit.LastLine([]string{"rpm: only"}, notRpm)).To(BeEmpty())
	})
})
