// Package healthcheck runs one attempt of a policy's health check on this
// host: a GET of an HTTP URL, or a check executable that an administrator
// put, by file name, into the agent's checks directory
// (/etc/patchlet/checks.d). A policy never carries a command line: it can
// only name a file that root (or the agent's own user) installed there.
//
// The package owns the I/O of a check and nothing else: when a check is
// due, how failures count and what they mean for a policy's state are
// decided by the reconcile loop (controllers/policy) and package reconcile.
package healthcheck

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// DefaultChecksDir is where check executables live unless --checks-dir says
// otherwise.
const DefaultChecksDir = "/etc/patchlet/checks.d"

// Limits of what one attempt keeps and says.
const (
	// outputKeep is how many of the last bytes of a check's combined
	// output are kept.
	outputKeep = 4 << 10
	// messageOutput is how many characters of that output a message shows.
	messageOutput = 200
	// bodyDrain is how much of an HTTP answer's body is read (and thrown
	// away) before the connection closes.
	bodyDrain = 64 << 10
	// waitOutput bounds how long the output is read after a check's
	// process group is gone (a process that left the group may still hold
	// the pipe).
	waitOutput = time.Second
)

// checkPath is the executable search path of a check.
const checkPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Checker runs health check attempts. The zero value is not usable; use New.
type Checker struct {
	dir  string
	euid int
	log  logr.Logger
}

// Options configure a Checker.
type Options struct {
	// ChecksDir holds the check executables (default DefaultChecksDir).
	ChecksDir string
	// EUID is the agent's effective user id: besides root, the only owner
	// a check file (and the directory) may have.
	EUID int
	Log  logr.Logger
}

// New returns a Checker.
func New(o Options) *Checker {
	if o.ChecksDir == "" {
		o.ChecksDir = DefaultChecksDir
	}
	if abs, err := filepath.Abs(o.ChecksDir); err == nil {
		o.ChecksDir = abs
	}
	return &Checker{dir: o.ChecksDir, euid: o.EUID, log: o.Log}
}

// ChecksDir is the directory the Checker runs exec checks from.
func (c *Checker) ChecksDir() string { return c.dir }

// Check runs one attempt of spec for the named policy and says whether it
// passed, with a short message of what it saw. It never returns an error:
// a check that cannot run is a failed attempt whose message says why.
func (c *Checker) Check(ctx context.Context, policy string, spec *v1alpha1.HealthCheckSpec) (passed bool, message string) {
	if spec == nil {
		return false, "no health check given"
	}
	timeout := v1alpha1.DefaultHealthTimeout
	if spec.Timeout != nil {
		if d, err := spec.Timeout.Parse(); err == nil && d > 0 {
			timeout = min(d, v1alpha1.MaxHealthTimeout)
		}
	}
	start := time.Now()
	switch {
	case spec.HTTPGet != nil && spec.Exec == nil:
		passed, message = c.httpGet(ctx, spec.HTTPGet, timeout)
	case spec.Exec != nil && spec.HTTPGet == nil:
		passed, message = c.exec(ctx, policy, spec.Exec.Name, timeout)
	default:
		return false, "a health check needs exactly one of httpGet and exec"
	}
	c.log.V(1).Info("health check attempt", "policy", policy, "passed", passed, "message", message,
		"duration", time.Since(start).String())
	return passed, message
}

// printable makes output safe and short for a message: the last n
// characters, invalid UTF-8 and control characters replaced, runs of
// white space collapsed.
func printable(b []byte, n int) string {
	s := strings.ToValidUTF8(string(b), "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return "…" + string(r[len(r)-n:])
}

// quoteName renders a name that failed the file-name rule for a message.
func quoteName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}
