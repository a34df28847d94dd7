package testrepo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchlet/patchlet/internal/testsupport/rootfs"
)

// Busybox applets linked into a root's /bin for maintainer scripts.
var applets = []string{
	"sh", "sleep", "touch", "echo", "mkdir", "cat", "rm", "cp", "mv", "ln",
	"chmod", "true", "false", "ls", "test", "[", "printf", "grep", "sed",
}

// DefaultPath is the PATH given to commands run by Env.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Root is an isolated root directory R that the host's apt-get and dpkg
// manage without a chroot: an APT_CONFIG file points apt at R (Dir "R/",
// R's dpkg status) and makes apt run dpkg with --root=R, so that the
// host's configuration and package database are never read or written.
// dpkg chroots into R for maintainer scripts; R holds a static busybox as
// /bin/sh and a /dev/null for them.
type Root struct {
	// Dir is the root's absolute directory.
	Dir string
	// AptConfig is the path of the APT_CONFIG file for the root.
	AptConfig string
}

// NewRoot creates a minimal root in dir: an empty dpkg database, apt's
// directories, /bin/sh, /dev/null, /run with /var/run a symlink to /run as
// on Debian, and a sources.list with the given repositories.
func NewRoot(dir string, repos ...*Repo) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("root dir %q: %w", dir, err)
	}
	if strings.ContainsAny(abs, "\"\n;{}") {
		return nil, fmt.Errorf("root dir %q: characters not allowed in an apt configuration", abs)
	}
	for _, d := range []string{
		"bin", "dev", "tmp", "run", "usr/bin", "usr/sbin", "sbin",
		"etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d", "etc/apt/trusted.gpg.d",
		"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers", "var/lib/dpkg/alternatives",
		"var/lib/apt/lists/partial", "var/lib/apt/periodic", "var/cache/apt/archives/partial",
		"var/log/apt",
	} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := os.Chmod(filepath.Join(abs, "tmp"), 0o1777); err != nil {
		return nil, fmt.Errorf("chmod tmp: %w", err)
	}
	if err := makeSearchable(abs); err != nil {
		return nil, err
	}
	for _, f := range []string{"var/lib/dpkg/status", "var/lib/dpkg/available"} {
		if err := os.WriteFile(filepath.Join(abs, f), nil, 0o644); err != nil {
			return nil, fmt.Errorf("create %s: %w", f, err)
		}
	}
	if err := os.Symlink("/run", filepath.Join(abs, "var/run")); err != nil && !os.IsExist(err) {
		return nil, fmt.Errorf("link var/run: %w", err)
	}
	if err := rootfs.InstallBusybox(abs, applets); err != nil {
		return nil, err
	}
	if err := rootfs.MakeDevNull(filepath.Join(abs, "dev/null")); err != nil {
		return nil, err
	}
	r := &Root{Dir: abs, AptConfig: filepath.Join(abs, "etc/apt/testrepo-apt.conf")}
	conf := fmt.Sprintf("Dir \"%[1]s/\";\nDir::State::status \"%[1]s/var/lib/dpkg/status\";\n"+
		"DPkg::Options {\"--root=%[1]s\"; \"--log=%[1]s/var/log/dpkg.log\";};\n", abs)
	if err := os.WriteFile(r.AptConfig, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("write apt config: %w", err)
	}
	return r, r.SetSources(repos...)
}

// SetSources replaces the root's sources.list with the repositories.
func (r *Root) SetSources(repos ...*Repo) error {
	var b strings.Builder
	for _, repo := range repos {
		b.WriteString(repo.SourcesLine())
		b.WriteByte('\n')
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "etc/apt/sources.list"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write sources.list: %w", err)
	}
	return nil
}

// Path returns the host path of a path inside the root.
func (r *Root) Path(rel string) string {
	return filepath.Join(r.Dir, rel)
}

// Env is a complete environment for running apt-get, apt-mark or
// apt-cache on the root directly: APT_CONFIG, DEBIAN_FRONTEND, LC_ALL,
// PATH. dpkg itself needs --root and --log on its command line; DpkgArgs
// gives them.
func (r *Root) Env() []string {
	return []string{
		"APT_CONFIG=" + r.AptConfig,
		"DEBIAN_FRONTEND=noninteractive",
		"LC_ALL=C",
		"PATH=" + DefaultPath,
		"DPKG_ROOT=" + r.Dir,
	}
}

// DpkgArgs are the options that make the host's dpkg act on the root.
func (r *Root) DpkgArgs() []string {
	return []string{"--root=" + r.Dir, "--log=" + filepath.Join(r.Dir, "var/log/dpkg.log")}
}
