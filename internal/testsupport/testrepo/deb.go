// Package testrepo builds what tests of the Debian backend need, for real
// and on the spot: .deb packages (dpkg-deb), local apt repositories
// (dpkg-scanpackages, apt-ftparchive) and isolated roots that apt-get and
// dpkg manage through an APT_CONFIG file without touching the host's
// packages (TESTING.md, "apt / dpkg", option 3).
//
// It is a test helper: it shells out to dpkg-deb, dpkg-scanpackages and
// apt-ftparchive (Debian packages dpkg-dev and apt-utils) and copies a
// static busybox (busybox-static) into each root as /bin/sh.
//
// Typical use, once per suite:
//
//	b, _ := testrepo.NewBuilder(cacheDir)
//	repo, _ := testrepo.NewRepo(repoDir, testrepo.Release{Suite: "stable"})
//	deb, _ := b.Build(testrepo.Package{Name: "hello", Version: "1.0"})
//	repo.Add(deb)
//	repo.Publish()
//	root, _ := testrepo.NewRoot(rootDir, repo)
//	cmd := exec.Command("apt-get", "update")
//	cmd.Env = root.Env()
package testrepo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Package describes one binary package to build.
type Package struct {
	// Name and Version are the package's name and Debian version.
	Name    string
	Version string
	// Arch is the Architecture field; "" means "all".
	Arch string
	// Depends is the raw Depends field ("" for none).
	Depends string
	// Provides is the raw Provides field ("" for none).
	Provides string
	// Files maps absolute paths inside the package to their contents.
	Files map[string]string
	// Conffiles maps absolute paths of files to their contents; each is
	// also listed in DEBIAN/conffiles so that dpkg treats it as a conffile.
	Conffiles map[string]string
	// RebootRequired makes the postinst touch /var/run/reboot-required and
	// append the package's name to /var/run/reboot-required.pkgs, as a
	// kernel update does on Debian and Ubuntu.
	RebootRequired bool
	// PreinstSleep makes the preinst sleep this long (whole seconds),
	// which gives a test time to interrupt dpkg or hold it busy.
	PreinstSleep time.Duration
	// PostinstFailWhile makes the postinst exit 1 while this path exists
	// inside the root, which leaves the package half-configured (what
	// dpkg --audit reports) until the path is gone and dpkg --configure -a
	// runs.
	PostinstFailWhile string
}

// Filename is the conventional .deb file name of p.
func (p Package) Filename() string {
	return fmt.Sprintf("%s_%s_%s.deb", p.Name, strings.ReplaceAll(p.Version, ":", "%3a"), p.arch())
}

func (p Package) arch() string {
	if p.Arch == "" {
		return "all"
	}
	return p.Arch
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	versionRE = regexp.MustCompile(`^([0-9]+:)?[0-9][A-Za-z0-9.+~:-]*$`)
)

func (p Package) validate() error {
	if !nameRE.MatchString(p.Name) {
		return fmt.Errorf("invalid package name %q", p.Name)
	}
	if !versionRE.MatchString(p.Version) {
		return fmt.Errorf("invalid version %q of package %q", p.Version, p.Name)
	}
	for path := range p.Files {
		if !filepath.IsAbs(path) || filepath.Clean(path) != path || path == "/" {
			return fmt.Errorf("package %q: file path %q is not a clean absolute path", p.Name, path)
		}
	}
	if strings.ContainsAny(p.PostinstFailWhile, "'\n") || (p.PostinstFailWhile != "" && !filepath.IsAbs(p.PostinstFailWhile)) {
		return fmt.Errorf("package %q: PostinstFailWhile %q must be an absolute path without quotes", p.Name, p.PostinstFailWhile)
	}
	for path := range p.Conffiles {
		if !filepath.IsAbs(path) || filepath.Clean(path) != path || path == "/" {
			return fmt.Errorf("package %q: conffile path %q is not a clean absolute path", p.Name, path)
		}
		if _, dup := p.Files[path]; dup {
			return fmt.Errorf("package %q: %q is both a file and a conffile", p.Name, path)
		}
	}
	return nil
}

// Builder builds .deb files into a directory and caches them: building
// the same Package twice returns the first file. It is safe for concurrent
// use.
type Builder struct {
	dir string

	mu    sync.Mutex
	built map[string]string // spec hash → .deb path
}

