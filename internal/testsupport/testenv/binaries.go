package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// KubeVersion is the kube-apiserver release hack/kube/build-apiserver.sh builds.
const KubeVersion = "v1.37.1"

// MakeTarget builds the binaries Start needs.
const MakeTarget = "make kube-apiserver"

// ErrNoBinaries means kube-apiserver or etcd is not installed; tests skip
// with its message, which names MakeTarget.
var ErrNoBinaries = errors.New("kube-apiserver or etcd not found (run `" + MakeTarget + "`)")

// Binaries are the paths of the programs an Env runs.
type Binaries struct {
	APIServer string
	Etcd      string
}

// CacheDir is where hack/kube/build-apiserver.sh keeps the binaries of
// version: ${PATCHLET_CACHE:-$HOME/.cache/patchlet}/kube/<version>.
func CacheDir(version string) string {
	root := os.Getenv("PATCHLET_CACHE")
	if root == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		root = filepath.Join(home, ".cache", "patchlet")
	}
	return filepath.Join(root, "kube", version)
}

// FindBinaries looks for kube-apiserver and etcd, first match wins:
// $PATCHLET_KUBE_APISERVER / $PATCHLET_ETCD, $KUBEBUILDER_ASSETS, the cache
// directory of KubeVersion, <repo>/bin/kube, then (etcd only) /usr/bin/etcd
// and $PATH. It wraps ErrNoBinaries when one is missing.
func FindBinaries() (Binaries, error) {
	var dirs []string
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, CacheDir(KubeVersion))
	if root, err := RepoRoot(); err == nil {
		dirs = append(dirs, filepath.Join(root, "bin", "kube"))
	}
	b := Binaries{
		APIServer: find(os.Getenv("PATCHLET_KUBE_APISERVER"), dirs, "kube-apiserver"),
		Etcd:      find(os.Getenv("PATCHLET_ETCD"), append(dirs, "/usr/bin"), "etcd"),
	}
	if b.Etcd == "" {
		if p, err := exec.LookPath("etcd"); err == nil {
			b.Etcd = p
		}
	}
	var missing []string
	if b.APIServer == "" {
		missing = append(missing, where("kube-apiserver", "PATCHLET_KUBE_APISERVER", dirs))
	}
	if b.Etcd == "" {
		missing = append(missing, where("etcd", "PATCHLET_ETCD", append(dirs, "/usr/bin", "$PATH")))
	}
	if len(missing) > 0 {
		return b, fmt.Errorf("%w: missing %s", ErrNoBinaries, strings.Join(missing, " and "))
	}
	return b, nil
}

// where says where name was looked for.
func where(name, env string, dirs []string) string {
	if v := os.Getenv(env); v != "" {
		return fmt.Sprintf("%s (%s=%s is not an executable file)", name, env, v)
	}
	return fmt.Sprintf("%s (looked in %s)", name, strings.Join(dirs, ", "))
}

func find(explicit string, dirs []string, name string) string {
	if explicit != "" {
		if isExecutable(explicit) {
			return explicit
		}
		return ""
	}
	for _, d := range dirs {
		if p := filepath.Join(d, name); isExecutable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// RepoRoot walks up from the working directory to the directory holding
// patchlet's go.mod (tests run in their package's directory).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(data), "module github.com/patchlet/patchlet\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("patchlet's go.mod not found above the working directory")
		}
		dir = parent
	}
}
