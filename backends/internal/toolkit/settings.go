// Package toolkit holds what the backends' implementations share:
// settings and program resolution (settings.go), the refresh stamp
// (stamp.go), fingerprints of files (fingerprint.go), process and
// lock-holder lookups (proc.go, locks.go), package-name validation
// (names.go), the cache of answers (cache.go), the table-driven output
// classifier (classify.go) and its output helpers (output.go). It is
// internal to backends/: nothing outside a backend needs it.
package toolkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/executor"
)

// Program is one program a backend runs: the path it was given ("" to
// look it up) and its name.
type Program struct {
	Path *string
	Name string
}

// Resolve fills s's unset fields with the defaults (root "/", time.Now,
// executor.ExecRunner, backends.DefaultStateDir, DefaultPath and the default
// timeouts), checks the root is an absolute path and resolves the
// programs' paths in s.PathEnv (see ResolveProgram). manager names the
// backend in errors.
func Resolve(s *backends.Settings, manager string, programs ...Program) error {
	if s.Root == "" {
		s.Root = "/"
	}
	if !filepath.IsAbs(s.Root) {
		return fmt.Errorf("%s root %q is not an absolute path", manager, s.Root)
	}
	s.Root = filepath.Clean(s.Root)
	if s.StateDir == "" {
		s.StateDir = backends.DefaultStateDir
	}
	if s.PathEnv == "" {
		s.PathEnv = backends.DefaultPath
	}
	if s.Clock == nil {
		s.Clock = time.Now
	}
	if s.Runner == nil {
		s.Runner = executor.ExecRunner{}
	}
	if s.RefreshTimeout <= 0 {
		s.RefreshTimeout = backends.DefaultRefreshTimeout
	}
	if s.StepTimeout <= 0 {
		s.StepTimeout = backends.DefaultStepTimeout
	}
	for _, p := range programs {
		if err := ResolveProgram(p.Path, p.Name, s.PathEnv); err != nil {
			return err
		}
	}
	return nil
}

// ResolveProgram sets *path to the program name found in pathEnv when it
// is empty, and refuses a path that is not absolute.
func ResolveProgram(path *string, name, pathEnv string) error {
	if *path == "" {
		p, err := LookPath(name, pathEnv)
		if err != nil {
			return err
		}
		*path = p
	}
	if !filepath.IsAbs(*path) {
		return fmt.Errorf("path of %s %q is not absolute", name, *path)
	}
	return nil
}

// LookPath finds a program in the directories of pathEnv (not the
// process's own PATH): the first regular, executable file of that name in
// an absolute directory.
func LookPath(name, pathEnv string) (string, error) {
	for _, dir := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("find %s in %s: %w", name, pathEnv, exec.ErrNotFound)
}

// InRoot joins each of rels to root.
func InRoot(root string, rels ...string) []string {
	out := make([]string, len(rels))
	for i, rel := range rels {
		out[i] = filepath.Join(root, rel)
	}
	return out
}
