package dnf

import (
	"fmt"
	"slices"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
	"github.com/patchlet/patchlet/backends/rpm"
)

// RefreshStep returns the step that refreshes the metadata cache
// (makecache; yum makecache fast would skip expired metadata, so plain).
func (b *Backend) RefreshStep() backends.Step {
	argv := slices.Concat(b.baseArgs(), []string{"makecache"})
	if b.mode == ModeDNF {
		argv = slices.Concat(b.baseArgs(), []string{"makecache", "--refresh"})
	}
	return b.NewStep(v1alpha1.StepRefresh, argv, b.Env(), nil)
}

// PinArg is the package argument that selects NAME at an exact version:
// NAME-VERSION, NAME-VERSION-RELEASE or NAME-EPOCH:VERSION-RELEASE.
func PinArg(name, version string) string { return name + "-" + version }

// InstallStep returns the step that installs pkgs, each at its exact
// version when one is given. dnf install downgrades to an older pinned
// version by itself; yum needs a separate downgrade, so in yum mode a
// pinned version older than the installed one is refused here (use the
// upgrade or a pin at or above the installed version).
func (b *Backend) InstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	args, names, _, err := toolkit.InstallArgs(pkgs, rpm.ValidName, v1alpha1.FamilyRPM, PinArg)
	if err != nil {
		return backends.Step{}, fmt.Errorf("install: %w", err)
	}
	return b.step(v1alpha1.StepInstall, []string{"install"}, args, names), nil
}

// ReinstallStep returns the step that reinstalls pkgs at their versions.
func (b *Backend) ReinstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	s, err := b.InstallStep(pkgs)
	if err != nil {
		return backends.Step{}, fmt.Errorf("re%w", err)
	}
	i := slices.Index(s.Argv, "install")
	s.Argv[i] = "reinstall"
	return s, nil
}

// UpgradeStep returns the step that upgrades the named installed
// packages (dnf upgrade never installs a name that is not installed).
func (b *Backend) UpgradeStep(names []string) (backends.Step, error) {
	args, err := toolkit.PackageArgs(names, rpm.ValidName)
	if err != nil {
		return backends.Step{}, fmt.Errorf("upgrade: %w", err)
	}
	verb := "upgrade"
	if b.mode == ModeYum {
		verb = "update"
	}
	return b.step(v1alpha1.StepUpgrade, []string{verb}, args, args), nil
}

// RemoveStep returns the step that removes packages. Dependencies that
// were pulled in automatically stay (clean_requirements_on_remove off).
func (b *Backend) RemoveStep(names []string) (backends.Step, error) {
	args, err := toolkit.PackageArgs(names, rpm.ValidName)
	if err != nil {
		return backends.Step{}, fmt.Errorf("remove: %w", err)
	}
	extra := []string{"remove"}
	if b.mode == ModeDNF {
		extra = []string{"--setopt=clean_requirements_on_remove=False", "remove"}
	}
	return b.step(v1alpha1.StepRemove, extra, args, args), nil
}

// ErrHoldUnsupported is why a hold step is refused without versionlock.
var ErrHoldUnsupported = fmt.Errorf("holding packages needs the versionlock plugin (python3-dnf-plugin-versionlock or yum-plugin-versionlock) on a host managed at /")

// HoldStep returns the versionlock step that holds or releases packages.
func (b *Backend) HoldStep(names []string, hold bool) (backends.Step, error) {
	if !b.versionlock {
		return backends.Step{}, ErrHoldUnsupported
	}
	typ, verb, args, err := toolkit.HoldArgs(names, hold, rpm.ValidName, "add", "delete")
	if err != nil {
		return backends.Step{}, fmt.Errorf("versionlock %w", err)
	}
	return b.step(typ, []string{"versionlock", verb}, args, args), nil
}

func (b *Backend) step(typ v1alpha1.StepType, command, args, names []string) backends.Step {
	return b.NewStep(typ, slices.Concat(b.baseArgs(), command, []string{"--"}, args), b.Env(), names)
}

// RecoverStep implements backends.Backend. rpm has no interrupted state
// that a command repairs (Observe never reports Interrupted), so it
// rebuilds the rpm database indexes, which is harmless.
func (b *Backend) RecoverStep() (backends.Step, error) {
	argv := []string{b.paths.Rpm}
	if b.Cfg.Root != "/" {
		argv = append(argv, "--root", b.Cfg.Root)
	}
	return b.NewStep(v1alpha1.StepRecover, append(argv, "--rebuilddb"), b.Env(), nil), nil
}
