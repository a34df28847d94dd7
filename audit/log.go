package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/internal/fsutil"
)

// File names inside the audit directory.
const (
	// CurrentFile is the file records are appended to.
	CurrentFile = "audit.log"
	// HeadFile records the newest record and the oldest retained sequence.
	HeadFile = "audit.head"

	rotatedPrefix = "audit-"
	rotatedSuffix = ".log"
)

// Defaults of Options.
const (
	DefaultMaxSize = 16 << 20
	DefaultKeep    = 10
)

// Options configure a Log.
type Options struct {
	// Dir holds the files, e.g. /var/lib/patchlet/audit. Created 0700.
	Dir string
	// MaxSize is the size in bytes after which audit.log is rotated;
	// DefaultMaxSize when 0.
	MaxSize int64
	// Keep is how many rotated files are kept; DefaultKeep when 0.
	Keep int
	// Log receives rotation and recovery messages.
	Log logr.Logger
	// Now returns the time of a record; time.Now when nil.
	Now func() time.Time
}

// Log appends records to the audit log. Create it with Open; it is safe
// for concurrent use.
type Log struct {
	dir     string
	maxSize int64
	keep    int
	log     logr.Logger
	now     func() time.Time

	mu sync.Mutex
	// f is audit.log opened for appending; size its length; first the seq
	// of its first record (0 when empty).
	f     *os.File
	size  int64
	first uint64
	// seq and hash of the newest record; oldest retained seq.
	seq    uint64
	hash   string
	oldest uint64
	head   *os.File
}

// head is the content of audit.head.
type head struct {
	seq, oldest uint64
	hash        string
}

// headLen is the fixed length of audit.head, so that it is overwritten in
// place with one write.
const headLen = len("seq=") + 20 + len(" oldest=") + 20 + len(" hash=") + 64 + 1

func (h head) bytes() []byte {
	hash := h.hash
	if hash == "" {
		hash = strings.Repeat("0", 64)
	}
	return fmt.Appendf(nil, "seq=%020d oldest=%020d hash=%s\n", h.seq, h.oldest, hash)
}

func parseHead(b []byte) (head, error) {
	var h head
	if len(b) != headLen {
		return h, fmt.Errorf("%s is %d bytes, want %d", HeadFile, len(b), headLen)
	}
	if _, err := fmt.Sscanf(string(b), "seq=%020d oldest=%020d hash=%64s\n", &h.seq, &h.oldest, &h.hash); err != nil {
		return h, fmt.Errorf("%s is malformed: %w", HeadFile, err)
	}
	if h.hash == strings.Repeat("0", 64) {
		h.hash = ""
	}
	return h, nil
}

// rotatedName is the name of a rotated file whose first record is seq.
func rotatedName(seq uint64) string {
	return fmt.Sprintf("%s%020d%s", rotatedPrefix, seq, rotatedSuffix)
}

// rotatedSeq is the first seq a rotated file's name announces.
func rotatedSeq(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, rotatedPrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, rotatedSuffix)
	if !ok || len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// files lists the log files of dir, oldest first, audit.log last if it exists.
