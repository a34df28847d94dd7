package pacman

import (
	"context"
	"path/filepath"
	"slices"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// Observe implements backends.Backend. It reads the local database (with
// what its packages provide),
// pacman.conf and the refresh stamp directly; pending upgrades and the
// sync databases' versions come from the cached check (see checkUpdates),
// cached package files from the cache dirs. pacman has no interrupted
// state to report: a transaction it could not finish leaves db.lck, which
// LockHolder reports.
func (b *Backend) Observe(ctx context.Context, names []string) (*backends.Observation, error) {
	conf := b.conf()
	installed, provides, err := b.readLocal(filepath.Join(conf.DBPath, "local"), conf)
	if err != nil {
		return nil, err
	}
	obs := &backends.Observation{Installed: installed, Provides: toolkit.VirtualProvides(installed, provides)}
	ups, sync, err := b.checkUpdates(ctx, conf)
	if err != nil {
		return nil, err
	}
	obs.Upgrades = ups
	obs.RebootRequired, obs.RebootPackages = toolkit.KernelReboot(b.kernel, b.Cfg.Log, installed, KernelRebootRequired)
	obs.IndexRefreshed, err = b.IndexRefreshed(nil) // patchlet's own stamp only
	if err != nil {
		return nil, err
	}
	obs.Available, err = b.available(conf, sync, names)
	if err != nil {
		return nil, err
	}
	return obs, nil
}

// available lists, newest first, the versions of names pacman can install:
// each one's version in the sync databases and those whose package file
// is in the cache.
func (b *Backend) available(conf Conf, sync map[string]syncPkg, names []string) (map[string][]string, error) {
	avail := map[string][]string{}
	var files []string
	for _, n := range toolkit.Wanted(names, validName, b.Cfg.Log) {
		if files == nil {
			var err error
			if files, err = cacheFiles(conf); err != nil {
				return nil, err
			}
		}
		var vs []string
		if p, ok := sync[n]; ok {
			vs = append(vs, p.Version)
		}
		for v := range cachedVersions(files, n) {
			if !slices.Contains(vs, v) {
				vs = append(vs, v)
			}
		}
		slices.SortFunc(vs, func(x, y string) int { return Vercmp(y, x) })
		if len(vs) > 0 {
			avail[n] = vs
		}
	}
	return avail, nil
}
