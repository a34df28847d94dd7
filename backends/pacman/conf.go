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
// the defaults (pacman itself then fails, and says why). DBPath is
// pacman-conf's answer at New when it gave one.
func (b *Backend) conf() Conf {
	data, err := os.ReadFile(b.configPath())
	if err != nil {
		b.Cfg.Log.V(1).Info("cannot read pacman.conf; using defaults", "path", b.configPath(), "error", err.Error())
	}
	c := ParseConf(data, b.Cfg.Root)
	if b.dbPath != "" {
		c.DBPath = b.dbPath
	}
	return c
}

// ParseDesc parses one local database entry's desc file: the package and
// the names it provides (%PROVIDES%, each without its "=VERSION"):
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
//	%PROVIDES%
//	sh
//	libfoo.so=1-64
//
// It returns false when the entry names no package or version.
func ParseDesc(data []byte) (p backends.Package, provides []string, ok bool) {
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
		case field == "%PROVIDES%": // one name a line
			name, _, _ := bytes.Cut(line, []byte("="))
			provides = append(provides, string(name))
		default:
			switch field {
			case "%NAME%":
				p.Name = string(line)
			case "%VERSION%":
				p.Version = string(line)
			case "%ARCH%":
				p.Arch = string(line)
			}
			field = "" // only the first value of these fields matters
		}
	}
	return p, provides, p.Name != "" && p.Version != ""
}

// readLocal returns the installed packages of the local database dir and
// what each provides (see ParseDesc), reading every entry's desc file;
// conf marks the held ones. The result is cached until the directory's fingerprint or pacman.conf's IgnorePkg
// change (pacman renames an entry on every upgrade, which changes the
// directory's mtime). A missing directory is an empty database.
func (b *Backend) readLocal(dir string, conf Conf) (map[string]backends.Package, map[string][]string, error) {
	fp, err := new(toolkit.Fingerprint).Files(dir).Sum()
	if err != nil {
		return nil, nil, fmt.Errorf("pacman local database: %w", err)
	}
	key := fp + strings.Join(conf.IgnorePkg, " ")
	if db, ok := b.localCache.Get(key); ok {
		if provides, ok := b.providesCache.Get(key); ok {
			return db, provides, nil
		}
	}

	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]backends.Package{}, map[string][]string{}, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read pacman local database: %w", err)
	}
	db := make(map[string]backends.Package, len(entries))
	provides := map[string][]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue // ALPM_DB_VERSION
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "desc"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // being written or removed by pacman
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read pacman local database: %w", err)
		}
		p, provs, ok := ParseDesc(data)
		if !ok {
			b.Cfg.Log.Info("ignoring unreadable local database entry", "entry", e.Name())
			continue
		}
		p.Held = conf.Ignored(p.Name)
		db[p.Name] = p
		if len(provs) > 0 {
			provides[p.Name] = provs
		}
	}
	return b.localCache.Put(key, db), b.providesCache.Put(key, provides), nil
}

// installed is the root's local database (see readLocal).
func (b *Backend) installed() (map[string]backends.Package, error) {
	conf := b.conf()
	db, _, err := b.readLocal(filepath.Join(conf.DBPath, "local"), conf)
	return db, err
}
