// Package backends is the seam between the reconcile loop and a package
// manager: the Backend interface, the types that cross it (Observation,
// PackageRef, Upgrade, Step, Failure, Capabilities, Settings) and the
// registry that opens a backend by name (Register, Open, Detect). It is a
// leaf that imports only api/. One sub-package per package manager
// implements it (apt, dnf, …) and registers itself; backends/all links them
// all; the executor package runs their steps. docs/backends.md lists what
// a new backend implements.
package backends

import (
	"context"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Package is one installed package.
type Package struct {
	Name    string
	Version string
	Arch    string
	// Held is true when the package manager holds it (apt-mark hold).
	Held bool
}

// Upgrade is one pending upgrade, as a dry run of the package manager reports it.
type Upgrade struct {
	Name string
	// From is the installed version ("" for a new install pulled in by the upgrade).
	From string
	To   string
	// Source is the repository suite or origin (e.g. bookworm-security).
	Source   string
	Security bool
}

// Observation is what a backend sees on a host. Observing is cheap: a
// backend caches what costs a process and re-runs it only when the package
// database or the index changed.
type Observation struct {
	// Installed packages by name.
	Installed map[string]Package
	// Upgrades pending against the current index, by name.
	Upgrades map[string]Upgrade
	// Available versions per package name, newest first, for the names
	// the caller asked about (see Backend.Observe).
	Available map[string][]string
	// Provides maps a name that installed packages provide (apt's and
	// pacman's Provides, rpm's provides, apk's provides) to the installed
	// packages that provide it, sorted. Names of installed packages
	// themselves, file paths and rpm's soname or "(…)" capabilities are left
	// out: the planner asks it only whether a virtual package a policy names
	// is satisfied.
	Provides map[string][]string
	// IndexRefreshed is when patchlet last refreshed the index successfully (zero: unknown).
	IndexRefreshed time.Time
	// Interrupted is true when the package database says an earlier run was
	// interrupted and needs recovery (dpkg --configure -a).
	Interrupted bool
	// InterruptedPackages names the packages the package database lists
	// as interrupted (half-installed, unpacked, half-configured, awaiting
	// triggers, or flagged for reinstallation), each at the version it
	// records; empty when only an unfinished journal is left.
	InterruptedPackages []PackageRef
	// RebootRequired is true when the package manager says a reboot is needed.
	RebootRequired bool
	// RebootPackages names the packages that asked for the reboot.
	RebootPackages []string
}

// PackageRef names a package and, for a pinned install, its exact version.
type PackageRef struct {
	Name    string
	Version string
}

// Step is one noninteractive package-manager command line. Argv[0] is an
// absolute path; Env is the complete environment of the command.
type Step struct {
	Type     v1alpha1.StepType
	Argv     []string
	Env      []string
	Packages []string
	Timeout  time.Duration
	// SuccessExitCodes are exit codes besides 0 that mean the step did its
	// work (zypper: 102 reboot needed, 103 restart of zypper needed).
	SuccessExitCodes []int
}

// Failure is the classification of a failed step.
type Failure struct {
	// Reason is the failure's class.
	Reason v1alpha1.FailureReason
	// Message is the package manager's own words (e.g. its E: line).
	Message string
	// LockHolderPID and LockHolder name the process holding a lock, when known.
	LockHolderPID int
	LockHolder    string
}

// Capabilities says what a backend can do; the planner marks what a
// policy asks beyond them Unsupported.
type Capabilities struct {
	// Hold: the backend can hold packages at their installed version.
	Hold bool
	// Security: the backend can tell security updates apart.
	Security bool
}

// Backend is one package manager on one root directory.
type Backend interface {
	// Name is the backend's name (apt, dnf, …).
	Name() string
	// Family is the package naming family (v1alpha1.FamilyDebian, …).
	Family() string
	// Capabilities says what the backend can do on this root.
	Capabilities() Capabilities
	// WatchPaths are the directories whose changes invalidate an
	// observation (the package database, the index).
	WatchPaths() []string
	// LockFiles are the package manager's lock files inside WatchPaths:
	// taking or dropping a lock changes nothing observed, so their events
	// are ignored.
	LockFiles() []string
	// LockHolder says who holds the package-manager lock, without
	// running a process; held is false when nobody does.
	LockHolder() (pid int, command string, held bool, err error)
	// Observe returns the host's packages. names lists packages whose
	// available versions the caller needs (pins); the result's Available
	// holds them.
	Observe(ctx context.Context, names []string) (*Observation, error)
	// RefreshStep refreshes the package index.
	RefreshStep() Step
	// InstallStep installs packages, at exact versions where given. The
	// step builders below return an error, and no step, for a request the
	// backend refuses (an invalid name or version, an unsupported
	// operation); the caller must not run anything then.
	InstallStep(pkgs []PackageRef) (Step, error)
	// UpgradeStep upgrades the named installed packages to the newest
	// available versions.
	UpgradeStep(names []string) (Step, error)
	// RemoveStep removes packages.
	RemoveStep(names []string) (Step, error)
	// HoldStep holds (hold=true) or releases packages.
	HoldStep(names []string, hold bool) (Step, error)
	// RecoverStep repairs an interrupted package database.
	RecoverStep() (Step, error)
	// ReinstallStep installs packages again at the version they have: what
	// repairs a package the recover step cannot finish (dpkg leaves a
	// package half-installed when it dies while unpacking). A backend
	// without a reinstall of its own returns its InstallStep.
	ReinstallStep(pkgs []PackageRef) (Step, error)
	// Classify explains a failed step from its exit code and output.
	Classify(step Step, exitCode int, output []byte) Failure
	// RecordRefresh stores the time of a successful refresh (the backend's
	// own record of index age, surviving restarts).
	RecordRefresh(t time.Time) error
}

// Caveat is implemented by a backend whose support has a limit an operator
// should know of (the yum 3 mode is checked against hand-written samples
// of yum's output only); the agent logs it at start and appends it to the
// Host's status.backend.reason. An empty Caveat says nothing.
type Caveat interface {
	Caveat() string
}
