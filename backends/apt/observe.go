package apt

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// Paths inside the root.
const (
	statusPath        = "var/lib/dpkg/status" // unless apt-config says otherwise
	listsDir          = "var/lib/apt/lists"
	preferencesDir    = "etc/apt/preferences.d"
	preferencesFile   = "etc/apt/preferences"
	updateSuccessPath = "var/lib/apt/periodic/update-success-stamp"
)

// Reboot-required flag files, in order; /var/run is usually a symlink to
// /run, which path resolution inside the root follows.
var rebootFlagPaths = []string{"run/reboot-required", "var/run/reboot-required"}

// Observe implements backends.Backend. It reads the dpkg status file, the
// reboot-required files and the refresh stamp directly; pending upgrades
// come from a dry run that is cached until the status file, apt's lists
// directory or apt's preferences change, and available versions from
// apt's index files.
func (b *Backend) Observe(ctx context.Context, names []string) (*backends.Observation, error) {
	status, err := os.ReadFile(b.status)
	if err != nil {
		return nil, fmt.Errorf("read dpkg status: %w", err)
	}
	db := ParseStatus(status, b.arch)
	obs := &backends.Observation{Installed: db.Installed, Provides: toolkit.VirtualProvides(db.Installed, db.Provides)}

	pending, err := b.pendingUpdates()
	if err != nil {
		return nil, err
	}
	if len(db.Interrupted) > 0 || pending {
		if b.dpkgBusy() {
			b.Cfg.Log.V(1).Info("dpkg database in flux while dpkg runs", "packages", db.Interrupted)
		} else {
			obs.Interrupted = true
			obs.InterruptedPackages = interruptedRefs(db)
		}
	}

	obs.RebootRequired, obs.RebootPackages, err = b.rebootRequired()
	if err != nil {
		return nil, err
	}
	obs.IndexRefreshed, err = b.indexRefreshed()
	if err != nil {
		return nil, err
	}

	obs.Upgrades, err = b.upgrades(ctx, obs.Interrupted)
	if err != nil {
		return nil, err
	}
	obs.Available, err = b.available(ctx, names)
	if err != nil {
		return nil, err
	}
	return obs, nil
}

// path is the host path of rel inside the root, with symlinks resolved
// inside the root (an absolute link such as /var/run → /run stays in it).
func (b *Backend) path(rel string) string {
	if b.Cfg.Root == "/" {
		return "/" + rel
	}
	return toolkit.ResolveInRoot(b.Cfg.Root, rel)
}

// pendingUpdates reports whether dpkg's journal (updates/) holds entries
// that dpkg has not yet merged into the status file: apt refuses to run
// then ("dpkg was interrupted"). dpkg names them with digits only.
func (b *Backend) pendingUpdates() (bool, error) {
	entries, err := os.ReadDir(filepath.Join(b.admindir(), "updates"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read dpkg updates dir: %w", err)
	}
	for _, e := range entries {
		if n := e.Name(); n != "" && strings.Trim(n, "0123456789") == "" {
			return true, nil
		}
	}
	return false, nil
}

// dpkgBusy reports whether some process holds dpkg's database lock, that
// is, dpkg is running and the states it leaves are not (yet) an
// interruption. Any doubt counts as not busy.
func (b *Backend) dpkgBusy() bool {
	_, held, err := b.locks.Owner(filepath.Join(b.admindir(), "lock"))
	return err == nil && held
}

// interruptedRefs names the packages dpkg left in an interrupted state at
// the version the status file records for them (for a package interrupted
// while being upgraded, the version being replaced).
func interruptedRefs(db StatusDB) []backends.PackageRef {
	refs := make([]backends.PackageRef, 0, len(db.Interrupted))
	for _, key := range db.Interrupted {
		p, ok := db.Installed[key]
		if !ok {
			continue
		}
		// key is name:arch for a foreign architecture, as apt wants it.
		refs = append(refs, backends.PackageRef{Name: key, Version: p.Version})
	}
	return refs
}

// rebootRequired reads /run/reboot-required(.pkgs) (and /var/run/…). A
// missing .pkgs file is no error; names are deduplicated in order.
func (b *Backend) rebootRequired() (bool, []string, error) {
	for _, flag := range rebootFlagPaths {
		_, err := os.Stat(b.path(flag))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, nil, fmt.Errorf("check reboot-required: %w", err)
		}
		data, err := toolkit.ReadOptional(b.path(flag + ".pkgs"))
		if err != nil {
			return true, nil, fmt.Errorf("read reboot-required.pkgs: %w", err)
		}
		var pkgs []string
		for _, line := range strings.Split(string(data), "\n") {
			if line = strings.TrimSpace(line); line != "" && !slices.Contains(pkgs, line) {
				pkgs = append(pkgs, line)
			}
		}
		return true, pkgs, nil
	}
	return false, nil, nil
}

