package backends

import (
	"fmt"
	"path/filepath"
	"time"
)

// Defaults every backend shares.
const (
	DefaultStateDir       = "/var/lib/patchlet"
	DefaultPath           = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	DefaultRefreshTimeout = 120 * time.Second
	DefaultStepTimeout    = 30 * time.Minute
)

// Settings are what every backend's constructor resolves the same way:
// the root it manages, its state directory, the PATH its steps run with,
// its clock, runner and timeouts.
type Settings struct {
	// Root is absolute and clean after Resolve ("/" by default).
	Root     string
	StateDir string
	PathEnv  string
	Clock    func() time.Time
	Runner   Runner
	// RefreshTimeout bounds an index refresh, StepTimeout any other step.
	RefreshTimeout time.Duration
	StepTimeout    time.Duration
}

// Resolve fills s's unset fields with the defaults (root "/", time.Now,
// ExecRunner, DefaultStateDir, DefaultPath and the default timeouts) and
// checks the root is an absolute path. manager names the backend in errors.
func (s *Settings) Resolve(manager string) error {
	if s.Root == "" {
		s.Root = "/"
	}
	if !filepath.IsAbs(s.Root) {
		return fmt.Errorf("%s root %q is not an absolute path", manager, s.Root)
	}
	s.Root = filepath.Clean(s.Root)
	if s.StateDir == "" {
		s.StateDir = DefaultStateDir
	}
	if s.PathEnv == "" {
		s.PathEnv = DefaultPath
	}
	if s.Clock == nil {
		s.Clock = time.Now
	}
	if s.Runner == nil {
		s.Runner = ExecRunner{}
	}
	if s.RefreshTimeout <= 0 {
		s.RefreshTimeout = DefaultRefreshTimeout
	}
	if s.StepTimeout <= 0 {
		s.StepTimeout = DefaultStepTimeout
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
