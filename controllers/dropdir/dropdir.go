// Package dropdir owns the GitOps drop directory (--policy-dir, by default
// /etc/patchlet/policies.d): it watches the directory with fsnotify and
// keeps the store's PatchPolicies in line with the documents in its files.
// docs/dropdir.md says which files count, how they map to objects and what
// happens on errors.
package dropdir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

// Defaults of Options.
const (
	DefaultDebounce = 20 * time.Millisecond
	DefaultMaxDelay = 100 * time.Millisecond
	DefaultResync   = 5 * time.Minute
)

// Options configure a Watcher.
type Options struct {
	// Dir is the drop directory.
	Dir string
	// Store receives the policies.
	Store *store.Store
	// Log receives changes and problems.
	Log logr.Logger
	// Debounce is the quiet time after an event before a rescan. Default 20ms.
	Debounce time.Duration
	// MaxDelay bounds how long a burst of events can delay a rescan after its
	// first event. Default 100ms.
	MaxDelay time.Duration
	// Resync is the period of full rescans without events; default 5m,
	// negative disables it.
	Resync time.Duration
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Problem is a file of the drop directory that cannot be used as it is.
type Problem struct {
	// File is the absolute path of the file as named in the directory.
	File string `json:"file"`
	// Error says what is wrong, with field paths where they apply.
	Error string `json:"error"`
	// Since is when this problem was first seen.
	Since time.Time `json:"since"`
}

// Watcher keeps the store in line with the drop directory.
type Watcher struct {
	dir   string // absolute, not resolved
	store *store.Store
	log   logr.Logger
	o     Options

	syncMu sync.Mutex // one rescan at a time
	cache  parseCache
	absent bool // the directory was absent at the last rescan

	mu       sync.Mutex
	synced   bool
	problems map[string]Problem
}

// New returns a Watcher; Run starts it.
func New(o Options) *Watcher {
	if o.Debounce <= 0 {
		o.Debounce = DefaultDebounce
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	if o.Resync == 0 {
		o.Resync = DefaultResync
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		dir = filepath.Clean(o.Dir)
	}
	return &Watcher{
		dir:      dir,
		store:    o.Store,
		log:      o.Log.WithValues("dir", dir),
		o:        o,
		cache:    parseCache{},
		problems: map[string]Problem{},
	}
}

// Dir is the absolute path of the drop directory.
func (w *Watcher) Dir() string { return w.dir }

// Problems returns the current problems, sorted by file.
func (w *Watcher) Problems() []Problem {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]Problem, 0, len(w.problems))
	for _, p := range w.problems {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// Ready returns nil once the initial rescan is done and no file has a
// problem; otherwise an error naming the files and their problems.
func (w *Watcher) Ready() error {
	w.mu.Lock()
	synced := w.synced
	w.mu.Unlock()
	if !synced {
		return fmt.Errorf("policy directory %s: initial sync not done", w.dir)
	}
	ps := w.Problems()
	if len(ps) == 0 {
		return nil
	}
	msgs := make([]string, 0, len(ps))
	for _, p := range ps {
		msgs = append(msgs, p.File+": "+p.Error)
	}
	return fmt.Errorf("policy directory %s: %d file(s) with problems: %s", w.dir, len(ps), strings.Join(msgs, "; "))
}

// Sync rescans the whole directory once and converges the store. File
// problems are recorded (see Problems), not returned; the error is a store
// failure, after which a later Sync retries.
func (w *Watcher) Sync() error {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	start := time.Now()

	files, dirErr := w.scan()
	if dirErr != nil {
		// The directory exists but cannot be read: change nothing.
		w.setProblems(map[string]string{w.dir: dirErr.Error()})
		w.mu.Lock()
		w.synced = true
		w.mu.Unlock()
		return nil
	}

	items, _, err := w.store.List(store.PatchPolicies)
	if err != nil {
		return fmt.Errorf("listing policies: %w", err)
	}
	existing := make([]*v1alpha1.PatchPolicy, 0, len(items))
	for _, it := range items {
		if p, ok := it.Object.(*v1alpha1.PatchPolicy); ok {
			existing = append(existing, p)
		}
	}
	pl := computePlan(w.dir, files, existing)
	w.setProblems(pl.problems)

	var errs []error
	for _, o := range pl.creates {
		if _, err := w.store.Create(store.PatchPolicies, o); err != nil {
			errs = append(errs, fmt.Errorf("creating policy %q from %s: %w", o.Name, o.Annotations[v1alpha1.AnnotationSourceFile], err))
			continue
		}
		w.log.Info("created policy from file", "policy", o.Name, "file", o.Annotations[v1alpha1.AnnotationSourceFile])
	}
	for _, o := range pl.updates {
		if _, err := w.store.Update(store.PatchPolicies, o); err != nil {
			errs = append(errs, fmt.Errorf("updating policy %q from %s: %w", o.Name, o.Annotations[v1alpha1.AnnotationSourceFile], err))
			continue
		}
		w.log.Info("updated policy from file", "policy", o.Name, "file", o.Annotations[v1alpha1.AnnotationSourceFile])
	}
	for _, o := range pl.deletes {
		if _, err := w.store.Delete(store.PatchPolicies, o.Name, o.ResourceVersion); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			errs = append(errs, fmt.Errorf("deleting policy %q: %w", o.Name, err))
			continue
		}
		w.log.Info("deleted policy whose file no longer defines it", "policy", o.Name, "file", o.Annotations[v1alpha1.AnnotationSourceFile])
	}
	w.log.V(1).Info("rescanned policy directory", "files", len(files), "created", len(pl.creates),
		"updated", len(pl.updates), "deleted", len(pl.deletes), "problems", len(pl.problems), "duration", time.Since(start))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	w.mu.Lock()
	w.synced = true
	w.mu.Unlock()
	return nil
}

// scan reads and parses every policy file. A missing directory yields no
// files; any other failure to list it is returned.
func (w *Watcher) scan() ([]fileState, error) {
	ents, err := listDir(w.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if !w.absent {
				w.log.Info("policy directory does not exist; it holds no policies until it appears")
			}
			w.absent = true
			clear(w.cache)
			return nil, nil
		}
		if errors.Is(err, syscall.ENOTDIR) {
			return nil, fmt.Errorf("not a directory")
		}
		return nil, fmt.Errorf("reading directory: %w", err)
	}
	if w.absent {
		w.log.Info("policy directory appeared")
		w.absent = false
	}
	files := make([]fileState, 0, len(ents))
	seen := make(map[string]bool, len(ents))
	for _, e := range ents {
		path := filepath.Join(w.dir, e.name)
		fi, ok, err := statPolicyFile(path, e)
		if errors.Is(err, errGone) || (err == nil && !ok) {
			continue
		}
		seen[path] = true
		if err != nil {
			files = append(files, fileState{Path: path, Err: err})
			continue
		}
		if c, ok := w.cache.unchanged(path, fi); ok {
			files = append(files, fileState{Path: path, Policies: c.policies, Err: c.err})
			continue
		}
		readAt := time.Now()
		data, err := readPolicyFile(path, e)
		if errors.Is(err, errGone) {
			delete(seen, path)
			continue
		}
		if err != nil {
			files = append(files, fileState{Path: path, Err: err})
			continue
		}
		pols, err := w.cache.parse(path, fi, readAt, data)
		files = append(files, fileState{Path: path, Policies: pols, Err: err})
	}
	for p := range w.cache {
		if !seen[p] {
			delete(w.cache, p)
		}
	}
	return files, nil
}

