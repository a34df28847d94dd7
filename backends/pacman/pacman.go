// Package pacman is patchlet's backend for Arch Linux and its derivatives
// (pacman, libalpm). It owns what patchlet knows about pacman: observing a
// root's packages (the local database's desc files parsed directly, no
// process), pending upgrades checked against a private copy of the sync
// databases, available versions (sync databases and the package cache),
// reboot-required (running kernel against the installed kernel package),
// building the noninteractive pacman command lines of each step, the lock
// and classifying failures. docs/backends.md (pacman) says what it observes
// and where it differs.
package pacman

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

const (
	// DefaultCheckInterval is how long a pending-upgrade check stands
	// when nothing local changed.
	DefaultCheckInterval = time.Hour
	// checkDBDir is the private database directory for pending upgrades,
	// in StateDir.
	checkDBDir = "pacman-checkdb"
)

// Options configure a Backend: the settings every backend takes,
// pacman's path, the check interval and the kernel release.
type Options struct {
	backends.Settings
	// Pacman is pacman's absolute path (default: looked up in PathEnv).
	Pacman string
	// PacmanConf is pacman-conf's absolute path (default: looked up in
	// PathEnv): New asks it where the database is (see locateDB).
	PacmanConf string
	// CheckInterval is how long a pending-upgrade check stands while the
	// local database, the live sync databases, pacman.conf and the refresh
	// stamp stay unchanged (default DefaultCheckInterval): upgrades
	// published since are noticed on the first Observe after it.
	CheckInterval time.Duration
	// KernelRelease returns the running kernel's release, as uname -r
	// prints it (default: uname(2)).
	KernelRelease func() (string, error)
}

// Backend is the pacman backend for one root. It is safe for concurrent use.
type Backend struct {
	toolkit.Base
	pacman        string
	dbPath        string                 // pacman-conf's DBPath; "" when it could not say
	kernel        func() (string, error) // nil: toolkit.KernelRelease
	checkInterval time.Duration

	// checkMu serializes pending-upgrade checks (one private database).
	checkMu       sync.Mutex
	localCache    toolkit.Cache[backends.Package] // by the local database's mtime and IgnorePkg
	providesCache toolkit.Cache[[]string]         // what each provides, by the same key
	mu            sync.Mutex
	checkCache    struct {
		key   string
		ups   map[string]backends.Upgrade
		sync  map[string]syncPkg
		at    time.Time
		valid bool
	}
}

var _ backends.Backend = (*Backend)(nil)

// New returns the pacman backend for opts.Root.
func New(opts Options) (*Backend, error) {
	b := &Backend{pacman: opts.Pacman, kernel: opts.KernelRelease, checkInterval: opts.CheckInterval}
	base, err := toolkit.NewBase(opts.Settings, "pacman", v1alpha1.FamilyPacman, &rules, toolkit.Program{Path: &b.pacman, Name: "pacman"})
	if err != nil {
		return nil, err
	}
	b.Base = base
	if b.checkInterval <= 0 {
		b.checkInterval = DefaultCheckInterval
	}
	b.dbPath = b.locateDB(opts.PacmanConf)
	return b, nil
}

// locateDB asks pacman-conf (at path, else looked up in PathEnv) once for
// the root's DBPath, as pacman itself reads pacman.conf (Include files, the
// first DBPath wins, the default inside --root). When it cannot say, it
// logs why and returns "": conf then parses pacman.conf itself.
func (b *Backend) locateDB(path string) string {
	argv := []string{"", "--config", b.configPath()}
	if b.Cfg.Root != "/" {
		argv = append(argv, "--rootdir", b.Cfg.Root)
	}
	argv = append(argv, "DBPath")
	err := toolkit.ResolveProgram(&path, "pacman-conf", b.Cfg.PathEnv)
	if err == nil {
		argv[0] = path
		var stdout []byte
		if stdout, err = toolkit.QueryOnce(b.Cfg.Runner, argv, b.Env()); err == nil {
			p := strings.TrimSpace(string(stdout))
			if filepath.IsAbs(p) && !strings.Contains(p, "\n") {
				b.Cfg.Log.V(1).Info("pacman database located", "argv", argv, "path", filepath.Clean(p))
				return filepath.Clean(p)
			}
			err = fmt.Errorf("pacman-conf printed %q, not an absolute DBPath", p)
		}
	}
	b.Cfg.Log.Info("cannot ask pacman-conf where the database is; reading pacman.conf", "argv", argv, "error", err.Error())
	return ""
}

// Capabilities says what pacman can do: no security classification, no
// hold command (see the package comment).
func (b *Backend) Capabilities() backends.Capabilities {
	return backends.Capabilities{Hold: false, Security: false}
}

// WatchPaths are the directories whose changes should wake the agent:
// pacman's database directory (local and sync databases, db.lck), where
// pacman-conf said it is.
func (b *Backend) WatchPaths() []string {
	return []string{b.conf().DBPath, filepath.Join(b.conf().DBPath, "local")}
}

// configPath is pacman.conf of the root.
func (b *Backend) configPath() string { return b.Path("etc/pacman.conf") }

// baseArgv is pacman with the root's options.
func (b *Backend) baseArgv() []string {
	if b.Cfg.Root == "/" {
		return []string{b.pacman, "--noconfirm"}
	}
	return []string{b.pacman, "--root", b.Cfg.Root, "--config", b.configPath(), "--noconfirm"}
}

// validName re-validates a package name before it reaches argv.
var validName = toolkit.NameRule(v1alpha1.FamilyPacman)
