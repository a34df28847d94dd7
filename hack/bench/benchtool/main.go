// Command benchtool is the Go half of make bench (hack/bench/run.sh): it
// generates the benchmark's apt repository and dpkg status databases, and
// times patchlet's own observation code (the apt backend's status parser
// and Observe) in-process, printing one JSON object per measurement.
//
//	benchtool repo    -out DIR [-fill N] [-slow S]    repository of generated packages
//	benchtool status  -out DIR -n N           dpkg admin directory with N installed packages
//	benchtool parse   -status FILE [-runs K]  parse a status file K times (apt.ParseStatus)
//	benchtool observe [-runs K]               apt backend Observe on / (run it in the sandbox)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apt"
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
)

// Upgrades is how many generated packages have a newer version in the
// repository ("upgrade 20 packages").
const Upgrades = 20

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	out := fs.String("out", "", "output directory (created)")
	fill := fs.Int("fill", 200, "packages that exist in one version only (index size)")
	n := fs.Int("n", 1000, "installed packages in the generated status database")
	status := fs.String("status", "", "dpkg status file to parse")
	runs := fs.Int("runs", 50, "timed repetitions")
	slow := fs.Int("slow", 40, "seconds bench-slow's preinst sleeps (a step that runs while the API is measured)")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "repo":
		err = buildRepo(*out, *fill, time.Duration(*slow)*time.Second)
	case "status":
		err = writeAdmindir(*out, *n)
	case "parse":
		err = timeParse(*status, *runs)
	case "observe":
		err = timeObserve(*runs)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchtool repo|status|parse|observe [flags]")
	os.Exit(2)
}

// UpName is the name of the i-th (1-based) package that has an upgrade.
func UpName(i int) string { return fmt.Sprintf("bench-up-%02d", i) }

// buildRepo writes DIR/debs (every .deb, old versions included, for
// resetting the sandbox) and DIR/repo (the published repository):
// demo-hello 1.0-1 and 2.0-1 (the pinned install), bench-up-01..20 in
// 1.0-1 and 2.0-1 (the upgrade), bench-slow (a preinst that sleeps: a step that
// runs while the API is loaded) and fill packages in one version.
func buildRepo(out string, fill int, slow time.Duration) error {
	if out == "" {
		return fmt.Errorf("-out is required")
	}
	b, err := testrepo.NewBuilder(filepath.Join(out, "build"))
	if err != nil {
		return err
	}
	repo, err := testrepo.NewRepo(filepath.Join(out, "repo"), testrepo.Release{Origin: "patchlet-bench", Label: "patchlet-bench", Suite: "stable", Codename: "bench"})
	if err != nil {
		return err
	}
	file := func(name, v string) map[string]string {
		return map[string]string{"/usr/share/" + name + "/version": v + "\n"}
	}
	pkgs := []testrepo.Package{
		{Name: "demo-hello", Version: "1.0-1", Files: file("demo-hello", "1.0")},
		{Name: "demo-hello", Version: "2.0-1", Files: file("demo-hello", "2.0")},
		{Name: "bench-slow", Version: "1.0-1", Files: file("bench-slow", "1.0"), PreinstSleep: slow},
	}
	for i := 1; i <= Upgrades; i++ {
		name := UpName(i)
		pkgs = append(pkgs,
			testrepo.Package{Name: name, Version: "1.0-1", Files: file(name, "1.0")},
			testrepo.Package{Name: name, Version: "2.0-1", Files: file(name, "2.0")})
	}
	for i := 1; i <= fill; i++ {
		name := fmt.Sprintf("bench-fill-%04d", i)
		pkgs = append(pkgs, testrepo.Package{Name: name, Version: "1.0-1", Files: file(name, "1.0")})
	}
	debs := filepath.Join(out, "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return err
	}
	for _, p := range pkgs {
		deb, err := b.Build(p)
		if err != nil {
			return err
		}
		if err := repo.Add(deb); err != nil {
			return err
		}
		if err := os.Link(deb, filepath.Join(debs, filepath.Base(deb))); err != nil {
			return fmt.Errorf("link %s: %w", deb, err)
		}
	}
	if err := repo.Publish(); err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(out, "build"))
}

