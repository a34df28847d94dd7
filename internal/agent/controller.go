package agent

import (
	"context"
	"fmt"
	"os"
	osexec "os/exec"
	"strings"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	_ "github.com/patchlet/patchlet/backends/all" // every backend, for backends.Open
	"github.com/patchlet/patchlet/controllers/policy"
	"github.com/patchlet/patchlet/executor"
	"github.com/patchlet/patchlet/internal/healthcheck"
	"github.com/patchlet/patchlet/internal/options"
	"github.com/patchlet/patchlet/metrics"
	"github.com/patchlet/patchlet/store"
)

// newController picks the backend and builds the reconcile loop; it also
// returns the backend's name.
func newController(o options.Options, st *store.Store, ex *executor.Executor, m *metrics.Metrics, log logr.Logger) (*policy.Controller, string, error) {
	rel, relErr := backends.ReadOSRelease(o.Root)
	name, reason := o.Backend, "--backend "+o.Backend
	if name == "auto" {
		if relErr != nil {
			return nil, "", fmt.Errorf("--backend auto: %w", relErr)
		}
		var err error
		name, reason, err = backends.DetectBackendIn(o.Root, rel)
		if err != nil {
			return nil, "", fmt.Errorf("--backend auto: %w", err)
		}
	}
	b, err := backends.Open(name, backends.Settings{Root: o.Root, StateDir: o.StateDir, Log: log.WithName(name)})
	if err != nil {
		return nil, "", err
	}
	if c, ok := b.(backends.Caveat); ok && c.Caveat() != "" {
		log.Info("backend caveat", "backend", name, "caveat", c.Caveat())
		reason += "; " + c.Caveat()
	}

	host := o.HostName
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, "", fmt.Errorf("--host-name not given and the hostname is unknown: %w", err)
		}
		host = strings.ToLower(h)
	}
	if errs := v1alpha1.ValidateObjectName(host, nil); len(errs) > 0 {
		return nil, "", fmt.Errorf("--host-name %q: %s", host, errs.ToAggregate().Error())
	}
	var uts unix.Utsname
	kernel := ""
	if unix.Uname(&uts) == nil {
		kernel = unix.ByteSliceToString(uts.Release[:])
	}
	var rebooter policy.Rebooter
	if argv := strings.Fields(o.RebootCommand); len(argv) > 0 {
		rebooter = commandRebooter{argv: argv}
	}
	ctl := policy.New(policy.Options{
		Store:      st,
		Backend:    b,
		Executor:   ex,
		Log:        log.WithName("controller"),
		HostName:   host,
		HostLabels: o.HostLabels,
		OS: v1alpha1.OSInfo{
			ID: rel.ID, IDLike: strings.Join(rel.IDLike, " "), VersionID: rel.VersionID,
			PrettyName: rel.PrettyName, Kernel: kernel,
		},
		BackendInfo: v1alpha1.BackendInfo{Name: name, Reason: reason},
		Root:        o.Root,
		StateDir:    o.StateDir,
		Rebooter:    rebooter,
		Resync:      o.ResyncPeriod,
		StepTimeout: o.StepTimeout,
		Metrics:     m,
		HealthChecker: healthcheck.New(healthcheck.Options{
			ChecksDir: o.ChecksDir, EUID: os.Geteuid(), Log: log.WithName("healthcheck"),
		}),
	})
	return ctl, name, nil
}

// commandRebooter runs --reboot-command (split on spaces, no shell).
type commandRebooter struct{ argv []string }

func (r commandRebooter) Reboot(ctx context.Context) error {
	cmd := osexec.CommandContext(ctx, r.argv[0], r.argv[1:]...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w (output: %q)", strings.Join(r.argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
