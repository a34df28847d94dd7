package toolkit

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
)

// Package names and versions are validated again where they reach a
// command line, each backend with its own rule: whatever the caller
// checked, no name or version may pass for an option of the package
// manager.

// NameRule is a package naming family's rule (v1alpha1.IsPackageName),
// refusing a leading "-" whatever the family allows.
func NameRule(family string) func(string) bool {
	return func(n string) bool { return v1alpha1.IsPackageName(family, n) && !strings.HasPrefix(n, "-") }
}

// errNoPackages is the refusal of a step without packages.
var errNoPackages = errors.New("no packages given")

// PackageArgs validates names with valid and returns them deduplicated,
// in order. An empty list or an invalid name is an error.
func PackageArgs(names []string, valid func(string) bool) ([]string, error) {
	if len(names) == 0 {
		return nil, errNoPackages
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !valid(n) {
			return nil, fmt.Errorf("invalid package name %q", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// InstallArgs validates the packages of an install: each name with valid,
// each version with the family's rule (v1alpha1.IsPackageVersion), no
// name twice. It returns the command-line arguments (pin renders a pinned
// package; nil means NAME=VERSION), the names in order, and whether any
// package is pinned.
func InstallArgs(pkgs []backends.PackageRef, valid func(string) bool, family string, pin func(name, version string) string) (args, names []string, pinned bool, err error) {
	if len(pkgs) == 0 {
		return nil, nil, false, errNoPackages
	}
	if pin == nil {
		pin = func(name, version string) string { return name + "=" + version }
	}
	args, names = make([]string, 0, len(pkgs)), make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		if !valid(p.Name) {
			return nil, nil, false, fmt.Errorf("invalid package name %q", p.Name)
		}
		arg := p.Name
		if p.Version != "" {
			if !v1alpha1.IsPackageVersion(family, p.Version) {
				return nil, nil, false, fmt.Errorf("invalid version %q of package %q", p.Version, p.Name)
			}
			arg, pinned = pin(p.Name, p.Version), true
		}
		if slices.Contains(names, p.Name) {
			return nil, nil, false, fmt.Errorf("package %q given twice", p.Name)
		}
		names, args = append(names, p.Name), append(args, arg)
	}
	return args, names, pinned, nil
}

// UpgradeArgs validates an upgrade's names as PackageArgs does and keeps
// the installed ones (logging the others): an upgrade never installs. No
// installed name left is an error.
func UpgradeArgs(names []string, valid func(string) bool, installed func() (map[string]backends.Package, error), log logr.Logger) ([]string, error) {
	args, err := PackageArgs(names, valid)
	if err != nil {
		return nil, err
	}
	pkgs, err := installed()
	if err != nil {
		return nil, err
	}
	args = slices.DeleteFunc(args, func(n string) bool {
		_, ok := pkgs[n]
		if !ok {
			log.Info("not upgrading a package that is not installed", "package", n)
		}
		return !ok
	})
	if len(args) == 0 {
		return nil, fmt.Errorf("none of %v is installed", names)
	}
	return args, nil
}

// Wanted returns the names among names that valid accepts, sorted and
// deduplicated, for a query of available versions; the others are logged
// and left out.
func Wanted(names []string, valid func(string) bool, log logr.Logger) []string {
	var out []string
	for _, n := range names {
		if valid(n) {
			out = append(out, n)
		} else {
			log.Info("ignoring invalid package name", "name", n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// HoldArgs is what every hold step starts from: its type (StepHold, or
// StepUnhold for a release), its verb (holdVerb or unholdVerb, the
// package manager's word) and names as PackageArgs returns them; an
// invalid name is an error that starts with the verb.
func HoldArgs(names []string, hold bool, valid func(string) bool, holdVerb, unholdVerb string) (typ v1alpha1.StepType, verb string, args []string, err error) {
	typ, verb = v1alpha1.StepHold, holdVerb
	if !hold {
		typ, verb = v1alpha1.StepUnhold, unholdVerb
	}
	args, err = PackageArgs(names, valid)
	if err != nil {
		return typ, verb, nil, fmt.Errorf("%s: %w", verb, err)
	}
	return typ, verb, args, nil
}
