// Package toolkit holds what the backends' implementations share:
// settings, program resolution and the Base every backend embeds
// (settings.go), the refresh stamp (stamp.go), fingerprints of files
// (fingerprint.go), process, kernel and lock-holder lookups (proc.go),
// package-name validation (names.go), the cache of answers (cache.go),
// the table-driven output classifier (classify.go) and its output
// helpers (output.go). It is internal to backends/: nothing outside a
// backend needs it.
package toolkit

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
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

// ResolveInRoot joins rel to root, following symlinks as if root were /:
// ".." never leaves root and absolute link targets restart at root.
// Missing components are joined as they are.
func ResolveInRoot(root, rel string) string {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	var cur []string
	for hops := 0; len(parts) > 0; {
		p := parts[0]
		parts = parts[1:]
		switch p {
		case "", ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		next := append(slices.Clone(cur), p)
		full := filepath.Join(root, filepath.Join(next...))
		fi, err := os.Lstat(full)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		hops++
		target, err := os.Readlink(full)
		if err != nil || hops > 40 {
			cur = next // let the caller's open fail on it
			continue
		}
		if strings.HasPrefix(target, "/") {
			cur = nil
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	return filepath.Join(root, filepath.Join(cur...))
}

// Base is the part of a backend that reads only its settings: its name,
// family and classifier, the resolved Settings, paths inside the root,
// the base environment of its commands and the refresh stamp. Every
// Backend embeds one, made by NewBase.
type Base struct {
	// Cfg is the backend's Settings, resolved by Resolve.
	Cfg    backends.Settings
	name   string
	family string
	rules  *Rules
}

// NewBase resolves s and the programs for the backend called name (see
// Resolve; name also names it in errors) and returns the Base of a
// backend of family whose failures rules classify.
func NewBase(s backends.Settings, name, family string, rules *Rules, programs ...Program) (Base, error) {
	if err := Resolve(&s, name, programs...); err != nil {
		return Base{}, err
	}
	return Base{Cfg: s, name: name, family: family, rules: rules}, nil
}

// Rename changes the name Name and the refresh stamp use (dnf's is the
// command set it settles on after resolving its program).
func (b *Base) Rename(name string) { b.name = name }

// Name implements backends.Backend.
func (b *Base) Name() string { return b.name }

// Family implements backends.Backend.
func (b *Base) Family() string { return b.family }

// Classify implements backends.Backend with the backend's rules.
func (b *Base) Classify(step backends.Step, exitCode int, output []byte) backends.Failure {
	return b.rules.Classify(step.Type, exitCode, output)
}

// Env is the environment every command starts from: LC_ALL=C and PATH.
// Each call returns a new slice.
func (b *Base) Env() []string { return []string{"LC_ALL=C", "PATH=" + b.Cfg.PathEnv} }

// Path is the host path of rel inside the root.
func (b *Base) Path(rel string) string { return filepath.Join(b.Cfg.Root, rel) }

// RecordRefresh implements backends.Backend: it stores t in StateDir.
func (b *Base) RecordRefresh(t time.Time) error { return b.Stamp().Write(t) }

// IndexRefreshed is the time of the backend's last successful refresh:
// its refresh stamp's, else what fallback says (the package manager's own
// trace of a refresh; nil for none), never after now.
func (b *Base) IndexRefreshed(fallback func() time.Time) (time.Time, error) {
	return b.Stamp().Refreshed(b.Cfg.Log, b.Cfg.Clock(), fallback)
}

// Stamp is patchlet's own record of the backend's last successful
// refresh, in StateDir.
func (b *Base) Stamp() RefreshStamp { return StampIn(b.Cfg.StateDir, b.name) }

// NewStep is the step of type typ that runs argv with env on the
// packages names (copied), with the settings' timeout for it:
// RefreshTimeout for a refresh, StepTimeout for any other step.
func (b *Base) NewStep(typ v1alpha1.StepType, argv, env, names []string) backends.Step {
	timeout := b.Cfg.StepTimeout
	if typ == v1alpha1.StepRefresh {
		timeout = b.Cfg.RefreshTimeout
	}
	return backends.Step{Type: typ, Argv: argv, Env: env, Packages: slices.Clone(names), Timeout: timeout}
}
