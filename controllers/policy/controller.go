// Package policy is patchlet's reconcile loop on one host: it watches the
// PatchPolicy objects in the store, the package database and the package
// index, plans the difference with package reconcile, runs the steps
// detached through the executor package, and writes the status of every policy,
// of the agent's own Host object and of each Operation.
//
// The work queue is keyed by object, and every policy event maps to the one
// key of the Host the agent manages (as a pod event maps to its owner):
// all policies that select a host are planned together, because they share
// one package database, one package-manager lock and one set of steps, and
// conflicts between them must be seen at once. The queue is level-triggered
// (a pass always starts from a fresh observation), deduplicates bursts and
// backs off exponentially with jitter on failures.
package policy

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/workqueue"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/audit"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/executor"
	"github.com/patchlet/patchlet/metrics"
	"github.com/patchlet/patchlet/reconcile"
	"github.com/patchlet/patchlet/store"
)

// Defaults of Options.
const (
	DefaultResync         = time.Hour
	DefaultKeepOperations = 50
	DefaultLockRetry      = time.Second
	DefaultWatchDebounce  = 500 * time.Millisecond
	// DefaultRefreshRetry is the first retry delay of a failed index
	// refresh; it doubles per failure up to MaxRefreshRetry.
	DefaultRefreshRetry = 10 * time.Second
	MaxRefreshRetry     = 30 * time.Minute
)

// Options configure a Controller.
type Options struct {
	Store   *store.Store
	Backend backends.Backend
	// Executor runs steps detached (a *executor.Executor; simulated agents
	// pass an in-memory one).
	Executor StepExecutor
	Log      logr.Logger
	// HostName and HostLabels describe the Host object the agent keeps.
	HostName   string
	HostLabels map[string]string
	// HostInfo is what the agent knows of the machine (OS, backend choice).
	OS          v1alpha1.OSInfo
	BackendInfo v1alpha1.BackendInfo
	// Root is the managed root directory.
	Root string
	// StateDir keeps the reboot record.
	StateDir string
	// Rebooter reboots the host; nil never reboots.
	Rebooter Rebooter
	// BootID returns the current boot id.
	BootID func() (string, error)
	// Now defaults to time.Now.
	Now func() time.Time
	// Resync is the period of a pass when nothing triggers one (jittered).
	Resync time.Duration
	// KeepOperations is how many Operation objects are kept.
	KeepOperations int
	// LockRetry is how soon a pass retries when the package lock is held.
	LockRetry time.Duration
	// StepTimeout bounds every step that does not bring its own timeout.
	StepTimeout time.Duration
	// RateLimiter decides the backoff after a failed pass (default
	// exponential 5 ms … 1000 s with jitter).
	RateLimiter workqueue.TypedRateLimiter[string]
	// RefreshRetry is the first retry delay of a failed index refresh
	// (default DefaultRefreshRetry), doubling up to MaxRefreshRetry.
	RefreshRetry time.Duration
	// Metrics receives passes, steps, policy and host state; nil records
	// nothing.
	Metrics *metrics.Metrics
	// Gate, when set, admits the host into a fleet rollout: it is asked
	// before the planned steps of a pass run and before a reboot, and told
	// when policies are done on this host (nothing pending, no reboot
	// wanted, the health check passed). Nil admits every pass at once
	// (single-host mode).
	Gate Gate
	// HealthChecker runs one attempt of a policy's health check
	// (internal/healthcheck.Checker is the real one). Nil fails every
	// attempt, saying that this agent cannot run checks.
	HealthChecker HealthChecker
}

// HealthChecker runs one attempt of a policy's health check and says
// whether it passed, with a short message of what it saw. It must return
// within the check's timeout (and sooner when ctx ends).
type HealthChecker interface {
	Check(ctx context.Context, policy string, spec *v1alpha1.HealthCheckSpec) (passed bool, message string)
}

