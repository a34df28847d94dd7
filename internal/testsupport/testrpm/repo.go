package testrpm

import (
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// Advisory is one updateinfo entry (a security advisory when Type is
// "security") naming the fixed package versions.
type Advisory struct {
	ID       string
	Type     string
	Severity string
	Title    string
	Packages []Package
}

// Repo is a local rpm-md repository (baseurl file:///DIR). Add puts rpms
// in it; Publish regenerates its metadata. It is safe for concurrent use.
type Repo struct {
	// Dir is the repository's absolute directory.
	Dir string
	// ID is the repository's id in the roots' .repo files.
	ID string

	builder    *Builder
	mu         sync.Mutex
	advisories []Advisory
}

// NewRepo creates an empty repository in dir holding ShellProvider. The
// id "main" is refused: dnf takes a [main] section in a .repo file for its
// own configuration, and the repository silently has no packages.
func NewRepo(b *Builder, dir, id string) (*Repo, error) {
	if id == "" || id == "main" {
		return nil, fmt.Errorf("repository id %q not allowed", id)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(abs, "Packages"), 0o755); err != nil {
		return nil, fmt.Errorf("create repo: %w", err)
	}
	r := &Repo{Dir: abs, ID: id, builder: b}
	return r, r.Add(ShellProvider)
}

// URL is the repository's baseurl.
func (r *Repo) URL() string { return "file://" + r.Dir }

// Add builds the packages and puts them in the repository (call Publish).
func (r *Repo) Add(pkgs ...Package) error {
	paths, err := r.builder.BuildAll(pkgs...)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, p := range paths {
		if err := copyFile(p, filepath.Join(r.Dir, "Packages", pkgs[i].FileName()), 0o644); err != nil {
			return fmt.Errorf("add %s: %w", pkgs[i].FileName(), err)
		}
	}
	return nil
}

// Delete removes a package's file from the repository (call Publish).
func (r *Repo) Delete(p Package) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.Remove(filepath.Join(r.Dir, "Packages", p.FileName())); err != nil {
		return fmt.Errorf("delete %s: %w", p.FileName(), err)
	}
	return nil
}

// SetAdvisories replaces the repository's updateinfo (call Publish).
func (r *Repo) SetAdvisories(advs ...Advisory) {
	r.mu.Lock()
	r.advisories = advs
	r.mu.Unlock()
}

// Publish regenerates the metadata with createrepo_c, and adds the
// updateinfo with modifyrepo_c when there are advisories.
func (r *Repo) Publish() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := exec.Command("createrepo_c", "--quiet", "--no-database", "--simple-md-filenames", r.Dir)
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("createrepo_c %s: %w: %s", r.Dir, err, out)
	}
	if len(r.advisories) == 0 {
		return nil
	}
	ui := filepath.Join(filepath.Dir(r.Dir), filepath.Base(r.Dir)+"-updateinfo.xml")
	data, err := updateInfoXML(r.ID, r.advisories)
	if err != nil {
		return err
	}
	if err := os.WriteFile(ui, data, 0o644); err != nil {
		return err
	}
	// modifyrepo_c names the file after its --mdtype.
	dst := filepath.Join(filepath.Dir(ui), "updateinfo.xml")
	if err := os.Rename(ui, dst); err != nil {
		return err
	}
	cmd = exec.Command("modifyrepo_c", "--mdtype=updateinfo", "--simple-md-filenames", dst, filepath.Join(r.Dir, "repodata"))
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("modifyrepo_c %s: %w: %s", r.Dir, err, out)
	}
	return nil
}

type xmlUpdates struct {
	XMLName xml.Name    `xml:"updates"`
	Updates []xmlUpdate `xml:"update"`
}

type xmlUpdate struct {
	From     string `xml:"from,attr"`
	Status   string `xml:"status,attr"`
	Type     string `xml:"type,attr"`
	Version  string `xml:"version,attr"`
	ID       string `xml:"id"`
	Title    string `xml:"title"`
	Severity string `xml:"severity,omitempty"`
	Issued   struct {
		Date string `xml:"date,attr"`
	} `xml:"issued"`
	Description string `xml:"description"`
	Collection  struct {
		Short    string       `xml:"short,attr"`
		Name     string       `xml:"name"`
		Packages []xmlPackage `xml:"package"`
	} `xml:"pkglist>collection"`
}

type xmlPackage struct {
	Name     string `xml:"name,attr"`
	Version  string `xml:"version,attr"`
	Release  string `xml:"release,attr"`
	Epoch    int    `xml:"epoch,attr"`
	Arch     string `xml:"arch,attr"`
	Filename string `xml:"filename"`
}

func updateInfoXML(repoID string, advs []Advisory) ([]byte, error) {
	var u xmlUpdates
	for _, a := range advs {
		x := xmlUpdate{From: "patchlet@example.com", Status: "stable", Type: a.Type, Version: "1",
			ID: a.ID, Title: a.Title, Severity: a.Severity, Description: a.Title}
		x.Issued.Date = "2026-01-01 00:00:00"
		x.Collection.Short, x.Collection.Name = repoID, repoID
		for _, p := range a.Packages {
			x.Collection.Packages = append(x.Collection.Packages, xmlPackage{Name: p.Name, Version: p.Version,
				Release: p.release(), Epoch: p.Epoch, Arch: "noarch", Filename: p.FileName()})
		}
		u.Updates = append(u.Updates, x)
	}
	out, err := xml.MarshalIndent(u, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), out...), nil
}
