package apk

import (
	"regexp"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// messageMarkers are trimmed from a message.
var messageMarkers = []string{"ERROR: ", "WARNING: "}

// rules are apk 2.14's words for each failure class (it has no
// translations), in the order they are tried.
var rules = toolkit.Rules{
	Trim:   messageMarkers,
	Failed: failedMessage,
	Rules: []toolkit.Rule{{
		// ERROR: Unable to lock database: temporary error (try again later)
		Reason:  v1alpha1.FailureLockHeld,
		Pattern: regexp.MustCompile(`Unable to lock database`),
	}, {
		// ERROR: curl-8.9.1-r0: No space left on device
		Reason:  v1alpha1.FailureDiskFull,
		Pattern: regexp.MustCompile(`No space left on device`),
	}, {
		// ERROR: unable to select packages:
		//   nosuch (no such package):
		//     required by: world[nosuch]
		//   bar-2.0-r0:
		//     breaks: world[bar~9.9-r0]   (InstallStep pins with ~; a hold is bar=V)
		Reason:  v1alpha1.FailureNotFound,
		Pattern: regexp.MustCompile(`\(no such package\)|breaks: world\[[^\]]*[=~]`),
		Message: notFoundMessage,
	}, {
		// The mirror lost a file the cached index names:
		// ERROR: baz-1.0-r0: package mentioned in index not found (try 'apk update')   (apk 2, HTTP)
		// ERROR: baz-1.0-r0: HTTP 404: Not Found                                       (apk 3)
		// ERROR: curl-8.9.0-r0: No such file or directory                              (a file: repository)
		Reason:       v1alpha1.FailureStaleIndex,
		Pattern:      regexp.MustCompile(`^ERROR: \S+-r\d+: (No such file or directory|package mentioned in index not found|HTTP 404\b)`),
		NotOnRefresh: true,
	}},
}

// notFoundMessage is the unable-to-select line at i, with the package
// line above a "breaks:" line, which names the version apk found instead.
func notFoundMessage(lines []string, i int) string {
	msg := strings.TrimSpace(lines[i])
	if strings.HasPrefix(msg, "breaks:") && i > 0 {
		msg = strings.TrimSuffix(strings.TrimSpace(lines[i-1]), ":") + " " + msg
	}
	return "unable to select packages: " + strings.TrimSuffix(msg, ":")
}

// failedMessage joins apk's ERROR: lines, each with the indented lines
// that explain it, else "" (the output's tail).
func failedMessage(lines []string) string {
	var msgs []string
	for i, l := range lines {
		if !strings.HasPrefix(l, "ERROR: ") {
			continue
		}
		m := toolkit.TrimMarker(l, messageMarkers...)
		// "unable to select packages:" explains itself on indented lines.
		if strings.HasSuffix(m, ":") {
			for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], " "); j++ {
				m += " " + strings.TrimSpace(lines[j])
			}
		}
		msgs = append(msgs, m)
	}
	return strings.Join(msgs, "; ")
}

// ClassifyOutput is Backend.Classify: it explains a failed step from
// its output. The first class that matches wins: lock held, disk full,
// package or version not found, stale index (a package file the index
// names is gone from the mirror). Message is apk's ERROR: line (with the
// package line for unable to select packages), else the output's tail.
func ClassifyOutput(typ v1alpha1.StepType, exitCode int, output []byte) backends.Failure {
	return rules.Classify(typ, exitCode, output)
}
