// Package testapk builds what the apk backend's integration tests need: the
// real apk-tools binaries that hack/apk/build-apk.sh caches, isolated roots
// (apk always runs with --root in a temp dir; the host's database is never
// read or written), an RSA key made with openssl, and signed local
// repositories of packages built with apk 3's mkpkg and indexed with mkndx.
package testapk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/onsi/ginkgo/v2"
)

// Versions are the apk-tools versions hack/apk/build-apk.sh builds.
var Versions = []string{"2.14.10", "3.0.6"}

// thirdParty is $THIRD_PARTY/apk-tools (default ../shared/third_party beside
// the module root found from the working directory).
func thirdParty() string {
	if tp := os.Getenv("THIRD_PARTY"); tp != "" {
		return filepath.Join(tp, "apk-tools")
	}
	dir, _ := os.Getwd()
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "..", "shared", "third_party", "apk-tools")
		}
	}
	return filepath.Join(dir, "apk-tools")
}

// cacheDir is where build-apk.sh puts the binaries for the archives in src:
// PATCHLET_CACHE/apk-tools/<first 16 hex of sha256 over "SUM  NAME\n" lines>.
func cacheDir(src string) (string, error) {
	archives, err := filepath.Glob(filepath.Join(src, "apk-tools-*.tar.gz"))
	if err != nil || len(archives) == 0 {
		return "", fmt.Errorf("no apk-tools archives in %s", src)
	}
	sort.Strings(archives)
	var lines bytes.Buffer
	for _, a := range archives {
		data, err := os.ReadFile(a)
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(data)
		fmt.Fprintf(&lines, "%s  %s\n", hex.EncodeToString(sum[:]), filepath.Base(a))
	}
	sum := sha256.Sum256(lines.Bytes())
	cache := os.Getenv("PATCHLET_CACHE")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache", "patchlet")
	}
	return filepath.Join(cache, "apk-tools", hex.EncodeToString(sum[:])[:16]), nil
}

// Binary returns the cached apk of version. Without the apk-tools source
// folder the calling spec skips, naming it; with the folder but without the
// binary it fails, so that CI, which has the folder, cannot skip silently.
func Binary(version string) string {
	src := thirdParty()
	if _, err := os.Stat(filepath.Join(src, "build.sh")); err != nil {
		ginkgo.Skip(fmt.Sprintf("apk %s: no %s (THIRD_PARTY/apk-tools), so no real apk-tools to test against", version, src))
	}
	dir, err := cacheDir(src)
	if err != nil {
		ginkgo.Fail(err.Error())
	}
	bin := filepath.Join(dir, "apk-"+version)
	if _, err := os.Stat(bin); err != nil {
		ginkgo.Fail(fmt.Sprintf("%s exists but %s is missing: run make test-tools (hack/apk/build-apk.sh)", src, bin))
	}
	return bin
}

// run runs argv and names it, its output and its error on failure.
func run(ctx context.Context, dir string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, out)
	}
	return string(out), nil
}

// Key is an RSA signing key: Private is the PEM file apk signs with, Public
// the file name apk looks up in etc/apk/keys.
type Key struct {
	Private string
	Name    string // e.g. test.rsa
}

// NewKey makes a 2048-bit RSA key in dir with openssl.
func NewKey(ctx context.Context, dir string) (Key, error) {
	k := Key{Private: filepath.Join(dir, "test.rsa"), Name: "test.rsa"}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Key{}, err
	}
	if _, err := run(ctx, dir, "openssl", "genrsa", "-out", k.Private, "2048"); err != nil {
		return Key{}, err
	}
	return k, nil
}

// Install copies k's public half into root's etc/apk/keys.
func (k Key) Install(ctx context.Context, root string) error {
	_, err := run(ctx, root, "openssl", "rsa", "-in", k.Private, "-pubout", "-out", filepath.Join(root, "etc/apk/keys", k.Name+".pub"))
	return err
}

// Package is an apk package to build.
type Package struct {
	Name, Version string // Version as apk writes it: 1.0-r0
	// Files maps paths relative to the root (etc/foo.conf) to contents.
	Files    map[string]string
	Provides []string // NAME or NAME=VERSION
	Depends  []string
	Origin   string // the source package (apk's o:), default Name
}

// Root is an isolated apk root with a signed local repository.
type Root struct {
	Apk  string // the apk binary
	Dir  string // the root
	Repo string // the repository (its packages and index are in Repo/x86_64)
	Key  Key
}

