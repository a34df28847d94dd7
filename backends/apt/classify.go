package apt

import (
	"regexp"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// messageMarkers are trimmed from a message.
var messageMarkers = []string{"E: ", "W: ", "Err: "}

// rules are apt's words for each failure class (LC_ALL=C), in the order
// they are tried. An E: line is preferred; dpkg's own errors start with
// "dpkg: error".
var rules = toolkit.Rules{
	Marker: "E: ",
	Trim:   messageMarkers,
	Failed: failedMessage,
	Rules: []toolkit.Rule{{
		Reason:  v1alpha1.FailureLockHeld,
		Pattern: regexp.MustCompile(`Could not get lock |Unable to acquire the dpkg frontend lock|Unable to lock (?:the )?(?:administration|download|directory)|status database (?:area )?is locked by another process|lock was locked by another process`),
		Holders: []*regexp.Regexp{
			// E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)
			regexp.MustCompile(`Could not get lock (.+?)\.? It is held by process (?P<pid>\d+)(?: \((?P<command>[^)]*)\))?`),
			// dpkg: error: dpkg frontend lock was locked by another process with pid 4242
			regexp.MustCompile(`lock was locked by another process with pid (?P<pid>\d+)`),
		},
	}, {
		Reason:  v1alpha1.FailureInterrupted,
		Pattern: regexp.MustCompile(`dpkg was interrupted, you must manually run '(?:sudo )?dpkg --configure -a'`),
	}, {
		Reason:  v1alpha1.FailureDiskFull,
		Pattern: regexp.MustCompile(`You don't have enough free space|No space left on device`),
	}, {
		Reason:  v1alpha1.FailureNotFound,
		Pattern: regexp.MustCompile(`Unable to locate package |Version '[^']*' for '[^']*' was not found|Couldn't find any package by (?:glob|regex) |Package '[^']*' has no installation candidate|Release '[^']*' for '[^']*' was not found`),
	}, {
		// E: Failed to fetch http://…/foo_2.0_all.deb  404  Not Found [IP: …]
		// E: Unable to fetch some archives, maybe run apt-get update or try with --fix-missing?
		Reason:       v1alpha1.FailureStaleIndex,
		Pattern:      regexp.MustCompile(`Failed to fetch |Unable to fetch some archives|\b404\s+Not Found|Hash Sum mismatch|File has unexpected size`),
		NotOnRefresh: true,
	}},
}

// failedMessage is the last E: line (the most specific: apt's summary
// "Sub-process /usr/bin/dpkg returned an error code (1)" comes after the
// cause, so the first of a run of E: lines at the end is kept), else ""
// (the output's tail).
func failedMessage(lines []string) string {
	last := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "E: ") {
			last = i
		}
	}
	if last >= 0 {
		first := last
		for first > 0 && strings.HasPrefix(lines[first-1], "E: ") {
			first--
		}
		msgs := make([]string, 0, last-first+1)
		for _, l := range lines[first : last+1] {
			msgs = append(msgs, toolkit.TrimMarker(l, messageMarkers...))
		}
		return strings.Join(msgs, "; ")
	}
	return ""
}

// ClassifyOutput is Backend.Classify: it explains a failed step from
// its output (stdout and stderr). The first class that matches wins, in
// this order: lock held, dpkg interrupted, disk full, package not found,
// stale index. A fetch failure while refreshing is a plain failure, not a
// stale index: refreshing again would not help. Message is the matching
// line (without "E: "), else the last E: line, else the output's tail.
func ClassifyOutput(typ v1alpha1.StepType, exitCode int, output []byte) backends.Failure {
	return rules.Classify(typ, exitCode, output)
}
