// Package rpm holds what the RPM-based backends (dnf, yum, zypper) share:
// the machine format patchlet asks of `rpm -qa --queryformat` and its
// parser, RPM version comparison (rpmvercmp) for ordering available
// versions, and the reboot-required check of RPM systems (packages that
// need a reboot installed after the boot time, as dnf's needs-restarting
// does). It runs no process itself.
package rpm

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// QueryFormat is the --queryformat patchlet gives `rpm -qa`: one package
// per line, tab-separated NAME EPOCHNUM VERSION RELEASE ARCH INSTALLTIME,
// then one line NAME PROVIDENAME per capability the package provides
// (ParseQuery reads the first kind, ParseProvides the second).
const QueryFormat = `%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{INSTALLTIME}\n[%{=NAME}\t%{PROVIDENAME}\n]`

// Installed is one installed package as rpm reports it.
type Installed struct {
	Name        string
	Epoch       int
	Version     string
	Release     string
	Arch        string
	InstallTime time.Time
}

// EVR is the package's version as patchlet reports it: [EPOCH:]VERSION-RELEASE,
// the epoch left out when it is 0 (as dnf and zypper print it).
func (p Installed) EVR() string { return FormatEVR(p.Epoch, p.Version, p.Release) }

// FormatEVR renders [EPOCH:]VERSION[-RELEASE], leaving out a zero epoch
// and an empty release.
func FormatEVR(epoch int, version, release string) string {
	s := version
	if release != "" {
		s += "-" + release
	}
	if epoch > 0 {
		s = strconv.Itoa(epoch) + ":" + s
	}
	return s
}

// ParseQuery parses the output of `rpm -qa --queryformat QueryFormat`.
// Lines that are not in that format (Debian's rpm adds "use Alien
// instead!" warnings) are skipped; the gpg-pubkey pseudo-packages too.
// The result is sorted by name, then newest first.
func ParseQuery(out []byte) []Installed {
	var pkgs []Installed
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 6 || f[0] == "" || f[2] == "" || f[0] == "gpg-pubkey" {
			continue
		}
		epoch, err := strconv.Atoi(f[1])
		if err != nil || epoch < 0 {
			continue
		}
		secs, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			continue
		}
		pkgs = append(pkgs, Installed{Name: f[0], Epoch: epoch, Version: f[2], Release: f[3],
			Arch: f[4], InstallTime: time.Unix(secs, 0).UTC()})
	}
	slices.SortStableFunc(pkgs, func(a, b Installed) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return -CompareEVR(a.EVR(), b.EVR())
	})
	return pkgs
}

// ParseProvides reads the NAME PROVIDENAME lines of `rpm -qa
// --queryformat QueryFormat`: each package's provided names, leaving out
// what is no virtual package a policy can name: file paths, sonames
// (".so"), rich and qualified capabilities ("config(foo)", "foo(x86-64)")
// and the package's own name.
func ParseProvides(out []byte) map[string][]string {
	provides := map[string][]string{}
	for len(out) > 0 {
		var line []byte
		line, out = toolkit.NextLine(out)
		name, prov, ok := strings.Cut(string(line), "\t")
		if !ok || name == "" || prov == "" || prov == name || strings.Contains(prov, "\t") ||
			strings.ContainsAny(prov, "(/") || strings.Contains(prov, ".so") {
			continue
		}
		provides[name] = append(provides[name], prov)
	}
	return provides
}

// Packages maps installed packages by name. A name installed more than
// once (kernels, multilib) is reported at its newest version.
func Packages(pkgs []Installed) map[string]backends.Package {
	m := make(map[string]backends.Package, len(pkgs))
	for _, p := range pkgs {
		if cur, ok := m[p.Name]; ok && CompareEVR(cur.Version, p.EVR()) >= 0 {
			continue
		}
		m[p.Name] = backends.Package{Name: p.Name, Version: p.EVR(), Arch: p.Arch}
	}
	return m
}

// SplitEVR splits [EPOCH:]VERSION[-RELEASE]; a missing epoch is 0.
func SplitEVR(evr string) (epoch int, version, release string) {
	if e, rest, ok := strings.Cut(evr, ":"); ok {
		if n, err := strconv.Atoi(e); err == nil {
			epoch, evr = n, rest
		}
	}
	if i := strings.LastIndexByte(evr, '-'); i >= 0 {
		return epoch, evr[:i], evr[i+1:]
	}
	return epoch, evr, ""
}

// CompareEVR compares two [EPOCH:]VERSION[-RELEASE] strings as rpm does:
// epoch, then version, then release with rpmvercmp. A release missing on
// either side is not compared (a pin "1.0" matches any release of 1.0).
func CompareEVR(a, b string) int {
	ea, va, ra := SplitEVR(a)
	eb, vb, rb := SplitEVR(b)
	if c := cmp.Compare(ea, eb); c != 0 {
		return c
	}
	if c := Vercmp(va, vb); c != 0 {
		return c
	}
	if ra == "" || rb == "" {
		return 0
	}
	return Vercmp(ra, rb)
}

// SortNewestFirst sorts EVR strings newest first and drops duplicates.
func SortNewestFirst(vs []string) []string {
	slices.SortStableFunc(vs, func(a, b string) int { return -CompareEVR(a, b) })
	return slices.Compact(vs)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// Vercmp compares two version (or release) strings with rpm's algorithm:
// the strings are split into runs of digits and of letters, everything
// else separates runs; digit runs compare numerically and beat letter
// runs; '~' sorts before anything (even the end), '^' after the end but
// before anything else. It returns -1, 0 or 1.
func Vercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isAlnum(a[i]) && a[i] != '~' && a[i] != '^' {
			i++
		}
		for j < len(b) && !isAlnum(b[j]) && b[j] != '~' && b[j] != '^' {
			j++
		}
		// Tilde: older than anything, including the end of the string.
		ta, tb := i < len(a) && a[i] == '~', j < len(b) && b[j] == '~'
		if ta || tb {
			if !ta {
				return 1
			}
			if !tb {
				return -1
			}
			i++
			j++
			continue
		}
		// Caret: newer than the end, older than anything else.
		ca, cb := i < len(a) && a[i] == '^', j < len(b) && b[j] == '^'
		if ca || cb {
			if i >= len(a) {
				return -1
			}
			if j >= len(b) {
				return 1
			}
			if !ca {
				return 1
			}
			if !cb {
				return -1
			}
			i++
			j++
			continue
		}
		if i >= len(a) || j >= len(b) {
			break
		}
		si, sj := i, j
		numeric := isDigit(a[i])
		if numeric {
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
		} else {
			for i < len(a) && isAlpha(a[i]) {
				i++
			}
			for j < len(b) && isAlpha(b[j]) {
				j++
			}
		}
		sa, sb := a[si:i], b[sj:j]
		if sb == "" {
			// Segments of different kinds: a number is newer.
			if numeric {
				return 1
			}
			return -1
		}
		if numeric {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if c := cmp.Compare(len(sa), len(sb)); c != 0 {
				return c // the longer number, without leading zeros, is larger
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	switch {
	case i >= len(a) && j >= len(b):
		return 0
	case i >= len(a):
		return -1
	default:
		return 1
	}
}

// String renders a package as NAME-EVR.ARCH.
func (p Installed) String() string {
	return fmt.Sprintf("%s-%s.%s", p.Name, p.EVR(), p.Arch)
}
