package dropdir_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/controllers/dropdir"
	"github.com/patchlet/patchlet/store"
)

// BenchmarkDropLatency drops 200 policy files one after another into a
// watched directory and reports the p50 and p99 time from a file's rename
// into the directory to its policy's creation in the store:
//
//	go test -run '^$' -bench DropLatency ./controllers/dropdir/
func BenchmarkDropLatency(b *testing.B) {
	const drops = 200
	var all []time.Duration
	for range b.N {
		root := b.TempDir()
		st, err := store.Open(filepath.Join(root, "state"), store.Options{Log: logr.Discard()})
		if err != nil {
			b.Fatal(err)
		}
		e := &env{root: root, dir: filepath.Join(root, "policies.d"), st: st}
		if err := os.Mkdir(e.dir, 0o755); err != nil {
			b.Fatal(err)
		}
		e.w = dropdir.New(dropdir.Options{Dir: e.dir, Store: st, Log: logr.Discard()})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.w.Run(ctx) }()
		for e.w.Ready() != nil {
			time.Sleep(time.Millisecond)
		}
		lat, err := measureDropLatency(ctx, e, drops)
		cancel()
		<-done
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, lat...)
	}
	b.ReportMetric(float64(percentile(all, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(all, 99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(percentile(all, 100).Microseconds())/1000, "max-ms")
}
