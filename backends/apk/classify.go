package apk

import (
	"regexp"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// apk 2.14's words for each failure class (it has no translations).
var (
	// ERROR: Unable to lock database: temporary error (try again later)
	lockRE = regexp.MustCompile(`Unable to lock database`)
	// ERROR: curl-8.9.1-r0: No space left on device
	diskFullRE = regexp.MustCompile(`No space left on device`)
	// ERROR: unable to select packages:
	//   nosuch (no such package):
	//     required by: world[nosuch]
	//   curl-8.9.1-r0:
	//     breaks: world[curl=8.0.0-r0]
	notFoundRE = regexp.MustCompile(`\(no such package\)|breaks: world\[[^\]]*=`)
	// ERROR: curl-8.9.0-r0: No such file or directory   (the mirror lost the file)
	staleRE = regexp.MustCompile(`^ERROR: \S+-r\d+: No such file or directory`)
)

// Classify implements backends.Backend: it explains a failed step from
// its output. The first class that matches wins: lock held, disk full,
// package or version not found, stale index (a package file the index
// names is gone from the mirror). Message is apk's ERROR: line (with the
// package line for unable to select packages), else the output's tail.
func (b *Backend) Classify(step backends.Step, exitCode int, output []byte) backends.Failure {
	return ClassifyOutput(step.Type, exitCode, output)
}

// ClassifyOutput is Classify without a Backend.
func ClassifyOutput(typ v1alpha1.StepType, exitCode int, output []byte) backends.Failure {
	lines := toolkit.OutputLines(output)
	find := func(re *regexp.Regexp) (int, bool) {
		for i, l := range lines {
			if re.MatchString(l) {
				return i, true
			}
		}
		return -1, false
	}
	if i, ok := find(lockRE); ok {
		return backends.Failure{Reason: v1alpha1.FailureLockHeld, Message: message(lines[i])}
	}
	if i, ok := find(diskFullRE); ok {
		return backends.Failure{Reason: v1alpha1.FailureDiskFull, Message: message(lines[i])}
	}
	if i, ok := find(notFoundRE); ok {
		// The package line above a "breaks:" line names the version
		// apk found instead.
		msg := strings.TrimSpace(lines[i])
		if strings.HasPrefix(msg, "breaks:") && i > 0 {
			msg = strings.TrimSuffix(strings.TrimSpace(lines[i-1]), ":") + " " + msg
		}
		return backends.Failure{Reason: v1alpha1.FailureNotFound, Message: "unable to select packages: " + strings.TrimSuffix(msg, ":")}
	}
	if typ != v1alpha1.StepRefresh {
		if i, ok := find(staleRE); ok {
			return backends.Failure{Reason: v1alpha1.FailureStaleIndex, Message: message(lines[i])}
		}
	}
	var msgs []string
	for i, l := range lines {
		if !strings.HasPrefix(l, "ERROR: ") {
			continue
		}
		m := message(l)
		// "unable to select packages:" explains itself on indented lines.
		if strings.HasSuffix(m, ":") {
			for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], " "); j++ {
				m += " " + strings.TrimSpace(lines[j])
			}
		}
		msgs = append(msgs, m)
	}
	msg := strings.Join(msgs, "; ")
	if msg == "" {
		msg = toolkit.OutputSummary(output, exitCode)
	}
	return backends.Failure{Reason: v1alpha1.FailureFailed, Message: msg}
}

func message(line string) string { return toolkit.TrimMarker(line, "ERROR: ", "WARNING: ") }
