package apk

import (
	"errors"
	"fmt"
	"slices"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// ErrRecoverUnsupported is why RecoverStep is refused: apk records no
// interrupted transaction for patchlet to finish.
var ErrRecoverUnsupported = errors.New("apk has no interrupted state to recover")

func (b *Backend) step(typ v1alpha1.StepType, args, names []string) backends.Step {
	return b.NewStep(typ, slices.Concat(b.baseArgv(), args), b.Env(), names)
}

// RefreshStep returns apk update --update-cache. Plain apk update (2.14)
// refetches no remote index younger than its 4-hour cache age, so it
// would not mend a stale index; --update-cache forces the fetch.
func (b *Backend) RefreshStep() backends.Step {
	return b.step(v1alpha1.StepRefresh, []string{"update", "--update-cache"}, nil)
}

// InstallStep returns apk add NAME[~VERSION]…. A pinned version goes into
// world as NAME~VERSION, not NAME=VERSION: apk writes "add N=V" verbatim
// into world, and N=V is how a hold looks (HoldStep), so a pinned install
// read back as held and a later move to Latest was skipped as a manual hold.
func (b *Backend) InstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	args, names, _, err := toolkit.InstallArgs(pkgs, validName, v1alpha1.FamilyAPK, func(name, version string) string { return name + "~" + version })
	if err != nil {
		return backends.Step{}, fmt.Errorf("install: %w", err)
	}
	return b.step(v1alpha1.StepInstall, slices.Concat([]string{"add"}, args), names), nil
}

// UpgradeStep returns apk upgrade NAMES for the installed ones among
// names (an upgrade never installs); none installed is an error. When
// world constrains one of them to a version (an earlier pinned install)
// it is apk add --upgrade NAMES instead: apk upgrade keeps the world
// constraint and changes nothing (real apk 2 and 3), add rewrites the
// entry to a plain NAME.
func (b *Backend) UpgradeStep(names []string) (backends.Step, error) {
	args, err := toolkit.UpgradeArgs(names, validName, b.installedPackages, b.Cfg.Log)
	if err != nil {
		return backends.Step{}, fmt.Errorf("upgrade: %w", err)
	}
	db, err := b.installed()
	if err != nil {
		return backends.Step{}, fmt.Errorf("upgrade: %w", err)
	}
	cmd := []string{"upgrade"}
	if slices.ContainsFunc(args, func(n string) bool { return db.constrained[n] }) {
		cmd = []string{"add", "--upgrade"}
	}
	return b.step(v1alpha1.StepUpgrade, slices.Concat(cmd, args), args), nil
}

// RemoveStep returns apk del NAMES.
func (b *Backend) RemoveStep(names []string) (backends.Step, error) {
	args, err := toolkit.PackageArgs(names, validName)
	if err != nil {
		return backends.Step{}, fmt.Errorf("remove: %w", err)
	}
	return b.step(v1alpha1.StepRemove, slices.Concat([]string{"del"}, args), args), nil
}

// HoldStep holds packages at their installed versions (apk add
// NAME=VERSION: a world constraint) or releases them (apk add NAME: an
// unconstrained world entry replaces it). Holding a package that is not
// installed is an error.
func (b *Backend) HoldStep(names []string, hold bool) (backends.Step, error) {
	typ, _, args, err := toolkit.HoldArgs(names, hold, validName, "hold", "unhold")
	if err != nil {
		return backends.Step{}, err
	}
	deps := slices.Clone(args)
	if hold {
		installed, err := b.installedPackages()
		if err != nil {
			return backends.Step{}, fmt.Errorf("hold: %w", err)
		}
		for i, n := range args {
			p, ok := installed[n]
			if !ok {
				return backends.Step{}, fmt.Errorf("hold: %s is not installed", n)
			}
			if !v1alpha1.IsPackageVersion(v1alpha1.FamilyAPK, p.Version) {
				return backends.Step{}, fmt.Errorf("hold: installed version %q of %s is not a valid version", p.Version, n)
			}
			deps[i] = n + "=" + p.Version
		}
	}
	return b.step(typ, slices.Concat([]string{"add"}, deps), args), nil
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
