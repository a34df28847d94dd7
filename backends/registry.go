package backends

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Registration is what a backend package tells the registry about itself,
// from its init function.
type Registration struct {
	// Name is what --backend takes (apt, dnf, yum, …).
	Name string
	// OSIDs are the os-release IDs (and ID_LIKE entries) the backend serves.
	OSIDs []string
	// Programs are paths relative to the root of which one must exist for
	// the backend to work.
	Programs []string
	// Fallback names the backend detection picks instead when none of
	// Programs exists but the fallback's do (dnf falls back to yum).
	Fallback string
	// Open builds the backend.
	Open func(Settings) (Backend, error)
}

var registry = struct {
	sync.RWMutex
	byName map[string]Registration
}{byName: map[string]Registration{}}

// Register adds a backend to the registry. A name registered twice, or a
// registration without a name or Open, panics: both are programming errors.
func Register(r Registration) {
	registry.Lock()
	defer registry.Unlock()
	if r.Name == "" || r.Open == nil {
		panic("backends: Register needs a name and Open")
	}
	if _, dup := registry.byName[r.Name]; dup {
		panic("backends: " + r.Name + " registered twice")
	}
	registry.byName[r.Name] = r
}

// Names lists the registered backends, sorted.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.byName))
	for n := range registry.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookup(name string) (Registration, bool) {
	registry.RLock()
	defer registry.RUnlock()
	r, ok := registry.byName[name]
	return r, ok
}

// Open builds the backend registered as name.
func Open(name string, s Settings) (Backend, error) {
	r, ok := lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown backend %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	b, err := r.Open(s)
	if err != nil {
		return nil, fmt.Errorf("%s backend: %w", name, err)
	}
	return b, nil
}

// DetectBackend picks a backend name from os-release: ID first, then each
// ID_LIKE entry. It returns the name and why.
func DetectBackend(rel OSRelease) (name, reason string, err error) {
	registry.RLock()
	byID := map[string]string{}
	for _, r := range registry.byName {
		for _, id := range r.OSIDs {
			byID[id] = r.Name
		}
	}
	registry.RUnlock()
	if b, ok := byID[rel.ID]; ok {
		return b, fmt.Sprintf("ID=%s in /etc/os-release", rel.ID), nil
	}
	for _, like := range rel.IDLike {
		if b, ok := byID[like]; ok {
			return b, fmt.Sprintf("ID_LIKE=%s in /etc/os-release", like), nil
		}
	}
	return "", "", fmt.Errorf("no backend for ID=%q ID_LIKE=%q; pass --backend", rel.ID, strings.Join(rel.IDLike, " "))
}

// DetectBackendIn picks a backend for the system in root from os-release
// and checks that its package manager is there: a backend whose programs
// are missing gives way to its Fallback when that one's exist (a
// RHEL/CentOS 7 host without dnf gets yum); otherwise a missing program is
// an error naming it (a container or an image whose os-release does not
// match its tools).
func DetectBackendIn(root string, rel OSRelease) (name, reason string, err error) {
	name, reason, err = DetectBackend(rel)
	if err != nil {
		return "", "", err
	}
	r, _ := lookup(name)
	if _, ok := presentProgram(root, r); !ok && r.Fallback != "" {
		if fb, ok := lookup(r.Fallback); ok {
			if p, ok := presentProgram(root, fb); ok {
				return fb.Name, reason + "; " + p + " present, no " + name, nil
			}
		}
	}
	p, ok := presentProgram(root, r)
	if !ok {
		return "", "", fmt.Errorf("%s (%s) but none of %s exists under %s; pass --backend", name, reason, strings.Join(r.Programs, ", "), root)
	}
	return name, reason + "; " + p + " present", nil
}

// presentProgram returns the first of r's programs that exists under root.
func presentProgram(root string, r Registration) (string, bool) {
	for _, p := range r.Programs {
		if fi, err := os.Stat(filepath.Join(root, p)); err == nil && !fi.IsDir() {
			return "/" + p, true
		}
	}
	return "", false
}
