package backends_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/patchlet/patchlet/backends"
	_ "github.com/patchlet/patchlet/backends/all"
)

func TestDetectBackendIn(t *testing.T) {
	for _, tc := range []struct {
		osRelease string
		files     []string
		want      string
		wantErr   bool
	}{
		{"ID=debian\nVERSION_ID=\"12\"\n", []string{"usr/bin/apt-get"}, "apt", false},
		{"ID=ubuntu\nID_LIKE=debian\n", []string{"usr/bin/apt-get"}, "apt", false},
		{"ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n", []string{"usr/bin/dnf"}, "dnf", false},
		{"ID=\"centos\"\nVERSION_ID=\"7\"\n", []string{"usr/bin/yum"}, "yum", false},
		{"ID=\"opensuse-leap\"\n", []string{"usr/bin/zypper"}, "zypper", false},
		{"ID=arch\n", []string{"usr/bin/pacman"}, "pacman", false},
		{"ID=alpine\n", []string{"sbin/apk"}, "apk", false},
		{"ID=someos\nID_LIKE=\"arch\"\n", []string{"usr/bin/pacman"}, "pacman", false},
		{"ID=debian\n", nil, "", true},               // os-release says apt, no apt-get: refuse
		{"ID=plan9\n", []string{"bin/rc"}, "", true}, // unknown
	} {
		root := t.TempDir()
		for _, f := range tc.files {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		got, reason, err := backends.DetectBackendIn(root, backends.ParseOSRelease([]byte(tc.osRelease)))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%q with %v: got %q (%q), err %v; want %q, err %v", tc.osRelease, tc.files, got, reason, err, tc.want, tc.wantErr)
		}
		if err == nil && reason == "" {
			t.Errorf("%q: no reason given", tc.osRelease)
		}
	}
}

func TestOpen(t *testing.T) {
	if _, err := backends.Open("brew", backends.Settings{}); err == nil || err.Error() != `unknown backend "brew" (known: apk, apt, dnf, pacman, yum, zypper)` {
		t.Errorf("Open(brew) = %v, want the unknown-backend error listing the registered ones", err)
	}
	if _, err := backends.Open("apt", backends.Settings{Root: "relative"}); err == nil || !strings.HasPrefix(err.Error(), "apt backend: ") {
		t.Errorf("Open(apt, relative root) = %v, want an error naming the backend", err)
	}
	b, err := backends.Open("yum", backends.Settings{Root: t.TempDir(), StateDir: t.TempDir(), PathEnv: "/nonexistent"})
	if err == nil {
		t.Errorf("Open(yum) without yum in PATH = %v, want an error", b.Name())
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("registering apt a second time did not panic")
		}
	}()
	backends.Register(backends.Registration{Name: "apt", Open: func(backends.Settings) (backends.Backend, error) { return nil, nil }})
}
