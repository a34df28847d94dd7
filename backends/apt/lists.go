package apt

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ScanPackages reads an apt index (a Packages file, as apt keeps it in
// /var/lib/apt/lists/*_Packages) and adds to avail the versions of the
// wanted packages whose architecture is one of archs ("all" is always
// accepted). It reads paragraphs like
//
//	Package: hello
//	Version: 2.10-3
//	Architecture: amd64
//	Filename: pool/main/h/hello/hello_2.10-3_amd64.deb
//
// and skips the rest of a paragraph as soon as its Package is not wanted.
func ScanPackages(r io.Reader, wanted map[string]bool, archs []string, avail map[string][]string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var name, version, arch string
	skip := false
	flush := func() {
		if name != "" && version != "" && (arch == "" || arch == "all" || slices.Contains(archs, arch)) {
			if !slices.Contains(avail[name], version) {
				avail[name] = append(avail[name], version)
			}
		}
		name, version, arch, skip = "", "", "", false
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			flush()
			continue
		}
		if skip || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		key, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch {
		case fieldIs(key, "Package"):
			if name != "" {
				flush()
			}
			n := string(bytes.TrimSpace(value))
			if wanted[n] {
				name = n
			} else {
				skip = true
			}
		case fieldIs(key, "Version"):
			version = string(bytes.TrimSpace(value))
		case fieldIs(key, "Architecture"):
			arch = string(bytes.TrimSpace(value))
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read packages index: %w", err)
	}
	return nil
}

// sortNewestFirst orders Debian versions newest first.
func sortNewestFirst(vs []string) {
	slices.SortFunc(vs, func(a, b string) int { return CompareVersions(b, a) })
}

// indexFiles lists the Packages indexes in an apt lists directory, plain
// or gzip-compressed, and says whether indexes in a compression this
// package cannot read (lz4, xz, zst: Acquire::GzipIndexes on some images)
// are present.
func indexFiles(listsDir string) (files []string, unreadable bool, err error) {
	entries, err := os.ReadDir(listsDir)
	if err != nil {
		return nil, false, fmt.Errorf("read apt lists dir: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		if !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
			continue // apt links file: repositories' indexes
		}
		switch {
		case strings.HasSuffix(n, "_Packages"), strings.HasSuffix(n, "_Packages.gz"):
			files = append(files, filepath.Join(listsDir, n))
		case strings.Contains(n, "_Packages."):
			unreadable = true
		}
	}
	return files, unreadable, nil
}

// scanIndexFile scans one index file, decompressing .gz.
func scanIndexFile(path string, wanted map[string]bool, archs []string, avail map[string][]string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open apt index: %w", err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("open apt index %s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	if err := ScanPackages(r, wanted, archs, avail); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// ParseMadison parses apt-cache madison output into avail, for indexes
// this package cannot read itself:
//
//	foo |        2.0 | file:/srv/repo ./ Packages
//	foo |        1.0 | http://deb.debian.org/debian bookworm/main amd64 Packages
func ParseMadison(out []byte, avail map[string][]string) {
	for _, line := range strings.Split(string(out), "\n") {
		parts := strings.Split(line, "|")
		if len(parts) < 3 {
			continue
		}
		name, version := strings.TrimSpace(parts[0]), strings.TrimSpace(parts[1])
		if !strings.HasSuffix(strings.TrimSpace(parts[2]), "Packages") || name == "" || version == "" {
			continue // a Sources line
		}
		if !slices.Contains(avail[name], version) {
			avail[name] = append(avail[name], version)
		}
	}
}
