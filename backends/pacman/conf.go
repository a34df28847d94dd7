package pacman

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
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

// ParseDesc parses one local database entry's desc file:
//
//	%NAME%
//	foo
//
//	%VERSION%
//	1.0-1
//
//	%ARCH%
//	any
//
// It returns false when the entry names no package or version.
func ParseDesc(data []byte) (backends.Package, bool) {
	var p backends.Package
	field := ""
	for len(data) > 0 {
		var line []byte
		line, data = toolkit.NextLine(data)
		line = bytes.TrimSpace(line)
		switch {
		case len(line) == 0:
			field = ""
		case len(line) > 2 && line[0] == '%' && line[len(line)-1] == '%':
			field = string(line)
		default:
			switch field {
			case "%NAME%":
				p.Name = string(line)
			case "%VERSION%":
				p.Version = string(line)
			case "%ARCH%":
				p.Arch = string(line)
			}
			field = "" // only the first value of each field matters here
		}
	}
	return p, p.Name != "" && p.Version != ""
}

// readLocal returns the installed packages of the local database dir,
// reading every entry's desc file; conf marks the held ones. The result
// is cached until the directory's fingerprint or pacman.conf's IgnorePkg
// change (pacman renames an entry on every upgrade, which changes the
// directory's mtime). A missing directory is an empty database.
func (b *Backend) readLocal(dir string, conf Conf) (map[string]backends.Package, error) {
	fp, err := new(toolkit.Fingerprint).Files(dir).Sum()
	if err != nil {
		return nil, fmt.Errorf("pacman local database: %w", err)
	}
	key := fp + strings.Join(conf.IgnorePkg, " ")
	if db, ok := b.localCache.Get(key); ok {
		return db, nil
	}

	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]backends.Package{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pacman local database: %w", err)
	}
	db := make(map[string]backends.Package, len(entries))
	for _, e := range entries {
		if !e.IsDir() {
			continue // ALPM_DB_VERSION
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "desc"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // being written or removed by pacman
		}
		if err != nil {
			return nil, fmt.Errorf("read pacman local database: %w", err)
		}
		p, ok := ParseDesc(data)
		if !ok {
			b.Cfg.Log.Info("ignoring unreadable local database entry", "entry", e.Name())
			continue
		}
		p.Held = conf.Ignored(p.Name)
		db[p.Name] = p
	}
	return b.localCache.Put(key, db), nil
}

// installed is the root's local database (see readLocal).
func (b *Backend) installed() (map[string]backends.Package, error) {
	conf := b.conf()
	return b.readLocal(filepath.Join(conf.DBPath, "local"), conf)
}
