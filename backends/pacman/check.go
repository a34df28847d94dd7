package pacman

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// syncPkg is one package of the sync databases.
type syncPkg struct {
	Repo    string
	Version string
}

// ParseQueryUpgrades parses pacman -Qu output, one pending upgrade a line:
//
//	foo 1.0-1 -> 1.1-1
//	bar 2.0-1 -> 2.1-1 [ignored]
//
// Ignored packages (IgnorePkg: held) are left out, as a held package is
// not upgraded.
func ParseQueryUpgrades(out []byte) map[string]backends.Upgrade {
	ups := map[string]backends.Upgrade{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[2] != "->" {
			continue
		}
		if slices.Contains(f[4:], "[ignored]") {
			continue
		}
		ups[f[0]] = backends.Upgrade{Name: f[0], From: f[1], To: f[3]}
	}
	return ups
}

// ParseSyncList parses pacman -Sl output, one package a line:
//
//	core linux 6.9.7.arch1-1 [installed: 6.9.6.arch1-1]
//	extra vim 9.1.0-1 [installed]
//
// A package in several repositories keeps the first (pacman's order).
func ParseSyncList(out []byte) map[string]syncPkg {
	m := map[string]syncPkg{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		if _, ok := m[f[1]]; !ok {
			m[f[1]] = syncPkg{Repo: f[0], Version: f[2]}
		}
	}
	return m
}

// fingerprint identifies what the pending-upgrade check depends on:
// pacman.conf, the local database directory, the live sync databases and
// patchlet's refresh stamp. Any change of mtime or size changes it.
func (b *Backend) fingerprint(conf Conf) (string, error) {
	local, sync := filepath.Join(conf.DBPath, "local"), filepath.Join(conf.DBPath, "sync")
	return new(toolkit.Fingerprint).Files(b.configPath(), local, sync, b.Stamp().Path()).Entries(nil, sync).Sum()
}

// checkUpdates returns the pending upgrades and the sync databases'
// packages, from the cache when nothing they depend on changed and the
// check is younger than CheckInterval.
// Otherwise it syncs the private database directory (its local database
// a symlink to the root's) with -Syy and asks it -Qu and -Sl. When that
// sync fails (offline), the live sync databases answer instead.
func (b *Backend) checkUpdates(ctx context.Context, conf Conf) (map[string]backends.Upgrade, map[string]syncPkg, error) {
	fp, err := b.fingerprint(conf)
	if err != nil {
		return nil, nil, err
	}
	if ups, sync, ok := b.cachedCheck(fp); ok {
		return ups, sync, nil
	}
	b.checkMu.Lock()
	defer b.checkMu.Unlock()
	if ups, sync, ok := b.cachedCheck(fp); ok { // checked while we waited
		return ups, sync, nil
	}

	dbArgs, err := b.privateDB(conf)
	if err != nil {
		return nil, nil, err
	}
	syncArgv := slices.Concat(b.baseArgv(), dbArgs, []string{"-Syy"})
	b.Cfg.Log.V(1).Info("syncing private database", "argv", syncArgv)
	if _, _, err := b.Cfg.Runner.Run(ctx, syncArgv, b.Env()); err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		b.Cfg.Log.Error(err, "cannot sync the private database; checking against the live sync databases")
		dbArgs = nil
	}
	quArgv := slices.Concat(b.baseArgv(), dbArgs, []string{"-Qu"})
	stdout, _, err := b.Cfg.Runner.Run(ctx, quArgv, b.Env())
	switch {
	case err == nil:
	case toolkit.ExitCode(err) == 1 && len(bytes.TrimSpace(stdout)) == 0:
		// pacman -Qu exits 1 when nothing is pending.
	default:
		return nil, nil, fmt.Errorf("list pending upgrades: %w", err)
	}
	ups := ParseQueryUpgrades(stdout)
	slArgv := slices.Concat(b.baseArgv(), dbArgs, []string{"-Sl"})
	slOut, _, err := b.Cfg.Runner.Run(ctx, slArgv, b.Env())
	if err != nil {
		return nil, nil, fmt.Errorf("list sync databases: %w", err)
	}
	sync := ParseSyncList(slOut)
	for name, u := range ups {
		u.Source = sync[name].Repo
		ups[name] = u
	}
	b.mu.Lock()
	b.checkCache.key, b.checkCache.ups, b.checkCache.sync, b.checkCache.valid = fp, ups, sync, true
	b.checkCache.at = b.Cfg.Clock()
	b.mu.Unlock()
	return maps.Clone(ups), sync, nil
}

// cachedCheck returns the cached check when it stands for fp and is
// younger than CheckInterval.
func (b *Backend) cachedCheck(fp string) (map[string]backends.Upgrade, map[string]syncPkg, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &b.checkCache
	if !c.valid || c.key != fp {
		return nil, nil, false
	}
	if age := b.Cfg.Clock().Sub(c.at); age < 0 || age >= b.checkInterval {
		return nil, nil, false
	}
	return maps.Clone(c.ups), c.sync, true
}

// privateDB prepares StateDir/pacman-checkdb: a local symlink to the
// root's local database and no stale lock of an earlier check (only this
// backend uses the directory, under b.checkMu). It returns the options
// that point pacman at it.
func (b *Backend) privateDB(conf Conf) ([]string, error) {
	dir := filepath.Join(b.Cfg.StateDir, checkDBDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create private pacman database: %w", err)
	}
	local := filepath.Join(dir, "local")
	target := filepath.Join(conf.DBPath, "local")
	if cur, err := os.Readlink(local); err != nil || cur != target {
		_ = os.RemoveAll(local)
		if err := os.Symlink(target, local); err != nil {
			return nil, fmt.Errorf("link private pacman database: %w", err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "db.lck")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("remove stale private lock: %w", err)
	}
	return []string{"--dbpath", dir, "--logfile", "/dev/null"}, nil
}

// cachedVersions lists the versions of name whose package files are in
// the cache dirs, with each file's path. A file is
// NAME-PKGVER-PKGREL-ARCH.pkg.tar[.EXT]; signatures are skipped.
func cachedVersions(entries []string, name string) map[string]string {
	out := map[string]string{}
	for _, f := range entries {
		base := filepath.Base(f)
		rest, ok := strings.CutPrefix(base, name+"-")
		if !ok || strings.HasSuffix(base, ".sig") || strings.HasSuffix(base, ".part") {
			continue
		}
		i := strings.Index(rest, ".pkg.tar")
		if i < 0 {
			continue
		}
		rest = rest[:i]
		j := strings.LastIndexByte(rest, '-')
		if j < 0 {
			continue
		}
		version := rest[:j]
		// pkgver and pkgrel hold no '-': exactly one separates them, so
		// "foo-bar-1.0-1-any" is not a version of foo.
		if strings.Count(version, "-") != 1 {
			continue
		}
		if _, seen := out[version]; !seen {
			out[version] = f
		}
	}
	return out
}

// cacheFiles lists the files of the cache dirs (absolute paths).
func cacheFiles(conf Conf) ([]string, error) {
	var files []string
	for _, d := range conf.CacheDirs {
		entries, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read pacman cache dir: %w", err)
		}
		for _, e := range entries {
			if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
				files = append(files, filepath.Join(d, e.Name()))
			}
		}
	}
	return files, nil
}
