// Package store keeps patchlet's API objects (PatchPolicy, Host, Operation)
// in memory and, crash-safely, on disk under the state directory.
//
// Layout: DIR/objects/<resource>/<name>.json, one file per object, each
// written to a temporary file in the same directory, fsynced, renamed over
// the old file, and the directory fsynced: after a crash a file holds either
// the old or the new object, never a torn one. DIR/resourceversion records
// the highest resourceVersion handed out by a delete, so that
// resourceVersions stay strictly increasing across restarts.
//
// Files were chosen over an embedded database: the objects are few (tens of
// policies, one host, a bounded number of operations), an operator can read
// them with cat, and one object per file makes every write independent.
//
// The store follows Kubernetes semantics: Update changes metadata and spec
// and keeps status; UpdateStatus changes status only; metadata.generation
// bumps when spec changes; a non-empty resourceVersion on an update must
// match (409 Conflict otherwise). Errors are apimachinery StatusErrors.
package store

import (
	"bytes"
	"encoding/json"
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
	"github.com/google/uuid"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/fsutil"
)

// Resource names (plural, lowercase, as in URLs), from the registry
// v1alpha1.Resources, which lists every resource the store keeps.
const (
	PatchPolicies = v1alpha1.ResourcePatchPolicies
	Hosts         = v1alpha1.ResourceHosts
	Operations    = v1alpha1.ResourceOperations
)

// GroupResource of a resource name, for error messages.
func GroupResource(resource string) schema.GroupResource {
	return schema.GroupResource{Group: v1alpha1.Group, Resource: resource}
}

// Event is one change of an object, as seen by a watcher.
type Event struct {
	Type watch.EventType
	// Resource the object belongs to.
	Resource string
	// Object after the change (for Deleted: the last state). Shared between
	// watchers: never modify it.
	Object v1alpha1.Object
	// JSON of Object.
	JSON []byte
	// RV is the resourceVersion of the change.
	RV uint64
}

type entry struct {
	obj  v1alpha1.Object
	json []byte
}

// eventLogSize is how many past events a watch can resume from.
const eventLogSize = 4096

// watchBuffer is how many events a slow watcher may lag before it is closed.
const watchBuffer = 1024

// Store is the object store. It is safe for concurrent use.
type Store struct {
	dir string
	log logr.Logger
	now func() time.Time

	mu       sync.RWMutex
	rv       uint64
	objects  map[string]map[string]*entry
	events   []Event // ring buffer, oldest first once full
	evStart  int
	watchers map[*watcher]struct{}
}

// Options configure a Store.
type Options struct {
	// Log receives load problems (a file that cannot be read).
	Log logr.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// Open loads the store under dir, creating the directories it needs.
func Open(dir string, opts Options) (*Store, error) {
	s := &Store{
		dir:      dir,
		log:      opts.Log,
		now:      opts.Now,
		objects:  map[string]map[string]*entry{},
		watchers: map[*watcher]struct{}{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, r := range v1alpha1.Resources {
		s.objects[r.Resource] = map[string]*entry{}
		d := filepath.Join(dir, "objects", r.Resource)
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating store directory: %w", err)
		}
		if err := s.load(r, d); err != nil {
			return nil, err
		}
	}
	// An interrupted write of the resourceversion file leaves a temporary file
	// next to it; the old file is intact.
	tmps, err := filepath.Glob(filepath.Join(dir, ".tmp-resourceversion-*"))
	if err != nil {
		return nil, fmt.Errorf("listing temporary files: %w", err)
	}
	for _, t := range tmps {
		_ = os.Remove(t)
	}
	b, err := os.ReadFile(filepath.Join(dir, "resourceversion"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading resourceversion: %w", err)
	}
	if len(b) > 0 {
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", filepath.Join(dir, "resourceversion"), err)
		}
		s.rv = max(s.rv, n)
	}
	return s, nil
}

func (s *Store) load(r v1alpha1.ResourceInfo, d string) error {
	ents, err := os.ReadDir(d)
	if err != nil {
		return fmt.Errorf("reading store directory: %w", err)
	}
	for _, de := range ents {
		name := de.Name()
		p := filepath.Join(d, name)
		if strings.HasPrefix(name, ".tmp-") {
			// An interrupted write: the rename never happened, the old file is intact.
			_ = os.Remove(p)
			continue
		}
		if !strings.HasSuffix(name, ".json") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		obj := r.NewObject()
		if err := json.Unmarshal(b, obj); err != nil {
			// Never happens with our atomic writes; a hand-edited file is set aside, not lost.
			s.log.Error(err, "unreadable object file set aside", "path", p)
			_ = os.Rename(p, p+".corrupt")
			continue
		}
		rv, _ := strconv.ParseUint(obj.GetResourceVersion(), 10, 64)
		s.rv = max(s.rv, rv)
		s.objects[r.Resource][obj.GetName()] = &entry{obj: obj, json: b}
	}
	return nil
}

// Dir is the directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// ResourceVersion is the newest resourceVersion handed out.
func (s *Store) ResourceVersion() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rv
}

func (s *Store) bucket(resource string) (map[string]*entry, error) {
	b, ok := s.objects[resource]
	if !ok {
		return nil, apierrors.NewNotFound(GroupResource(resource), "")
	}
	return b, nil
}

// entry returns the stored entry of an object, or NotFound. s.mu is held.
func (s *Store) entry(resource, name string) (*entry, error) {
	b, err := s.bucket(resource)
	if err != nil {
		return nil, err
	}
	e, ok := b[name]
	if !ok {
		return nil, apierrors.NewNotFound(GroupResource(resource), name)
	}
	return e, nil
}

// Get returns a copy of an object.
func (s *Store) Get(resource, name string) (v1alpha1.Object, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.entry(resource, name)
	if err != nil {
		return nil, err
	}
	return e.obj.DeepCopyObject().(v1alpha1.Object), nil
}

// GetJSON returns the stored JSON of an object (do not modify it).
func (s *Store) GetJSON(resource, name string) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e, err := s.entry(resource, name)
	if err != nil {
		return nil, err
	}
	return e.json, nil
}

