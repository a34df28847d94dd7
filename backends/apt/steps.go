package apt

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
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

// packageArgs validates names and returns them deduplicated, in order.
func packageArgs(names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("no packages given")
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !validName(n) {
			return nil, fmt.Errorf("invalid package name %q", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// RefreshStep returns the index refresh step. --error-on=any makes a
// failed source fail the step instead of leaving a stale index silently.
func (b *Backend) RefreshStep() backends.Step {
	return backends.Step{
		Type:    v1alpha1.StepRefresh,
		Argv:    slices.Concat([]string{b.paths.AptGet, "update", "--error-on=any"}, aptGetOptions),
		Env:     b.Env(),
		Timeout: b.cfg.RefreshTimeout,
	}
}

// InstallStep returns the step that installs pkgs, each at its exact
// version when one is given (NAME=VERSION). A pinned version may be older
// than the installed one, so downgrades are allowed; held packages stay
// untouched. It refuses invalid names and versions.
func (b *Backend) InstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	if len(pkgs) == 0 {
		return backends.Step{}, fmt.Errorf("install: no packages given")
	}
	args := make([]string, 0, len(pkgs))
	names := make([]string, 0, len(pkgs))
	pinned := false
	for _, p := range pkgs {
		if !validName(p.Name) {
			return backends.Step{}, fmt.Errorf("install: invalid package name %q", p.Name)
		}
		arg := p.Name
		if p.Version != "" {
			if !v1alpha1.IsPackageVersion(v1alpha1.FamilyDebian, p.Version) {
				return backends.Step{}, fmt.Errorf("install: invalid version %q of package %q", p.Version, p.Name)
			}
			arg += "=" + p.Version
			pinned = true
		}
		if slices.Contains(names, p.Name) {
			return backends.Step{}, fmt.Errorf("install: package %q given twice", p.Name)
		}
		names = append(names, p.Name)
		args = append(args, arg)
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
	args, err := packageArgs(names)
	if err != nil {
		return backends.Step{}, fmt.Errorf("upgrade: %w", err)
	}
	return b.aptGetStep(v1alpha1.StepUpgrade, []string{"install", "--only-upgrade"}, nil, args, args), nil
}

// RemoveStep returns the step that removes packages (keeping their
// conffiles, as apt-get remove does).
func (b *Backend) RemoveStep(names []string) (backends.Step, error) {
	args, err := packageArgs(names)
	if err != nil {
		return backends.Step{}, fmt.Errorf("remove: %w", err)
	}
	return b.aptGetStep(v1alpha1.StepRemove, []string{"remove"}, nil, args, args), nil
}

// HoldStep returns the apt-mark step that holds (hold) or releases packages.
func (b *Backend) HoldStep(names []string, hold bool) (backends.Step, error) {
	typ, verb := v1alpha1.StepHold, "hold"
	if !hold {
		typ, verb = v1alpha1.StepUnhold, "unhold"
	}
	args, err := packageArgs(names)
	if err != nil {
		return backends.Step{}, fmt.Errorf("%s: %w", verb, err)
	}
	return backends.Step{
		Type:     typ,
		Argv:     slices.Concat([]string{b.paths.AptMark, "-o", "DPkg::Lock::Timeout=0", verb}, args),
		Env:      b.Env(),
		Packages: slices.Clone(args),
		Timeout:  b.cfg.StepTimeout,
	}, nil
}

// RecoverStep returns the step that finishes what an interrupted dpkg
// left: dpkg --configure -a, keeping local conffiles like the other steps.
// dpkg does not read APT_CONFIG, so a root other than "/" is passed with
// --root and --log.
func (b *Backend) RecoverStep() (backends.Step, error) {
	var rootArgs []string
	if b.cfg.Root != "/" {
		rootArgs = []string{"--root=" + b.cfg.Root, "--log=" + filepath.Join(b.cfg.Root, "var/log/dpkg.log")}
	}
	return backends.Step{
		Type: v1alpha1.StepRecover,
		Argv: slices.Concat([]string{b.paths.Dpkg}, rootArgs,
			[]string{"--force-confdef", "--force-confold", "--configure", "-a"}),
		Env:     b.Env(),
		Timeout: b.cfg.StepTimeout,
	}, nil
}

func (b *Backend) aptGetStep(typ v1alpha1.StepType, command, extra, args, names []string) backends.Step {
	return backends.Step{
		Type:     typ,
		Argv:     slices.Concat([]string{b.paths.AptGet}, aptGetOptions, extra, command, args),
		Env:      b.Env(),
		Packages: slices.Clone(names),
		Timeout:  b.cfg.StepTimeout,
	}
}
