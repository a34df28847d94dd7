package dnf

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// The package manager's words for each failure class (LC_ALL=C).
var (
	// RPMDB already locked by 4242 (dnf, exit_on_lock)
	// Existing lock /var/run/yum.pid: another copy is running as pid 4242. (yum)
	lockPIDRE = regexp.MustCompile(`already locked by (\d+)|another copy is running as pid (\d+)`)
	lockAppRE = regexp.MustCompile(`The application with PID \d+ is: (\S+)`)
	lockRE    = regexp.MustCompile(`already locked by \d+|another copy is running as pid|can't create transaction lock|Waiting for process with pid \d+ to finish|holding the yum lock`)
	diskRE    = regexp.MustCompile(`No space left on device|needs \S+ more space on the \S+ filesystem|Disk Requirements:|At least \S+ more space needed`)
	notFound  = regexp.MustCompile(`(?i)No match for argument|Unable to find a match|No package \S+ available|Package\(s\) \S+ available, but not installed|No packages marked for (?:update|removal)`)
	staleRE   = regexp.MustCompile(`Cannot download|Status code: 404|Failed to download|No more mirrors to try|Error downloading packages|Curl error \(37\)|Cannot retrieve repository metadata|Downloading successful, but checksum doesn't match|Package does not match intended download`)
)

// Classify implements backends.Backend: lock held, disk full, package not
// found, stale index (a download failure outside a refresh), else Failed.
func (b *Backend) Classify(step backends.Step, exitCode int, output []byte) backends.Failure {
	return ClassifyOutput(step.Type, exitCode, output)
}

// ClassifyOutput is Classify without a Backend.
func ClassifyOutput(typ v1alpha1.StepType, exitCode int, output []byte) backends.Failure {
	lines := toolkit.OutputLines(output)
	find := func(re *regexp.Regexp) (string, bool) {
		l, ok := toolkit.FindLine(lines, "", re)
		return toolkit.TrimMarker(l, "Error:"), ok
	}
	if l, ok := find(lockRE); ok || exitCode == ExitLocked {
		f := backends.Failure{Reason: v1alpha1.FailureLockHeld, Message: l}
		if m := lockPIDRE.FindStringSubmatch(string(output)); m != nil {
			f.LockHolderPID, _ = strconv.Atoi(m[1] + m[2])
		}
		if m := lockAppRE.FindStringSubmatch(string(output)); m != nil {
			f.LockHolder = m[1]
		}
		if f.Message == "" {
			f.Message = lastError(lines, exitCode, output)
		}
		return f
	}
	if l, ok := find(diskRE); ok {
		return backends.Failure{Reason: v1alpha1.FailureDiskFull, Message: l}
	}
	if l, ok := find(notFound); ok {
		return backends.Failure{Reason: v1alpha1.FailureNotFound, Message: l}
	}
	if typ != v1alpha1.StepRefresh {
		if l, ok := find(staleRE); ok {
			return backends.Failure{Reason: v1alpha1.FailureStaleIndex, Message: l}
		}
	}
	return backends.Failure{Reason: v1alpha1.FailureFailed, Message: lastError(lines, exitCode, output)}
}

// lastError is the last "Error:" line, else the output's tail.
func lastError(lines []string, exitCode int, output []byte) string {
	for i := len(lines) - 1; i >= 0; i-- {
		if s, ok := strings.CutPrefix(strings.TrimSpace(lines[i]), "Error:"); ok {
			if s = strings.TrimSpace(s); s != "" {
				return s
			}
		}
	}
	return toolkit.OutputSummary(output, exitCode)
}