// StatusDB returns a dpkg status file of n installed packages shaped like
// a real one (several fields, conffiles, multi-line descriptions).
func StatusDB(n int) []byte {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "Package: gen-package-%05d\nStatus: install ok installed\nPriority: optional\nSection: libs\n"+
			"Installed-Size: %d\nMaintainer: Generated Maintainers <maint@example.org>\nArchitecture: amd64\n"+
			"Multi-Arch: same\nSource: gen-source-%d\nVersion: %d.%d-%d+deb12u1\n"+
			"Depends: libc6 (>= 2.34), zlib1g (>= 1:1.2.0)\n"+
			"Conffiles:\n /etc/gen-package-%05d/main.conf 0123456789abcdef0123456789abcdef\n"+
			"Description: generated package %d for the observe benchmark\n"+
			" A description over several lines, as real packages have,\n"+
			" so that parsers have continuation lines to skip.\n .\n A second paragraph.\n\n",
			i, 1+i%5000, i/3, 1+i%10, i%7, 1+i%3, i, i)
	}
	return []byte(sb.String())
}

// writeAdmindir writes a dpkg admin directory (status, available, info/,
// updates/) that dpkg-query --admindir reads.
func writeAdmindir(dir string, n int) error {
	for _, d := range []string{"info", "updates"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "available"), nil, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "status"), StatusDB(n), 0o644)
}

// result is one measurement: the median and the spread of the runs.
type result struct {
	What     string  `json:"what"`
	Runs     int     `json:"runs"`
	MedianMS float64 `json:"median_ms"`
	MinMS    float64 `json:"min_ms"`
	MaxMS    float64 `json:"max_ms"`
	Count    int     `json:"count"`
}

func summarize(what string, d []time.Duration, count int) result {
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	med := d[len(d)/2]
	if len(d)%2 == 0 {
		med = (d[len(d)/2-1] + d[len(d)/2]) / 2
	}
	return result{What: what, Runs: len(d), MedianMS: ms(med), MinMS: ms(d[0]), MaxMS: ms(d[len(d)-1]), Count: count}
}

func emit(r result) error { return json.NewEncoder(os.Stdout).Encode(r) }

// timeParse reads the status file and parses it runs times (the read
// included, as the agent does on every pass).
func timeParse(path string, runs int) error {
	if path == "" {
		return fmt.Errorf("-status is required")
	}
	var d []time.Duration
	count := 0
	for range max(runs, 1) {
		t0 := time.Now()
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		db := apt.ParseStatus(data, "amd64")
		d = append(d, time.Since(t0))
		count = len(db.Installed)
	}
	return emit(summarize("parse", d, count))
}

// timeObserve runs the apt backend's Observe on / the way the agent's pass
// does: "cached" with nothing changed since the previous call, "index
// changed" after touching a file in apt's lists directory (which
// invalidates the cached dry run, as apt-get update publishing a new index
// does).
func timeObserve(runs int) error {
	state, err := os.MkdirTemp("", "benchtool-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	b, err := apt.New(apt.Options{Settings: backends.Settings{Root: "/", StateDir: state, Log: logr.Discard()}})
	if err != nil {
		return err
	}
	lists, err := filepath.Glob("/var/lib/apt/lists/*Packages*")
	if err != nil || len(lists) == 0 {
		return fmt.Errorf("no index files in /var/lib/apt/lists (run apt-get update first)")
	}
	ctx := context.Background()
	if _, err := b.Observe(ctx, nil); err != nil {
		return err
	}
	var cached, changed []time.Duration
	count := 0
	for range max(runs, 1) {
		t0 := time.Now()
		obs, err := b.Observe(ctx, nil)
		if err != nil {
			return err
		}
		cached = append(cached, time.Since(t0))
		count = len(obs.Upgrades)
	}
	for i := range max(runs/5, 3) {
		now := time.Now().Add(time.Duration(i) * time.Millisecond)
		if err := os.Chtimes(lists[0], now, now); err != nil {
			return err
		}
		t0 := time.Now()
		obs, err := b.Observe(ctx, nil)
		if err != nil {
			return err
		}
		changed = append(changed, time.Since(t0))
		count = len(obs.Upgrades)
	}
	if err := emit(summarize("observe-cached", cached, count)); err != nil {
		return err
	}
	return emit(summarize("observe-index-changed", changed, count))
}
