package apt

import (
	"bytes"
	"strings"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// ParseDryRun parses the output of a simulated upgrade
// (apt-get -s dist-upgrade) into the pending upgrades, by name. Only the
// Inst lines count:
//
//	Inst bar [1.0] (1.1 Debian-Security:12/stable-security [all])
//	Inst libc6 [2.36-9] (2.36-9+deb12u4 Debian:12.5/stable, Debian-Security:12/stable-security [amd64])
//	Inst linux-image-6.1.0-27-amd64 (6.1.115-1 Debian-Security:12/stable-security [amd64])
//	Conf bar (1.1 Debian-Security:12/stable-security [all])
//
// The bracketed old version is missing for a package the upgrade newly
// installs. Inside the parentheses come the new version, the releases that
// offer it (label:version/suite, comma-separated; just the host name for a
// repository without a Release label) and the architecture. An upgrade is
// a security upgrade when one of its releases is a -security suite or the
// Debian-Security label.
func ParseDryRun(out []byte) map[string]backends.Upgrade {
	ups := map[string]backends.Upgrade{}
	for len(out) > 0 {
		var line []byte
		line, out = toolkit.NextLine(out)
		if u, ok := parseInst(string(bytes.TrimRight(line, "\r"))); ok {
			ups[u.Name] = u
		}
	}
	return ups
}

func parseInst(line string) (backends.Upgrade, bool) {
	rest, ok := strings.CutPrefix(line, "Inst ")
	if !ok {
		return backends.Upgrade{}, false
	}
	name, rest, ok := strings.Cut(rest, " ")
	if !ok || name == "" {
		return backends.Upgrade{}, false
	}
	var u backends.Upgrade
	u.Name = name
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return backends.Upgrade{}, false
		}
		u.From = rest[1:end]
		rest = strings.TrimLeft(rest[end+1:], " ")
	}
	if !strings.HasPrefix(rest, "(") {
		return backends.Upgrade{}, false
	}
	end := strings.IndexByte(rest, ')')
	if end < 0 {
		return backends.Upgrade{}, false
	}
	inner := rest[1:end]
	version, releases, _ := strings.Cut(inner, " ")
	if version == "" {
		return backends.Upgrade{}, false
	}
	u.To = version
	// Drop the trailing " [ARCH]".
	if i := strings.LastIndex(releases, " ["); i >= 0 && strings.HasSuffix(releases, "]") {
		releases = releases[:i]
	} else if strings.HasPrefix(releases, "[") {
		releases = ""
	}
	u.Source, u.Security = pickSource(releases)
	return u, true
}

// pickSource picks the suite to report out of "label:version/suite, …"
// (the security one when there is one) and says whether it is a security
// release.
func pickSource(releases string) (source string, security bool) {
	for _, rel := range strings.Split(releases, ",") {
		rel = strings.TrimSpace(rel)
		if rel == "" {
			continue
		}
		suite := rel
		if i := strings.LastIndexByte(rel, '/'); i >= 0 {
			suite = rel[i+1:]
		}
		if isSecurityRelease(rel) {
			return suite, true
		}
		if source == "" {
			source = suite
		}
	}
	return source, false
}

func isSecurityRelease(rel string) bool {
	lower := strings.ToLower(rel)
	return strings.Contains(lower, "-security") || strings.Contains(lower, "debian-security")
}
