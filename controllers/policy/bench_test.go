package policy_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// benchRepo is the shared repository for benchmarks, built once per
// process (the Ginkgo suite builds its own in BeforeSuite).
var benchRepo = sync.OnceValues(func() (*repoFixture, error) {
	dir, err := os.MkdirTemp("", "patchlet-bench-")
	if err != nil {
		return nil, err
	}
	atExit = append(atExit, func() { _ = os.RemoveAll(dir) })
	return buildRepo(filepath.Join(dir, "repo"))
})

// atExit runs after all tests and benchmarks (TestMain).
var atExit []func()

// converged returns a harness whose policy the loop has satisfied, with
// the loop stopped.
func converged(b *testing.B, pol *v1alpha1.PatchPolicy) *harness {
	b.Helper()
	return convergedWith(b, pol, nil)
}

// convergedWith is converged with prepare run on the harness first.
func convergedWith(b *testing.B, pol *v1alpha1.PatchPolicy, prepare func(*harness) error) *harness {
	b.Helper()
	repo, err := benchRepo()
	if err != nil {
		b.Fatal(err)
	}
	h, err := newHarness(b.TempDir(), logr.Discard(), repo.repo)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.close() })
	if prepare != nil {
		if err := prepare(h); err != nil {
			b.Fatal(err)
		}
	}
	if err := h.apply(pol); err != nil {
		b.Fatal(err)
	}
	h.start()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := h.policy(pol.Name)
		if err == nil && isReady(p) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal(errors.Join(errors.New("policy not Ready within 30s"), err))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := h.stop(); err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkNoopPass is one reconcile pass over a satisfied policy (a pin,
// a Latest, a plain install): observe, plan, write status. It must start
// no process and create no Operation.
func BenchmarkNoopPass(b *testing.B) {
	pol := newPolicy("bench",
		v1alpha1.PackageSpec{Name: "hello", Version: "1.1"},
		v1alpha1.PackageSpec{Name: "slow", State: v1alpha1.PackageLatest},
		v1alpha1.PackageSpec{Name: "linux-image-test"})
	h := converged(b, pol)
	ctx := context.Background()
	ops, runs := len(h.operations("")), h.runner.n.Load()

	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.ctl.Reconcile(ctx, hostName); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := len(h.operations("")); got != ops {
		b.Fatalf("a pass over a satisfied policy created %d Operations", got-ops)
	}
	procs := h.runner.n.Load() - runs
	if procs != 0 {
		b.Fatalf("a pass over a satisfied policy started %d processes", procs)
	}
	b.ReportMetric(float64(procs)/float64(b.N), "procs/op")
	p, err := h.policy(pol.Name)
	if err != nil || !isReady(p) {
		b.Fatal(fmt.Errorf("policy no longer Ready after the passes: %w", err))
	}
}

// BenchmarkNoopPassHealthChecked is a pass over a satisfied policy whose
// health check passed: the check is not run again, nor anything else.
func BenchmarkNoopPassHealthChecked(b *testing.B) {
	pol := newPolicy("bench", v1alpha1.PackageSpec{Name: "hello", Version: "1.1"})
	pol.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: "ok"}}
	h := convergedWith(b, pol, func(h *harness) error {
		return os.WriteFile(filepath.Join(h.checksDir, "ok"), []byte("#!/bin/sh\nexit 0\n"), 0o755)
	})
	ctx := context.Background()
	runs, checks := h.runner.n.Load(), h.checker.n.Load()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.ctl.Reconcile(ctx, hostName); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if n := h.runner.n.Load() - runs; n != 0 {
		b.Fatalf("a pass over a satisfied policy started %d processes", n)
	}
	if n := h.checker.n.Load() - checks; n != 0 {
		b.Fatalf("a pass over a satisfied policy ran its passed health check %d times", n)
	}
	b.ReportMetric(0, "procs/op")
}