// NewRoot makes the root layout apk needs (etc/apk/{arch,keys,repositories},
// usr/{bin,lib,sbin} with bin sbin lib linked to them, dev/null), installs
// the key and creates the database with add --initdb.
func NewRoot(ctx context.Context, apk, dir string) (*Root, error) {
	r := &Root{Apk: apk, Dir: filepath.Join(dir, "root"), Repo: filepath.Join(dir, "repo")}
	for _, d := range []string{"etc/apk/keys", "usr/bin", "usr/lib", "usr/sbin", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(r.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(r.Repo, "x86_64"), 0o755); err != nil {
		return nil, err
	}
	for _, l := range []string{"bin", "sbin", "lib"} {
		if err := os.Symlink("usr/"+l, filepath.Join(r.Dir, l)); err != nil {
			return nil, err
		}
	}
	for name, data := range map[string]string{"dev/null": "", "etc/apk/arch": "x86_64\n", "etc/apk/repositories": r.Repo + "\n"} {
		if err := os.WriteFile(filepath.Join(r.Dir, name), []byte(data), 0o644); err != nil {
			return nil, err
		}
	}
	var err error
	if r.Key, err = NewKey(ctx, filepath.Join(dir, "key")); err != nil {
		return nil, err
	}
	if err := r.Key.Install(ctx, r.Dir); err != nil {
		return nil, err
	}
	if _, err := r.Run(ctx, "add", "--initdb"); err != nil {
		return nil, err
	}
	return r, nil
}

// V2 is whether the root's apk is apk-tools 2.
func (r *Root) V2() bool { return strings.HasSuffix(r.Apk, "apk-2.14.10") }

// Path is rel inside the root.
func (r *Root) Path(rel string) string { return filepath.Join(r.Dir, rel) }

// Run runs apk --root with args and returns its combined output.
func (r *Root) Run(ctx context.Context, args ...string) (string, error) {
	return run(ctx, r.Dir, append([]string{r.Apk, "--root", r.Dir, "--no-progress"}, args...)...)
}

// Stdout runs apk --root with args and returns its stdout alone.
func (r *Root) Stdout(ctx context.Context, args ...string) ([]byte, error) {
	argv := append([]string{r.Apk, "--root", r.Dir, "--no-progress"}, args...)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, stderr.String())
	}
	return out, nil
}

// Publish builds pkgs into the repository and rewrites its signed index
// over every package there: for apk 3 v3 packages (apk mkpkg --sign-key)
// and apk mkndx, for apk 2 v2 packages built here (buildV2) and apk index,
// signed as abuild-sign does (signV2).
func (r *Root) Publish(ctx context.Context, pkgs ...Package) error {
	arch := filepath.Join(r.Repo, "x86_64")
	if r.V2() {
		for _, p := range pkgs {
			if err := buildV2(filepath.Join(arch, p.Name+"-"+p.Version+".apk"), p); err != nil {
				return err
			}
		}
		apks, err := filepath.Glob(filepath.Join(arch, "*.apk"))
		if err != nil {
			return err
		}
		unsigned := filepath.Join(arch, "APKINDEX.unsigned.tar.gz")
		// The packages are unsigned: the signed index vouches for them.
		if _, err := run(ctx, arch, append([]string{r.Apk, "index", "--allow-untrusted", "--rewrite-arch", "x86_64", "-o", unsigned}, apks...)...); err != nil {
			return err
		}
		return signV2(ctx, r.Key, unsigned, filepath.Join(arch, "APKINDEX.tar.gz"))
	}
	for _, p := range pkgs {
		files, err := os.MkdirTemp("", "testapk-files-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(files)
		for rel, data := range p.Files {
			f := filepath.Join(files, rel)
			if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
				return err
			}
		}
		argv := []string{r.Apk, "mkpkg", "--sign-key", r.Key.Private,
			"--info", "name:" + p.Name, "--info", "version:" + p.Version, "--info", "arch:x86_64",
			"--info", "description:" + p.Name + " for tests", "--files", files,
			"--output", filepath.Join(arch, p.Name+"-"+p.Version+".apk")}
		if p.Origin != "" {
			argv = append(argv, "--info", "origin:"+p.Origin)
		}
		if len(p.Provides) > 0 {
			argv = append(argv, "--info", "provides:"+strings.Join(p.Provides, " "))
		}
		if len(p.Depends) > 0 {
			argv = append(argv, "--info", "depends:"+strings.Join(p.Depends, " "))
		}
		if _, err := run(ctx, arch, argv...); err != nil {
			return err
		}
	}
	apks, err := filepath.Glob(filepath.Join(arch, "*.apk"))
	if err != nil {
		return err
	}
	_, err = run(ctx, arch, append([]string{r.Apk, "--root", r.Dir, "mkndx", "--sign-key", r.Key.Private, "--output", filepath.Join(arch, "APKINDEX.tar.gz")}, apks...)...)
	return err
}
