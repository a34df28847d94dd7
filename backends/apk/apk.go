// Package apk is patchlet's backend for Alpine Linux (apk-tools 2.x). It
// owns what patchlet knows about apk: observing a root's packages (the
// installed database lib/apk/db/installed and etc/apk/world parsed
// directly), pending upgrades (apk list -u, cached until the database,
// world, repositories or index cache change), available versions (apk
// policy), reboot-required (running kernel against the installed kernel
// package), the lock, building the apk command lines of each step and
// classifying their failures. docs/backends.md (apk) says what it observes
// and where it differs.
package apk

import (
	"path/filepath"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// Paths inside the root.
const (
	dbDir            = "lib/apk/db" // resolved inside the root at New (Backend.db)
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
	// db is lib/apk/db inside the root with symlinks followed within it
	// (lib -> /usr/lib is ROOT/usr/lib, never the host's).
	db string

	dbCache    toolkit.Cache[backends.Package] // by the database's and world's stamps
	provCache  toolkit.Cache[[]string]         // Observation.Provides, by the same stamps
	pinCache   toolkit.Cache[bool]             // names world constrains to a version, by the same stamps
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
	b.db = toolkit.ResolveInRoot(b.Cfg.Root, dbDir)
	return b, nil
}

// dbPath is name (installed, lock) in apk's database directory.
func (b *Backend) dbPath(name string) string { return filepath.Join(b.db, name) }

// Capabilities says what apk can do: holds (world constraints), no
// security classification.
func (b *Backend) Capabilities() backends.Capabilities {
	return backends.Capabilities{Hold: true, Security: false}
}

// WatchPaths are the paths whose changes should wake the agent: apk's
// database directory, world and the index cache.
func (b *Backend) WatchPaths() []string {
	return []string{b.db, b.Path("etc/apk"), b.Path(cacheDir)}
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
