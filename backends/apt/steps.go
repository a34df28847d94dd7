package apt

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// aptGetOptions make apt-get noninteractive: yes to everything, keep
// locally changed conffiles (and install the new one as .dpkg-dist), and
// never wait for a lock inside apt (the loop retries instead).
var aptGetOptions = []string{
	"-y", "-q",
	"-o", "Dpkg::Options::=--force-confdef",
	"-o", "Dpkg::Options::=--force-confold",
	"-o", "DPkg::Lock::Timeout=0",
}

// archRE is a dpkg architecture name, as in name:arch.
var archRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// validName accepts a Debian package name, optionally with ":arch".
// Names start with a letter or digit, so none can pass for an option.
func validName(n string) bool {
	name, arch, qualified := strings.Cut(n, ":")
	if qualified && !archRE.MatchString(arch) {
		return false
	}
	return v1alpha1.IsPackageName(v1alpha1.FamilyDebian, name)
}

// RefreshStep returns the index refresh step. --error-on=any makes a
// failed source fail the step instead of leaving a stale index silently.
func (b *Backend) RefreshStep() backends.Step {
	return b.NewStep(v1alpha1.StepRefresh, slices.Concat([]string{b.paths.AptGet, "update", "--error-on=any"}, aptGetOptions), b.Env(), nil)
}

// InstallStep returns the step that installs pkgs, each at its exact
// version when one is given (NAME=VERSION). A pinned version may be older
// than the installed one, so downgrades are allowed; held packages stay
// untouched. It refuses invalid names and versions.
func (b *Backend) InstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	args, names, pinned, err := toolkit.InstallArgs(pkgs, validName, v1alpha1.FamilyDebian, nil)
	if err != nil {
		return backends.Step{}, fmt.Errorf("install: %w", err)
	}
	var extra []string
	if pinned {
		extra = []string{"--allow-downgrades"}
	}
	return b.aptGetStep(v1alpha1.StepInstall, []string{"install"}, extra, args, names), nil
}

// ReinstallStep returns the step that installs pkgs again, each at its
// exact version when one is given: what repairs a package dpkg left
// half-installed, which dpkg --configure -a cannot finish. apt-get
// install --reinstall also unpacks a package whose installed version is
// already the requested one.
func (b *Backend) ReinstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	s, err := b.InstallStep(pkgs)
	if err != nil {
		return backends.Step{}, fmt.Errorf("re%w", err)
	}
	i := slices.Index(s.Argv, "install")
	s.Argv = slices.Concat(s.Argv[:i+1], []string{"--reinstall"}, s.Argv[i+1:])
	return s, nil
}

// UpgradeStep returns the step that upgrades the named installed packages
// to their candidate versions; it never installs a named package that is
// not installed.
func (b *Backend) UpgradeStep(names []string) (backends.Step, error) {
	args, err := toolkit.PackageArgs(names, validName)
	if err != nil {
		return backends.Step{}, fmt.Errorf("upgrade: %w", err)
	}
	return b.aptGetStep(v1alpha1.StepUpgrade, []string{"install", "--only-upgrade"}, nil, args, args), nil
}

// RemoveStep returns the step that removes packages (keeping their
// conffiles, as apt-get remove does).
func (b *Backend) RemoveStep(names []string) (backends.Step, error) {
	args, err := toolkit.PackageArgs(names, validName)
	if err != nil {
		return backends.Step{}, fmt.Errorf("remove: %w", err)
	}
	return b.aptGetStep(v1alpha1.StepRemove, []string{"remove"}, nil, args, args), nil
}

// HoldStep returns the apt-mark step that holds (hold) or releases packages.
func (b *Backend) HoldStep(names []string, hold bool) (backends.Step, error) {
	typ, verb, args, err := toolkit.HoldArgs(names, hold, validName, "hold", "unhold")
	if err != nil {
		return backends.Step{}, err
	}
	return b.NewStep(typ, slices.Concat([]string{b.paths.AptMark, "-o", "DPkg::Lock::Timeout=0", verb}, args), b.Env(), args), nil
}

// RecoverStep returns the step that finishes what an interrupted dpkg
// left: dpkg --configure -a, keeping local conffiles like the other steps.
// dpkg does not read APT_CONFIG, so a root other than "/" is passed with
// --root and --log.
func (b *Backend) RecoverStep() (backends.Step, error) {
	var rootArgs []string
	if b.Cfg.Root != "/" {
		rootArgs = []string{"--root=" + b.Cfg.Root, "--log=" + filepath.Join(b.Cfg.Root, "var/log/dpkg.log")}
	}
	argv := slices.Concat([]string{b.paths.Dpkg}, rootArgs, []string{"--force-confdef", "--force-confold", "--configure", "-a"})
	return b.NewStep(v1alpha1.StepRecover, argv, b.Env(), nil), nil
}

func (b *Backend) aptGetStep(typ v1alpha1.StepType, command, extra, args, names []string) backends.Step {
	return b.NewStep(typ, slices.Concat([]string{b.paths.AptGet}, aptGetOptions, extra, command, args), b.Env(), names)
}
