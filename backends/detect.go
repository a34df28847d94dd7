package backends

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// OSRelease is what /etc/os-release says.
type OSRelease struct {
	ID         string
	IDLike     []string
	VersionID  string
	PrettyName string
}

// ParseOSRelease parses os-release(5) content: KEY=VALUE lines, values
// optionally quoted.
func ParseOSRelease(data []byte) OSRelease {
	var r OSRelease
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		} else {
			v = strings.Trim(v, `"'`)
		}
		switch k {
		case "ID":
			r.ID = v
		case "ID_LIKE":
			r.IDLike = strings.Fields(v)
		case "VERSION_ID":
			r.VersionID = v
		case "PRETTY_NAME":
			r.PrettyName = v
		}
	}
	return r
}

// ReadOSRelease reads ROOT/etc/os-release, falling back to
// ROOT/usr/lib/os-release.
func ReadOSRelease(root string) (OSRelease, error) {
	var errs []error
	for _, p := range []string{"etc/os-release", "usr/lib/os-release"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err == nil {
			return ParseOSRelease(b), nil
		}
		errs = append(errs, err)
	}
	return OSRelease{}, fmt.Errorf("reading os-release: %w", errors.Join(errs...))
}

// familyOf maps os-release IDs to backends.
var familyOf = map[string]string{
	"debian": "apt", "ubuntu": "apt", "raspbian": "apt", "linuxmint": "apt", "pop": "apt",
	"fedora": "dnf", "rhel": "dnf", "centos": "dnf", "rocky": "dnf", "almalinux": "dnf", "ol": "dnf", "amzn": "dnf",
	"opensuse": "zypper", "opensuse-leap": "zypper", "opensuse-tumbleweed": "zypper", "sles": "zypper", "suse": "zypper",
	"arch": "pacman", "manjaro": "pacman", "endeavouros": "pacman", "archarm": "pacman", "artix": "pacman", "cachyos": "pacman",
	"alpine": "apk", "postmarketos": "apk",
}

// DetectBackend picks a backend name from os-release: ID first, then each
// ID_LIKE entry. It returns the name and why.
func DetectBackend(r OSRelease) (name, reason string, err error) {
	if b, ok := familyOf[r.ID]; ok {
		return b, fmt.Sprintf("ID=%s in /etc/os-release", r.ID), nil
	}
	for _, like := range r.IDLike {
		if b, ok := familyOf[like]; ok {
			return b, fmt.Sprintf("ID_LIKE=%s in /etc/os-release", like), nil
		}
	}
	return "", "", fmt.Errorf("no backend for ID=%q ID_LIKE=%q; pass --backend", r.ID, strings.Join(r.IDLike, " "))
}

// binariesOf lists, per backend, the programs (relative to the root) of
// which one must exist for the backend to work.
var binariesOf = map[string][]string{
	"apt":    {"usr/bin/apt-get"},
	"dnf":    {"usr/bin/dnf", "usr/bin/dnf-3", "usr/bin/dnf5"},
	"yum":    {"usr/bin/yum"},
	"zypper": {"usr/bin/zypper"},
	"pacman": {"usr/bin/pacman"},
	"apk":    {"sbin/apk", "usr/bin/apk"},
}

// DetectBackendIn picks a backend for the system in root from os-release
// and checks that its package manager is there: a RHEL/CentOS 7 host
// without dnf gets yum; a backend whose program is missing is an error
// naming it (a container or an image whose os-release does not match its
// tools).
func DetectBackendIn(root string, r OSRelease) (name, reason string, err error) {
	name, reason, err = DetectBackend(r)
	if err != nil {
		return "", "", err
	}
	present := func(b string) (string, bool) {
		for _, p := range binariesOf[b] {
			if fi, err := os.Stat(filepath.Join(root, p)); err == nil && !fi.IsDir() {
				return "/" + p, true
			}
		}
		return "", false
	}
	if name == "dnf" {
		if _, ok := present("dnf"); !ok {
			if p, ok := present("yum"); ok {
				return "yum", reason + "; " + p + " present, no dnf", nil
			}
		}
	}
	p, ok := present(name)
	if !ok {
		return "", "", fmt.Errorf("%s (%s) but none of %s exists under %s; pass --backend", name, reason, strings.Join(binariesOf[name], ", "), root)
	}
	return name, reason + "; " + p + " present", nil
}