// Item is one object of a List.
type Item struct {
	Object v1alpha1.Object
	JSON   []byte
}

// List returns the objects of a resource sorted by name, shared and
// read-only (never modify them; DeepCopy first), and the current
// resourceVersion.
func (s *Store) List(resource string) ([]Item, uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, err := s.bucket(resource)
	if err != nil {
		return nil, 0, err
	}
	items := make([]Item, 0, len(b))
	for _, e := range b {
		items = append(items, Item{Object: e.obj, JSON: e.json})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Object.GetName() < items[j].Object.GetName() })
	return items, s.rv, nil
}

// Create stores a new object. Status is stored as given (the API layer
// clears it for clients). uid, creationTimestamp, generation 1 and
// resourceVersion are set by the store.
func (s *Store) Create(resource string, obj v1alpha1.Object) (v1alpha1.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.bucket(resource)
	if err != nil {
		return nil, err
	}
	name := obj.GetName()
	if _, ok := b[name]; ok {
		return nil, apierrors.NewAlreadyExists(GroupResource(resource), name)
	}
	obj = obj.DeepCopyObject().(v1alpha1.Object)
	s.setKind(resource, obj)
	obj.SetUID(uuidFunc())
	obj.SetCreationTimestamp(metav1.NewTime(s.now().UTC().Truncate(time.Second)))
	obj.SetGeneration(1)
	obj.SetManagedFields(nil)
	obj.SetNamespace("")
	obj.SetSelfLink("")
	obj.SetDeletionTimestamp(nil)
	return s.commit(resource, watch.Added, obj)
}

// Update replaces an object's metadata and spec, keeping its status and
// system metadata. A non-empty resourceVersion must match the stored one.
func (s *Store) Update(resource string, obj v1alpha1.Object) (v1alpha1.Object, error) {
	return s.update(resource, obj, false)
}

// UpdateStatus replaces an object's status only. A non-empty
// resourceVersion must match the stored one.
func (s *Store) UpdateStatus(resource string, obj v1alpha1.Object) (v1alpha1.Object, error) {
	return s.update(resource, obj, true)
}

func (s *Store) update(resource string, obj v1alpha1.Object, status bool) (v1alpha1.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := obj.GetName()
	old, err := s.entry(resource, name)
	if err != nil {
		return nil, err
	}
	if rv := obj.GetResourceVersion(); rv != "" && rv != old.obj.GetResourceVersion() {
		return nil, apierrors.NewConflict(GroupResource(resource), name,
			fmt.Errorf("the object has been modified; please apply your changes to the latest version (resourceVersion %s, yours %s) and try again", old.obj.GetResourceVersion(), rv))
	}
	r, _ := v1alpha1.LookupResource(resource)
	var merged v1alpha1.Object
	if status {
		merged, err = mergeSection(r, old.obj, obj, "status")
	} else {
		merged, err = mergeSection(r, obj, old.obj, "status")
	}
	if err != nil {
		return nil, err
	}
	if !status {
		// For a status update metadata comes from the stored object.
		merged.SetUID(old.obj.GetUID())
		merged.SetCreationTimestamp(old.obj.GetCreationTimestamp())
		merged.SetNamespace("")
		merged.SetManagedFields(nil)
		merged.SetDeletionTimestamp(nil)
		merged.SetSelfLink("")
		gen := old.obj.GetGeneration()
		changed, err := sectionChanged(old.obj, merged, "spec")
		if err != nil {
			return nil, err
		}
		if changed {
			gen++
		}
		merged.SetGeneration(gen)
	}
	s.setKind(resource, merged)
	if equalExceptRV(old.obj, merged) {
		// Nothing changed: no write, no event, the same resourceVersion (as the API server does).
		return old.obj.DeepCopyObject().(v1alpha1.Object), nil
	}
	return s.commit(resource, watch.Modified, merged)
}

