package pacman

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

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
// is cached until the directory or pacman.conf's IgnorePkg change (pacman
// renames an entry on every upgrade, which changes the directory's mtime).
func (b *Backend) readLocal(dir string, conf Conf) (map[string]backends.Package, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]backends.Package{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stat pacman local database: %w", err)
	}
	key := dir + " " + strconv.FormatInt(fi.ModTime().UnixNano(), 10) + " " + strings.Join(conf.IgnorePkg, " ")
	if db, ok := b.localCache.Get(key); ok {
		return db, nil
	}

	entries, err := os.ReadDir(dir)
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
