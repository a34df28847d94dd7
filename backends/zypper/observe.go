package zypper

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
	"github.com/patchlet/patchlet/backends/rpm"
)

// rebootNeededPath is the flag libzypp creates when a package providing
// installhint(reboot-needed) was installed.
const rebootNeededPath = "run/reboot-needed"

// Observe implements backends.Backend (see the package doc).
func (b *Backend) Observe(ctx context.Context, names []string) (*backends.Observation, error) {
	obs, err := b.DB.Observe(ctx, b.Path("etc/zypp/locks"), ParseLocks, b.Cfg.Log)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(b.Path(rebootNeededPath)); err == nil {
		obs.RebootRequired = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("check reboot-needed: %w", err)
	}
	obs.IndexRefreshed, err = b.indexRefreshed()
	if err != nil {
		return nil, err
	}
	fp, err := b.fingerprint()
	if err != nil {
		return nil, err
	}
	if obs.Upgrades, err = b.upgrades(ctx, fp); err != nil {
		return nil, err
	}
	if obs.Available, err = rpm.CachedAvailable(ctx, &b.Available, fp, names, b.Cfg.Log, b.search); err != nil {
		return nil, err
	}
	return obs, nil
}

// indexRefreshed is patchlet's own record of the last refresh, else the
// newest repomd.xml in zypper's raw metadata cache, else zero; never
// after now.
func (b *Backend) indexRefreshed() (time.Time, error) {
	return b.IndexRefreshed(func() time.Time {
		files, _ := filepath.Glob(b.Path("var/cache/zypp/raw/*/repodata/repomd.xml"))
		return toolkit.NewestModTime(files...)
	})
}

// fingerprint stamps the rpm database, zypper's solv cache, the
// repository definitions and the locks.
func (b *Backend) fingerprint() (string, error) {
	dbfp, err := b.DB.Fingerprint()
	if err != nil {
		return "", err
	}
	paths := []string{b.Path("etc/zypp/repos.d"), b.Path("etc/zypp/locks"), b.Path("var/cache/zypp/solv")}
	m, _ := filepath.Glob(b.Path("var/cache/zypp/solv/*"))
	paths = append(paths, m...)
	fp, err := new(toolkit.Fingerprint).Contents(toolkit.NotLocks, paths...).Sum()
	if err != nil {
		return "", err
	}
	return dbfp + fp, nil
}

// query runs a read-only zypper query on the cached metadata.
func (b *Backend) query(ctx context.Context, args ...string) ([]byte, error) {
	argv := slices.Concat(b.baseArgs(), []string{"--xmlout", "--no-refresh"}, args)
	stdout, _, err := b.Cfg.Runner.Run(ctx, argv, b.Env())
	if err != nil && toolkit.ExitCode(err) != ExitNotFound && toolkit.ExitCode(err) < 100 {
		return stdout, err
	}
	return stdout, nil
}

func (b *Backend) upgrades(ctx context.Context, fp string) (map[string]backends.Upgrade, error) {
	if ups, ok := b.Upgrades.Get(fp); ok {
		return ups, nil
	}
	out, err := b.query(ctx, "list-updates")
	if err != nil {
		return nil, fmt.Errorf("list pending upgrades: %w", err)
	}
	list, err := ParseUpdates(out)
	if err != nil {
		return nil, fmt.Errorf("list pending upgrades: %w", err)
	}
	ups := map[string]backends.Upgrade{}
	for _, u := range list {
		if u.Kind != "package" || u.Name == "" {
			continue
		}
		ups[u.Name] = backends.Upgrade{Name: u.Name, From: u.EditionOld, To: u.Edition, Source: u.Source.Alias}
	}
	if len(ups) > 0 {
		if err := b.markSecurity(ctx, ups); err != nil {
			return nil, err
		}
	}
	return b.Upgrades.Put(fp, ups), nil
}

// markSecurity marks the upgrades that a needed security patch fixes: the
// patch conflicts with the installed version (NAME < EVR) and the
// candidate is at least EVR.
func (b *Backend) markSecurity(ctx context.Context, ups map[string]backends.Upgrade) error {
	out, err := b.query(ctx, "list-patches", "--category", "security")
	if err != nil {
		return fmt.Errorf("list security patches: %w", err)
	}
	patches, err := ParseUpdates(out)
	if err != nil {
		return fmt.Errorf("list security patches: %w", err)
	}
	var ids []string
	for _, p := range patches {
		if p.Kind == "patch" && p.Category == "security" && p.Status != "applied" && p.Name != "" && !strings.HasPrefix(p.Name, "-") {
			ids = append(ids, p.Name)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	out, err = b.query(ctx, slices.Concat([]string{"info", "-t", "patch", "--"}, ids)...)
	if err != nil {
		return fmt.Errorf("read security patches: %w", err)
	}
	for _, c := range ParsePatchConflicts(out) {
		rpm.MarkSecurity(ups, c.Name, c.EVR)
	}
	return nil
}

// search asks zypper for the versions of valid (search -s).
func (b *Backend) search(ctx context.Context, valid []string) (map[string][]string, error) {
	out, err := b.query(ctx, slices.Concat([]string{"search", "-s", "--match-exact", "-t", "package", "--"}, valid)...)
	if err != nil {
		return nil, fmt.Errorf("list available versions: %w", err)
	}
	sols, err := ParseSearch(out)
	if err != nil {
		return nil, fmt.Errorf("list available versions: %w", err)
	}
	avail := map[string][]string{}
	for _, s := range sols {
		if s.Kind != "package" || !slices.Contains(valid, s.Name) || s.Repository == "" ||
			s.Repository == "(System Packages)" || s.Repository == "@System" {
			continue
		}
		avail[s.Name] = append(avail[s.Name], s.Edition)
	}
	return avail, nil
}

// LockHolder reports the process holding zypper's lock (ROOT/run/zypp.pid
// with a live pid), else rpm's transaction lock. It runs no process.
func (b *Backend) LockHolder() (pid int, command string, held bool, err error) {
	if pid, cmd, held, err := toolkit.PIDFileHolder(toolkit.InRoot(b.Cfg.Root, "run/zypp.pid", "var/run/zypp.pid")...); err != nil || held {
		return pid, cmd, held, err
	}
	return b.DB.LockHolder()
}

// LockFiles is empty: every change of the watched directories counts, lock
// files included (a run that takes a lock also changes the database).
func (b *Backend) LockFiles() []string { return nil }
