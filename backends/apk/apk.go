// Package apk is patchlet's backend for Alpine Linux (apk-tools 2.x). It
// owns what patchlet knows about apk: observing a root's packages (the
// installed database lib/apk/db/installed and etc/apk/world parsed
// directly), pending upgrades (apk list -u, cached until the database,
// world, repositories or index cache change), available versions (apk
// policy), reboot-required (running kernel against the installed kernel
// package), the lock, building the apk command lines of each step and
// classifying their failures.
//
// Tested on sample output only: no apk binary can be installed on the
// machines patchlet is developed and tested on (Debian has no apk-tools
// package; neither the npm registry nor the Go module proxy carries one).
// The parsers and the classifier are tested on samples of apk-tools 2.14
// output on Alpine 3.20 (testdata/alpine-3.20.*), written from apk-tools'
// own output formats and messages rather than captured from a running
// apk; the steps are tested on their command lines. Nothing here has run
// against a real apk in CI: replace the samples with captures from a real
// Alpine when one is available.
//
// Every command is apk with --no-progress and, for a Root other than "/",
// --root R, in LC_ALL=C. apk never prompts.
//
// What apk does differently:
//   - Security: Alpine's security database (secdb) is not part of apk, so
//     Capabilities().Security is false and a Security policy is reported
//     Unsupported.
//   - Holds are version constraints in world: HoldStep runs apk add
//     NAME=INSTALLED-VERSION, which apk keeps until the constraint is
//     replaced; releasing runs apk add NAME, which replaces it with an
//     unconstrained one. A package whose world entry has an "=" constraint
//     is observed as Held. So an install pinned to a version (apk add
//     NAME=VERSION) also holds the package there: that is how apk pins.
package apk

import (
	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// Paths inside the root.
const (
	installedPath    = "lib/apk/db/installed"
	lockPath         = "lib/apk/db/lock"
	worldPath        = "etc/apk/world"
	repositoriesPath = "etc/apk/repositories"
	cacheDir         = "var/cache/apk"
	cacheLink        = "etc/apk/cache"
)

// Options configure a Backend: the settings every backend takes, apk's
// path and the kernel release.
type Options struct {
	backends.Settings
	// Apk is apk's absolute path (default: looked up in PathEnv).
	Apk string
	// KernelRelease returns the running kernel's release, as uname -r
	// prints it (default: uname(2)).
	KernelRelease func() (string, error)
}

// Backend is the apk backend for one root. It is safe for concurrent use.
type Backend struct {
	toolkit.Base
	apk    string
	kernel func() (string, error) // nil: toolkit.KernelRelease

	dbCache    toolkit.Cache[backends.Package] // by the database's and world's stamps
	upCache    toolkit.Cache[backends.Upgrade] // by fingerprint
	availCache toolkit.Cache[[]string]         // by fingerprint and names
}

var _ backends.Backend = (*Backend)(nil)

// New returns the apk backend for opts.Root.
func New(opts Options) (*Backend, error) {
	b := &Backend{apk: opts.Apk, kernel: opts.KernelRelease}
	base, err := toolkit.NewBase(opts.Settings, "apk", v1alpha1.FamilyAPK, &rules, toolkit.Program{Path: &b.apk, Name: "apk"})
	if err != nil {
		return nil, err
	}
	b.Base = base
	return b, nil
}

// Capabilities says what apk can do: holds (world constraints), no
// security classification.
func (b *Backend) Capabilities() backends.Capabilities {
	return backends.Capabilities{Hold: true, Security: false}
}

// WatchPaths are the paths whose changes should wake the agent: apk's
// database directory, world and the index cache.
func (b *Backend) WatchPaths() []string {
	return []string{b.Path("lib/apk/db"), b.Path("etc/apk"), b.Path(cacheDir)}
}

// baseArgv is apk with the root's options.
func (b *Backend) baseArgv() []string {
	if b.Cfg.Root == "/" {
		return []string{b.apk, "--no-progress"}
	}
	return []string{b.apk, "--root", b.Cfg.Root, "--no-progress"}
}

// validName re-validates a package name before it reaches argv.
var validName = toolkit.NameRule(v1alpha1.FamilyAPK)