// StepExecutor runs steps detached from the agent and reports on them
// (executor.Executor is the real one).
type StepExecutor interface {
	Start(ctx context.Context, id string, step backends.Step) error
	Status(id string) (executor.State, error)
	Wait(ctx context.Context, id string) (executor.State, error)
	Tail(id string, n int64) ([]byte, error)
	Prune(keep int) ([]string, error)
}

// Gate bounds a fleet rollout (package fleet implements it with Leases).
// Acquire asks for the right to change the host for the named policies:
// granted false means wait, and ask again at retryAt. Release says the
// named policies are done on this host; releasing what is not held is a
// no-op. Both must be safe for concurrent use.
type Gate interface {
	Acquire(ctx context.Context, policies []string) (granted bool, retryAt time.Time, err error)
	Release(policies []string)
}

// StepRecorder keeps an audit record of every step run (audit.Log is one).
type StepRecorder interface {
	RecordStep(ctx context.Context, s audit.Step) error
}

// SetAudit makes the controller record every finished step; call it
// before Run.
func (c *Controller) SetAudit(r StepRecorder) { c.audit = r }

// SetGate sets the rollout gate (Options.Gate); call it before Run.
func (c *Controller) SetGate(g Gate) { c.o.Gate = g }

// HostName is the name of the Host the controller keeps.
func (c *Controller) HostName() string { return c.o.HostName }

// Rebooter reboots the host.
type Rebooter interface {
	Reboot(ctx context.Context) error
}

// Controller is the reconcile loop of one host.
type Controller struct {
	o       Options
	log     logr.Logger
	queue   workqueue.TypedRateLimitingInterface[string]
	limiter workqueue.TypedRateLimiter[string]
	// indexLimiter is the backoff of failed index refreshes.
	indexLimiter workqueue.TypedRateLimiter[string]

	audit StepRecorder

	mu         sync.Mutex
	generation map[string]int64 // last seen generation per policy
	cacheErr   string
	// failedRefresh is the last index refresh's failure, with its retry
	// time, until a refresh succeeds (only the loop's goroutine uses it).
	failedRefresh *reconcile.CacheFailure
	// unrepairedKey names an interruption of the package database that
	// recovery could not repair (set: unrepairedSet); no step runs for it
	// again.
	unrepairedKey string
	unrepairedSet bool
	// lastCheck is when each policy's health check last ran (the status
	// keeps whole seconds only).
	lastCheck map[string]time.Time
}

// New returns a Controller.
func New(o Options) *Controller {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Resync <= 0 {
		o.Resync = DefaultResync
	}
	if o.KeepOperations <= 0 {
		o.KeepOperations = DefaultKeepOperations
	}
	if o.LockRetry <= 0 {
		o.LockRetry = DefaultLockRetry
	}
	if o.StepTimeout <= 0 {
		o.StepTimeout = 30 * time.Minute
	}
	if o.BootID == nil {
		o.BootID = readBootID
	}
	lim := o.RateLimiter
	if lim == nil {
		lim = jitterLimiter{workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 1000*time.Second)}
	}
	if o.RefreshRetry <= 0 {
		o.RefreshRetry = DefaultRefreshRetry
	}
	c := &Controller{
		o:            o,
		log:          o.Log,
		limiter:      lim,
		indexLimiter: jitterLimiter{workqueue.NewTypedItemExponentialFailureRateLimiter[string](o.RefreshRetry, max(o.RefreshRetry, MaxRefreshRetry))},
		generation:   map[string]int64{},
		lastCheck:    map[string]time.Time{},
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(lim, workqueue.TypedRateLimitingQueueConfig[string]{Name: "patchlet"})
	o.Metrics.SetQueueDepth(c.queue.Len)
	return c
}

// jitterLimiter adds up to 10% jitter to a rate limiter's delays.
type jitterLimiter struct {
	workqueue.TypedRateLimiter[string]
}

