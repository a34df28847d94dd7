package apk_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apk"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
)

// benchBackend is a root whose installed database holds 2,000 packages.
func benchBackend(b *testing.B, runner *backendtest.CountingRunner) *apk.Backend {
	root := b.TempDir()
	var sb strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&sb, "C:Q1abc=\nP:pkg%04d\nV:1.0-r0\nA:x86_64\nS:100\nI:400\nT:bench\nF:usr/bin\nR:pkg%04d\nZ:Q1def=\n\n", i, i)
	}
	for rel, data := range map[string]string{"lib/apk/db/installed": sb.String(), "etc/apk/world": "pkg0000\n"} {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	be, err := apk.New(apk.Options{Settings: backends.Settings{Root: root, StateDir: b.TempDir(), Log: logr.Discard(), Runner: runner},
		Apk: "/sbin/apk", KernelRelease: func() (string, error) { return "", nil }})
	if err != nil {
		b.Fatal(err)
	}
	return be
}

// BenchmarkObserveNoop is an Observe with nothing changed on a
// 2,000-package database: no process, no parse.
func BenchmarkObserveNoop(b *testing.B) {
	runner := &backendtest.CountingRunner{Fake: apkAnswer}
	be := benchBackend(b, runner)
	ctx := context.Background()
	if _, err := be.Observe(ctx, nil); err != nil {
		b.Fatal(err)
	}
	n := runner.Count()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := be.Observe(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
	if runner.Count() != n {
		b.Fatalf("a no-op Observe ran %d commands", runner.Count()-n)
	}
}

// BenchmarkParseInstalled parses a 2,000-package installed database.
func BenchmarkParseInstalled(b *testing.B) {
	var sb strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&sb, "C:Q1abc=\nP:pkg%04d\nV:1.0-r0\nA:x86_64\nS:100\nI:400\nT:bench\nF:usr/bin\nR:pkg%04d\nZ:Q1def=\n\n", i, i)
	}
	data := []byte(sb.String())
	b.ReportAllocs()
	for b.Loop() {
		if len(apk.ParseInstalled(data)) != 2000 {
			b.Fatal("wrong count")
		}
	}
}
