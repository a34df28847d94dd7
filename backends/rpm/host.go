package rpm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/go-logr/logr"
	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// DBDirs are where RPM systems keep the package database, relative to the
// root: Fedora 36+ and openSUSE use /usr/lib/sysimage/rpm (with
// /var/lib/rpm a link to it), older systems /var/lib/rpm.
var DBDirs = []string{"usr/lib/sysimage/rpm", "var/lib/rpm"}

// DBPaths are DBDirs inside root.
func DBPaths(root string) []string {
	return toolkit.InRoot(root, DBDirs...)
}

// TransactionLocks are rpm's transaction locks (.rpm.lock, an fcntl lock
// in the database directory) inside root.
func TransactionLocks(root string) []string {
	paths := DBPaths(root)
	for i, p := range paths {
		paths[i] = filepath.Join(p, ".rpm.lock")
	}
	return paths
}

// DefaultHome is the HOME of an RPM backend's commands unless its
// options say otherwise: rpm reads its macros (the database path) from
// HOME/.rpmmacros.
const DefaultHome = "/root"

// WithHome is env, an RPM backend's base environment, with HOME=home
// (DefaultHome when home is "") added: the complete environment of its
// commands.
func WithHome(env []string, home string) []string {
	if home == "" {
		home = DefaultHome
	}
	return append(env, "HOME="+home)
}

// Host is what an RPM backend (dnf, zypper) keeps for its root besides
// its settings: the rpm database, the HOME of its commands (see WithHome)
// and the caches of its pending upgrades and available versions. Each
// embeds one; its New sets DB.
type Host struct {
	DB        *DB
	Home      string                          // "" for DefaultHome
	Upgrades  toolkit.Cache[backends.Upgrade] // by fingerprint
	Available toolkit.Cache[[]string]         // by fingerprint and names
}

// DB queries a root's installed packages with `rpm -qa`, re-running rpm
// only when the database files changed. It is safe for concurrent use.
type DB struct {
	// Root is the managed root ("/" or an absolute directory).
	Root string
	// Rpm is the absolute path of rpm.
	Rpm string
	// Env is rpm's complete environment.
	Env    []string
	Runner backends.Runner
	// ProcRoot is where the boot time is read (default /proc).
	ProcRoot string
	// RebootPackages overrides DefaultRebootPackages.
	RebootPackages []string

	mu    sync.Mutex
	stamp string
	pkgs  []Installed

	locks toolkit.FcntlLocks // the transaction locks, kept open
}

// LockHolder reports the process holding rpm's transaction lock (see
// TransactionLocks). It runs no process.
func (d *DB) LockHolder() (pid int, command string, held bool, err error) {
	return d.locks.Holder(TransactionLocks(d.Root)...)
}

// Argv is the rpm command line of the query.
func (d *DB) Argv() []string {
	argv := []string{d.Rpm}
	if d.Root != "/" && d.Root != "" {
		argv = append(argv, "--root", d.Root)
	}
	return append(argv, "-qa", "--queryformat", QueryFormat)
}

// Fingerprint stamps the database directories.
func (d *DB) Fingerprint() (string, error) {
	return new(toolkit.Fingerprint).Contents(toolkit.NotLocks, DBPaths(d.Root)...).Sum()
}

// Observe starts an RPM backend's observation: the installed packages,
// those that parse finds in the file locks (the package manager's list of
// held packages; an unreadable one holds none) marked Held, and whether
// a reboot is required from install times after boot (RebootCheck; a
// boot time that cannot be read is logged and answers no).
func (d *DB) Observe(ctx context.Context, locks string, parse func([]byte) []string, log logr.Logger) (*backends.Observation, error) {
	pkgs, err := d.Installed(ctx)
	if err != nil {
		return nil, err
	}
	obs := &backends.Observation{Installed: Packages(pkgs)}
	if data, err := os.ReadFile(locks); err == nil {
		for _, n := range parse(data) {
			if p, ok := obs.Installed[n]; ok {
				p.Held = true
				obs.Installed[n] = p
			}
		}
	}
	procRoot := d.ProcRoot
	if procRoot == "" {
		procRoot = "/proc"
	}
	obs.RebootRequired, obs.RebootPackages, err = RebootCheck(pkgs, procRoot, d.RebootPackages)
	if err != nil {
		log.Error(err, "cannot tell from install times whether a reboot is required; assuming not")
	}
	return obs, nil
}

// Installed returns the installed packages (a shared slice: do not modify).
func (d *DB) Installed(ctx context.Context) ([]Installed, error) {
	fp, err := d.Fingerprint()
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.pkgs != nil && d.stamp == fp {
		pkgs := d.pkgs
		d.mu.Unlock()
		return pkgs, nil
	}
	d.mu.Unlock()
	stdout, _, err := d.Runner.Run(ctx, d.Argv(), d.Env)
	if err != nil {
		return nil, fmt.Errorf("list installed packages: %w", err)
	}
	pkgs := ParseQuery(stdout)
	if pkgs == nil {
		pkgs = []Installed{}
	}
	d.mu.Lock()
	d.stamp, d.pkgs = fp, pkgs
	d.mu.Unlock()
	return pkgs, nil
}

// ValidName is the RPM family's rule for a package name on a command line.
var ValidName = toolkit.NameRule(v1alpha1.FamilyRPM)

// CachedAvailable is the available versions of names (the valid ones) in
// the repositories, each name's newest first, cached in c until fp or the
// names change (see toolkit.CachedVersions): list asks the package
// manager for the versions of the valid names, in any order.
func CachedAvailable(ctx context.Context, c *toolkit.Cache[[]string], fp string, names []string, log logr.Logger,
	list func(ctx context.Context, valid []string) (map[string][]string, error)) (map[string][]string, error) {
	return toolkit.CachedVersions(c, fp, names, ValidName, log, func(valid []string) (map[string][]string, error) {
		avail, err := list(ctx, valid)
		for n, vs := range avail {
			avail[n] = SortNewestFirst(vs)
		}
		return avail, err
	})
}

// MarkSecurity marks the upgrade of name in ups, if any, as a security
// upgrade when a security fix of name at evr is part of it: the
// upgrade's version is at least evr.
func MarkSecurity(ups map[string]backends.Upgrade, name, evr string) {
	if u, ok := ups[name]; ok && CompareEVR(u.To, evr) >= 0 {
		u.Security = true
		ups[name] = u
	}
}
