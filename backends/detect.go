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
