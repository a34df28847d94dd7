// Package agent wires patchlet's parts into one process: the store, the
// HTTP API, the drop-directory watcher, the backend, the detached executor
// and the reconcile loop.
package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/audit"
	"github.com/patchlet/patchlet/controllers/dropdir"
	"github.com/patchlet/patchlet/executor"
	"github.com/patchlet/patchlet/internal/options"
	"github.com/patchlet/patchlet/internal/version"
	"github.com/patchlet/patchlet/metrics"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

// RunStep is the detached runner's entry point (`patchlet run-step DIR`).
func RunStep(dir string) int {
	return executor.RunnerMain(dir)
}

// Run runs the agent until ctx ends.
func Run(ctx context.Context, o options.Options, log logr.Logger) error {
	started := time.Now()
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
	ex, err := executor.New(executor.Options{
		Dir:  filepath.Join(o.StateDir, "steps"),
		Mode: executor.Mode(o.Executor),
		Self: []string{self, "run-step"},
		Log:  log.WithName("executor"),
	})
	if err != nil {
		return fmt.Errorf("--executor: %w", err)
	}

	dw := dropdir.New(dropdir.Options{Dir: o.PolicyDir, Store: st, Log: log.WithName("policy-dir")})

	// One registry per agent; /metrics is served by the API (same listener,
	// same authentication) and every API request is counted.
	m := metrics.NewWithOptions(metrics.Options{Version: version.Version})

	ctl, backendName, err := newController(o, st, ex, m, log)
	if err != nil {
		return err
	}
	fa, err := newFleet(o, st, ctl.HostName(), log)
	if err != nil {
		return err
	}
	readyChecks := map[string]func() error{
		"policy-dir": dw.Ready,
		"index":      ctl.IndexReady,
	}
	if fa != nil {
		ctl.SetGate(fa.Gate())
		fa.SetWake(ctl.Enqueue) // a host waiting for its wave asks again when it opens
		readyChecks["fleet"] = fa.Ready
	}

	cidrs, err := server.ParseCIDRs(o.AllowCIDR)
	if err != nil {
		return fmt.Errorf("--allow-cidr: %w", err)
	}
	origins, err := server.ParseWebSocketOrigins(o.WSOrigins)
	if err != nil {
		return err
	}
	auditDir := cmp.Or(o.AuditDir, filepath.Join(o.StateDir, "audit"))
	al, err := audit.Open(audit.Options{Dir: auditDir, MaxSize: o.AuditMaxSize, Keep: o.AuditKeep, Log: log.WithName("audit")})
	if err != nil {
		return fmt.Errorf("audit log %s: %w (check it with patchctl audit verify --dir %s)", auditDir, err, auditDir)
	}
	defer al.Close()
	ctl.SetAudit(al)

	srv := server.New(server.Options{
		Authorizer:       server.NewRoleAuthorizer(os.Getuid()),
		Audit:            al,
		AllowCIDRs:       cidrs,
		WebSocketOrigins: origins,
		MaxWatches:       o.MaxWatches,
		RateLimit:        o.RateLimit,
		Store:            st,
		Log:              log.WithName("api"),
		Version:          version.Info(),
		ReadyChecks:      readyChecks,
		Health: server.HealthOptions{
			HostName: ctl.HostName(), Version: version.Version, Started: started, Backend: backendName,
		},
		OperationLogs: func(name string) (io.ReadCloser, error) {
			return ex.OpenLog(name)
		},
		Metrics:    m.Handler(),
		Instrument: func(h http.Handler) http.Handler { return m.InstrumentHandler(h, metrics.RequestInfo) },
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
	errs := make(chan error, 4)
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
	if fa != nil {
		run("fleet", fa.Run)
	}
	wg.Wait()
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	return errors.Join(all...)
}
