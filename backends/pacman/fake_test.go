package pacman_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	. "github.com/onsi/gomega"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/pacman"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
)

// pacmanAnswers answers pacman's -Syy, -Qu and -Sl with canned output, and
// pacman-conf's DBPath with the default inside the root, for
// the shared fake runner (runner).
type pacmanAnswers struct {
	qu, sl  string
	syncErr error
}

func (a *pacmanAnswers) answer(argv []string) ([]byte, error) {
	switch argv[len(argv)-1] {
	case "DBPath": // pacman-conf --config C --rootdir R DBPath, once at New
		return []byte(argv[4] + "/var/lib/pacman/\n"), nil
	case "-Syy":
		return nil, a.syncErr
	case "-Qu":
		if a.qu == "" {
			// What pacman does when nothing is pending: exit 1, no output.
			return nil, fmt.Errorf("pacman -Qu: %w", exec.Command("false").Run())
		}
		return []byte(a.qu), nil
	case "-Sl":
		return []byte(a.sl), nil
	}
	return nil, fmt.Errorf("unexpected command %v", argv)
}

// runner is the counting fake runner answering with a.
func (a *pacmanAnswers) runner() *backendtest.CountingRunner {
	return &backendtest.CountingRunner{Fake: a.answer}
}

// fakeRoot is a root directory with a pacman.conf, a local database and a
// package cache, but no pacman.
type fakeRoot struct{ dir string }

func newFakeRoot(dir string) *fakeRoot {
	r := &fakeRoot{dir: dir}
	for _, d := range []string{"etc", "var/lib/pacman/local", "var/lib/pacman/sync", "var/cache/pacman/pkg"} {
		Expect(os.MkdirAll(filepath.Join(dir, d), 0o755)).To(Succeed())
	}
	r.writeConf("")
	Expect(os.WriteFile(filepath.Join(dir, "var/lib/pacman/sync/core.db"), []byte("db"), 0o644)).To(Succeed())
	return r
}

func (r *fakeRoot) writeConf(extra string) {
	conf := fmt.Sprintf("[options]\nDBPath = %[1]s/var/lib/pacman/\nCacheDir = %[1]s/var/cache/pacman/pkg/\nSigLevel = Never\n%[2]s\n[core]\nServer = file:///nowhere\n", r.dir, extra)
	Expect(os.WriteFile(filepath.Join(r.dir, "etc/pacman.conf"), []byte(conf), 0o644)).To(Succeed())
}

func (r *fakeRoot) install(name, version string) {
	d := filepath.Join(r.dir, "var/lib/pacman/local", name+"-"+version)
	Expect(os.MkdirAll(d, 0o755)).To(Succeed())
	desc := fmt.Sprintf("%%NAME%%\n%s\n\n%%VERSION%%\n%s\n\n%%ARCH%%\nany\n\n", name, version)
	Expect(os.WriteFile(filepath.Join(d, "desc"), []byte(desc), 0o644)).To(Succeed())
}

func (r *fakeRoot) uninstall(name, version string) {
	Expect(os.RemoveAll(filepath.Join(r.dir, "var/lib/pacman/local", name+"-"+version))).To(Succeed())
}

func (r *fakeRoot) cache(file string) {
	Expect(os.WriteFile(filepath.Join(r.dir, "var/cache/pacman/pkg", file), []byte("pkg"), 0o644)).To(Succeed())
}

func newBackend(root, state string, runner backends.Runner, kernel string) *pacman.Backend {
	b, err := pacman.New(pacman.Options{Settings: backends.Settings{Root: root, StateDir: state, Log: logr.Discard(), Runner: runner},
		Pacman: "/usr/bin/pacman", KernelRelease: func() (string, error) { return kernel, nil }})
	Expect(err).NotTo(HaveOccurred())
	return b
}
