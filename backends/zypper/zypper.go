// Package zypper is patchlet's backend for openSUSE and SLES. It owns
// observing a root's packages (rpm -qa, cached until the rpm database
// changes), pending upgrades from `zypper --xmlout list-updates`, their
// security class from `list-patches --category security` and the
// patches' conflicts, available versions from `search -s`, reboot-required
// (libzypp's /run/reboot-needed, else install times after boot), building
// the noninteractive zypper command lines of each step (holds are zypper
// locks), and classifying their failures by zypper's exit codes.
//
// Every query runs with --no-refresh on the cached metadata; refreshing
// is a step. With a Root other than "/" every command gets --root ROOT:
// zypper then reads ROOT/etc/zypp and caches in ROOT/var/cache/zypp.
package zypper

import (
	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
	"github.com/patchlet/patchlet/backends/rpm"
)

// zypper's exit codes (zypper(8), EXIT CODES).
const (
	ExitOK              = 0
	ExitBug             = 1
	ExitSyntax          = 2
	ExitInvalidArgs     = 3
	ExitZyppError       = 4
	ExitPrivileges      = 5
	ExitNoRepos         = 6
	ExitLocked          = 7
	ExitCommitError     = 8
	ExitUpdateNeeded    = 100
	ExitSecUpdateNeeded = 101
	ExitRebootNeeded    = 102
	ExitRestartNeeded   = 103
	ExitNotFound        = 104
	ExitOnSignal        = 105
	ExitReposSkipped    = 106
	ExitScriptFailed    = 107
)

// SuccessExitCodes are the exit codes of a step that did its work: 102
// and 103 say a reboot or a restart of the package manager is needed
// after a successful transaction.
var SuccessExitCodes = []int{ExitOK, ExitRebootNeeded, ExitRestartNeeded}

// Paths are the absolute paths of the programs the backend runs.
type Paths struct {
	Zypper string
	Rpm    string
}

// Options configure a Backend: the settings every backend takes and
// zypper's own.
type Options struct {
	backends.Settings
	Paths Paths
	// Home is the HOME of every command (default rpm.DefaultHome, /root):
	// rpm reads its macros (the database path) from HOME/.rpmmacros.
	Home string
	// ProcRoot is where the boot time is read (default /proc).
	ProcRoot string
	// RebootPackages overrides rpm.DefaultRebootPackages.
	RebootPackages []string
}

// Backend is the zypper backend for one root; safe for concurrent use.
type Backend struct {
	toolkit.Base
	rpm.Host
	paths Paths
}

var _ backends.Backend = (*Backend)(nil)

// New returns the zypper backend for opts.Root.
func New(opts Options) (*Backend, error) {
	b := &Backend{Host: rpm.Host{Home: opts.Home}, paths: opts.Paths}
	base, err := toolkit.NewBase(opts.Settings, "zypper", v1alpha1.FamilyRPM, &rules,
		toolkit.Program{Path: &b.paths.Zypper, Name: "zypper"}, toolkit.Program{Path: &b.paths.Rpm, Name: "rpm"})
	if err != nil {
		return nil, err
	}
	b.Base = base
	b.DB = &rpm.DB{Root: b.Cfg.Root, Rpm: b.paths.Rpm, Env: b.Env(), Runner: b.Cfg.Runner,
		ProcRoot: opts.ProcRoot, RebootPackages: opts.RebootPackages}
	b.DB.Locate(b.Cfg.Log)
	return b, nil
}

// Capabilities: zypper holds with locks and classifies security patches.
func (b *Backend) Capabilities() backends.Capabilities {
	return backends.Capabilities{Hold: true, Security: true}
}

// WatchPaths are the paths whose changes mean Observe may see something
// new: the rpm database (where rpm said it is), the solv cache, etc/zypp.
func (b *Backend) WatchPaths() []string {
	return append(b.DB.Dirs(), b.Path("var/cache/zypp/solv"), b.Path("etc/zypp"))
}

// Env is the complete environment of every command: LC_ALL=C, PATH, HOME.
func (b *Backend) Env() []string { return rpm.WithHome(b.Base.Env(), b.Home) }

// baseArgs start every zypper command line.
func (b *Backend) baseArgs() []string {
	args := []string{b.paths.Zypper, "--non-interactive", "--no-color"}
	if b.Cfg.Root != "/" {
		args = append(args, "--root", b.Cfg.Root)
	}
	return args
}
