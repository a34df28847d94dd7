// Package fleettest runs simulated patchlet agents for tests and
// benchmarks of fleet mode: the real local reconcile loop
// (controllers/policy) and the real fleet code (package fleet) against a
// real API server, with an in-memory package backend and step executor
// (configurable step duration and failure rate) instead of a package
// manager and detached processes.
package fleettest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/executor"
)

// Repo is a simulated package repository shared by simulated hosts:
// package name to the version it offers. Publish changes it mid-rollout.
type Repo struct {
	mu       sync.Mutex
	versions map[string]string
	security map[string]bool
	// history keeps every version offered, oldest first (the index lists
	// older versions still in the pool).
	history map[string][]string
}

// NewRepo returns a repository offering versions (name to version).
func NewRepo(versions map[string]string) *Repo {
	r := &Repo{versions: map[string]string{}, security: map[string]bool{}, history: map[string][]string{}}
	for n, v := range versions {
		r.versions[n] = v
		r.history[n] = []string{v}
	}
	return r
}

// Publish offers version of name (a security update when security).
func (r *Repo) Publish(name, version string, security bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.versions[name] = version
	r.security[name] = security
	r.history[name] = append(r.history[name], version)
}

// available lists the versions of name the repository offers, newest first.
func (r *Repo) available(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.history[name]
	out := make([]string, 0, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		out = append(out, h[i])
	}
	return out
}

func (r *Repo) get(name string) (string, bool, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.versions[name]
	return v, r.security[name], ok
}

func (r *Repo) all() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]string, len(r.versions))
	for k, v := range r.versions {
		out[k] = v
	}
	return out
}

// Backend is an in-memory package manager (backends.Backend) on one
// simulated host; its steps run through an Executor of the same host.
type Backend struct {
	repo *Repo
	// FailRate is the probability that a step fails (0..1).
	FailRate float64

	mu        sync.Mutex
	installed map[string]string
	refreshed time.Time
	applied   []string // name=version installed by steps, in order
}

// NewBackend returns a host with the given installed packages.
func NewBackend(repo *Repo, installed map[string]string, failRate float64) *Backend {
	b := &Backend{repo: repo, FailRate: failRate, installed: map[string]string{}, refreshed: time.Now()}
	for n, v := range installed {
		b.installed[n] = v
	}
	return b
}

// Installed returns the version of name installed ("" when absent).
func (b *Backend) Installed(name string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.installed[name]
}

// Applied lists name=version of every package a step installed, in order.
func (b *Backend) Applied() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.applied...)
}

func (b *Backend) Name() string   { return "sim" }
func (b *Backend) Family() string { return v1alpha1.FamilyDebian }

// Capabilities: the simulated backend holds and tells security updates apart.
func (b *Backend) Capabilities() backends.Capabilities {
	return backends.Capabilities{Hold: true, Security: true}
}

// WatchPaths and LockFiles are empty: nothing on disk changes under the simulation.
func (b *Backend) WatchPaths() []string { return nil }
func (b *Backend) LockFiles() []string  { return nil }

// LockHolder: nobody holds the simulated lock.
func (b *Backend) LockHolder() (int, string, bool, error) { return 0, "", false, nil }

// ReinstallStep is InstallStep.
func (b *Backend) ReinstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	return b.InstallStep(pkgs)
}

// Observe reports the installed packages and the repository's newer versions.
func (b *Backend) Observe(_ context.Context, names []string) (*backends.Observation, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	obs := &backends.Observation{
		Installed:      map[string]backends.Package{},
		Upgrades:       map[string]backends.Upgrade{},
		Available:      map[string][]string{},
		IndexRefreshed: b.refreshed,
	}
	for n, v := range b.installed {
		obs.Installed[n] = backends.Package{Name: n, Version: v, Arch: "amd64"}
		if to, sec, ok := b.repo.get(n); ok && to != v {
			obs.Upgrades[n] = backends.Upgrade{Name: n, From: v, To: to, Source: "sim", Security: sec}
		}
	}
	for _, n := range names {
		if vs := b.repo.available(n); len(vs) > 0 {
			obs.Available[n] = vs
		}
	}
	return obs, nil
}

func (b *Backend) step(t v1alpha1.StepType, pkgs []string) backends.Step {
	return backends.Step{Type: t, Argv: append([]string{"/sim", string(t)}, pkgs...), Packages: pkgs}
}

func (b *Backend) RefreshStep() backends.Step { return b.step(v1alpha1.StepRefresh, nil) }
func (b *Backend) InstallStep(pkgs []backends.PackageRef) (backends.Step, error) {
	names := make([]string, 0, len(pkgs))
	for _, p := range pkgs {
		if p.Version != "" {
			names = append(names, p.Name+"="+p.Version)
		} else {
			names = append(names, p.Name)
		}
	}
	return b.step(v1alpha1.StepInstall, names), nil
}
func (b *Backend) UpgradeStep(names []string) (backends.Step, error) {
	return b.step(v1alpha1.StepUpgrade, names), nil
}
func (b *Backend) RemoveStep(names []string) (backends.Step, error) {
	return b.step(v1alpha1.StepRemove, names), nil
}
func (b *Backend) HoldStep(names []string, hold bool) (backends.Step, error) {
	if hold {
		return b.step(v1alpha1.StepHold, names), nil
	}
	return b.step(v1alpha1.StepUnhold, names), nil
}
func (b *Backend) RecoverStep() (backends.Step, error) { return b.step(v1alpha1.StepRecover, nil), nil }
func (b *Backend) Classify(_ backends.Step, exitCode int, output []byte) backends.Failure {
	return backends.Failure{Reason: v1alpha1.FailureFailed, Message: fmt.Sprintf("exit %d: %s", exitCode, output)}
}
func (b *Backend) RecordRefresh(t time.Time) error {
	b.mu.Lock()
	b.refreshed = t
	b.mu.Unlock()
	return nil
}

