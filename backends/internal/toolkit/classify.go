package toolkit

import (
	"regexp"
	"strconv"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
)

// Rule is one class of failure in a package manager's words: a line that
// Pattern matches (or, failing that, the exit code ExitCode) means Reason.
type Rule struct {
	Reason  v1alpha1.FailureReason
	Pattern *regexp.Regexp
	// ExitCode, when not 0, means Reason even when no line matches (zypper
	// exits 7 when locked).
	ExitCode int
	// NotOnRefresh: the rule does not apply to a refresh step (a fetch
	// failure while refreshing is a plain failure, not a stale index:
	// refreshing again would not help).
	NotOnRefresh bool
	// Holders find the lock holder: each fills the pid (a group named
	// pid) and the command (a group named command) it names and that no
	// earlier one filled, looking in the matching line, or in the whole
	// output when HoldersInOutput is set.
	Holders         []*regexp.Regexp
	HoldersInOutput bool
	// Message, when set, builds the message from the lines and the index
	// of the matching line instead of the trimmed line.
	Message func(lines []string, i int) string
}

// Rules are a backend's classifier: its rules in order, the first that
// applies wins.
type Rules struct {
	// Marker is the package manager's error marker ("E: "): of the lines
	// a rule matches, the first that starts with it is preferred.
	Marker string
	// Trim are the markers a message is trimmed of ("E: ", "W: ").
	Trim  []string
	Rules []Rule
	// Failed is the message of a failure no rule explains, and of one a
	// rule explains by its exit code alone, from the output's lines; ""
	// (or no Failed) gives OutputSummary.
	Failed func(lines []string) string
}

// Classify explains a failed step from its type, exit code and output
// (stdout and stderr): the first rule that applies gives the reason and
// the message (the matching line without its marker), else the failure
// is v1alpha1.FailureFailed with the Failed message.
func (r Rules) Classify(typ v1alpha1.StepType, exitCode int, output []byte) backends.Failure {
	lines := OutputLines(output)
	for _, rule := range r.Rules {
		if rule.NotOnRefresh && typ == v1alpha1.StepRefresh {
			continue
		}
		i := findLine(lines, r.Marker, rule.Pattern)
		if i < 0 && (rule.ExitCode == 0 || exitCode != rule.ExitCode) {
			continue
		}
		f := backends.Failure{Reason: rule.Reason}
		line := ""
		if i >= 0 {
			line = lines[i]
			if rule.Message != nil {
				f.Message = rule.Message(lines, i)
			} else {
				f.Message = TrimMarker(line, r.Trim...)
			}
		}
		if f.Message == "" {
			f.Message = r.failed(lines, exitCode, output)
		}
		scope := line
		if rule.HoldersInOutput {
			scope = string(output)
		}
		f.LockHolderPID, f.LockHolder = holder(rule.Holders, scope)
		return f
	}
	return backends.Failure{Reason: v1alpha1.FailureFailed, Message: r.failed(lines, exitCode, output)}
}

func (r Rules) failed(lines []string, exitCode int, output []byte) string {
	if r.Failed != nil {
		if msg := r.Failed(lines); msg != "" {
			return msg
		}
	}
	return OutputSummary(output, exitCode)
}

// holder reads the pid and command the patterns name in s.
func holder(res []*regexp.Regexp, s string) (pid int, command string) {
	for _, re := range res {
		m := re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		for i, name := range re.SubexpNames() {
			switch {
			case m[i] == "":
			case name == "pid" && pid == 0:
				pid, _ = strconv.Atoi(m[i])
			case name == "command" && command == "":
				command = m[i]
			}
		}
	}
	return pid, command
}
