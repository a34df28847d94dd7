package pacman_test

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/pacman"
)

const benchPackages = 2000

// benchRoot writes a root whose local database holds n packages and, for
// the real check, a repository whose database offers a newer version of
// every tenth one.
func benchRoot(tb testing.TB, dir string, n int) (root, repo string) {
	root, repo = filepath.Join(dir, "root"), filepath.Join(dir, "repo")
	for _, d := range []string{"etc", "var/lib/pacman/local", "var/lib/pacman/sync", "var/cache/pacman/pkg", repo} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.MkdirAll(repo, 0o755); err != nil {
		tb.Fatal(err)
	}
	conf := fmt.Sprintf("[options]\nDBPath = %[1]s/var/lib/pacman/\nCacheDir = %[1]s/var/cache/pacman/pkg/\nLogFile = %[1]s/var/log/pacman.log\nSigLevel = Never\nArchitecture = auto\n\n[bench]\nServer = file://%[2]s\n", root, repo)
	if err := os.WriteFile(filepath.Join(root, "etc/pacman.conf"), []byte(conf), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/pacman/local/ALPM_DB_VERSION"), []byte("9\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	f, err := os.Create(filepath.Join(repo, "bench.db"))
	if err != nil {
		tb.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for i := range n {
		name, version := fmt.Sprintf("pkg%04d", i), "1.0-1"
		d := filepath.Join(root, "var/lib/pacman/local", name+"-"+version)
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
		desc := fmt.Sprintf("%%NAME%%\n%s\n\n%%VERSION%%\n%s\n\n%%DESC%%\nbench\n\n%%ARCH%%\nany\n\n%%SIZE%%\n4\n\n%%REASON%%\n0\n\n", name, version)
		if err := os.WriteFile(filepath.Join(d, "desc"), []byte(desc), 0o644); err != nil {
			tb.Fatal(err)
		}
		if i%10 == 0 {
			version = "1.1-1"
		}
		sdesc := fmt.Sprintf("%%FILENAME%%\n%[1]s-%[2]s-any.pkg.tar.zst\n\n%%NAME%%\n%[1]s\n\n%%VERSION%%\n%[2]s\n\n%%DESC%%\nbench\n\n%%CSIZE%%\n100\n\n%%ISIZE%%\n4\n\n%%ARCH%%\nany\n\n", name, version)
		entry := name + "-" + version + "/"
		_ = tw.WriteHeader(&tar.Header{Name: entry, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(1700000000, 0)})
		_ = tw.WriteHeader(&tar.Header{Name: entry + "desc", Mode: 0o644, Size: int64(len(sdesc)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)})
		_, _ = tw.Write([]byte(sdesc))
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return root, repo
}

// BenchmarkObserveNoop is an Observe with nothing changed on a
// 2,000-package database: no process, no desc file read.
func BenchmarkObserveNoop(b *testing.B) {
	root, _ := benchRoot(b, b.TempDir(), benchPackages)
	runner := (&pacmanAnswers{qu: "pkg0000 1.0-1 -> 1.1-1\n", sl: "bench pkg0000 1.1-1\n"}).runner()
	be, err := pacman.New(pacman.Options{Settings: backends.Settings{Root: root, StateDir: b.TempDir(), Log: logr.Discard(), Runner: runner},
		Pacman: "/usr/bin/pacman", KernelRelease: func() (string, error) { return "", nil }})
	if err != nil {
		b.Fatal(err)
	}
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

// BenchmarkObserveLocalChanged re-reads the 2,000 desc files (the local
// database changed); the check's commands are faked.
func BenchmarkObserveLocalChanged(b *testing.B) {
	root, _ := benchRoot(b, b.TempDir(), benchPackages)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		be, err := pacman.New(pacman.Options{Settings: backends.Settings{Root: root, StateDir: b.TempDir(), Log: logr.Discard(), Runner: (&pacmanAnswers{}).runner()},
			Pacman: "/usr/bin/pacman", KernelRelease: func() (string, error) { return "", nil }})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := be.Observe(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkObserveRealCheck is a first Observe with real pacman on a
// 2,000-package database and repository: desc files plus the private
// sync (-Syy), -Qu and -Sl.
func BenchmarkObserveRealCheck(b *testing.B) {
	if _, err := exec.LookPath("pacman"); err != nil {
		b.Skip("pacman not installed")
	}
	root, _ := benchRoot(b, b.TempDir(), benchPackages)
	ctx := context.Background()
	for b.Loop() {
		be, err := pacman.New(pacman.Options{Settings: backends.Settings{Root: root, StateDir: b.TempDir(), Log: logr.Discard()},
			KernelRelease: func() (string, error) { return "", nil }})
		if err != nil {
			b.Fatal(err)
		}
		obs, err := be.Observe(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(obs.Upgrades) != benchPackages/10 || len(obs.Installed) != benchPackages {
			b.Fatalf("got %d upgrades, %d installed", len(obs.Upgrades), len(obs.Installed))
		}
	}
}
