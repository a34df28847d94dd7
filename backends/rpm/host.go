package rpm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// DBDirs are where RPM systems usually keep the package database,
// relative to the root: Fedora 36+ and openSUSE use /usr/lib/sysimage/rpm
// (with /var/lib/rpm a link to it), older systems /var/lib/rpm. They are
// only the guess when rpm cannot say (see DB.Locate).
var DBDirs = []string{"usr/lib/sysimage/rpm", "var/lib/rpm"}

// DBPaths are DBDirs inside root.
func DBPaths(root string) []string {
	return toolkit.InRoot(root, DBDirs...)
}

// ParseDBPath reads the output of `rpm --eval %{_dbpath}`: its last
// non-empty line, which must be an absolute path with every macro
// expanded.
func ParseDBPath(out []byte) (string, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if lines[0] == "" {
		return "", errors.New("rpm printed no database path")
	}
	p := strings.TrimSpace(lines[len(lines)-1])
	if !filepath.IsAbs(p) || strings.Contains(p, "%") {
		return "", fmt.Errorf("rpm printed %q, not an absolute database path", p)
	}
	return filepath.Clean(p), nil
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

	dirs []string // the database directories on the host (see Locate)

	mu       sync.Mutex
	stamp    string
	pkgs     []Installed
	provides map[string][]string // provider → provided names (ParseProvides)

	locks toolkit.FcntlLocks // the transaction locks, kept open
}

// Locate asks rpm where the database of Root is, once (an RPM backend's
// New calls it): `rpm [--root R] --eval %{_dbpath}` with the backend's own
// environment, so the macros rpm, dnf and zypper read (/usr/lib/rpm/macros*,
// /etc/rpm/macros* of the host, HOME/.rpmmacros; with --root they still
// read the host's, not the root's) decide it, joined to Root. When rpm
// cannot say, it logs why and falls back to DBDirs.
func (d *DB) Locate(log logr.Logger) {
	argv := slices.Concat(d.rootArgv(), []string{"--eval", "%{_dbpath}"})
	stdout, err := toolkit.QueryOnce(d.Runner, argv, d.Env)
	if err == nil {
		var p string
		if p, err = ParseDBPath(stdout); err == nil {
			d.dirs = []string{toolkit.ResolveInRoot(d.Root, p)}
			log.V(1).Info("rpm database located", "argv", argv, "path", d.dirs[0])
			return
		}
	}
	d.dirs = DBPaths(d.Root)
	log.Info("cannot ask rpm where its database is; watching the usual places", "error", err.Error(), "paths", d.dirs)
}

// Dirs are the database directories on the host: where rpm said (see
// Locate), else DBPaths.
func (d *DB) Dirs() []string {
	if d.dirs == nil {
		return DBPaths(d.Root)
	}
	return slices.Clone(d.dirs)
}

// LockHolder reports the process holding rpm's transaction lock
// (.rpm.lock, an fcntl lock in the database directory). It runs no process.
func (d *DB) LockHolder() (pid int, command string, held bool, err error) {
	locks := d.Dirs()
	for i, p := range locks {
		locks[i] = filepath.Join(p, ".rpm.lock")
	}
	return d.locks.Holder(locks...)
}

// rootArgv is rpm with the root option.
func (d *DB) rootArgv() []string {
	if d.Root != "/" && d.Root != "" {
		return []string{d.Rpm, "--root", d.Root}
	}
	return []string{d.Rpm}
}

// Argv is the rpm command line of the query.
func (d *DB) Argv() []string {
	return slices.Concat(d.rootArgv(), []string{"-qa", "--queryformat", QueryFormat})
}

// Fingerprint stamps the database directories (Dirs).
func (d *DB) Fingerprint() (string, error) {
	return new(toolkit.Fingerprint).Contents(toolkit.NotLocks, d.Dirs()...).Sum()
}

// Observe starts an RPM backend's observation: the installed packages and
// the virtual names they provide (see ParseProvides),
// those that parse finds in the file locks (the package manager's list of
// held packages; an unreadable one holds none) marked Held, and whether
// a reboot is required from install times after boot (RebootCheck; a
// boot time that cannot be read is logged and answers no).
func (d *DB) Observe(ctx context.Context, locks string, parse func([]byte) []string, log logr.Logger) (*backends.Observation, error) {
	pkgs, provides, err := d.query(ctx)
	if err != nil {
		return nil, err
	}
	obs := &backends.Observation{Installed: Packages(pkgs)}
	obs.Provides = toolkit.VirtualProvides(obs.Installed, provides)
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
	pkgs, _, err := d.query(ctx)
	return pkgs, err
}

// query returns the installed packages and what each provides (shared:
// do not modify), running rpm only when the database's fingerprint changed.
func (d *DB) query(ctx context.Context) ([]Installed, map[string][]string, error) {
	fp, err := d.Fingerprint()
	if err != nil {
		return nil, nil, err
	}
	d.mu.Lock()
	if d.pkgs != nil && d.stamp == fp {
		pkgs, provides := d.pkgs, d.provides
		d.mu.Unlock()
		return pkgs, provides, nil
	}
	d.mu.Unlock()
	stdout, _, err := d.Runner.Run(ctx, d.Argv(), d.Env)
	if err != nil {
		return nil, nil, fmt.Errorf("list installed packages: %w", err)
	}
	pkgs, provides := ParseQuery(stdout), ParseProvides(stdout)
	if pkgs == nil {
		pkgs = []Installed{}
	}
	d.mu.Lock()
	d.stamp, d.pkgs, d.provides = fp, pkgs, provides
	d.mu.Unlock()
	return pkgs, provides, nil
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