// setProblems replaces the problems, logging each new or changed one once
// and each resolved one.
func (w *Watcher) setProblems(next map[string]string) {
	now := w.o.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for file, msg := range next {
		if old, ok := w.problems[file]; ok && old.Error == msg {
			continue
		}
		w.problems[file] = Problem{File: file, Error: msg, Since: now}
		w.log.Error(errors.New(msg), "policy file has a problem", "file", file)
	}
	for file := range w.problems {
		if _, ok := next[file]; !ok {
			delete(w.problems, file)
			w.log.Info("policy file problem resolved", "file", file)
		}
	}
}

// Run syncs once, then watches the directory and rescans after changes
// until ctx ends. A missing directory is not an error: its nearest existing
// ancestor is watched until it appears.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("starting fsnotify watcher: %w", err)
	}
	defer fw.Close()
	ws := &watchSet{fw: fw, dir: w.dir, log: w.log}
	ws.ensure()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		pending   bool
		first     time.Time
		backoff   time.Duration
		resyncC   <-chan time.Time
		syncAfter = func(d time.Duration) { pending = true; first = time.Now(); timer.Reset(d) }
	)
	if w.o.Resync > 0 {
		t := time.NewTicker(w.o.Resync)
		defer t.Stop()
		resyncC = t.C
	}
	doSync := func() {
		pending = false
		ws.ensure()
		if err := w.Sync(); err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), 30*time.Second)
			w.log.Error(err, "syncing policy directory failed; retrying", "retryAfter", backoff)
			syncAfter(backoff)
			return
		}
		backoff = 0
	}
	doSync()

	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return errors.New("fsnotify watcher closed")
			}
			if !ws.relevant(ev.Name) {
				continue
			}
			now := time.Now()
			if !pending {
				pending, first = true, now
			}
			wait := min(w.o.Debounce, first.Add(w.o.MaxDelay).Sub(now))
			timer.Reset(max(wait, 0))
		case err, ok := <-fw.Errors:
			if !ok {
				return errors.New("fsnotify watcher closed")
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Info("inotify queue overflowed; rescanning the policy directory")
			} else {
				w.log.Error(err, "watching policy directory")
			}
			if !pending {
				syncAfter(0)
			}
		case <-resyncC:
			if !pending {
				syncAfter(0)
			}
		case <-timer.C:
			doSync()
		}
	}
}

