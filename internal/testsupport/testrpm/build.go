// Package testrpm builds what the RPM backends' integration tests need
// on the fly: noarch rpms from generated spec files (rpmbuild, no
// automatic dependencies, %config(noreplace) conffiles, scriptlets),
// rpm-md repositories indexed with createrepo_c (with an optional
// updateinfo for security advisories), and isolated roots that the host's
// dnf and zypper manage with --installroot / --root. It never touches the
// host's rpm database: rpmbuild gets its own _dbpath and _tmppath, and
// every command runs with HOME pointing at a directory whose .rpmmacros
// puts the database at ROOT/var/lib/rpm (Debian's rpm defaults to
// ~/.rpmdb).
package testrpm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Package describes a noarch rpm to build.
type Package struct {
	Name    string
	Version string
	// Release defaults to "1".
	Release string
	Epoch   int
	// Files maps absolute paths to contents.
	Files map[string]string
	// Conffiles maps absolute paths to contents, packaged %config(noreplace).
	Conffiles map[string]string
	Provides  []string
	Requires  []string
	// RebootHint makes the package provide installhint(reboot-needed):
	// libzypp then creates ROOT/run/reboot-needed when installing it.
	RebootHint bool
	// Post is a %post scriptlet (run by /bin/sh in the root).
	Post string
}

// ShellProvider is the package that satisfies the /bin/sh dependency of
// scriptlets: roots get a static busybox as /bin/sh, and the repository
// needs something that says so to rpm.
var ShellProvider = Package{Name: "testrpm-sh", Version: "1.0", Provides: []string{"/bin/sh", "/bin/busybox"}}

func (p Package) release() string {
	if p.Release == "" {
		return "1"
	}
	return p.Release
}

// FileName is the rpm's file name, NAME-VERSION-RELEASE.noarch.rpm.
func (p Package) FileName() string {
	return fmt.Sprintf("%s-%s-%s.noarch.rpm", p.Name, p.Version, p.release())
}

// EVR is [EPOCH:]VERSION-RELEASE.
func (p Package) EVR() string {
	s := p.Version + "-" + p.release()
	if p.Epoch > 0 {
		s = strconv.Itoa(p.Epoch) + ":" + s
	}
	return s
}

// Spec renders the spec file; src is the directory whose tree %install copies.
func (p Package) Spec(src string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Name: %s\nVersion: %s\nRelease: %s\n", p.Name, p.Version, p.release())
	if p.Epoch > 0 {
		fmt.Fprintf(&b, "Epoch: %d\n", p.Epoch)
	}
	b.WriteString("Summary: patchlet test package\nLicense: MIT\nBuildArch: noarch\nAutoReqProv: no\n")
	provides := slices.Clone(p.Provides)
	if p.RebootHint {
		provides = append(provides, "installhint(reboot-needed)")
	}
	for _, pr := range provides {
		fmt.Fprintf(&b, "Provides: %s\n", pr)
	}
	for _, r := range p.Requires {
		fmt.Fprintf(&b, "Requires: %s\n", r)
	}
	b.WriteString("\n%description\npatchlet test package.\n\n%install\nmkdir -p %{buildroot}\n")
	fmt.Fprintf(&b, "cp -a %s/. %%{buildroot}/\n\n%%files\n", src)
	for _, f := range sortedKeys(p.Conffiles) {
		fmt.Fprintf(&b, "%%config(noreplace) %s\n", f)
	}
	for _, f := range sortedKeys(p.Files) {
		b.WriteString(f + "\n")
	}
	if p.Post != "" {
		fmt.Fprintf(&b, "\n%%post\n%s\n", p.Post)
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Builder builds rpms into its directory and keeps them: building the
// same Package twice returns the first file. It is safe for concurrent use.
type Builder struct {
	Dir string

	mu    sync.Mutex
	built map[string]string
}

// NewBuilder returns a builder working in dir.
func NewBuilder(dir string) (*Builder, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{"rpms", "db", "tmp", "work"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o755); err != nil {
			return nil, fmt.Errorf("create builder dir: %w", err)
		}
	}
	return &Builder{Dir: abs, built: map[string]string{}}, nil
}

func (p Package) key() string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %d %v %v %v %q|", p.Name, p.Version, p.release(), p.Epoch, p.Provides, p.Requires, p.RebootHint, p.Post)
	for _, m := range []map[string]string{p.Files, p.Conffiles} {
		for _, k := range sortedKeys(m) {
			fmt.Fprintf(h, "%q=%q;", k, m[k])
		}
		h.Write([]byte("|"))
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Build builds p and returns the rpm's path.
func (b *Builder) Build(p Package) (string, error) {
	if p.Name == "" || p.Version == "" {
		return "", fmt.Errorf("build rpm: name and version are required")
	}
	key := p.key()
	b.mu.Lock()
	if path, ok := b.built[key]; ok {
		b.mu.Unlock()
		return path, nil
	}
	b.mu.Unlock()

	work := filepath.Join(b.Dir, "work", key)
	out := filepath.Join(b.Dir, "rpms", key)
	src := filepath.Join(work, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	for _, m := range []map[string]string{p.Files, p.Conffiles} {
		for path, content := range m {
			if !filepath.IsAbs(path) {
				return "", fmt.Errorf("build %s: file path %q is not absolute", p.Name, path)
			}
			dst := filepath.Join(src, path)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return "", err
			}
			if err := os.WriteFile(dst, []byte(content), 0o644); err != nil {
				return "", err
			}
		}
	}
	spec := filepath.Join(work, p.Name+".spec")
	if err := os.WriteFile(spec, []byte(p.Spec(src)), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command("rpmbuild", "-bb", "--quiet",
		"--define", "_topdir "+filepath.Join(work, "top"),
		"--define", "_dbpath "+filepath.Join(b.Dir, "db"),
		"--define", "_tmppath "+filepath.Join(b.Dir, "tmp"),
		"--define", "_rpmdir "+out,
		"--define", "_build_id_links none",
		"--define", "__os_install_post %{nil}",
		spec)
	cmd.Env = []string{"HOME=" + b.Dir, "LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if outb, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("rpmbuild %s: %w: %s", spec, err, outb)
	}
	path := filepath.Join(out, "noarch", p.FileName())
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("rpmbuild %s: %w", spec, err)
	}
	b.mu.Lock()
	b.built[key] = path
	b.mu.Unlock()
	return path, nil
}

// BuildAll builds packages two at a time and returns their paths in order.
func (b *Builder) BuildAll(pkgs ...Package) ([]string, error) {
	paths := make([]string, len(pkgs))
	errs := make([]error, len(pkgs))
	sem := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, p := range pkgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			paths[i], errs[i] = b.Build(p)
		}()
	}
	wg.Wait()
	return paths, errors.Join(errs...)
}

func copyFile(src, dst string, mode fs.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}
