package zypper

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"strings"
)

// Update is one entry of `zypper --xmlout list-updates` or `list-patches`.
type Update struct {
	Kind       string `xml:"kind,attr"`
	Name       string `xml:"name,attr"`
	Edition    string `xml:"edition,attr"`
	EditionOld string `xml:"edition-old,attr"`
	Arch       string `xml:"arch,attr"`
	Status     string `xml:"status,attr"`
	Category   string `xml:"category,attr"`
	Source     struct {
		Alias string `xml:"alias,attr"`
	} `xml:"source"`
}

// Solvable is one entry of `zypper --xmlout search -s`.
type Solvable struct {
	Status     string `xml:"status,attr"`
	Name       string `xml:"name,attr"`
	Kind       string `xml:"kind,attr"`
	Edition    string `xml:"edition,attr"`
	Arch       string `xml:"arch,attr"`
	Repository string `xml:"repository,attr"`
}

type stream struct {
	Messages []struct {
		Type string `xml:"type,attr"`
		Text string `xml:",chardata"`
	} `xml:"message"`
	Updates   []Update   `xml:"update-status>update-list>update"`
	Solvables []Solvable `xml:"search-result>solvable-list>solvable"`
}

// xmlPart cuts the <stream> document out of zypper's output: Debian's rpm
// may print "use Alien instead!" lines around it.
func xmlPart(out []byte) []byte {
	i := bytes.Index(out, []byte("<stream"))
	j := bytes.LastIndex(out, []byte("</stream>"))
	if i < 0 || j < i {
		return nil
	}
	return out[i : j+len("</stream>")]
}

func parseStream(out []byte) (stream, error) {
	var s stream
	part := xmlPart(out)
	if part == nil {
		return s, fmt.Errorf("no <stream> in zypper output")
	}
	if err := xml.Unmarshal(part, &s); err != nil {
		return s, fmt.Errorf("parse zypper xml: %w", err)
	}
	return s, nil
}

// ParseUpdates parses `zypper --xmlout list-updates` and `list-patches`.
func ParseUpdates(out []byte) ([]Update, error) {
	s, err := parseStream(out)
	return s.Updates, err
}

// ParseSearch parses `zypper --xmlout search -s`.
func ParseSearch(out []byte) ([]Solvable, error) {
	s, err := parseStream(out)
	return s.Solvables, err
}

// ErrorMessages are the <message type="error"> texts of an xml stream.
func ErrorMessages(out []byte) []string {
	s, err := parseStream(out)
	if err != nil {
		return nil
	}
	var msgs []string
	for _, m := range s.Messages {
		if m.Type == "error" {
			msgs = append(msgs, strings.TrimSpace(m.Text))
		}
	}
	return msgs
}

// Conflict is "NAME < EVR" from a patch's Conflicts: the patch fixes NAME
// from version EVR on.
type Conflict struct {
	Name string
	EVR  string
}

// ParsePatchConflicts reads the Conflicts of `zypper info -t patch`
// output (plain or inside --xmlout messages, where "<" is escaped):
// "Conflicts   : a.x86_64 < 1.0-1" then indented continuation lines.
func ParsePatchConflicts(out []byte) []Conflict {
	text := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(string(out))
	var cs []Conflict
	in := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "Conflicts"); ok {
			rest = strings.TrimSpace(rest)
			rest, ok = strings.CutPrefix(rest, ":")
			if !ok {
				in = false
				continue
			}
			in = true
			line = rest
		} else if !in || !strings.HasPrefix(line, " ") {
			in = false
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || (f[1] != "<" && f[1] != "<=") {
			continue
		}
		name := f[0]
		// name.arch: strip a known architecture suffix.
		if i := strings.LastIndexByte(name, '.'); i > 0 && knownArch(name[i+1:]) {
			name = name[:i]
		}
		cs = append(cs, Conflict{Name: name, EVR: f[2]})
	}
	return cs
}

func knownArch(a string) bool {
	switch a {
	case "noarch", "x86_64", "i586", "i686", "aarch64", "ppc64le", "s390x", "armv7hl", "riscv64", "src", "nosrc":
		return true
	}
	return false
}

// ParseLocks returns the package names in zypper's locks file
// (/etc/zypp/locks): blank-line separated records of "key: value".
func ParseLocks(data []byte) []string {
	var names []string
	name, typ := "", "package"
	flush := func() {
		if name != "" && typ == "package" && !strings.ContainsAny(name, "*?") {
			names = append(names, name)
		}
		name, typ = "", "package"
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "solvable_name":
			name = strings.TrimSpace(v)
		case "type":
			typ = strings.TrimSpace(v)
		}
	}
	flush()
	return names
}
