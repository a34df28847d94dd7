package testrepo

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Release holds the fields of a repository's Release file that apt shows
// in its dry runs ("Inst foo [1.0] (1.1 Debian-Security:12/stable-security
// [all])" for Label Debian-Security, Version 12, Suite stable-security).
// Empty fields are left out. apt refuses an update when a repository it has
// fetched before changes its Origin, Label, Suite or Codename, so keep them
// fixed for the life of a Repo.
type Release struct {
	Origin   string
	Label    string
	Suite    string
	Codename string
	Version  string
}

// Repo is a flat local apt repository ("deb [trusted=yes] file:/dir ./").
// Add and Delete change its files; Publish regenerates Packages and
// Release. It is safe for concurrent use.
type Repo struct {
	// Dir is the repository's absolute directory.
	Dir     string
	release Release
	mu      sync.Mutex
}

// NewRepo creates an empty repository in dir. apt reads file: repositories
// as the unprivileged _apt user, so NewRepo makes dir world-readable and
// adds search permission for others to every parent that lacks it (test
// temporary directories are 0700).
func NewRepo(dir string, rel Release) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("repository dir %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create repository dir: %w", err)
	}
	if err := os.Chmod(abs, 0o755); err != nil {
		return nil, fmt.Errorf("chmod repository dir: %w", err)
	}
	if err := makeSearchable(filepath.Dir(abs)); err != nil {
		return nil, err
	}
	r := &Repo{Dir: abs, release: rel}
	return r, r.Publish()
}

// makeSearchable adds o+x to dir and its parents where missing.
func makeSearchable(dir string) error {
	for {
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("stat %s: %w", dir, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(dir, fi.Mode().Perm()|0o011); err != nil {
				return fmt.Errorf("make %s searchable for _apt: %w", dir, err)
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// SourcesLine is the sources.list line for the repository.
func (r *Repo) SourcesLine() string {
	return fmt.Sprintf("deb [trusted=yes] file:%s ./", r.Dir)
}

// Add copies .deb files into the repository. Call Publish to make apt see
// them.
func (r *Repo) Add(debs ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, deb := range debs {
		dst := filepath.Join(r.Dir, filepath.Base(deb))
		if err := copyFile(deb, dst, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes a package's .deb from the repository without
// republishing, so that an index fetched before still lists it (what a
// mirror does when it drops a superseded version). Call Publish to update
// the index too.
func (r *Repo) Delete(p Package) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.Remove(filepath.Join(r.Dir, p.Filename())); err != nil {
		return fmt.Errorf("delete %s from repository: %w", p.Filename(), err)
	}
	return nil
}

// Publish regenerates the repository's Packages and Release files.
func (r *Repo) Publish() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	scan := exec.Command("dpkg-scanpackages", "--multiversion", ".", "/dev/null")
	scan.Dir = r.Dir
	packages, err := scan.Output()
	if err != nil {
		return fmt.Errorf("dpkg-scanpackages --multiversion . in %s: %w (stderr: %q)", r.Dir, err, stderrOf(err))
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "Packages"), packages, 0o644); err != nil {
		return fmt.Errorf("write Packages: %w", err)
	}
	// A stale Release must not be indexed into the new one.
	if err := os.Remove(filepath.Join(r.Dir, "Release")); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove old Release: %w", err)
	}
	args := []string{}
	for _, f := range []struct{ key, value string }{
		{"Origin", r.release.Origin}, {"Label", r.release.Label}, {"Suite", r.release.Suite},
		{"Codename", r.release.Codename}, {"Version", r.release.Version},
	} {
		if f.value != "" {
			args = append(args, "-o", "APT::FTPArchive::Release::"+f.key+"="+f.value)
		}
	}
	args = append(args, "release", ".")
	rel := exec.Command("apt-ftparchive", args...)
	rel.Dir = r.Dir
	release, err := rel.Output()
	if err != nil {
		return fmt.Errorf("apt-ftparchive %s in %s: %w (stderr: %q)", strings.Join(args, " "), r.Dir, err, stderrOf(err))
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "Release"), release, 0o644); err != nil {
		return fmt.Errorf("write Release: %w", err)
	}
	return nil
}

func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("open %s: %w", src, err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, tmp, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}
