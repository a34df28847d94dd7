// Package dnf is patchlet's backend for Fedora and RHEL 8+ (dnf) and, in
// its yum mode, for RHEL/CentOS 7 (yum 3). It owns observing a root's
// packages (rpm -qa, cached until the rpm database changes), pending
// upgrades and their security class from the package manager's cached
// metadata (never the network: refreshing is a step), available versions
// for pins, reboot-required from install times (see backends/rpm),
// building the noninteractive command lines of each step, and
// classifying their failures.
//
// With a Root other than "/" every command gets --installroot=ROOT,
// --releasever and --disableplugin='*' (dnf's plugins ignore the install
// root): dnf then reads ROOT/etc/dnf/dnf.conf and ROOT/etc/yum.repos.d and
// caches in ROOT/var/cache/dnf. Holds need the versionlock plugin, which
// is therefore only available on Root "/" with the plugin installed;
// elsewhere the hold step is refused and Capabilities says Hold: false.
//
// The yum mode is tested on recorded outputs of yum 3.4 only. Where the
// yum binary is really dnf (RHEL 8+), New switches to the dnf mode.
package dnf

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
	"github.com/patchlet/patchlet/backends/rpm"
)

// Exit codes of dnf and yum.
const (
	// ExitUpdatesAvailable is check-update's exit code when updates exist.
	ExitUpdatesAvailable = 100
	// ExitLocked is dnf's exit code when another process holds its lock
	// and exit_on_lock is set.
	ExitLocked = 200
)

// Mode is the command set the backend speaks.
type Mode string

// Modes.
const (
	ModeDNF Mode = "dnf"
	ModeYum Mode = "yum"
)

// Paths are the absolute paths of the programs the backend runs.
type Paths struct {
	// DNF is dnf (or yum in ModeYum).
	DNF string
	Rpm string
}

// Options configure a Backend: the settings every backend takes and
// dnf's own.
type Options struct {
	backends.Settings
	// Mode is ModeDNF (default) or ModeYum.
	Mode  Mode
	Paths Paths
	// Home is the HOME of every command (default rpm.DefaultHome, /root):
	// rpm reads its macros (the database path) from HOME/.rpmmacros.
	Home string
	// ReleaseVer is passed as --releasever for a Root other than "/"
	// (default: VERSION_ID of ROOT/etc/os-release, else "1").
	ReleaseVer string
	// ProcRoot is where the boot time is read (default /proc).
	ProcRoot string
	// RebootPackages overrides rpm.DefaultRebootPackages.
	RebootPackages []string
	// Versionlock overrides the detection of the versionlock plugin.
	Versionlock *bool
}

// Backend is the dnf (or yum) backend for one root. It is safe for
// concurrent use.
type Backend struct {
	toolkit.Base
	rpm.Host
	mode        Mode
	paths       Paths
	releaseVer  string
	versionlock bool
}

var _ backends.Backend = (*Backend)(nil)

// New returns the backend for opts.Root.
func New(opts Options) (*Backend, error) {
	b := &Backend{Host: rpm.Host{Home: opts.Home}, mode: opts.Mode, paths: opts.Paths, releaseVer: opts.ReleaseVer}
	if b.mode == "" {
		b.mode = ModeDNF
	}
	if b.mode != ModeDNF && b.mode != ModeYum {
		return nil, fmt.Errorf("dnf backend: unknown mode %q", b.mode)
	}
	base, err := toolkit.NewBase(opts.Settings, "dnf", v1alpha1.FamilyRPM, &rules,
		toolkit.Program{Path: &b.paths.DNF, Name: string(b.mode)}, toolkit.Program{Path: &b.paths.Rpm, Name: "rpm"})
	if err != nil {
		return nil, err
	}
	b.Base = base
	if b.mode == ModeYum && IsDNF(b.paths.DNF) {
		b.Cfg.Log.Info("yum is dnf here; using the dnf command set", "path", b.paths.DNF)
		b.mode = ModeDNF
	}
	b.Rename(string(b.mode))
	if b.Cfg.Root != "/" && b.releaseVer == "" {
		b.releaseVer = "1"
		if rel, err := backends.ReadOSRelease(b.Cfg.Root); err == nil && rel.VersionID != "" {
			b.releaseVer = rel.VersionID
		}
	}
	if !releaseVerRE(b.releaseVer) {
		return nil, fmt.Errorf("dnf releasever %q: not allowed", b.releaseVer)
	}
	if opts.Versionlock != nil {
		b.versionlock = *opts.Versionlock
	} else {
		b.versionlock = b.Cfg.Root == "/" && VersionlockPresent(b.mode)
	}
	b.DB = &rpm.DB{Root: b.Cfg.Root, Rpm: b.paths.Rpm, Env: b.Env(), Runner: b.Cfg.Runner,
		ProcRoot: opts.ProcRoot, RebootPackages: opts.RebootPackages}
	b.DB.Locate(b.Cfg.Log)
	return b, nil
}

func releaseVerRE(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// IsDNF reports whether the program at path is dnf under another name
// (on RHEL 8+ /usr/bin/yum links to dnf-3).
func IsDNF(path string) bool {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false
	}
	base := filepath.Base(target)
	return base == "dnf" || strings.HasPrefix(base, "dnf-") || base == "dnf5"
}

// Plugin files that mean versionlock is installed.
var versionlockGlobs = map[Mode][]string{
	ModeDNF: {"/usr/lib/python3*/site-packages/dnf-plugins/versionlock.py", "/usr/lib/python3/dist-packages/dnf-plugins/versionlock.py"},
	ModeYum: {"/usr/lib/yum-plugins/versionlock.py"},
}

// VersionlockPresent reports whether the host has the versionlock plugin.
func VersionlockPresent(mode Mode) bool {
	for _, g := range versionlockGlobs[mode] {
		if m, _ := filepath.Glob(g); len(m) > 0 {
			return true
		}
	}
	return false
}

// Capabilities says whether holds (versionlock) and security
// classification (updateinfo) are available.
func (b *Backend) Capabilities() backends.Capabilities {
	return backends.Capabilities{Hold: b.versionlock, Security: true}
}

// WatchPaths are the paths whose changes mean Observe may see something
// new: the rpm database (where rpm said it is) and the metadata cache.
func (b *Backend) WatchPaths() []string {
	return append(b.DB.Dirs(), b.Path(b.cacheDir()))
}

func (b *Backend) cacheDir() string {
	if b.mode == ModeYum {
		return "var/cache/yum"
	}
	return "var/cache/dnf"
}

// Env is the complete environment of every command: LC_ALL=C, PATH, HOME.
func (b *Backend) Env() []string { return rpm.WithHome(b.Base.Env(), b.Home) }

// baseArgs are the options every dnf/yum command line starts with:
// assume yes, fail instead of waiting on a lock, and the root options.
func (b *Backend) baseArgs() []string {
	args := []string{b.paths.DNF, "-y", "--setopt=exit_on_lock=True"}
	if b.mode == ModeYum {
		args = []string{b.paths.DNF, "-y", "--setopt=exit_on_lock=1"}
	}
	if b.Cfg.Root != "/" {
		args = append(args, "--installroot="+b.Cfg.Root, "--releasever="+b.releaseVer, "--disableplugin=*")
	}
	return args
}
