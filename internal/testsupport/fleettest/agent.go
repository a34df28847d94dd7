package fleettest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/controllers/policy"
	"github.com/patchlet/patchlet/fleet"
	"github.com/patchlet/patchlet/store"
)

// AgentOptions configure one simulated agent.
type AgentOptions struct {
	Name   string
	Labels map[string]string
	// Config is the agent's identity on the API server.
	Config *rest.Config
	// Dir holds the agent's local store (a tmpfs keeps many agents fast).
	Dir string
	// Repo and Installed are the simulated host's packages.
	Repo      *Repo
	Installed map[string]string
	// StepDuration is how long every step takes; FailRate how often one fails.
	StepDuration time.Duration
	FailRate     float64
	// Tracker counts steps running at once across agents (optional).
	Tracker *Tracker
	// HealthChecker runs the policies' health checks (optional: without
	// one every check fails).
	HealthChecker policy.HealthChecker
	// Fleet overrides fleet.Options (Config, Store, HostName, HostLabels
	// and Log are set from the above).
	Fleet fleet.Options
	Log   logr.Logger
}

// Agent is a running simulated agent.
type Agent struct {
	Name    string
	Backend *Backend
	Store   *store.Store
	Fleet   *fleet.Agent

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error
}

// StartAgent starts a simulated agent; Stop ends it.
func StartAgent(ctx context.Context, o AgentOptions) (*Agent, error) {
	dir := filepath.Join(o.Dir, o.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	st, err := store.Open(filepath.Join(dir, "state"), store.Options{Log: o.Log.WithName("store")})
	if err != nil {
		return nil, fmt.Errorf("opening the store of %s: %w", o.Name, err)
	}
	fo := o.Fleet
	fo.Config, fo.Store, fo.HostName, fo.HostLabels, fo.Log = o.Config, st, o.Name, o.Labels, o.Log.WithName("fleet")
	fa, err := fleet.New(fo)
	if err != nil {
		return nil, err
	}
	b := NewBackend(o.Repo, o.Installed, o.FailRate)
	ex := NewExecutor(b, o.StepDuration)
	ex.Tracker, ex.Host = o.Tracker, o.Name
	ctl := policy.New(policy.Options{
		Store:         st,
		Backend:       b,
		Executor:      ex,
		Log:           o.Log.WithName("controller"),
		HostName:      o.Name,
		HostLabels:    o.Labels,
		OS:            v1alpha1.OSInfo{ID: "debian", VersionID: "12"},
		BackendInfo:   v1alpha1.BackendInfo{Name: "sim", Reason: "simulated"},
		StateDir:      dir,
		BootID:        func() (string, error) { return "sim-boot", nil },
		Gate:          fa.Gate(),
		HealthChecker: o.HealthChecker,
		Resync:        time.Hour,
	})
	fa.SetWake(ctl.Enqueue)
	actx, cancel := context.WithCancel(ctx)
	a := &Agent{Name: o.Name, Backend: b, Store: st, Fleet: fa, cancel: cancel}
	run := func(f func(context.Context) error) {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := f(actx); err != nil && !errors.Is(err, context.Canceled) {
				a.errMu.Lock()
				a.err = errors.Join(a.err, err)
				a.errMu.Unlock()
			}
		}()
	}
	run(fa.Run)
	run(ctl.Run)
	return a, nil
}

// Stop ends the agent (its slots are not released: they expire) and
// returns what failed while it ran.
func (a *Agent) Stop() error {
	a.cancel()
	a.wg.Wait()
	a.errMu.Lock()
	defer a.errMu.Unlock()
	return a.err
}
