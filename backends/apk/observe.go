package apk

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// Observe implements backends.Backend. It reads the installed database,
// world and the refresh stamp directly; pending upgrades (apk list -u)
// and available versions (apk policy) are cached until the installed
// database, world, the repositories file, the index cache or the refresh
// stamp change, so an Observe with nothing changed runs no process. apk
// has no interrupted state to report.
func (b *Backend) Observe(ctx context.Context, names []string) (*backends.Observation, error) {
	installed, err := b.installed()
	if err != nil {
		return nil, err
	}
	obs := &backends.Observation{Installed: installed.pkgs, Provides: installed.provides}
	fp, err := b.fingerprint()
	if err != nil {
		return nil, err
	}
	if obs.Upgrades, err = b.upgrades(ctx, fp, installed.pkgs); err != nil {
		return nil, err
	}
	if obs.Available, err = b.available(ctx, fp, names); err != nil {
		return nil, err
	}
	obs.RebootRequired, obs.RebootPackages = toolkit.KernelReboot(b.kernel, b.Cfg.Log, installed.pkgs, KernelRebootRequired)
	if obs.IndexRefreshed, err = b.IndexRefreshed(nil); err != nil {
		return nil, err
	}
	return obs, nil
}

// installedDB is the parsed installed database: the packages (Held from
// world) and Observation.Provides, and the version constraint world puts
// on each name (pinned: NAME~VERSION or NAME=VERSION).
type installedDB struct {
	pkgs        map[string]backends.Package
	provides    map[string][]string
	constrained map[string]bool
}

// installedPackages is installed's packages, for toolkit helpers.
func (b *Backend) installedPackages() (map[string]backends.Package, error) {
	db, err := b.installed()
	return db.pkgs, err
}

// installed parses the installed database and world, cached by their
// mtimes and sizes.
func (b *Backend) installed() (installedDB, error) {
	key, err := new(toolkit.Fingerprint).Files(b.dbPath("installed"), b.Path(worldPath)).Sum()
	if err != nil {
		return installedDB{}, err
	}
	db, ok1 := b.dbCache.Get(key)
	provides, ok2 := b.provCache.Get(key)
	pinned, ok3 := b.pinCache.Get(key)
	if ok1 && ok2 && ok3 {
		return installedDB{pkgs: db, provides: provides, constrained: pinned}, nil
	}
	data, err := toolkit.ReadOptional(b.dbPath("installed"))
	if err != nil {
		return installedDB{}, fmt.Errorf("read apk installed database: %w", err)
	}
	db, provided := ParseInstalledProvides(data)
	world, err := toolkit.ReadOptional(b.Path(worldPath))
	if err != nil {
		return installedDB{}, fmt.Errorf("read apk world: %w", err)
	}
	for name, ver := range ParseWorld(world) {
		if p, ok := db[name]; ok && p.Version == ver {
			p.Held = true
			db[name] = p
		}
	}
	return installedDB{
		pkgs:        b.dbCache.Put(key, db),
		provides:    b.provCache.Put(key, toolkit.VirtualProvides(db, provided)),
		constrained: b.pinCache.Put(key, WorldConstrained(world)),
	}, nil
}

// fingerprint identifies what apk's answers depend on: the installed
// database, world, the repositories file, the index cache and the refresh
// stamp.
func (b *Backend) fingerprint() (string, error) {
	// apk update writes APKINDEX.*.tar.gz into the cache (etc/apk/cache
	// when configured, else var/cache/apk).
	return new(toolkit.Fingerprint).
		Files(b.dbPath("installed"), b.Path(worldPath), b.Path(repositoriesPath), b.Stamp().Path()).
		Entries(apkIndex, b.Path(cacheDir), b.Path(cacheLink)).
		Sum()
}

// apkIndex keeps the index files of apk's cache.
func apkIndex(e fs.DirEntry) bool { return strings.HasPrefix(e.Name(), "APKINDEX.") }

// upgrades runs apk list -u when fp changed. Held packages are left out.
func (b *Backend) upgrades(ctx context.Context, fp string, installed map[string]backends.Package) (map[string]backends.Upgrade, error) {
	if ups, ok := b.upCache.Get(fp); ok {
		return ups, nil
	}
	argv := slices.Concat(b.baseArgv(), []string{"list", "-u"})
	stdout, _, err := b.Cfg.Runner.Run(ctx, argv, b.Env())
	if err != nil {
		return nil, fmt.Errorf("list pending upgrades: %w", err)
	}
	ups := ParseListUpgradable(stdout)
	for name := range ups {
		if installed[name].Held {
			delete(ups, name)
		}
	}
	return b.upCache.Put(fp, ups), nil
}

// available runs apk policy for names when fp or the names changed, and
// returns each name's versions, newest first.
func (b *Backend) available(ctx context.Context, fp string, names []string) (map[string][]string, error) {
	return toolkit.CachedVersions(&b.availCache, fp, names, validName, b.Cfg.Log, func(valid []string) (map[string][]string, error) {
		return b.policy(ctx, valid)
	})
}

// policy asks apk policy for the versions of valid.
func (b *Backend) policy(ctx context.Context, valid []string) (map[string][]string, error) {
	argv := slices.Concat(b.baseArgv(), []string{"policy"}, valid)
	stdout, _, err := b.Cfg.Runner.Run(ctx, argv, b.Env())
	if err != nil {
		return nil, fmt.Errorf("list available versions: %w", err)
	}
	avail := ParsePolicy(stdout)
	for _, vs := range avail {
		slices.SortFunc(vs, func(x, y string) int { return VersionCompare(y, x) })
	}
	return avail, nil
}
