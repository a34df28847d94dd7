package pacman

import (
	"regexp"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// pacman's words for each failure class (LC_ALL=C). A ".pacnew" warning
// is normal (a locally edited backup file kept) and never a failure.
var (
	// error: failed to init transaction (unable to lock database)
	// error: could not lock database: File exists
	lockRE = regexp.MustCompile(`unable to lock database|could not lock database`)
	// error: Partition /var too full: 502 blocks needed, 246 blocks free
	// error: failed to commit transaction (not enough free disk space)
	// error: could not extract /usr/blob (Write failed)   (libarchive's words for ENOSPC)
	// error: failed retrieving file '…' from … : Failure writing output to destination
	diskFullRE = regexp.MustCompile(`not enough free disk space|too full: \d+ blocks needed|No space left on device|could not extract .*\(Write failed\)|Failure writing output to destination`)
	// error: target not found: foo
	notFoundRE = regexp.MustCompile(`target not found: `)
	// error: failed retrieving file 'foo-1.1-1-any.pkg.tar.zst' from mirror : The requested URL returned error: 404
	staleRE = regexp.MustCompile(`failed retrieving file |failed to retrieve some files|returned error: 404`)
)

// Classify implements backends.Backend: it explains a failed step from
// its output. The first class that matches wins, in this order: lock
// held, disk full, package not found, stale index (a package file the
// sync database names is gone from the mirror: refresh, then retry). A
// retrieval failure while refreshing is a plain failure. Message is the
// matching line without "error: ", else the last error lines, else the
// output's tail.
func (b *Backend) Classify(step backends.Step, exitCode int, output []byte) backends.Failure {
	return ClassifyOutput(step.Type, exitCode, output)
}

// ClassifyOutput is Classify without a Backend.
func ClassifyOutput(typ v1alpha1.StepType, exitCode int, output []byte) backends.Failure {
	lines := toolkit.OutputLines(output)
	find := func(re *regexp.Regexp) (string, bool) { return toolkit.FindLine(lines, "error: ", re) }
	if l, ok := find(lockRE); ok {
		return backends.Failure{Reason: v1alpha1.FailureLockHeld, Message: message(l)}
	}
	if l, ok := find(diskFullRE); ok {
		return backends.Failure{Reason: v1alpha1.FailureDiskFull, Message: message(l)}
	}
	if l, ok := find(notFoundRE); ok {
		return backends.Failure{Reason: v1alpha1.FailureNotFound, Message: message(l)}
	}
	if typ != v1alpha1.StepRefresh {
		if l, ok := find(staleRE); ok {
			return backends.Failure{Reason: v1alpha1.FailureStaleIndex, Message: message(l)}
		}
	}
	return backends.Failure{Reason: v1alpha1.FailureFailed, Message: failedMessage(lines, exitCode, output)}
}

// message trims a line and its "error: " / "warning: " prefix.
func message(line string) string { return toolkit.TrimMarker(line, "error: ", "warning: ") }

// failedMessage joins the error: lines (pacman prints the cause before
// its "failed to commit transaction" summary), else the output's tail.
func failedMessage(lines []string, exitCode int, output []byte) string {
	var msgs []string
	for _, l := range lines {
		if strings.HasPrefix(l, "error: ") {
			msgs = append(msgs, message(l))
		}
	}
	if len(msgs) > 0 {
		return strings.Join(msgs, "; ")
	}
	return toolkit.OutputSummary(output, exitCode)
}
