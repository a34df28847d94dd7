package testrpm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/patchlet/patchlet/internal/testsupport/rootfs"
)

// DefaultPath is the PATH given to commands run with Env.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Busybox applets linked into a root's /bin for scriptlets.
var applets = []string{"sh", "sleep", "touch", "echo", "mkdir", "cat", "rm", "cp", "mv", "ln", "true", "false", "test", "["}

// Root is an isolated root directory that the host's dnf (--installroot)
// and zypper (--root) manage. It holds a dnf.conf (gpgcheck off, no weak
// dependencies), one .repo file per repository for both dnf
// (etc/yum.repos.d) and zypper (etc/zypp/repos.d), a static busybox as
// /bin/sh and /dev/null for scriptlets. Home is the HOME to run rpm, dnf
// and zypper with: its .rpmmacros puts the database at /var/lib/rpm.
type Root struct {
	Dir  string
	Home string
}

// NewRoot creates a root in dir (and its HOME next to it, dir+".home").
func NewRoot(dir string, repos ...*Repo) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	r := &Root{Dir: abs, Home: abs + ".home"}
	for _, d := range []string{"bin", "dev", "tmp", "run", "usr/bin", "etc/dnf", "etc/yum.repos.d",
		"etc/zypp/repos.d", "var/lib/rpm", "var/cache", "var/log", r.Home} {
		if !filepath.IsAbs(d) {
			d = filepath.Join(abs, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := os.Chmod(filepath.Join(abs, "tmp"), 0o1777); err != nil {
		return nil, err
	}
	if err := os.Symlink("/run", filepath.Join(abs, "var/run")); err != nil && !os.IsExist(err) {
		return nil, fmt.Errorf("link var/run: %w", err)
	}
	if err := r.SetDBPath("/var/lib/rpm"); err != nil {
		return nil, err
	}
	conf := "[main]\ngpgcheck=0\ninstall_weak_deps=False\nskip_if_unavailable=False\nkeepcache=False\n"
	if err := os.WriteFile(filepath.Join(abs, "etc/dnf/dnf.conf"), []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("write dnf.conf: %w", err)
	}
	if err := os.WriteFile(filepath.Join(abs, "etc/os-release"), []byte("ID=testrpm\nVERSION_ID=1\n"), 0o644); err != nil {
		return nil, err
	}
	if err := rootfs.InstallBusybox(abs, applets); err != nil {
		return nil, err
	}
	if err := rootfs.MakeDevNull(filepath.Join(abs, "dev/null")); err != nil {
		return nil, err
	}
	return r, r.SetRepos(repos...)
}

// SetDBPath makes rpm, dnf and zypper run with Env keep the root's
// database at dbpath inside the root (HOME/.rpmmacros %_dbpath; NewRoot's
// is /var/lib/rpm): with --root, rpm reads the host's macros and HOME's,
// not the root's /etc/rpm.
func (r *Root) SetDBPath(dbpath string) error {
	if err := os.WriteFile(filepath.Join(r.Home, ".rpmmacros"), []byte("%_dbpath "+dbpath+"\n"), 0o644); err != nil {
		return fmt.Errorf("write .rpmmacros: %w", err)
	}
	return nil
}

// SetRepos replaces the root's repository files.
func (r *Root) SetRepos(repos ...*Repo) error {
	for _, d := range []string{"etc/yum.repos.d", "etc/zypp/repos.d"} {
		old, _ := filepath.Glob(filepath.Join(r.Dir, d, "*.repo"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for _, repo := range repos {
		dnf := fmt.Sprintf("[%s]\nname=%s\nbaseurl=%s\nenabled=1\ngpgcheck=0\nmetadata_expire=0\n", repo.ID, repo.ID, repo.URL())
		if err := os.WriteFile(filepath.Join(r.Dir, "etc/yum.repos.d", repo.ID+".repo"), []byte(dnf), 0o644); err != nil {
			return fmt.Errorf("write dnf repo: %w", err)
		}
		zyp := fmt.Sprintf("[%s]\nname=%s\nenabled=1\nautorefresh=0\nbaseurl=%s\ntype=rpm-md\ngpgcheck=0\nkeeppackages=0\n", repo.ID, repo.ID, repo.URL())
		if err := os.WriteFile(filepath.Join(r.Dir, "etc/zypp/repos.d", repo.ID+".repo"), []byte(zyp), 0o644); err != nil {
			return fmt.Errorf("write zypper repo: %w", err)
		}
	}
	return nil
}

// Path is the host path of a path inside the root.
func (r *Root) Path(rel string) string { return filepath.Join(r.Dir, strings.TrimPrefix(rel, "/")) }

// Env is a complete environment for rpm, dnf and zypper on the root.
func (r *Root) Env() []string {
	return []string{"HOME=" + r.Home, "LC_ALL=C", "PATH=" + DefaultPath}
}

// Virtual is a package with virtual provides of each kind rpm records: two
// names a policy may use (one versioned), a file path, a soname and a
// qualified capability.
var Virtual = Package{Name: "tinymta", Version: "1.0",
	Provides: []string{"mail-transport-agent", "smtpd = 2.0", "/usr/sbin/sendmail", "libtinymta.so.1()(64bit)", "config(tinymta) = 1.0"}}

// NewRepoRoot builds pkgs into a repository "base" (dir/repo, built in
// dir/build) and makes a root dir/root that uses it.
func NewRepoRoot(dir string, pkgs ...Package) (*Root, *Repo, error) {
	builder, err := NewBuilder(filepath.Join(dir, "build"))
	if err != nil {
		return nil, nil, err
	}
	repo, err := NewRepo(builder, filepath.Join(dir, "repo"), "base")
	if err != nil {
		return nil, nil, err
	}
	if err := repo.Add(pkgs...); err != nil {
		return nil, nil, err
	}
	if err := repo.Publish(); err != nil {
		return nil, nil, err
	}
	root, err := NewRoot(filepath.Join(dir, "root"), repo)
	return root, repo, err
}