// indexRefreshed is the time of the last successful refresh: patchlet's own
// stamp, else the mtime of update-success-stamp (Ubuntu's hook), else zero.
// A time after now (clock stepped back) is reported as now.
func (b *Backend) indexRefreshed() (time.Time, error) {
	return b.IndexRefreshed(func() time.Time { return toolkit.NewestModTime(b.path(updateSuccessPath)) })
}

// fingerprint identifies the state the dry run depends on: the status
// file, apt's lists directory and its files, apt's preferences. Any change
// of mtime or size changes it.
func (b *Backend) fingerprint() (string, error) {
	return new(toolkit.Fingerprint).
		Files(b.status, b.path(preferencesFile), b.path(listsDir), b.path(preferencesDir)).
		Entries(notLockOrDir, b.path(listsDir), b.path(preferencesDir)).
		Sum()
}

// notLockOrDir keeps the files of apt's lists and preferences directories
// (links followed: apt links the indexes of file: repositories) but the
// lists' lock.
func notLockOrDir(e fs.DirEntry) bool { return e.Name() != "lock" && !e.IsDir() }

// dryRunArgv simulates a dist-upgrade without taking apt's locks.
// dist-upgrade rather than upgrade: it lists the upgrades that need a new
// package (a new kernel ABI package behind linux-image-amd64, which is how
// kernel security fixes arrive) instead of keeping them back, and the
// upgrade step (apt-get install --only-upgrade NAMES) installs such new
// dependencies too, so this is the plan that step runs.
func (b *Backend) dryRunArgv() []string {
	return []string{b.paths.AptGet, "-s", "-q", "-o", "Debug::NoLocking=1", "dist-upgrade"}
}

// upgrades returns the pending upgrades, from the cache when nothing they
// depend on changed. An interrupted dpkg database makes apt refuse the dry
// run; then no upgrades are reported (recovery comes first).
func (b *Backend) upgrades(ctx context.Context, interrupted bool) (map[string]backends.Upgrade, error) {
	fp, err := b.fingerprint()
	if err != nil {
		return nil, err
	}
	if ups, ok := b.upCache.Get(fp); ok {
		return ups, nil
	}

	argv := b.dryRunArgv()
	b.Cfg.Log.V(1).Info("simulating upgrade", "argv", argv)
	stdout, _, err := b.Cfg.Runner.Run(ctx, argv, b.Env())
	if err != nil {
		if interrupted {
			b.Cfg.Log.V(1).Info("dry run refused while dpkg is interrupted", "error", err.Error())
			return map[string]backends.Upgrade{}, nil
		}
		return nil, fmt.Errorf("simulate upgrade: %w", err)
	}
	return b.upCache.Put(fp, ParseDryRun(stdout)), nil
}

// available returns the versions of names in apt's indexes, newest first.
// It reads the lists directory's Packages files itself; only indexes in a
// compression it cannot read make it ask apt-cache madison. Results are
// cached until the lists change or other names are asked for.
func (b *Backend) available(ctx context.Context, names []string) (map[string][]string, error) {
	sorted := toolkit.Wanted(names, validName, b.Cfg.Log)
	if len(sorted) == 0 {
		return map[string][]string{}, nil
	}
	files, unreadable, err := indexFiles(b.path(listsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string][]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	key := ""
	if !unreadable { // without stamps of the files we cannot read, never cache
		fp, err := new(toolkit.Fingerprint).Files(files...).Sum()
		if err != nil {
			return nil, err
		}
		key = strings.Join(sorted, ",") + "\n" + fp
	}
	if avail, ok := b.availCache.Get(key); ok {
		return avail, nil
	}

	wanted := make(map[string]bool, len(sorted))
	for _, n := range sorted {
		wanted[n] = true
	}
	avail := map[string][]string{}
	archs := []string{b.arch}
	for _, f := range files {
		if err := scanIndexFile(f, wanted, archs, avail); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // replaced by a refresh while we read
			}
			return nil, err
		}
	}
	if unreadable {
		argv := slices.Concat([]string{b.paths.AptCache, "madison"}, sorted)
		stdout, _, err := b.Cfg.Runner.Run(ctx, argv, b.Env())
		if err != nil {
			return nil, fmt.Errorf("list available versions: %w", err)
		}
		ParseMadison(stdout, avail)
	}
	for _, vs := range avail {
		sortNewestFirst(vs)
	}
	return b.availCache.Put(key, avail), nil
}