func files(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	current := false
	for _, e := range ents {
		if e.Name() == CurrentFile {
			current = true
		} else if _, ok := rotatedSeq(e.Name()); ok {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	if current {
		out = append(out, CurrentFile)
	}
	return out, nil
}

// ErrBroken is wrapped by Open when the log on disk does not continue from
// the head it recorded: records were removed or the head was edited. Run
// Verify (patchctl audit verify) to see where, and move the directory aside
// to start a new chain.
var ErrBroken = errors.New("the audit log is broken")

// Open opens the audit log in o.Dir, creating it when needed, and recovers
// from a crash in the middle of a write: a torn last line is cut off, a head
// one record behind is brought forward.
func Open(o Options) (*Log, error) {
	l := &Log{dir: o.Dir, maxSize: o.MaxSize, keep: o.Keep, log: o.Log, now: o.Now}
	if l.maxSize <= 0 {
		l.maxSize = DefaultMaxSize
	}
	if l.keep <= 0 {
		l.keep = DefaultKeep
	}
	if l.now == nil {
		l.now = time.Now
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the audit directory: %w", err)
	}
	if err := l.recover(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(l.dir, CurrentFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	l.f, l.size = f, fi.Size()
	hf, err := os.OpenFile(filepath.Join(l.dir, HeadFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("opening %s: %w", HeadFile, err)
	}
	l.head = hf
	if err := l.writeHead(); err != nil {
		_ = l.Close()
		return nil, err
	}
	if err := fsutil.SyncDir(l.dir); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

// recover learns the newest record and reconciles it with the head.
func (l *Log) recover() error {
	names, err := files(l.dir)
	if err != nil {
		return fmt.Errorf("reading the audit directory: %w", err)
	}
	cur := filepath.Join(l.dir, CurrentFile)
	if b, err := os.ReadFile(cur); err == nil && len(b) > 0 && b[len(b)-1] != '\n' {
		keep := bytes.LastIndexByte(b, '\n') + 1
		l.log.Info("cutting off a torn audit record", "file", cur, "bytes", len(b)-keep)
		if err := os.Truncate(cur, int64(keep)); err != nil {
			return fmt.Errorf("cutting off a torn audit record: %w", err)
		}
	}
	var last *Entry
	var lastLine []byte
	for i := len(names) - 1; i >= 0 && last == nil; i-- {
		b, err := os.ReadFile(filepath.Join(l.dir, names[i]))
		if err != nil {
			return fmt.Errorf("reading the audit log: %w", err)
		}
		lines := bytes.Split(bytes.TrimSuffix(b, []byte{'\n'}), []byte{'\n'})
		if len(b) == 0 {
			continue
		}
		if names[i] == CurrentFile {
			e, err := decode(lines[0])
			if err != nil {
				return fmt.Errorf("%w: %s line 1: %w", ErrBroken, CurrentFile, err)
			}
			l.first = e.Seq
		}
		lastLine = lines[len(lines)-1]
		e, err := decode(lastLine)
		if err != nil {
			return fmt.Errorf("%w: %s line %d: %w", ErrBroken, names[i], len(lines), err)
		}
		last = &e
	}
	hb, herr := os.ReadFile(filepath.Join(l.dir, HeadFile))
	var h head
	if herr == nil {
		h, herr = parseHead(hb)
	}
	switch {
	case last == nil && (errors.Is(herr, os.ErrNotExist) || (herr == nil && h.seq == 0)):
		l.oldest = 1
		return nil
	case last == nil:
		return fmt.Errorf("%w: %s names record %d but there are no records", ErrBroken, HeadFile, h.seq)
	}
	l.seq, l.hash = last.Seq, lineHash(lastLine)
	if herr != nil {
		if !errors.Is(herr, os.ErrNotExist) {
			return fmt.Errorf("%w: %w", ErrBroken, herr)
		}
		return fmt.Errorf("%w: %s is missing", ErrBroken, HeadFile)
	}
	l.oldest = h.oldest
	switch {
	case h.seq == last.Seq && h.hash == l.hash:
	case h.seq+1 == last.Seq && h.hash == last.Prev:
		// The record was written but the head was not: bring it forward.
		l.log.Info("bringing the audit head forward", "seq", last.Seq)
	default:
		return fmt.Errorf("%w: %s names record %d but the log ends at record %d", ErrBroken, HeadFile, h.seq, last.Seq)
	}
	return nil
}

// Record appends e as the next record: it fills Seq, Time, Prev and Hash,
// rotates the file first when it would grow past MaxSize, and returns after
// the record and the head are fsynced. ctx is not consulted: a change that
// was made is recorded.
func (l *Log) Record(_ context.Context, e Entry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return errors.New("the audit log is closed")
	}
	e.Seq, e.Prev, e.Time = l.seq+1, l.hash, l.now().UTC()
	line, err := encode(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if l.size > 0 && l.size+int64(len(line)) > l.maxSize {
		if err := l.rotate(); err != nil {
			return err
		}
	}
	if _, err := l.f.Write(line); err != nil {
		_ = l.f.Truncate(l.size)
		return fmt.Errorf("writing audit record %d: %w", e.Seq, err)
	}
	if err := l.f.Sync(); err != nil {
		_ = l.f.Truncate(l.size)
		return fmt.Errorf("syncing audit record %d: %w", e.Seq, err)
	}
	if l.size == 0 {
		l.first = e.Seq
	}
	l.size += int64(len(line))
	l.seq, l.hash = e.Seq, lineHash(line[:len(line)-1])
	return l.writeHead()
}

// RecordStep records a package-manager step the agent ran. The controller
// calls it once per step, when the step has ended.
func (l *Log) RecordStep(ctx context.Context, s Step) error {
	return l.Record(ctx, Entry{Step: &s})
}

// writeHead overwrites audit.head in place and syncs it.
func (l *Log) writeHead() error {
	b := head{seq: l.seq, oldest: l.oldest, hash: l.hash}.bytes()
	if _, err := l.head.WriteAt(b, 0); err != nil {
		return fmt.Errorf("writing %s: %w", HeadFile, err)
	}
	if err := l.head.Truncate(int64(len(b))); err != nil {
		return fmt.Errorf("writing %s: %w", HeadFile, err)
	}
	if err := l.head.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", HeadFile, err)
	}
	return nil
}

// rotate renames audit.log after its first record, prunes old files and
// opens a new audit.log.
func (l *Log) rotate() error {
	cur := filepath.Join(l.dir, CurrentFile)
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("closing the audit log: %w", err)
	}
	l.f = nil
	name := rotatedName(l.first)
	if err := os.Rename(cur, filepath.Join(l.dir, name)); err != nil {
		return fmt.Errorf("rotating the audit log: %w", err)
	}
	l.log.V(1).Info("rotated the audit log", "file", name)
	names, err := files(l.dir)
	if err != nil {
		return fmt.Errorf("rotating the audit log: %w", err)
	}
	var rotated []string
	for _, n := range names {
		if n != CurrentFile {
			rotated = append(rotated, n)
		}
	}
	for len(rotated) > l.keep {
		if err := os.Remove(filepath.Join(l.dir, rotated[0])); err != nil {
			return fmt.Errorf("pruning the audit log: %w", err)
		}
		l.log.V(1).Info("pruned an audit file", "file", rotated[0])
		rotated = rotated[1:]
	}
	if len(rotated) > 0 {
		l.oldest, _ = rotatedSeq(rotated[0])
		if err := l.writeHead(); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(cur, os.O_WRONLY|os.O_CREATE|os.O_APPEND|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("rotating the audit log: %w", err)
	}
	l.f, l.size, l.first = f, 0, 0
	return fsutil.SyncDir(l.dir)
}

// Close closes the files.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if l.f != nil {
		errs = append(errs, l.f.Close())
		l.f = nil
	}
	if l.head != nil {
		errs = append(errs, l.head.Close())
		l.head = nil
	}
	return errors.Join(errs...)
}
