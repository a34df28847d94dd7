package apt

import (
	"bytes"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// StatusDB is what the dpkg status file says.
type StatusDB struct {
	// Installed packages: every package whose files are (at least partly)
	// on disk, keyed by name, or by name:arch for a foreign architecture.
	Installed map[string]backends.Package
	// Interrupted lists the packages that dpkg --audit would report: left
	// half-installed, unpacked, half-configured, awaiting or pending
	// triggers, or flagged reinst-required.
	Interrupted []string
	// Provides maps a package's key in Installed to the names its
	// Provides field lists, without version constraints.
	Provides map[string][]string
}

// ParseStatus parses a dpkg status file (/var/lib/dpkg/status). It reads
// the Package, Status, Version, Architecture and Provides fields of each paragraph
// and skips everything else without allocating. nativeArch is dpkg's
// architecture: packages of other architectures (but "all") are keyed
// name:arch, as apt prints them.
//
// A paragraph looks like:
//
//	Package: libc6
//	Status: install ok installed
//	Priority: optional
//	Architecture: amd64
//	Multi-Arch: same
//	Version: 2.36-9+deb12u4
//	Description: GNU C Library: Shared libraries
//	 Contains the standard libraries that are used by nearly all programs on
//	 the system.
//
// Status is "WANT FLAG STATE": want is install, hold, deinstall, purge or
// unknown; flag is ok or reinstreq; state is not-installed, config-files,
// half-installed, unpacked, half-configured, triggers-awaited,
// triggers-pending or installed.
func ParseStatus(data []byte, nativeArch string) StatusDB {
	db := StatusDB{Installed: make(map[string]backends.Package, bytes.Count(data, []byte("\nPackage: "))+1),
		Provides: map[string][]string{}}
	var name, status, version, arch, provides []byte
	flush := func() {
		if len(name) > 0 {
			db.add(name, status, version, arch, provides, nativeArch)
		}
		name, status, version, arch, provides = nil, nil, nil, nil, nil
	}
	for len(data) > 0 {
		var line []byte
		line, data = toolkit.NextLine(data)
		if len(line) == 0 {
			flush()
			continue
		}
		switch line[0] {
		case 'P', 'S', 'V', 'A', 'p', 's', 'v', 'a':
		default:
			continue // a field we skip, or a continuation line
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			continue
		}
		key, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch len(key) {
		case 7:
			if fieldIs(key, "Package") {
				if len(name) > 0 {
					// A paragraph without a blank line before it.
					flush()
				}
				name = value
			} else if fieldIs(key, "Version") {
				version = value
			}
		case 6:
			if fieldIs(key, "Status") {
				status = value
			}
		case 12:
			if fieldIs(key, "Architecture") {
				arch = value
			}
		case 8:
			if fieldIs(key, "Provides") {
				provides = value
			}
		}
	}
	flush()
	return db
}

// fieldIs compares a field name case-insensitively (deb822), cheaply for
// the common exact case.
func fieldIs(key []byte, want string) bool {
	return string(key) == want || bytes.EqualFold(key, []byte(want))
}

func (db *StatusDB) add(name, status, version, arch, provides []byte, nativeArch string) {
	want, rest, _ := bytes.Cut(status, []byte(" "))
	flag, state, _ := bytes.Cut(rest, []byte(" "))
	key := string(name)
	if len(arch) > 0 && string(arch) != "all" && nativeArch != "" && string(arch) != nativeArch {
		key += ":" + string(arch)
	}
	switch string(state) {
	case "half-installed", "unpacked", "half-configured", "triggers-awaited", "triggers-pending":
		db.Interrupted = append(db.Interrupted, key)
	default:
		if string(flag) == "reinstreq" {
			db.Interrupted = append(db.Interrupted, key)
		}
	}
	switch string(state) {
	case "", "not-installed", "config-files":
		return
	}
	db.Installed[key] = backends.Package{
		Name:    string(name),
		Version: string(version),
		Arch:    string(arch),
		Held:    string(want) == "hold",
	}
	if len(provides) > 0 {
		db.Provides[key] = parseProvides(provides)
	}
}

// parseProvides splits a Provides field ("mail-transport-agent, foo (=
// 1.0)") into its names, without version constraints.
func parseProvides(field []byte) []string {
	var names []string
	for item := range bytes.SplitSeq(field, []byte(",")) {
		item = bytes.TrimSpace(item)
		if i := bytes.IndexAny(item, " ("); i >= 0 {
			item = item[:i]
		}
		if len(item) > 0 {
			names = append(names, string(item))
		}
	}
	return names
}
