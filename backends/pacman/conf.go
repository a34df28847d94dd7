package pacman

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Conf is what the backend reads from pacman.conf's [options] section.
// Include directives are not followed (Arch's pacman.conf includes only
// mirror lists, inside repository sections).
type Conf struct {
	// DBPath is the database directory (local/, sync/, db.lck).
	DBPath string
	// CacheDirs are the package cache directories, in order.
	CacheDirs []string
	// IgnorePkg are the package names or glob patterns pacman will not
	// upgrade: the only hold pacman has.
	IgnorePkg []string
}

// ParseConf parses pacman.conf content. Paths not set default to their
// place inside root, as pacman --root does; paths set are used as written
// (pacman takes them as host paths).
func ParseConf(data []byte, root string) Conf {
	var c Conf
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			continue
		}
		if section != "options" {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "DBPath":
			c.DBPath = filepath.Clean(v)
		case "CacheDir":
			for _, d := range strings.Fields(v) {
				c.CacheDirs = append(c.CacheDirs, filepath.Clean(d))
			}
		case "IgnorePkg":
			c.IgnorePkg = append(c.IgnorePkg, strings.Fields(v)...)
		}
	}
	if c.DBPath == "" {
		c.DBPath = filepath.Join(root, "var/lib/pacman")
	}
	if len(c.CacheDirs) == 0 {
		c.CacheDirs = []string{filepath.Join(root, "var/cache/pacman/pkg")}
	}
	return c
}

// Ignored reports whether pacman ignores upgrades of name (IgnorePkg,
// glob patterns as pacman matches them).
func (c Conf) Ignored(name string) bool {
	for _, p := range c.IgnorePkg {
		if ok, err := path.Match(p, name); err == nil && ok {
			return true
		}
	}
	return false
}

// conf reads the root's pacman.conf; a missing or unreadable file gives
// the defaults (pacman itself then fails, and says why).
func (b *Backend) conf() Conf {
	data, err := os.ReadFile(b.configPath())
	if err != nil {
		b.Cfg.Log.V(1).Info("cannot read pacman.conf; using defaults", "path", b.configPath(), "error", err.Error())
	}
	return ParseConf(data, b.Cfg.Root)
}