// Delete removes an object. A non-empty precondition resourceVersion must match.
func (s *Store) Delete(resource, name, precondRV string) (v1alpha1.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.entry(resource, name)
	if err != nil {
		return nil, err
	}
	if precondRV != "" && precondRV != old.obj.GetResourceVersion() {
		return nil, apierrors.NewConflict(GroupResource(resource), name,
			fmt.Errorf("precondition failed: resourceVersion %s, stored %s", precondRV, old.obj.GetResourceVersion()))
	}
	rv := s.rv + 1
	// Record the resourceVersion first, so that it never goes back after a restart.
	if err := writeFileAtomic(filepath.Join(s.dir, "resourceversion"), []byte(strconv.FormatUint(rv, 10)+"\n")); err != nil {
		return nil, fmt.Errorf("recording resourceVersion: %w", err)
	}
	p := s.path(resource, name)
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing %s: %w", p, err)
	}
	if err := fsutil.SyncDir(filepath.Dir(p)); err != nil {
		return nil, err
	}
	s.rv = rv
	delete(s.objects[resource], name)
	gone := old.obj.DeepCopyObject().(v1alpha1.Object)
	gone.SetResourceVersion(strconv.FormatUint(rv, 10))
	j, _ := json.Marshal(gone)
	s.publish(Event{Type: watch.Deleted, Resource: resource, Object: gone, JSON: j, RV: rv})
	return gone.DeepCopyObject().(v1alpha1.Object), nil
}

func (s *Store) setKind(resource string, obj v1alpha1.Object) {
	r, _ := v1alpha1.LookupResource(resource)
	obj.GetObjectKind().SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(r.Kind))
}

func (s *Store) path(resource, name string) string {
	return filepath.Join(s.dir, "objects", resource, name+".json")
}

// commit persists obj with the next resourceVersion and publishes the event.
// s.mu is held.
func (s *Store) commit(resource string, typ watch.EventType, obj v1alpha1.Object) (v1alpha1.Object, error) {
	// A leading dot is refused too: ".tmp-*" files are removed when the store
	// opens, and hidden files are easy to miss.
	if strings.ContainsAny(obj.GetName(), "/\x00") || obj.GetName() == "" || strings.HasPrefix(obj.GetName(), ".") {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid object name %q", obj.GetName()))
	}
	rv := s.rv + 1
	obj.SetResourceVersion(strconv.FormatUint(rv, 10))
	j, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %q: %w", resource, obj.GetName(), err)
	}
	if err := writeFileAtomic(s.path(resource, obj.GetName()), j); err != nil {
		return nil, err
	}
	s.rv = rv
	s.objects[resource][obj.GetName()] = &entry{obj: obj, json: j}
	s.publish(Event{Type: typ, Resource: resource, Object: obj, JSON: j, RV: rv})
	return obj.DeepCopyObject().(v1alpha1.Object), nil
}

// writeFileAtomic writes data to path so that a crash leaves the old or the
// new content. Its temporary file is ".tmp-<base>-*", which Open removes.
func writeFileAtomic(path string, data []byte) error {
	return fsutil.Write(path, data, fsutil.Options{Perm: 0o600, TempPattern: ".tmp-" + filepath.Base(path) + "-"})
}

func uuidFunc() types.UID { return types.UID(uuid.NewString()) }

// mergeSection returns a copy of base, an object of r, with section taken
// from from.
func mergeSection(r v1alpha1.ResourceInfo, base, from v1alpha1.Object, section string) (v1alpha1.Object, error) {
	bm, err := toMap(base)
	if err != nil {
		return nil, err
	}
	fm, err := toMap(from)
	if err != nil {
		return nil, err
	}
	if v, ok := fm[section]; ok {
		bm[section] = v
	} else {
		delete(bm, section)
	}
	j, err := json.Marshal(bm)
	if err != nil {
		return nil, err
	}
	out := r.NewObject()
	if err := json.Unmarshal(j, out); err != nil {
		return nil, err
	}
	return out, nil
}

func toMap(o v1alpha1.Object) (map[string]json.RawMessage, error) {
	j, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func sectionChanged(a, b v1alpha1.Object, section string) (bool, error) {
	am, err := toMap(a)
	if err != nil {
		return false, err
	}
	bm, err := toMap(b)
	if err != nil {
		return false, err
	}
	return !bytes.Equal(am[section], bm[section]), nil
}

func equalExceptRV(a, b v1alpha1.Object) bool {
	ac := a.DeepCopyObject().(v1alpha1.Object)
	bc := b.DeepCopyObject().(v1alpha1.Object)
	ac.SetResourceVersion("")
	bc.SetResourceVersion("")
	aj, err1 := json.Marshal(ac)
	bj, err2 := json.Marshal(bc)
	return err1 == nil && err2 == nil && bytes.Equal(aj, bj)
}
