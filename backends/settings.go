package backends

import (
	"time"

	"github.com/go-logr/logr"
)

// Defaults every backend shares.
const (
	DefaultStateDir       = "/var/lib/patchlet"
	DefaultPath           = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	DefaultRefreshTimeout = 120 * time.Second
	DefaultStepTimeout    = 30 * time.Minute
)

// Settings are what every backend takes the same way: the root it manages,
// its state directory, the PATH its steps run with, its clock, runner,
// timeouts and logger. A backend's own Options embed them; unset fields
// get the defaults above (root "/", time.Now, a runner that executes).
type Settings struct {
	// Root is the root directory to manage ("" means "/"); absolute.
	Root string
	// StateDir holds patchlet's own files (refresh stamp, configuration).
	StateDir string
	// PathEnv is the PATH given to every command (default DefaultPath).
	PathEnv string
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Runner runs the backend's read-only queries (dry runs, version lists).
	Runner Runner
	// RefreshTimeout bounds an index refresh, StepTimeout any other step.
	RefreshTimeout time.Duration
	StepTimeout    time.Duration
	Log            logr.Logger
}
