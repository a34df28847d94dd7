// Package testpacman builds what the pacman backend's integration tests
// need: pacman packages made by hand (.PKGINFO, an optional .INSTALL and
// the files, tar | zstd; makepkg refuses root and is 20 times slower),
// repositories indexed with repo-add, and isolated roots whose pacman.conf
// keeps every path inside the root (SigLevel = Never), with a static
// busybox as /bin/sh for install scriptlets. The host's pacman database is
// never read or written.
//
// Needs the Debian packages pacman-package-manager (pacman, repo-add),
// libarchive-tools (bsdtar, used by repo-add), zstd and busybox-static.
package testpacman

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchlet/patchlet/internal/testsupport/rootfs"
)

// Package is a pacman package to build.
type Package struct {
	Name    string
	Version string // pkgver-pkgrel, e.g. 1.0-1
	// Arch defaults to "any".
	Arch string
	// Files maps paths relative to the root (etc/foo.conf) to contents.
	Files map[string]string
	// Backup lists files pacman treats as configuration (backup=): a
	// locally edited one is kept and the new one written as .pacnew.
	Backup []string
	// Install is the .INSTALL scriptlet (functions post_install,
	// post_upgrade, …), run by pacman in the root with /bin/sh.
	Install string
	Depends []string
	// Provides are the package's provides (NAME or NAME=VERSION).
	Provides []string
}

// FileName is the package file's name.
func (p Package) FileName() string {
	return fmt.Sprintf("%s-%s-%s.pkg.tar.zst", p.Name, p.Version, p.arch())
}

func (p Package) arch() string {
	if p.Arch == "" {
		return "any"
	}
	return p.Arch
}

// pkgInfo renders .PKGINFO.
func (p Package) pkgInfo() string {
	size := 0
	for _, c := range p.Files {
		size += len(c)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pkgname = %s\npkgbase = %s\npkgver = %s\npkgdesc = patchlet test package\n", p.Name, p.Name, p.Version)
	fmt.Fprintf(&b, "url = https://example.invalid/\nbuilddate = 1700000000\npackager = patchlet tests\nsize = %d\narch = %s\nlicense = MIT\n", size, p.arch())
	for _, f := range p.Backup {
		fmt.Fprintf(&b, "backup = %s\n", f)
	}
	for _, d := range p.Depends {
		fmt.Fprintf(&b, "depend = %s\n", d)
	}
	for _, d := range p.Provides {
		fmt.Fprintf(&b, "provides = %s\n", d)
	}
	return b.String()
}

// Build writes the package file into dir and returns its path.
func Build(dir string, p Package) (string, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	add := func(name string, mode int64, data string) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(data)), ModTime: mtime,
			Typeflag: tar.TypeReg, Uname: "root", Gname: "root"}); err != nil {
			return err
		}
		_, err := tw.Write([]byte(data))
		return err
	}
	if err := add(".PKGINFO", 0o644, p.pkgInfo()); err != nil {
		return "", fmt.Errorf("build %s: %w", p.Name, err)
	}
	if p.Install != "" {
		if err := add(".INSTALL", 0o644, p.Install); err != nil {
			return "", fmt.Errorf("build %s: %w", p.Name, err)
		}
	}
	// Parent directories first, as pacman expects them in the archive.
	dirs := map[string]bool{}
	names := make([]string, 0, len(p.Files))
	for f := range p.Files {
		names = append(names, f)
		for d := filepath.Dir(f); d != "." && d != "/"; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	sort.Strings(names)
	dirList := make([]string, 0, len(dirs))
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{Name: d + "/", Mode: 0o755, ModTime: mtime, Typeflag: tar.TypeDir,
			Uname: "root", Gname: "root"}); err != nil {
			return "", fmt.Errorf("build %s: %w", p.Name, err)
		}
	}
	for _, f := range names {
		if err := add(f, 0o644, p.Files[f]); err != nil {
			return "", fmt.Errorf("build %s: %w", p.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return "", fmt.Errorf("build %s: %w", p.Name, err)
	}
	out := filepath.Join(dir, p.FileName())
	cmd := exec.Command("zstd", "-q", "-f", "-o", out)
	cmd.Stdin = &buf
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("zstd %s: %w (%s)", out, err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// Repo is a pacman repository in a directory: NAME.db and package files.
type Repo struct {
	Name string
	Dir  string
}

// NewRepo creates an empty repository in dir.
func NewRepo(dir, name string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create repo: %w", err)
	}
	return &Repo{Name: name, Dir: abs}, nil
}

// Add builds pkgs into the repository and indexes them with repo-add; a
// version added replaces the repository's earlier one of that name
// (pacman repositories hold one version per name), whose file stays.
func (r *Repo) Add(pkgs ...Package) error {
	files := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		f, err := Build(r.Dir, p)
		if err != nil {
			return err
		}
		files = append(files, f)
	}
	argv := slices.Concat([]string{"-q", filepath.Join(r.Dir, r.Name+".db.tar.gz")}, files)
	cmd := exec.Command("repo-add", argv...)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("repo-add %v: %w (%s)", argv, err, strings.TrimSpace(string(b)))
	}
	return nil
}

