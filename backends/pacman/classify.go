package pacman

import (
	"regexp"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// messageMarkers are trimmed from a message.
var messageMarkers = []string{"error: ", "warning: "}

// rules are pacman's words for each failure class (LC_ALL=C), in the
// order they are tried. A ".pacnew" warning is normal (a locally edited
// backup file kept) and never a failure.
var rules = toolkit.Rules{
	Marker: "error: ",
	Trim:   messageMarkers,
	Failed: failedMessage,
	Rules: []toolkit.Rule{{
		// error: failed to init transaction (unable to lock database)
		// error: could not lock database: File exists
		Reason:  v1alpha1.FailureLockHeld,
		Pattern: regexp.MustCompile(`unable to lock database|could not lock database`),
	}, {
		// error: Partition /var too full: 502 blocks needed, 246 blocks free
		// error: failed to commit transaction (not enough free disk space)
		// error: could not extract /usr/blob (Write failed)   (libarchive's words for ENOSPC)
		// error: failed retrieving file '…' from … : Failure writing output to destination
		Reason:  v1alpha1.FailureDiskFull,
		Pattern: regexp.MustCompile(`not enough free disk space|too full: \d+ blocks needed|No space left on device|could not extract .*\(Write failed\)|Failure writing output to destination`),
	}, {
		// error: target not found: foo
		Reason:  v1alpha1.FailureNotFound,
		Pattern: regexp.MustCompile(`target not found: `),
	}, {
		// error: failed retrieving file 'foo-1.1-1-any.pkg.tar.zst' from mirror : The requested URL returned error: 404
		Reason:       v1alpha1.FailureStaleIndex,
		Pattern:      regexp.MustCompile(`failed retrieving file |failed to retrieve some files|returned error: 404`),
		NotOnRefresh: true,
	}},
}

// failedMessage joins the error: lines (pacman prints the cause before
// its "failed to commit transaction" summary), else "" (the output's tail).
func failedMessage(lines []string) string {
	var msgs []string
	for _, l := range lines {
		if strings.HasPrefix(l, "error: ") {
			msgs = append(msgs, toolkit.TrimMarker(l, messageMarkers...))
		}
	}
	return strings.Join(msgs, "; ")
}

// ClassifyOutput is Backend.Classify: it explains a failed step from
// its output. The first class that matches wins, in this order: lock
// held, disk full, package not found, stale index (a package file the
// sync database names is gone from the mirror: refresh, then retry). A
// retrieval failure while refreshing is a plain failure. Message is the
// matching line without "error: ", else the last error lines, else the
// output's tail.
func ClassifyOutput(typ v1alpha1.StepType, exitCode int, output []byte) backends.Failure {
	return rules.Classify(typ, exitCode, output)
}
