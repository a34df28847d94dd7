package dropdir

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// maxFileSize is the largest policy file read; a larger one is a problem.
const maxFileSize = 16 << 20

// IsPolicyFile reports whether a name in the drop directory is read as a
// policy file: it ends in .yaml, .yml or .json and is neither a dotfile
// (which covers git-sync's ..data links and Emacs' .#lock files) nor an
// editor's temporary or backup file.
func IsPolicyFile(name string) bool {
	switch {
	case name == "" || strings.HasPrefix(name, "."):
		return false
	case strings.HasPrefix(name, "#") || strings.HasSuffix(name, "#"):
		return false // Emacs auto-save
	case strings.HasSuffix(name, "~"):
		return false // backup files
	case name == "4913":
		return false // vim's probe file
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".swp", ".swx", ".tmp":
		return false
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// fileState is what one policy file holds: its policies, decoded,
// defaulted and validated, or the error that makes the whole file unusable.
type fileState struct {
	// Path is the absolute path of the file as named in the directory.
	Path string
	// Policies in document order. Nil when Err is set.
	Policies []*v1alpha1.PatchPolicy
	// Err is why the file cannot be used (read, parse, decode, kind,
	// validation). The policies the file defined before are kept.
	Err error
}

// parsePolicies decodes the documents of one file strictly, defaults and
// validates every PatchPolicy, and refuses every other kind. Any error makes
// the whole file unusable: a file is taken as a unit, so that a half-written
// file never applies half of its policies.
func parsePolicies(data []byte) ([]*v1alpha1.PatchPolicy, error) {
	if len(data) == 0 {
		return nil, errors.New("file is empty (still being written?); its previous policies are kept until it has content or is removed")
	}
	docs, err := v1alpha1.SplitDocuments(data)
	if err != nil {
		return nil, err
	}
	var (
		out  []*v1alpha1.PatchPolicy
		errs []string
	)
	for i, doc := range docs {
		n := i + 1
		obj, err := v1alpha1.Decode(doc)
		if err != nil {
			errs = append(errs, fmt.Sprintf("document %d: %v", n, err))
			continue
		}
		p, ok := obj.(*v1alpha1.PatchPolicy)
		if !ok {
			errs = append(errs, fmt.Sprintf("document %d: kind %s %q is not accepted from the policy directory, only %s",
				n, obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), v1alpha1.KindPatchPolicy))
			continue
		}
		// Validated as enforced (defaulted), stored as written, as over the API.
		d := p.DeepCopy()
		d.SetDefaults()
		if verrs := d.Validate(); len(verrs) > 0 {
			errs = append(errs, fmt.Sprintf("document %d (%s %q): %v", n, v1alpha1.KindPatchPolicy, p.Name, verrs.ToAggregate()))
			continue
		}
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return out, nil
}

// entry is one candidate file found in the directory.
type dirEntry struct {
	name    string
	symlink bool
}

// listDir returns the policy file names in dir, sorted. A missing directory
// is reported as an error wrapping fs.ErrNotExist.
func listDir(dir string) ([]dirEntry, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []dirEntry
	for _, e := range ents {
		if !IsPolicyFile(e.Name()) {
			continue
		}
		t := e.Type()
		if t.IsDir() {
			continue
		}
		if !t.IsRegular() && t&fs.ModeSymlink == 0 {
			continue // fifos, sockets, devices: never opened
		}
		out = append(out, dirEntry{name: e.Name(), symlink: t&fs.ModeSymlink != 0})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// errGone means the file disappeared between listing and reading.
var errGone = errors.New("file is gone")

// statPolicyFile stats one file, following symlinks. It returns errGone
// when a regular file vanished meanwhile (it is simply absent then), and
// ok=false for a symlink to a directory (ignored); a dangling symlink is an
// error (a swap in progress must not remove policies).
func statPolicyFile(path string, e dirEntry) (fs.FileInfo, bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !e.symlink {
			return nil, false, errGone
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, fmt.Errorf("dangling symlink: %w", err)
		}
		return nil, false, fmt.Errorf("reading file: %w", err)
	}
	if fi.IsDir() {
		return nil, false, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, false, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	if fi.Size() > maxFileSize {
		return nil, false, fmt.Errorf("file is %d bytes, larger than the limit of %d", fi.Size(), maxFileSize)
	}
	return fi, true, nil
}

// readPolicyFile reads a file that statPolicyFile accepted.
func readPolicyFile(path string, e dirEntry) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !e.symlink {
			return nil, errGone
		}
		return nil, fmt.Errorf("reading file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading file: %w", err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("file is larger than the limit of %d bytes", maxFileSize)
	}
	return data, nil
}

// fileStamp identifies one version of a file's content without reading it:
// the file (device, inode), its size and its change and modification times.
type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

func stampOf(fi fs.FileInfo) (fileStamp, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileStamp{}, false
	}
	return fileStamp{
		dev: uint64(st.Dev), ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Nano(), ctime: st.Ctim.Nano(),
	}, true
}

// racyWindow: a file changed less than this before it was read may change
// again without its stamp changing (file times are coarse), so its stamp is
// not trusted and it is read again (the "racy git" problem).
const racyWindow = time.Second

// parseCache remembers the parse of each file by its content, so that a
// rescan decodes only the files that changed.
type parseCache map[string]cachedParse

type cachedParse struct {
	stamp    fileStamp
	stamped  bool      // stamp is valid
	readAt   time.Time // when data was read
	data     []byte
	policies []*v1alpha1.PatchPolicy
	err      error
}

// unchanged returns the cached parse of path when its stamp shows the file
// has not changed since it was read, and the read was not racy.
func (c parseCache) unchanged(path string, fi fs.FileInfo) (cachedParse, bool) {
	p, ok := c[path]
	if !ok || !p.stamped {
		return cachedParse{}, false
	}
	st, ok := stampOf(fi)
	if !ok || st != p.stamp || p.readAt.Sub(time.Unix(0, max(st.mtime, st.ctime))) < racyWindow {
		return cachedParse{}, false
	}
	return p, true
}

// parse returns the parse of data, read from path at readAt with the stamp
// of fi (taken before reading), reusing the cached parse of equal content.
func (c parseCache) parse(path string, fi fs.FileInfo, readAt time.Time, data []byte) ([]*v1alpha1.PatchPolicy, error) {
	st, stamped := stampOf(fi)
	if p, ok := c[path]; ok && bytes.Equal(p.data, data) {
		p.stamp, p.stamped, p.readAt = st, stamped, readAt
		c[path] = p
		return p.policies, p.err
	}
	pols, err := parsePolicies(data)
	c[path] = cachedParse{stamp: st, stamped: stamped, readAt: readAt, data: data, policies: pols, err: err}
	return pols, err
}