// Remove deletes a package file from the repository directory but not
// from its database: a mirror that lost the file (stale index).
func (r *Repo) Remove(p Package) error {
	return os.Remove(filepath.Join(r.Dir, p.FileName()))
}

// Busybox applets linked into a root's /bin for scriptlets.
var applets = []string{"sh", "touch", "echo", "mkdir", "cat", "rm", "cp", "mv", "ln", "chmod", "true", "false", "ls", "test", "["}

// Root is an isolated root R for the host's pacman.
type Root struct {
	Dir string
}

// NewRoot creates a root in dir with an empty pacman database, /bin/sh
// (static busybox), /dev/null, /tmp and a pacman.conf using repos.
func NewRoot(dir string, repos ...*Repo) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"bin", "dev", "tmp", "run", "etc/pacman.d/hooks", "var/lib/pacman/local",
		"var/lib/pacman/sync", "var/cache/pacman/pkg", "var/log", "usr/lib/modules"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := os.Chmod(filepath.Join(abs, "tmp"), 0o1777); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(abs, "var/lib/pacman/local/ALPM_DB_VERSION"), []byte("9\n"), 0o644); err != nil {
		return nil, err
	}
	if err := rootfs.InstallBusybox(abs, applets); err != nil {
		return nil, err
	}
	if err := rootfs.MakeDevNull(filepath.Join(abs, "dev/null")); err != nil {
		return nil, err
	}
	r := &Root{Dir: abs}
	if err := r.WriteConfig("", repos...); err != nil {
		return nil, err
	}
	return r, nil
}

// WriteConfig writes the root's pacman.conf: extra lines in [options]
// (e.g. "CheckSpace"; first, so that a DBPath there, or in a file they
// Include, is the one pacman takes: its first), every path inside the
// root, no signature checks, then one section per repository.
func (r *Root) WriteConfig(extraOptions string, repos ...*Repo) error {
	var b strings.Builder
	b.WriteString("[options]\n")
	if extraOptions != "" {
		b.WriteString(strings.TrimSpace(extraOptions) + "\n")
	}
	fmt.Fprintf(&b, "RootDir = %[1]s\nDBPath = %[1]s/var/lib/pacman/\nCacheDir = %[1]s/var/cache/pacman/pkg/\n"+
		"LogFile = %[1]s/var/log/pacman.log\nGPGDir = %[1]s/etc/pacman.d/gnupg/\nHookDir = %[1]s/etc/pacman.d/hooks/\n"+
		"Architecture = auto\nSigLevel = Never\nLocalFileSigLevel = Never\nDisableDownloadTimeout\n", r.Dir)
	for _, repo := range repos {
		fmt.Fprintf(&b, "\n[%s]\nServer = file://%s\n", repo.Name, repo.Dir)
	}
	if err := os.WriteFile(r.Path("etc/pacman.conf"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write pacman.conf: %w", err)
	}
	return nil
}

// Path is the host path of rel inside the root.
func (r *Root) Path(rel string) string { return filepath.Join(r.Dir, rel) }

// Argv is the pacman command line for the root followed by args.
func (r *Root) Argv(args ...string) []string {
	return slices.Concat([]string{"/usr/bin/pacman", "--root", r.Dir, "--config", r.Path("etc/pacman.conf"), "--noconfirm"}, args)
}

// Pacman runs pacman on the root with args and returns its combined output.
func (r *Root) Pacman(ctx context.Context, args ...string) (string, error) {
	argv := r.Argv(args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w (output: %q)", strings.Join(argv, " "), err, out)
	}
	return string(out), nil
}
