package pacman

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// ErrHoldUnsupported is why HoldStep is refused.
var ErrHoldUnsupported = errors.New("pacman has no hold command; patchlet does not edit IgnorePkg in pacman.conf")

// ErrRecoverUnsupported is why RecoverStep is refused: pacman leaves no
// half-installed state to finish (a dead pacman leaves db.lck, which only
// a person can judge stale).
var ErrRecoverUnsupported = errors.New("pacman has no recovery command")

// RefreshStep returns the step that refreshes the sync databases. -yy
// forces the download: a repository changed in the same second as the
// last sync is missed by -y.
func (b *Backend) RefreshStep() backends.Step {
	return b.NewStep(v1alpha1.StepRefresh, slices.Concat(b.baseArgv(), []string{"-Syy"}), b.Env(), nil)
}

// InstallStep returns the step that installs pkgs, pinned ones at their
// exact version. When every package is pinned and its file is in the
// package cache, it installs those files (pacman -U --needed FILE…).
// Otherwise it installs from the repositories after refreshing the sync
// databases (pacman -S -yy --needed NAME=VERSION|NAME…), which works for a
// pinned version only while it is the repositories' current one. A pin
// that neither can install, and a cached-only pin mixed with packages
// from the repositories, are refused with the reason.
func (b *Backend) InstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	_, names, _, err := toolkit.InstallArgs(pkgs, validName, v1alpha1.FamilyPacman, nil)
	if err != nil {
		return backends.Step{}, fmt.Errorf("install: %w", err)
	}
	conf := b.conf()
	files, err := cacheFiles(conf)
	if err != nil {
		return backends.Step{}, fmt.Errorf("install: %w", err)
	}
	b.mu.Lock()
	sync := b.checkCache.sync // nil until the first Observe: unknown
	b.mu.Unlock()

	cached := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		if p.Version == "" {
			break
		}
		f, ok := cachedVersions(files, p.Name)[p.Version]
		if !ok {
			break
		}
		cached = append(cached, f)
	}
	if len(cached) == len(pkgs) {
		return b.step(v1alpha1.StepInstall, []string{"-U", "--needed"}, cached, names), nil
	}
	targets := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		if p.Version == "" {
			targets = append(targets, p.Name)
			continue
		}
		cur, inSync := sync[p.Name]
		_, inCache := cachedVersions(files, p.Name)[p.Version]
		switch {
		case sync == nil || (inSync && cur.Version == p.Version):
			targets = append(targets, p.Name+"="+p.Version)
		case inCache:
			return backends.Step{}, fmt.Errorf("install: %s %s is only in the package cache and pacman cannot install cached files and repository packages in one command; pin it in a policy of its own", p.Name, p.Version)
		case inSync:
			return backends.Step{}, fmt.Errorf("install: %s %s is neither in the package cache (%s) nor the repositories' current version (%s)", p.Name, p.Version, filepath.Join(conf.CacheDirs...), cur.Version)
		default:
			return backends.Step{}, fmt.Errorf("install: %s %s is neither in the package cache nor in the repositories", p.Name, p.Version)
		}
	}
	return b.step(v1alpha1.StepInstall, []string{"-S", "-yy", "--needed"}, targets, names), nil
}

// UpgradeStep returns the step that upgrades the named installed packages
// to the repositories' versions, refreshing the sync databases in the same
// transaction (pacman -S -yy --needed NAMES) so that it installs what
// Observe's private check reported. Names that are not installed are
// left out (an upgrade never installs); none left is an error.
func (b *Backend) UpgradeStep(names []string) (backends.Step, error) {
	args, err := toolkit.UpgradeArgs(names, validName, b.installed, b.Cfg.Log)
	if err != nil {
		return backends.Step{}, fmt.Errorf("upgrade: %w", err)
	}
	return b.step(v1alpha1.StepUpgrade, []string{"-S", "-yy", "--needed"}, args, args), nil
}

// RemoveStep returns the step that removes packages (pacman -R: modified
// backup files are kept as .pacsave; dependencies stay installed).
func (b *Backend) RemoveStep(names []string) (backends.Step, error) {
	args, err := toolkit.PackageArgs(names, validName)
	if err != nil {
		return backends.Step{}, fmt.Errorf("remove: %w", err)
	}
	return b.step(v1alpha1.StepRemove, []string{"-R"}, args, args), nil
}

// HoldStep always fails: see ErrHoldUnsupported and Capabilities.
func (b *Backend) HoldStep(names []string, hold bool) (backends.Step, error) {
	return backends.Step{}, ErrHoldUnsupported
}

// RecoverStep implements backends.Backend: always refused with
// ErrRecoverUnsupported; Observe never reports Interrupted.
func (b *Backend) RecoverStep() (backends.Step, error) {
	return backends.Step{}, ErrRecoverUnsupported
}

// ReinstallStep is InstallStep: the package manager has no reinstall of
// its own, and installing the same version again repairs the package.
func (b *Backend) ReinstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	return b.InstallStep(pkgs)
}

// step runs pacman with the root's options, the operation op and args.
func (b *Backend) step(typ v1alpha1.StepType, op, args, names []string) backends.Step {
	return b.NewStep(typ, slices.Concat(b.baseArgv(), op, args), b.Env(), names)
}
