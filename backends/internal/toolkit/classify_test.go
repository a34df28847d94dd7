package toolkit_test

import (
	"regexp"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

var _ = Describe("Rules", func() {
	rules := toolkit.Rules{
		Marker: "E: ",
		Trim:   []string{"E: ", "W: "},
		Failed: func(lines []string) string { return "failed: " + lines[0] },
		Rules: []toolkit.Rule{{
			Reason:   v1alpha1.FailureLockHeld,
			Pattern:  regexp.MustCompile(`Could not get lock`),
			ExitCode: 7,
			Holders: []*regexp.Regexp{
				regexp.MustCompile(`held by process (?P<pid>\d+)(?: \((?P<command>[^)]*)\))?`),
				regexp.MustCompile(`pid (?P<pid>\d+) is (?P<command>\S+)`),
			},
		}, {
			Reason:   v1alpha1.FailureNotFound,
			Pattern:  regexp.MustCompile(`Unable to locate`),
			ExitCode: 104,
			Message:  func(lines []string, i int) string { return strings.ToUpper(lines[i]) },
		}, {
			Reason:       v1alpha1.FailureStaleIndex,
			Pattern:      regexp.MustCompile(`Failed to fetch`),
			NotOnRefresh: true,
		}},
	}
	classify := func(typ v1alpha1.StepType, exitCode int, out string) backends.Failure {
		return rules.Classify(typ, exitCode, []byte(out))
	}

	It("gives the first rule's reason with the matching line, preferring a marked line, trimmed", func() {
		f := classify(v1alpha1.StepInstall, 100, "Get: Failed to fetch a\nE: Failed to fetch b\nW: Could not get lock x\n")
		Expect(f).To(Equal(backends.Failure{Reason: v1alpha1.FailureLockHeld, Message: "Could not get lock x"}), "rules in order, not lines")
		f = classify(v1alpha1.StepInstall, 100, "Get: Failed to fetch a\nE: Failed to fetch b\n")
		Expect(f).To(Equal(backends.Failure{Reason: v1alpha1.FailureStaleIndex, Message: "Failed to fetch b"}))
	})
	It("skips a rule that does not apply to a refresh", func() {
		f := classify(v1alpha1.StepRefresh, 100, "E: Failed to fetch b\n")
		Expect(f).To(Equal(backends.Failure{Reason: v1alpha1.FailureFailed, Message: "failed: E: Failed to fetch b"}))
	})
	It("reads the holder from the matching line, each pattern filling what is still unknown", func() {
		f := classify(v1alpha1.StepInstall, 100, "E: Could not get lock x. It is held by process 42 (apt-get)\n")
		Expect(f.LockHolderPID).To(Equal(42))
		Expect(f.LockHolder).To(Equal("apt-get"))
		f = classify(v1alpha1.StepInstall, 100, "E: Could not get lock x. It is held by process 42; pid 43 is dpkg\n")
		Expect(f.LockHolderPID).To(Equal(42), "the first pattern's pid")
		Expect(f.LockHolder).To(Equal("dpkg"), "the second pattern's command")
		f = classify(v1alpha1.StepInstall, 100, "E: Could not get lock x\nheld by process 42 (apt-get)\n")
		Expect(f.LockHolderPID).To(BeZero(), "not in the matching line")
	})
	It("reads the holder from the whole output when the rule says so", func() {
		inOutput := rules
		inOutput.Rules = []toolkit.Rule{rules.Rules[0]}
		inOutput.Rules[0].HoldersInOutput = true
		f := inOutput.Classify(v1alpha1.StepInstall, 7, []byte("locked\nheld by process 42 (zypper)\n"))
		Expect(f).To(Equal(backends.Failure{Reason: v1alpha1.FailureLockHeld, Message: "failed: locked", LockHolderPID: 42, LockHolder: "zypper"}))
	})
	It("takes a rule's exit code for its reason when no line says it, with the failed message", func() {
		Expect(classify(v1alpha1.StepInstall, 104, "nothing useful\n")).To(Equal(
			backends.Failure{Reason: v1alpha1.FailureNotFound, Message: "failed: nothing useful"}))
		Expect(classify(v1alpha1.StepInstall, 7, "nothing useful\n").Reason).To(Equal(v1alpha1.FailureLockHeld))
		Expect(classify(v1alpha1.StepInstall, 0, "nothing useful\n").Reason).To(Equal(v1alpha1.FailureFailed), "0 is no exit code of a rule")
	})
	It("builds the message with the rule's own function", func() {
		Expect(classify(v1alpha1.StepInstall, 100, "x\nE: Unable to locate package foo\n").Message).To(Equal("E: UNABLE TO LOCATE PACKAGE FOO"))
	})
	It("falls back to the output's tail without a Failed function", func() {
		bare := toolkit.Rules{}
		Expect(bare.Classify(v1alpha1.StepInstall, 3, []byte("  boom \n"))).To(Equal(backends.Failure{Reason: v1alpha1.FailureFailed, Message: "boom"}))
		Expect(bare.Classify(v1alpha1.StepInstall, 3, nil).Message).To(Equal("exit code 3"))
	})
})
