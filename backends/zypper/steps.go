package zypper

import (
	"fmt"
	"slices"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
	"github.com/patchlet/patchlet/backends/rpm"
)

// RefreshStep returns the step that refreshes every repository's metadata.
func (b *Backend) RefreshStep() backends.Step {
	return b.NewStep(v1alpha1.StepRefresh, slices.Concat(b.baseArgs(), []string{"refresh"}), b.Env(), nil)
}

// InstallStep installs pkgs, each at its exact version (NAME=EVR) when
// given; --oldpackage lets a pin go below the installed version.
func (b *Backend) InstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	args, names, pinned, err := toolkit.InstallArgs(pkgs, rpm.ValidName, v1alpha1.FamilyRPM, nil)
	if err != nil {
		return backends.Step{}, fmt.Errorf("install: %w", err)
	}
	cmd := []string{"install"}
	if pinned {
		cmd = append(cmd, "--oldpackage")
	}
	return b.step(v1alpha1.StepInstall, cmd, args, names), nil
}

// ReinstallStep reinstalls pkgs (install --force).
func (b *Backend) ReinstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	s, err := b.InstallStep(pkgs)
	if err != nil {
		return backends.Step{}, fmt.Errorf("re%w", err)
	}
	i := slices.Index(s.Argv, "install")
	s.Argv = slices.Insert(s.Argv, i+1, "--force")
	return s, nil
}

// UpgradeStep upgrades the named installed packages.
func (b *Backend) UpgradeStep(names []string) (backends.Step, error) {
	args, err := toolkit.PackageArgs(names, rpm.ValidName)
	if err != nil {
		return backends.Step{}, fmt.Errorf("upgrade: %w", err)
	}
	return b.step(v1alpha1.StepUpgrade, []string{"update"}, args, args), nil
}

// RemoveStep removes packages.
func (b *Backend) RemoveStep(names []string) (backends.Step, error) {
	args, err := toolkit.PackageArgs(names, rpm.ValidName)
	if err != nil {
		return backends.Step{}, fmt.Errorf("remove: %w", err)
	}
	return b.step(v1alpha1.StepRemove, []string{"remove"}, args, args), nil
}

// HoldStep adds (hold) or removes zypper package locks.
func (b *Backend) HoldStep(names []string, hold bool) (backends.Step, error) {
	typ, verb, args, err := toolkit.HoldArgs(names, hold, rpm.ValidName, "addlock", "removelock")
	if err != nil {
		return backends.Step{}, err
	}
	return b.step(typ, []string{verb}, args, args), nil
}

func (b *Backend) step(typ v1alpha1.StepType, command, args, names []string) backends.Step {
	s := b.NewStep(typ, slices.Concat(b.baseArgs(), command, []string{"--"}, args), b.Env(), names)
	s.SuccessExitCodes = []int{ExitRebootNeeded, ExitRestartNeeded}
	return s
}

// RecoverStep implements backends.Backend: zypper has no interrupted state
// that a command finishes (Observe never reports Interrupted); it runs
// `zypper verify`, which repairs broken dependencies.
func (b *Backend) RecoverStep() (backends.Step, error) {
	return b.NewStep(v1alpha1.StepRecover, slices.Concat(b.baseArgs(), []string{"verify"}), b.Env(), nil), nil
}
