// Package agent wires patchlet's parts into one process: the store, the
// HTTP API, the drop-directory watcher, the backend, the detached executor
// and the reconcile loop.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/go-logr/logr"

	bexec "github.com/patchlet/patchlet/backends/exec"
	"github.com/patchlet/patchlet/controllers/dropdir"
	"github.com/patchlet/patchlet/internal/options"
	"github.com/patchlet/patchlet/internal/version"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

// RunStep is the detached runner's entry point (`patchlet run-step DIR`).
func RunStep(dir string) int {
	return bexec.RunnerMain(dir)
}

// Run runs the agent until ctx ends.
func Run(ctx context.Context, o options.Options, log logr.Logger) error {
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return fmt.Errorf("creating --state-dir: %w", err)
	}
	st, err := store.Open(filepath.Join(o.StateDir), store.Options{Log: log.WithName("store")})
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}

	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding own executable: %w", err)
	}
	ex, err := bexec.New(bexec.Options{
		Dir:  filepath.Join(o.StateDir, "steps"),
		Mode: bexec.Mode(o.Executor),
		Self: []string{self, "run-step"},
		Log:  log.WithName("executor"),
	})
	if err != nil {
		return fmt.Errorf("--executor: %w", err)
	}

	dw := dropdir.New(dropdir.Options{Dir: o.PolicyDir, Store: st, Log: log.WithName("policy-dir")})

	ctl, err := newController(o, st, ex, log)
	if err != nil {
		return err
	}

	srv := server.New(server.Options{
		Store:   st,
		Log:     log.WithName("api"),
		Version: version.Info(),
		ReadyChecks: map[string]func() error{
			"policy-dir": dw.Ready,
			"index":      ctl.IndexReady,
		},
		OperationLogs: func(name string) (io.ReadCloser, error) {
			return ex.OpenLog(name)
		},
	})
	ln, err := server.Listen(server.ListenConfig{
		Listen: o.Listen, TLSCert: o.TLSCert, TLSKey: o.TLSKey, ClientCA: o.ClientCA, Insecure: o.Insecure,
	})
	if err != nil {
		return err
	}
	log.Info("serving the API", "listen", o.Listen)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	run("api", func(ctx context.Context) error { return srv.Serve(ctx, ln) })
	run("policy-dir", dw.Run)
	run("controller", ctl.Run)
	wg.Wait()
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	return errors.Join(all...)
}
