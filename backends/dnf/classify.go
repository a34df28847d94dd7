package dnf

import (
	"regexp"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// rules are dnf's and yum's words for each failure class (LC_ALL=C), in
// the order they are tried.
var rules = toolkit.Rules{
	Trim:   []string{"Error:"},
	Failed: lastError,
	Rules: []toolkit.Rule{{
		// RPMDB already locked by 4242 (dnf, exit_on_lock)
		// Existing lock /var/run/yum.pid: another copy is running as pid 4242. (yum)
		Reason:   v1alpha1.FailureLockHeld,
		Pattern:  regexp.MustCompile(`already locked by \d+|another copy is running as pid|can't create transaction lock|Waiting for process with pid \d+ to finish|holding the yum lock`),
		ExitCode: ExitLocked,
		Holders: []*regexp.Regexp{
			regexp.MustCompile(`already locked by (?P<pid>\d+)|another copy is running as pid (?P<pid>\d+)`),
			regexp.MustCompile(`The application with PID \d+ is: (?P<command>\S+)`),
		},
		HoldersInOutput: true,
	}, {
		Reason:  v1alpha1.FailureDiskFull,
		Pattern: regexp.MustCompile(`No space left on device|needs \S+ more space on the \S+ filesystem|Disk Requirements:|At least \S+ more space needed`),
	}, {
		Reason:  v1alpha1.FailureNotFound,
		Pattern: regexp.MustCompile(`(?i)No match for argument|Unable to find a match|No package \S+ available|Package\(s\) \S+ available, but not installed|No packages marked for (?:update|removal)`),
	}, {
		Reason:       v1alpha1.FailureStaleIndex,
		Pattern:      regexp.MustCompile(`Cannot download|Status code: 404|Failed to download|No more mirrors to try|Error downloading packages|Curl error \(37\)|Cannot retrieve repository metadata|Downloading successful, but checksum doesn't match|Package does not match intended download`),
		NotOnRefresh: true,
	}},
}

// lastError is the last "Error:" line, else "" (the output's tail).
func lastError(lines []string) string {
	return toolkit.LastLine(lines, func(l string) (string, bool) {
		s, ok := strings.CutPrefix(l, "Error:")
		s = strings.TrimSpace(s)
		return s, ok && s != ""
	})
}

// noCache reports the package manager's complaint that the cache-only
// query has no metadata yet (no refresh so far).
func noCache(stdout, stderr []byte) bool {
	s := string(stdout) + string(stderr)
	return strings.Contains(s, "Cache-only enabled but no cache") || strings.Contains(s, "cache-only mode")
}

// ClassifyOutput is Backend.Classify: lock held, disk full, package not
// found, stale index (a download failure outside a refresh), else Failed.
func ClassifyOutput(typ v1alpha1.StepType, exitCode int, output []byte) backends.Failure {
	return rules.Classify(typ, exitCode, output)
}
