package apk

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/patchlet/patchlet/backends"
)

// ParseInstalled parses apk's installed database (lib/apk/db/installed):
// one block per package, blank-line separated, one field a line:
//
//	C:Q1…=
//	P:busybox
//	V:1.36.1-r29
//	A:x86_64
//	…
func ParseInstalled(data []byte) map[string]backends.Package {
	db, _ := ParseInstalledProvides(data)
	return db
}

// ParseInstalledProvides is ParseInstalled and, per package, the names
// its p: lines provide (apk 2 and 3 write the same installed database;
// "p:vname=1.0 so:libx.so.1=1" → vname, so:libx.so.1), versions stripped.
func ParseInstalledProvides(data []byte) (map[string]backends.Package, map[string][]string) {
	db, provides := map[string]backends.Package{}, map[string][]string{}
	var cur backends.Package
	var curProv []string
	flush := func() {
		if cur.Name != "" && cur.Version != "" {
			db[cur.Name] = cur
			if len(curProv) > 0 {
				provides[cur.Name] = curProv
			}
		}
		cur, curProv = backends.Package{}, nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			continue
		}
		switch line[0] {
		case 'P':
			cur.Name = line[2:]
		case 'V':
			cur.Version = line[2:]
		case 'A':
			cur.Arch = line[2:]
		case 'p':
			for _, dep := range strings.Fields(line[2:]) {
				name, _, _ := strings.Cut(dep, "=")
				curProv = append(curProv, name)
			}
		}
	}
	flush()
	return db, provides
}

// ParseWorld returns the names in etc/apk/world whose constraint pins
// an exact version (NAME=VERSION, optionally @TAG), with that version:
// apk's holds.
func ParseWorld(data []byte) map[string]string {
	held := map[string]string{}
	for _, dep := range strings.Fields(string(data)) {
		if strings.HasPrefix(dep, "!") {
			continue // a conflict, not a package
		}
		name, ver, ok := strings.Cut(dep, "=")
		if !ok || strings.ContainsAny(name, "<>~") {
			continue
		}
		name, _, _ = strings.Cut(name, "@")
		ver, _, _ = strings.Cut(ver, "@")
		held[name] = ver
	}
	return held
}

// WorldConstrained returns the names etc/apk/world constrains to a
// version (NAME=V, NAME~V, NAME<V, …): apk upgrade NAME leaves those where
// they are, only apk add --upgrade NAME (which rewrites the entry) moves
// them.
func WorldConstrained(data []byte) map[string]bool {
	out := map[string]bool{}
	for _, dep := range strings.Fields(string(data)) {
		if strings.HasPrefix(dep, "!") {
			continue
		}
		if i := strings.IndexAny(dep, "=<>~"); i > 0 {
			name, _, _ := strings.Cut(dep[:i], "@")
			out[name] = true
		}
	}
	return out
}

// splitNameVersion splits apk's NAME-VERSION (VERSION ends in -rN) into
// name and version; ok is false when it has no such shape.
func splitNameVersion(s string) (name, version string, ok bool) {
	r := strings.LastIndex(s, "-r")
	if r < 0 {
		return "", "", false
	}
	i := strings.LastIndexByte(s[:r], '-')
	if i <= 0 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// ParseListUpgradable parses apk list -u (--upgradable), one line a
// package:
//
//	busybox-1.36.1-r29 x86_64 {busybox} (GPL-2.0-only) [upgradable from: busybox-1.36.1-r28]
//
// Warnings (WARNING: …) and other lines are skipped.
func ParseListUpgradable(out []byte) map[string]backends.Upgrade {
	ups := map[string]backends.Upgrade{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, "[upgradable from: ")
		if i < 0 {
			continue
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		name, to, ok := splitNameVersion(f[0])
		if !ok {
			continue
		}
		fromNV := strings.TrimSuffix(strings.TrimSpace(line[i+len("[upgradable from: "):]), "]")
		_, from, ok := splitNameVersion(fromNV)
		if !ok {
			continue
		}
		origin := ""
		if j, k := strings.IndexByte(line, '{'), strings.IndexByte(line, '}'); j >= 0 && k > j {
			origin = line[j+1 : k]
		}
		// apk list -u lists every newer version (curl-8.9.1-r0, then
		// curl-8.10.0-r0): keep the newest.
		if prev, ok := ups[name]; ok && VersionCompare(to, prev.To) <= 0 {
			continue
		}
		ups[name] = backends.Upgrade{Name: name, From: from, To: to, Source: origin}
	}
	return ups
}

// ParseVersionLess parses apk version -l '<': a header, then one line a
// package with a newer version available:
//
//	Installed:                                Available:
//	busybox-1.36.1-r28                      < 1.36.1-r29
//
// installed resolves NAME-VERSION to the name where it can.
func ParseVersionLess(out []byte, installed map[string]backends.Package) map[string]backends.Upgrade {
	ups := map[string]backends.Upgrade{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[1] != "<" {
			continue
		}
		name, from, ok := splitNameVersion(f[0])
		if !ok {
			continue
		}
		for _, p := range installed {
			if p.Name+"-"+p.Version == f[0] {
				name, from = p.Name, p.Version
				break
			}
		}
		ups[name] = backends.Upgrade{Name: name, From: from, To: f[2]}
	}
	return ups
}

// ParsePolicy parses apk policy NAMES: for each name, the versions that a
// repository offers (those only in lib/apk/db/installed are left out):
//
//	curl policy:
//	  8.9.0-r0:
//	    lib/apk/db/installed
//	    https://dl-cdn.alpinelinux.org/alpine/v3.20/main
//	  8.9.1-r0:
//	    https://dl-cdn.alpinelinux.org/alpine/v3.20/main
func ParsePolicy(out []byte) map[string][]string {
	avail := map[string][]string{}
	name, version := "", ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
		case !strings.HasPrefix(line, " ") && strings.HasSuffix(trimmed, " policy:"):
			name, version = strings.TrimSuffix(trimmed, " policy:"), ""
		case strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "    ") && strings.HasSuffix(trimmed, ":"):
			version = strings.TrimSuffix(trimmed, ":")
		case strings.HasPrefix(line, "    ") && name != "" && version != "":
			if trimmed == "lib/apk/db/installed" {
				continue
			}
			vs := avail[name]
			if len(vs) == 0 || vs[len(vs)-1] != version {
				avail[name] = append(vs, version)
			}
		}
	}
	return avail
}
