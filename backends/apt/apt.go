// Package apt is patchlet's backend for Debian and Ubuntu (apt-get, dpkg).
// It owns what patchlet knows about apt: observing a root's packages (the
// dpkg status file parsed directly, pending upgrades from a cached
// simulated dist-upgrade, available versions from apt's own index files,
// reboot-required), building the noninteractive apt-get, apt-mark and dpkg
// command lines of each step, and classifying their failures.
//
// With a Root other than "/" the backend manages that directory without a
// chroot: every command gets APT_CONFIG pointing at a configuration file
// (written under StateDir) that sets Dir to the root and makes apt run
// dpkg with --root and --log inside it, so the host's apt configuration
// and package database are never read or written. dpkg chroots into the
// root for maintainer scripts, which therefore need a /bin/sh there.
package apt

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
	"github.com/patchlet/patchlet/internal/fsutil"
)

// aptConfigFile is the APT_CONFIG file for a Root other than "/", in StateDir.
const aptConfigFile = "apt-root.conf"

// Paths are the absolute paths of the programs the backend runs.
type Paths struct {
	AptGet   string
	AptMark  string
	AptCache string
	Dpkg     string
	// AptConfig is apt-config, which New asks where dpkg's database is
	// (looked up in PathEnv when empty; a missing one is logged).
	AptConfig string
}

// Options configure a Backend: the settings every backend takes, the
// programs' paths and dpkg's architecture.
type Options struct {
	backends.Settings
	// Paths overrides the programs' paths; empty ones are looked up once
	// in PathEnv by New.
	Paths Paths
	// Architecture is dpkg's native architecture (default: from the Go
	// runtime, amd64, arm64, …).
	Architecture string
}

// Backend is the apt backend for one root. It is safe for concurrent use.
type Backend struct {
	toolkit.Base
	paths     Paths
	aptConfig string // "" when Root is "/"
	arch      string
	status    string // dpkg's status file on the host (Dir::State::status; see locateStatus)

	upCache    toolkit.Cache[backends.Upgrade] // the dry run's, by fingerprint
	availCache toolkit.Cache[[]string]         // by names and index files

	locks toolkit.FcntlLocks // dpkg's lock files, kept open
}

var _ backends.Backend = (*Backend)(nil)

// New returns the apt backend for opts.Root. For a Root other than "/" it
// writes the APT_CONFIG file into StateDir.
func New(opts Options) (*Backend, error) {
	b := &Backend{paths: opts.Paths, arch: opts.Architecture}
	base, err := toolkit.NewBase(opts.Settings, "apt", v1alpha1.FamilyDebian, &rules,
		toolkit.Program{Path: &b.paths.AptGet, Name: "apt-get"}, toolkit.Program{Path: &b.paths.AptMark, Name: "apt-mark"},
		toolkit.Program{Path: &b.paths.AptCache, Name: "apt-cache"}, toolkit.Program{Path: &b.paths.Dpkg, Name: "dpkg"})
	if err != nil {
		return nil, err
	}
	b.Base = base
	if strings.ContainsAny(b.Cfg.Root, "\"\n\r;{}") {
		return nil, fmt.Errorf("apt root %q: characters not allowed in an apt configuration", b.Cfg.Root)
	}
	if b.arch == "" {
		b.arch = debianArch(runtime.GOARCH)
	}
	if b.Cfg.Root != "/" {
		if err := b.writeAptConfig(); err != nil {
			return nil, err
		}
	}
	b.status = b.locateStatus()
	return b, nil
}

// locateStatus asks apt-config once, with the backend's environment (its
// APT_CONFIG, then the root's apt.conf.d, which may move it), where dpkg's
// status file is: Dir::State::status, the file apt reads (a root that
// moves it also gives dpkg that --admindir in DPkg::Options: apt 2.6 does
// not). When apt-config cannot say, it logs why and returns the usual
// place in the root.
func (b *Backend) locateStatus() string {
	argv := []string{b.paths.AptConfig, "shell", "STATUS", "Dir::State::status/f"}
	err := toolkit.ResolveProgram(&b.paths.AptConfig, "apt-config", b.Cfg.PathEnv)
	if err == nil {
		argv[0] = b.paths.AptConfig
		var stdout []byte
		if stdout, err = toolkit.QueryOnce(b.Cfg.Runner, argv, b.Env()); err == nil {
			var p string
			if p, err = ParseShellValue(stdout, "STATUS"); err == nil {
				b.Cfg.Log.V(1).Info("dpkg status file located", "argv", argv, "path", p)
				return p
			}
		}
	}
	fallback := b.path(statusPath)
	b.Cfg.Log.Info("cannot ask apt-config where dpkg's database is; using the usual place", "argv", argv,
		"error", err.Error(), "path", fallback)
	return fallback
}

// ParseShellValue reads NAME's absolute path from `apt-config shell NAME
// KEY/f` output (NAME='VALUE').
func ParseShellValue(out []byte, name string) (string, error) {
	for _, line := range strings.Split(string(out), "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), name+"='")
		if !ok {
			continue
		}
		v, ok = strings.CutSuffix(v, "'")
		if !ok || strings.Contains(v, "'") || !filepath.IsAbs(v) {
			return "", fmt.Errorf("apt-config printed %s=%q, not an absolute path", name, v)
		}
		return filepath.Clean(v), nil
	}
	return "", fmt.Errorf("apt-config printed no %s", name)
}

// admindir is dpkg's database directory: the status file's.
func (b *Backend) admindir() string { return filepath.Dir(b.status) }

// debianArch maps GOARCH to dpkg's architecture names.
func debianArch(goarch string) string {
	switch goarch {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	case "ppc64le":
		return "ppc64el"
	case "mipsle":
		return "mipsel"
	case "mips64le":
		return "mips64el"
	case "loong64":
		return "loong64"
	default: // amd64, arm64, s390x, riscv64, …
		return goarch
	}
}

// AptConfig renders the APT_CONFIG file that points apt at root.
func AptConfig(root string) string {
	return fmt.Sprintf("// Written by patchlet: apt and dpkg act on %[1]s, not on the host.\n"+
		"Dir \"%[1]s/\";\n"+
		"Dir::State::status \"%[1]s/var/lib/dpkg/status\";\n"+
		"DPkg::Options {\"--root=%[1]s\"; \"--log=%[1]s/var/log/dpkg.log\";};\n", root)
}

func (b *Backend) writeAptConfig() error {
	if err := os.MkdirAll(b.Cfg.StateDir, 0o755); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	b.aptConfig = filepath.Join(b.Cfg.StateDir, aptConfigFile)
	if err := fsutil.WriteFileAtomic(b.aptConfig, []byte(AptConfig(b.Cfg.Root)), 0o644); err != nil {
		return fmt.Errorf("write apt config: %w", err)
	}
	return nil
}

// Env is the complete environment of every command the backend runs:
// DEBIAN_FRONTEND=noninteractive, LC_ALL=C, PATH and, for a root other
// than "/", APT_CONFIG. Each call returns a new slice.
func (b *Backend) Env() []string {
	env := []string{"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C", "PATH=" + b.Cfg.PathEnv}
	if b.aptConfig != "" {
		env = append(env, "APT_CONFIG="+b.aptConfig)
	}
	return env
}
