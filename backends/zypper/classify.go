package zypper

import (
	"regexp"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// rules are zypper's exit codes and words for each failure class, in the
// order they are tried.
var rules = toolkit.Rules{
	Failed: tailMessage,
	Rules: []toolkit.Rule{{
		// System management is locked by the application with pid 4242 (zypper).
		Reason:          v1alpha1.FailureLockHeld,
		Pattern:         regexp.MustCompile(`System management is locked|can't create transaction lock`),
		ExitCode:        ExitLocked,
		Holders:         []*regexp.Regexp{regexp.MustCompile(`locked by the application with pid (?P<pid>\d+) \((?P<command>[^)]*)\)`)},
		HoldersInOutput: true,
	}, {
		Reason:  v1alpha1.FailureDiskFull,
		Pattern: regexp.MustCompile(`No space left on device|Not enough disk space|needs \S+ more space on the \S+ filesystem`),
	}, {
		Reason:   v1alpha1.FailureNotFound,
		Pattern:  regexp.MustCompile(`not found in package names|No provider of '[^']*' found|Package '[^']*' not found`),
		ExitCode: ExitNotFound,
	}, {
		Reason:       v1alpha1.FailureStaleIndex,
		Pattern:      regexp.MustCompile(`File '[^']*' not found on medium|Download \(curl\) error|Can't provide file|Failed to provide Package|Valid metadata not found|Checksum mismatch`),
		NotOnRefresh: true,
	}},
}

// tailMessage is the last non-empty line that is not rpm's Alien warning,
// else "" (the output's tail).
func tailMessage(lines []string) string {
	return toolkit.LastLine(lines, func(l string) (string, bool) {
		return l, l != "" && !strings.HasPrefix(l, "rpm: ")
	})
}

// ClassifyOutput is Backend.Classify from zypper's exit code first
// (7 locked, 104 not found), then its words. A step ending in 102 or 103
// (reboot or restart needed) did its work: its Step lists them in
// SuccessExitCodes, so the executor reports it Succeeded and Classify is
// never asked.
func ClassifyOutput(typ v1alpha1.StepType, exitCode int, output []byte) backends.Failure {
	return rules.Classify(typ, exitCode, output)
}