func (j jitterLimiter) When(item string) time.Duration {
	d := j.TypedRateLimiter.When(item)
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

func readBootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("reading boot id: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// Enqueue asks for a pass.
func (c *Controller) Enqueue() { c.queue.Add(c.o.HostName) }

// IndexReady is the /readyz check of the package index: an error when the
// last refresh failed.
func (c *Controller) IndexReady() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cacheErr != "" {
		return fmt.Errorf("package index refresh failed: %s", c.cacheErr)
	}
	return nil
}

// Run runs the loop until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if err := c.ensureHost(); err != nil {
		return err
	}
	// Finish what a previous agent started before anything new runs.
	c.reattach(ctx)

	events, err := c.o.Store.Watch(ctx, store.PatchPolicies, 0)
	if err != nil {
		return fmt.Errorf("watching policies: %w", err)
	}
	go c.watchPolicies(ctx, events)
	go c.watchFiles(ctx)
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	c.Enqueue()
	for c.processNext(ctx) {
	}
	return ctx.Err()
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	start := time.Now()
	res, err := c.Reconcile(ctx, key)
	if ctx.Err() == nil {
		result := metrics.PassSuccess
		if err != nil {
			result = metrics.PassError
		}
		c.o.Metrics.ObservePass(result, time.Since(start))
	}
	switch {
	case ctx.Err() != nil:
		return false
	case err != nil:
		// The pass already wrote the next retry time computed by the limiter.
		c.log.Error(err, "pass failed", "host", key, "retryAfter", res.RequeueAfter)
		c.queue.AddAfter(key, res.RequeueAfter)
	case res.RequeueAfter > 0:
		c.limiter.Forget(key)
		c.queue.AddAfter(key, res.RequeueAfter)
	default:
		c.limiter.Forget(key)
	}
	return true
}

// watchPolicies enqueues a pass when a policy is added, deleted, or its
// generation or labels change; status writes (ours) do not trigger one.
func (c *Controller) watchPolicies(ctx context.Context, events <-chan store.Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				// Fell behind: start over from the current state.
				ch, err := c.o.Store.Watch(ctx, store.PatchPolicies, 0)
				if err != nil {
					return
				}
				events = ch
				continue
			}
			name := ev.Object.GetName()
			gen := ev.Object.GetGeneration()
			c.mu.Lock()
			old, seen := c.generation[name]
			trigger := false
			switch ev.Type {
			case watch.Deleted:
				delete(c.generation, name)
				trigger = true
			default:
				trigger = !seen || old != gen
				c.generation[name] = gen
			}
			c.mu.Unlock()
			if trigger {
				c.log.V(1).Info("policy changed", "policy", name, "event", ev.Type, "generation", gen)
				c.Enqueue()
			}
		}
	}
}

// watchFiles enqueues a pass when the package database or index changes
// under another tool's hands (apt-get run by an operator, unattended-upgrades).
func (c *Controller) watchFiles(ctx context.Context) {
	paths := c.o.Backend.WatchPaths()
	if len(paths) == 0 {
		return
	}
	locks := map[string]bool{}
	for _, l := range c.o.Backend.LockFiles() {
		locks[filepath.Clean(l)] = true
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		c.log.Error(err, "cannot watch the package database; relying on timers")
		return
	}
	defer w.Close()
	for _, p := range paths {
		if err := w.Add(p); err != nil {
			c.log.V(1).Info("not watching path", "path", p, "error", err.Error())
		}
	}
	var timer *time.Timer
	fire := make(chan struct{}, 1)
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if locks[filepath.Clean(ev.Name)] {
				continue
			}
			if timer == nil {
				timer = time.AfterFunc(DefaultWatchDebounce, func() {
					select {
					case fire <- struct{}{}:
					default:
					}
				})
			}
		case <-fire:
			timer = nil
			c.log.V(1).Info("package database changed")
			c.Enqueue()
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			c.log.Error(err, "watching the package database")
		}
	}
}

// Result says when to run the next pass.
type Result struct {
	RequeueAfter time.Duration
}

// jitter spreads periodic passes by up to 10%.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}
