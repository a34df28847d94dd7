package dnf

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
	"github.com/patchlet/patchlet/backends/rpm"
)

// Observe implements backends.Backend: installed packages from rpm -qa
// (cached until the rpm database changes), pending upgrades and their
// security class from the metadata cache (cached until the database, the
// cache or the repositories change; never the network), available versions
// of names, reboot-required from install times after boot, and the index
// age from patchlet's own refresh record.
func (b *Backend) Observe(ctx context.Context, names []string) (*backends.Observation, error) {
	obs, err := b.DB.Observe(ctx, b.versionlockList(), ParseVersionlock, b.Cfg.Log)
	if err != nil {
		return nil, err
	}
	obs.IndexRefreshed, err = b.indexRefreshed()
	if err != nil {
		return nil, err
	}
	fp, err := b.fingerprint()
	if err != nil {
		return nil, err
	}
	obs.Upgrades, err = b.upgrades(ctx, fp, obs.Installed)
	if err != nil {
		return nil, err
	}
	obs.Available, err = rpm.CachedAvailable(ctx, &b.Available, fp, names, b.Cfg.Log, b.listAvailable)
	if err != nil {
		return nil, err
	}
	return obs, nil
}

// versionlockList is where the versionlock plugin keeps its locks.
func (b *Backend) versionlockList() string {
	if b.mode == ModeYum {
		return b.Path("etc/yum/pluginconf.d/versionlock.list")
	}
	return b.Path("etc/dnf/plugins/versionlock.list")
}

// indexRefreshed is patchlet's own record of the last refresh, else the
// newest repomd.xml in the metadata cache, else zero; never after now.
func (b *Backend) indexRefreshed() (time.Time, error) {
	return b.IndexRefreshed(func() time.Time {
		var files []string
		for _, pat := range []string{"*/repodata/repomd.xml", "*/*/*/repomd.xml"} {
			m, _ := filepath.Glob(filepath.Join(b.Cfg.Root, b.cacheDir(), pat))
			files = append(files, m...)
		}
		return toolkit.NewestModTime(files...)
	})
}

// fingerprint stamps what the package manager's answers depend on: the
// rpm database, the metadata cache, the repository files, the locks.
func (b *Backend) fingerprint() (string, error) {
	dbfp, err := b.DB.Fingerprint()
	if err != nil {
		return "", err
	}
	paths := []string{b.Path(b.cacheDir()), b.Path("etc/yum.repos.d"), b.versionlockList()}
	for _, pat := range []string{"*/repodata", "*/*/*"} {
		m, _ := filepath.Glob(filepath.Join(b.Cfg.Root, b.cacheDir(), pat))
		paths = append(paths, m...)
	}
	fp, err := new(toolkit.Fingerprint).Contents(toolkit.NotLocks, paths...).Sum()
	if err != nil {
		return "", err
	}
	return dbfp + fp, nil
}

// queryArgs start a read-only query on the cached metadata.
func (b *Backend) queryArgs(args ...string) []string {
	base := slices.Clone(b.baseArgs())
	base = append(base, "-q", "-C")
	return append(base, args...)
}

// upgrades lists pending upgrades (newest candidate per name) with their
// security class, from the cache when fp is unchanged.
func (b *Backend) upgrades(ctx context.Context, fp string, installed map[string]backends.Package) (map[string]backends.Upgrade, error) {
	if ups, ok := b.Upgrades.Get(fp); ok {
		return ups, nil
	}

	var cands []Candidate
	if b.mode == ModeYum {
		argv := b.queryArgs("check-update")
		stdout, stderr, err := b.Cfg.Runner.Run(ctx, argv, b.Env())
		if err != nil && toolkit.ExitCode(err) != ExitUpdatesAvailable {
			if !noCache(stdout, stderr) {
				return nil, fmt.Errorf("list pending upgrades: %w", err)
			}
			b.Cfg.Log.V(1).Info("no metadata cache yet; no upgrades known")
		}
		cands = ParseCheckUpdate(stdout)
	} else {
		argv := b.queryArgs("repoquery", "--upgrades", "--latest-limit=1", "--qf", repoqueryFormat)
		stdout, stderr, err := b.Cfg.Runner.Run(ctx, argv, b.Env())
		if err != nil {
			if !noCache(stdout, stderr) {
				return nil, fmt.Errorf("list pending upgrades: %w", err)
			}
			// Cached like any answer: a refresh changes the fingerprint.
			b.Cfg.Log.V(1).Info("no metadata cache yet; no upgrades known")
			stdout = nil
		}
		cands = ParseRepoquery(stdout)
	}
	ups := map[string]backends.Upgrade{}
	for _, c := range cands {
		if cur, ok := ups[c.Name]; ok && rpm.CompareEVR(cur.To, c.EVR) >= 0 {
			continue
		}
		ups[c.Name] = backends.Upgrade{Name: c.Name, From: installed[c.Name].Version, To: c.EVR, Source: c.Repo}
	}
	if len(ups) > 0 {
		if err := b.markSecurity(ctx, ups); err != nil {
			return nil, err
		}
	}
	return b.Upgrades.Put(fp, ups), nil
}

