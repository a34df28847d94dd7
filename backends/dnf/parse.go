package dnf

import (
	"bufio"
	"bytes"
	"strings"

	"github.com/patchlet/patchlet/backends/rpm"
)

// repoqueryFormat is the --queryformat of every repoquery the backend
// runs: NAME EPOCH VERSION RELEASE ARCH REPO, tab-separated (dnf adds the
// newline itself).
const repoqueryFormat = `%{name}\t%{epoch}\t%{version}\t%{release}\t%{arch}\t%{reponame}`

// Candidate is one package version a repository offers.
type Candidate struct {
	Name string
	EVR  string
	Arch string
	Repo string
}

func scanLines(out []byte, fn func(string)) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		fn(sc.Text())
	}
}

// ParseRepoquery parses repoquery output in repoqueryFormat; other lines
// (blank lines, warnings) are skipped.
func ParseRepoquery(out []byte) []Candidate {
	var cs []Candidate
	scanLines(out, func(line string) {
		f := strings.Split(line, "\t")
		if len(f) != 6 || f[0] == "" || f[2] == "" {
			return
		}
		epoch := 0
		for _, c := range f[1] {
			if c < '0' || c > '9' {
				return
			}
			epoch = epoch*10 + int(c-'0')
		}
		cs = append(cs, Candidate{Name: f[0], EVR: rpm.FormatEVR(epoch, f[2], f[3]), Arch: f[4], Repo: f[5]})
	})
	return cs
}

// SplitNEVRA splits NAME-[EPOCH:]VERSION-RELEASE.ARCH.
func SplitNEVRA(s string) (name, evr, arch string, ok bool) {
	dot := strings.LastIndexByte(s, '.')
	if dot < 0 {
		return "", "", "", false
	}
	s, arch = s[:dot], s[dot+1:]
	r := strings.LastIndexByte(s, '-')
	if r < 0 {
		return "", "", "", false
	}
	v := strings.LastIndexByte(s[:r], '-')
	if v <= 0 {
		return "", "", "", false
	}
	return s[:v], s[v+1:], arch, true
}

// splitNameArch splits NAME.ARCH at its last dot.
func splitNameArch(s string) (string, string) {
	if i := strings.LastIndexByte(s, '.'); i > 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// ParseCheckUpdate parses the table `dnf check-update` and `yum
// check-update` print (and `list --showduplicates`): NAME.ARCH EVR REPO,
// where a long NAME.ARCH may stand alone on a line with the rest on the
// next. Header and message lines are skipped; an "Obsoleting Packages"
// section ends the table.
func ParseCheckUpdate(out []byte) []Candidate {
	var cs []Candidate
	var pending string
	stop := false
	scanLines(out, func(line string) {
		if stop {
			return
		}
		if strings.HasPrefix(line, "Obsoleting Packages") {
			stop = true
			return
		}
		if line == "" || line[0] == ' ' && pending == "" {
			return
		}
		f := strings.Fields(line)
		if pending != "" {
			f = append([]string{pending}, f...)
			pending = ""
		}
		switch len(f) {
		case 1:
			if strings.Contains(f[0], ".") && !strings.HasSuffix(f[0], ":") {
				pending = f[0]
			}
			return
		case 3:
		default:
			return
		}
		name, arch := splitNameArch(f[0])
		if arch == "" || !validEVR(f[1]) {
			return
		}
		cs = append(cs, Candidate{Name: name, EVR: f[1], Arch: arch, Repo: strings.TrimPrefix(f[2], "@")})
	})
	return cs
}

// validEVR is a plausible [EPOCH:]VERSION-RELEASE: it starts with a digit
// (or an epoch) and has a release.
func validEVR(s string) bool {
	if s == "" || !strings.Contains(s, "-") {
		return false
	}
	return s[0] >= '0' && s[0] <= '9'
}

// Advisory is one line of `updateinfo list`: an advisory and a package
// version it fixes.
type Advisory struct {
	ID   string
	Type string
	Name string
	EVR  string
}

// ParseUpdateinfo parses `dnf updateinfo list` / `yum updateinfo list`:
// ID TYPE[/SEVERITY] NEVRA per line (dnf 4.2+ may put a leading "i"
// column for installed ones with --all; it is skipped).
func ParseUpdateinfo(out []byte) []Advisory {
	var as []Advisory
	scanLines(out, func(line string) {
		f := strings.Fields(line)
		if len(f) == 4 && len(f[0]) <= 2 {
			f = f[1:]
		}
		if len(f) != 3 {
			return
		}
		name, evr, _, ok := SplitNEVRA(f[2])
		if !ok {
			return
		}
		as = append(as, Advisory{ID: f[0], Type: f[1], Name: name, EVR: evr})
	})
	return as
}

// IsSecurity reports whether an advisory type is a security one
// ("security", "Important/Sec.", "Sec.").
func (a Advisory) IsSecurity() bool {
	t := strings.ToLower(a.Type)
	return strings.Contains(t, "sec")
}

// ParseVersionlock returns the package names locked in a versionlock.list
// (dnf: NAME-EPOCH:VERSION-RELEASE.*, yum: EPOCH:NAME-VERSION-RELEASE.*);
// exclusions ("!…") and comments are skipped.
func ParseVersionlock(data []byte) []string {
	var names []string
	scanLines(data, func(line string) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			return
		}
		// yum's form starts with the epoch.
		if i := strings.IndexByte(line, ':'); i > 0 && strings.Trim(line[:i], "0123456789") == "" {
			line = line[i+1:]
		}
		name, _, _, ok := SplitNEVRA(line)
		if !ok {
			return
		}
		names = append(names, name)
	})
	return names
}
