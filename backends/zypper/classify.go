package zypper

import (
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

var (
	// System management is locked by the application with pid 4242 (zypper).
	lockHolderRE = regexp.MustCompile(`locked by the application with pid (\d+) \(([^)]*)\)`)
	lockRE       = regexp.MustCompile(`System management is locked|can't create transaction lock`)
	diskRE       = regexp.MustCompile(`No space left on device|Not enough disk space|needs \S+ more space on the \S+ filesystem`)
	notFoundRE   = regexp.MustCompile(`not found in package names|No provider of '[^']*' found|Package '[^']*' not found`)
	staleRE      = regexp.MustCompile(`File '[^']*' not found on medium|Download \(curl\) error|Can't provide file|Failed to provide Package|Valid metadata not found|Checksum mismatch`)
)

// Classify implements backends.Backend from zypper's exit code first
// (7 locked, 104 not found), then its words. A step ending in 102 or 103
// (reboot or restart needed) did its work: its Step lists them in
// SuccessExitCodes, so the executor reports it Succeeded and Classify is
// never asked.
func (b *Backend) Classify(step backends.Step, exitCode int, output []byte) backends.Failure {
	return ClassifyOutput(step.Type, exitCode, output)
}

// ClassifyOutput is Classify without a Backend.
func ClassifyOutput(typ v1alpha1.StepType, exitCode int, output []byte) backends.Failure {
	lines := toolkit.OutputLines(output)
	find := func(re *regexp.Regexp) (string, bool) {
		l, ok := toolkit.FindLine(lines, "", re)
		return strings.TrimSpace(l), ok
	}
	if l, ok := find(lockRE); ok || exitCode == ExitLocked {
		f := backends.Failure{Reason: v1alpha1.FailureLockHeld, Message: l}
		if m := lockHolderRE.FindStringSubmatch(string(output)); m != nil {
			f.LockHolderPID, _ = strconv.Atoi(m[1])
			f.LockHolder = m[2]
		}
		if f.Message == "" {
			f.Message = tailMessage(lines, exitCode, output)
		}
		return f
	}
	if l, ok := find(diskRE); ok {
		return backends.Failure{Reason: v1alpha1.FailureDiskFull, Message: l}
	}
	if l, ok := find(notFoundRE); ok || exitCode == ExitNotFound {
		if !ok {
			l = tailMessage(lines, exitCode, output)
		}
		return backends.Failure{Reason: v1alpha1.FailureNotFound, Message: l}
	}
	if typ != v1alpha1.StepRefresh {
		if l, ok := find(staleRE); ok {
			return backends.Failure{Reason: v1alpha1.FailureStaleIndex, Message: l}
		}
	}
	return backends.Failure{Reason: v1alpha1.FailureFailed, Message: tailMessage(lines, exitCode, output)}
}

// tailMessage is the last non-empty line that is not rpm's Alien warning,
// else the exit code.
func tailMessage(lines []string, exitCode int, output []byte) string {
	for _, l := range slices.Backward(lines) {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "rpm: ") {
			continue
		}
		return l
	}
	return toolkit.OutputSummary(output, exitCode)
}