// NewBuilder returns a Builder that keeps its .deb files (and their build
// trees) under dir, which it creates.
func NewBuilder(dir string) (*Builder, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create build dir: %w", err)
	}
	return &Builder{dir: dir, built: map[string]string{}}, nil
}

// Build builds p (or returns the cached build of an identical Package) and
// returns the path of the .deb.
func (b *Builder) Build(p Package) (string, error) {
	if err := p.validate(); err != nil {
		return "", err
	}
	spec, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode package spec: %w", err)
	}
	sum := sha256.Sum256(spec)
	key := hex.EncodeToString(sum[:8])

	b.mu.Lock()
	defer b.mu.Unlock()
	if path, ok := b.built[key]; ok {
		return path, nil
	}
	outDir := filepath.Join(b.dir, key)
	tree := filepath.Join(outDir, "tree")
	if err := os.RemoveAll(outDir); err != nil {
		return "", fmt.Errorf("clean build dir: %w", err)
	}
	if err := writeTree(tree, p); err != nil {
		return "", err
	}
	deb := filepath.Join(outDir, p.Filename())
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Zgzip", "-z1", "--build", tree, deb)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb --build %s: %w (output: %q)", tree, err, out)
	}
	b.built[key] = deb
	return deb, nil
}

// writeTree lays out the package's files and DEBIAN/ control area.
func writeTree(tree string, p Package) error {
	write := func(path, content string, mode os.FileMode) error {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		// WriteFile honours the umask; maintainer scripts must be executable.
		return os.Chmod(path, mode)
	}
	size := 1
	for path, content := range p.Files {
		if err := write(filepath.Join(tree, path), content, 0o644); err != nil {
			return err
		}
		size += len(content)/1024 + 1
	}
	conffiles := make([]string, 0, len(p.Conffiles))
	for path, content := range p.Conffiles {
		if err := write(filepath.Join(tree, path), content, 0o644); err != nil {
			return err
		}
		size += len(content)/1024 + 1
		conffiles = append(conffiles, path)
	}
	sort.Strings(conffiles)

	var control bytes.Buffer
	fmt.Fprintf(&control, "Package: %s\nVersion: %s\nArchitecture: %s\n", p.Name, p.Version, p.arch())
	fmt.Fprintf(&control, "Maintainer: patchlet tests <tests@patchlet.invalid>\nInstalled-Size: %d\n", size)
	if p.Provides != "" {
		fmt.Fprintf(&control, "Provides: %s\n", p.Provides)
	}
	if p.Depends != "" {
		fmt.Fprintf(&control, "Depends: %s\n", p.Depends)
	}
	fmt.Fprintf(&control, "Section: misc\nPriority: optional\nDescription: patchlet test package %s\n", p.Name)
	if err := write(filepath.Join(tree, "DEBIAN", "control"), control.String(), 0o644); err != nil {
		return err
	}
	if len(conffiles) > 0 {
		if err := write(filepath.Join(tree, "DEBIAN", "conffiles"), strings.Join(conffiles, "\n")+"\n", 0o644); err != nil {
			return err
		}
	}
	if p.PreinstSleep > 0 {
		secs := int((p.PreinstSleep + time.Second - 1) / time.Second)
		script := fmt.Sprintf("#!/bin/sh\nsleep %d\nexit 0\n", secs)
		if err := write(filepath.Join(tree, "DEBIAN", "preinst"), script, 0o755); err != nil {
			return err
		}
	}
	if p.RebootRequired || p.PostinstFailWhile != "" {
		script := "#!/bin/sh\nset -e\n"
		if p.RebootRequired {
			script += "if [ \"$1\" = configure ]; then\n" +
				"  mkdir -p /var/run\n" +
				"  touch /var/run/reboot-required\n" +
				"  echo \"$DPKG_MAINTSCRIPT_PACKAGE\" >> /var/run/reboot-required.pkgs\n" +
				"fi\n"
		}
		if p.PostinstFailWhile != "" {
			script += fmt.Sprintf("if [ -e '%s' ]; then\n"+
				"  echo \"postinst of $DPKG_MAINTSCRIPT_PACKAGE fails on purpose\" >&2\n  exit 1\nfi\n", p.PostinstFailWhile)
		}
		script += "exit 0\n"
		if err := write(filepath.Join(tree, "DEBIAN", "postinst"), script, 0o755); err != nil {
			return err
		}
	}
	return nil
}
