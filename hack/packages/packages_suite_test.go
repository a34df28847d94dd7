package packages_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestPackages(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Packages Suite")
}

const (
	nfpmVersion = "v2.41.3"
	versionPkg  = "github.com/patchlet/patchlet/internal/version.Version"
)

// A build is one version of the packages, built from freshly compiled
// binaries by hack/packages/build.sh.
type build struct {
	version string
	dir     string
}

// deb, rpm and arch are the package files of the build.
func (b build) deb() string  { return b.file("*.deb") }
func (b build) rpm() string  { return b.file("*.rpm") }
func (b build) arch() string { return b.file("*.pkg.tar.zst") }
func (b build) apk() string  { return b.file("*.apk") }

func (b build) file(glob string) string {
	m, err := filepath.Glob(filepath.Join(b.dir, "out", glob))
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	ExpectWithOffset(1, m).To(HaveLen(1), "one %s in %s", glob, b.dir)
	return m[0]
}

var (
	repoRoot string
	// v1 and v2 are two versions of the packages; v2 ships a changed
	// default config.yaml so that upgrades meet a changed conffile.
	v1, v2 build
)

var _ = BeforeSuite(func() {
	var err error
	repoRoot, err = filepath.Abs("../..")
	Expect(err).NotTo(HaveOccurred())
	nfpm := findNfpm()
	tmp := GinkgoT().TempDir()
	v1 = build{version: "1.0.0", dir: filepath.Join(tmp, "v1")}
	v2 = build{version: "1.0.1", dir: filepath.Join(tmp, "v2")}

	defaultConfig, err := os.ReadFile(filepath.Join(repoRoot, "config/config.yaml"))
	Expect(err).NotTo(HaveOccurred())
	configs := map[build][]byte{v1: defaultConfig, v2: append(defaultConfig, "# new in 1.0.1\n"...)}

	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, b := range []build{v1, v2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer GinkgoRecover()
			errs <- buildPackages(b, nfpm, configs[b])
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		Expect(err).NotTo(HaveOccurred())
	}
})

// findNfpm returns $NFPM, or bin/nfpm-<version> (what `make packages`
// uses), building the latter as the Makefile does when it is missing.
func findNfpm() string {
	if p := os.Getenv("NFPM"); p != "" {
		return p
	}
	p := filepath.Join(repoRoot, "bin", "nfpm-"+nfpmVersion)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	gobin := GinkgoT().TempDir()
	out, err := command(repoRoot, []string{"GOBIN=" + gobin}, "go", "install", "github.com/goreleaser/nfpm/v2/cmd/nfpm@"+nfpmVersion)
	Expect(err).NotTo(HaveOccurred(), out)
	Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
	Expect(os.Rename(filepath.Join(gobin, "nfpm"), p)).To(Succeed())
	return p
}

// buildPackages compiles patchlet and patchctl with b's version baked in
// and packages them in all four formats into b.dir/out.
func buildPackages(b build, nfpm string, config []byte) error {
	bin := filepath.Join(b.dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	env := []string{"CGO_ENABLED=0"}
	for _, cmd := range []string{"patchlet", "patchctl"} {
		if out, err := command(repoRoot, env, "go", "build", "-trimpath",
			"-ldflags", "-s -w -X "+versionPkg+"="+b.version,
			"-o", filepath.Join(bin, cmd), "./cmd/"+cmd); err != nil {
			return fmt.Errorf("build %s: %w\n%s", cmd, err, out)
		}
	}
	cfg := filepath.Join(b.dir, "config.yaml")
	if err := os.WriteFile(cfg, config, 0o644); err != nil {
		return err
	}
	out, err := command(repoRoot, []string{
		"NFPM=" + nfpm, "PKG_VERSION=" + b.version, "PKG_RELEASE=1", "PKG_ARCH=" + runtime.GOARCH,
		"PKG_BIN_DIR=" + bin, "PKG_CONFIG=" + cfg, "PKG_OUT=" + filepath.Join(b.dir, "out"),
	}, "hack/packages/build.sh")
	if err != nil {
		return fmt.Errorf("build.sh: %w\n%s", err, out)
	}
	return nil
}

// command runs name with args in dir, with env added to this process's
// environment, and returns its combined output; the error names the
// command and carries its output.
func command(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}