// apply runs a step on the simulated host: it fails with FailRate, else
// changes the installed packages.
func (b *Backend) apply(s backends.Step) (exit int, out string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.FailRate > 0 && rand.Float64() < b.FailRate {
		return 100, "E: simulated failure"
	}
	switch s.Type {
	case v1alpha1.StepInstall, v1alpha1.StepUpgrade:
		for _, p := range s.Packages {
			name, ver := p, ""
			for i := 0; i < len(p); i++ {
				if p[i] == '=' {
					name, ver = p[:i], p[i+1:]
				}
			}
			if ver == "" {
				v, _, ok := b.repo.get(name)
				if !ok {
					return 100, "E: Unable to locate package " + name
				}
				ver = v
			}
			b.installed[name] = ver
			b.applied = append(b.applied, name+"="+ver)
		}
	case v1alpha1.StepRemove:
		for _, p := range s.Packages {
			delete(b.installed, p)
		}
	case v1alpha1.StepRefresh:
		b.refreshed = time.Now()
	}
	return 0, "ok"
}

// Executor runs steps of one simulated host in goroutines
// (policy.StepExecutor): each takes Duration, then changes the Backend.
type Executor struct {
	Backend  *Backend
	Duration time.Duration
	// Tracker, when set, counts the steps running at once across hosts.
	Tracker *Tracker
	// Host names the simulated host for the Tracker.
	Host string

	mu    sync.Mutex
	steps map[string]*simStep
	order []string
}

type simStep struct {
	st   executor.State
	out  string
	done chan struct{}
}

// NewExecutor returns an executor whose steps take d.
func NewExecutor(b *Backend, d time.Duration) *Executor {
	return &Executor{Backend: b, Duration: d, steps: map[string]*simStep{}}
}

// Start runs the step; it goes on when ctx ends, like a detached step.
func (e *Executor) Start(_ context.Context, id string, step backends.Step) error {
	e.mu.Lock()
	if _, ok := e.steps[id]; ok {
		e.mu.Unlock()
		return executor.ErrExists
	}
	now := time.Now()
	s := &simStep{st: executor.State{ID: id, Phase: executor.PhaseRunning, Step: step, PID: 1, CreatedAt: now, StartedAt: now}, done: make(chan struct{})}
	e.steps[id] = s
	e.order = append(e.order, id)
	e.mu.Unlock()
	e.Tracker.begin(e.Host)
	go func() {
		time.Sleep(e.Duration)
		code, out := e.Backend.apply(step)
		e.Tracker.end()
		e.mu.Lock()
		s.st.FinishedAt = time.Now()
		s.st.PID = 0
		s.st.ExitCode = code
		s.out = out
		if code == 0 {
			s.st.Phase = executor.PhaseSucceeded
		} else {
			s.st.Phase, s.st.Reason, s.st.Message = executor.PhaseFailed, v1alpha1.FailureFailed, out
		}
		e.mu.Unlock()
		close(s.done)
	}()
	return nil
}

func (e *Executor) get(id string) (*simStep, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.steps[id]
	if !ok {
		return nil, fmt.Errorf("step %s: %w", id, executor.ErrNotFound)
	}
	return s, nil
}

func (e *Executor) Status(id string) (executor.State, error) {
	s, err := e.get(id)
	if err != nil {
		return executor.State{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return s.st, nil
}

func (e *Executor) Wait(ctx context.Context, id string) (executor.State, error) {
	s, err := e.get(id)
	if err != nil {
		return executor.State{}, err
	}
	select {
	case <-ctx.Done():
		return e.Status(id)
	case <-s.done:
		return e.Status(id)
	}
}

func (e *Executor) Tail(id string, _ int64) ([]byte, error) {
	s, err := e.get(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return []byte(s.out), nil
}

// Prune forgets finished steps beyond the newest keep.
func (e *Executor) Prune(keep int) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var removed []string
	for len(e.order) > keep {
		id := e.order[0]
		if s := e.steps[id]; s != nil && !s.st.Phase.Done() {
			break
		}
		e.order = e.order[1:]
		delete(e.steps, id)
		removed = append(removed, id)
	}
	sort.Strings(removed)
	return removed, nil
}

// Tracker counts simulated steps running at once, across hosts, and
// when each host started its first step.
type Tracker struct {
	mu           sync.Mutex
	running, max int
	total        int
	first        map[string]time.Time
}

func (t *Tracker) begin(host string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.running++
	t.total++
	t.max = max(t.max, t.running)
	if t.first == nil {
		t.first = map[string]time.Time{}
	}
	if _, ok := t.first[host]; !ok {
		t.first[host] = time.Now()
	}
	t.mu.Unlock()
}

// FirstSteps returns when each host that ran a step started its first one.
func (t *Tracker) FirstSteps() map[string]time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]time.Time, len(t.first))
	for h, at := range t.first {
		out[h] = at
	}
	return out
}

func (t *Tracker) end() {
	if t == nil {
		return
	}
	t.mu.Lock()
	t.running--
	t.mu.Unlock()
}

// Max is the most steps that ran at once; Total how many started.
func (t *Tracker) Max() (most, total int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.max, t.total
}