// markSecurity marks the upgrades that a security advisory applies to:
// the advisory fixes the package at a version no newer than the candidate.
func (b *Backend) markSecurity(ctx context.Context, ups map[string]backends.Upgrade) error {
	args := []string{"updateinfo", "list", "--security"}
	if b.mode == ModeYum {
		args = []string{"updateinfo", "list", "security"}
	}
	stdout, stderr, err := b.Cfg.Runner.Run(ctx, b.queryArgs(args...), b.Env())
	if err != nil {
		if noCache(stdout, stderr) {
			return nil
		}
		return fmt.Errorf("list security advisories: %w", err)
	}
	for _, a := range ParseUpdateinfo(stdout) {
		if a.IsSecurity() {
			rpm.MarkSecurity(ups, a.Name, a.EVR)
		}
	}
	return nil
}

// listAvailable asks the package manager for the versions of valid.
func (b *Backend) listAvailable(ctx context.Context, valid []string) (map[string][]string, error) {
	var cands []Candidate
	if b.mode == ModeYum {
		stdout, stderr, err := b.Cfg.Runner.Run(ctx, b.queryArgs(slices.Concat([]string{"list", "available", "--showduplicates"}, valid)...), b.Env())
		// yum list exits 1 when none of the names is available.
		if err != nil && toolkit.ExitCode(err) != 1 && !noCache(stdout, stderr) {
			return nil, fmt.Errorf("list available versions: %w", err)
		}
		cands = ParseCheckUpdate(stdout)
	} else {
		stdout, stderr, err := b.Cfg.Runner.Run(ctx, b.queryArgs(slices.Concat([]string{"repoquery", "--qf", repoqueryFormat, "--"}, valid)...), b.Env())
		if err != nil && !noCache(stdout, stderr) {
			return nil, fmt.Errorf("list available versions: %w", err)
		}
		cands = ParseRepoquery(stdout)
	}
	avail := map[string][]string{}
	for _, c := range cands {
		if c.Repo == "@System" || c.Repo == "installed" || !slices.Contains(valid, c.Name) {
			continue
		}
		avail[c.Name] = append(avail[c.Name], c.EVR)
	}
	return avail, nil
}

// LockHolder reports the process holding the package manager's lock:
// dnf's pid-file locks (rpmdb, metadata, download), yum's yum.pid, then
// rpm's transaction lock. It runs no process.
func (b *Backend) LockHolder() (pid int, command string, held bool, err error) {
	pidFiles := []string{"var/lib/dnf/rpmdb_lock.pid", "var/cache/dnf/metadata_lock.pid", "var/cache/dnf/download_lock.pid", "var/log/log_lock.pid"}
	if b.mode == ModeYum {
		pidFiles = []string{"var/run/yum.pid", "run/yum.pid"}
	}
	if pid, cmd, held, err := toolkit.PIDFileHolder(toolkit.InRoot(b.Cfg.Root, pidFiles...)...); err != nil || held {
		return pid, cmd, held, err
	}
	return b.DB.LockHolder()
}

// LockFiles is empty: every change of the watched directories counts, lock
// files included (a run that takes a lock also changes the database).
func (b *Backend) LockFiles() []string { return nil }