// watchSet keeps fsnotify watches on the directory (when it exists) and on
// its nearest existing ancestor, so that the directory's appearance, removal
// and replacement (a swapped symlink) are seen.
type watchSet struct {
	fw  *fsnotify.Watcher
	dir string
	log logr.Logger

	dirWatched bool
	dirID      fileID
	// dirTarget is the path the directory's watch was added on: the
	// directory with its symlinks resolved. Watching the resolved path keeps
	// the old and the new target of a swapped symlink apart in fsnotify's
	// table (it is keyed by path): the old target's removal then cannot
	// drop the new target's watch.
	dirTarget string
	ancestor  string
}

type fileID struct{ dev, ino uint64 }

func statID(path string) (fileID, bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.IsDir() {
		return fileID{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, true
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// ensure adds and removes watches to match the file system as it is now.
// It checks again after each change, so that a directory created while a
// watch was being added is not missed.
func (s *watchSet) ensure() {
	for range 8 {
		if !s.ensureOnce() {
			return
		}
	}
}

// ensureOnce makes one pass and reports whether it changed a watch.
func (s *watchSet) ensureOnce() bool {
	changed := false
	// The ancestor: the parent if it exists, else the nearest existing one.
	anc := filepath.Dir(s.dir)
	for {
		if _, ok := statID(anc); ok || anc == filepath.Dir(anc) {
			break
		}
		anc = filepath.Dir(anc)
	}
	if anc != s.ancestor {
		changed = true
		if s.ancestor != "" {
			_ = s.fw.Remove(s.ancestor)
		}
		if err := s.fw.Add(anc); err != nil {
			s.log.Error(err, "watching directory", "path", anc)
			s.ancestor = ""
			return false // retried at the next rescan
		}
		s.ancestor = anc
	}

	id, ok := statID(s.dir)
	target := s.dir
	if ok {
		if t, err := filepath.EvalSymlinks(s.dir); err == nil {
			target = t
		}
	}
	switch {
	case !ok && s.dirWatched:
		_ = s.fw.Remove(s.dirTarget)
		s.dirWatched, s.dirTarget = false, ""
		changed = true
	case ok && (!s.dirWatched || id != s.dirID || target != s.dirTarget):
		changed = true
		if s.dirWatched {
			_ = s.fw.Remove(s.dirTarget) // the old target (a swapped symlink); may be gone already
		}
		if err := s.fw.Add(target); err != nil {
			s.log.Error(err, "watching policy directory")
			s.dirWatched, s.dirTarget = false, ""
			return false // retried at the next rescan
		}
		s.dirWatched, s.dirID, s.dirTarget = true, id, target
	}
	return changed
}

// relevant reports whether an event on path can change what the directory
// holds: an entry of the directory, the directory itself, or one of its
// ancestors (on the path to it).
func (s *watchSet) relevant(path string) bool {
	if path == s.dir || filepath.Dir(path) == s.dir {
		return true
	}
	if s.dirTarget != "" && (path == s.dirTarget || filepath.Dir(path) == s.dirTarget) {
		return true
	}
	return strings.HasPrefix(s.dir, strings.TrimSuffix(path, "/")+"/")
}
