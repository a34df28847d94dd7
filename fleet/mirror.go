package fleet

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

// mirrorPlan is what a sync writes to the local store.
type mirrorPlan struct {
	creates []*v1alpha1.PatchPolicy
	updates []*v1alpha1.PatchPolicy
	deletes []*v1alpha1.PatchPolicy
	// refused names cluster policies whose name a local object of another
	// source holds.
	refused []string
	// pending names policies waiting for their patch set.
	pending []string
}

// localCopy is the local store's copy of a cluster policy: its labels,
// annotations (with the source and cluster generation) and spec.
//
// A policy whose updates are resolved per release (NeedsPatchSet) carries
// its patch set for the host's release as spec.updates.resolved; ps is
// that set (nil for other policies).
func localCopy(pol *v1alpha1.PatchPolicy, ps *v1alpha1.PatchSet) *v1alpha1.PatchPolicy {
	out := &v1alpha1.PatchPolicy{}
	out.Name = pol.Name
	out.Labels = maps.Clone(pol.Labels)
	out.Annotations = maps.Clone(pol.Annotations)
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	delete(out.Annotations, v1alpha1.AnnotationSourceFile)
	delete(out.Annotations, "kubectl.kubernetes.io/last-applied-configuration")
	out.Annotations[AnnotationSource] = SourceCluster
	out.Annotations[AnnotationClusterGeneration] = strconv.FormatInt(pol.Generation, 10)
	out.Spec = *pol.Spec.DeepCopy()
	if ps != nil && out.Spec.Updates != nil {
		out.Spec.Updates.Resolved = &v1alpha1.ResolvedUpdates{Release: ps.Release, Packages: slices.Clone(ps.Packages)}
	}
	return out
}

// fromCluster reports whether a local policy is a copy of a cluster one.
func fromCluster(pol *v1alpha1.PatchPolicy) bool {
	return pol.Annotations[AnnotationSource] == SourceCluster
}

// computeMirror works out how to bring the local store's cluster copies in
// line with the cluster policies that select a host with hostLabels. It is
// pure. A policy that needs a patch set (NeedsPatchSet) is mirrored only
// once its set for release (the host's OS release) at its generation is
// resolved; until then an existing copy is kept as it is and none is
// created, so no step runs before the versions are fixed. pending names
// such policies. A cluster policy whose name a local object of another source (the
// drop directory, the agent's API) holds is refused; the local object is
// left alone. Invalid cluster policies (after defaulting) are refused too.
func computeMirror(cluster []*v1alpha1.PatchPolicy, local []*v1alpha1.PatchPolicy, hostLabels map[string]string, release string) mirrorPlan {
	var p mirrorPlan
	have := map[string]*v1alpha1.PatchPolicy{}
	for _, l := range local {
		have[l.Name] = l
	}
	want := map[string]bool{}
	sort.Slice(cluster, func(i, j int) bool { return cluster[i].Name < cluster[j].Name })
	for _, c := range cluster {
		if ok, err := c.Selects(hostLabels); err != nil || !ok {
			continue
		}
		d := c.DeepCopy()
		d.SetDefaults()
		if errs := d.Validate(); len(errs) > 0 {
			p.refused = append(p.refused, c.Name)
			continue
		}
		var ps *v1alpha1.PatchSet
		cur, exists := have[c.Name]
		if NeedsPatchSet(c) {
			if release != "" {
				ps = PatchSetFor(c, release)
			}
			if ps == nil {
				p.pending = append(p.pending, c.Name)
				if exists && fromCluster(cur) {
					want[c.Name] = true
				}
				continue
			}
		}
		cp := localCopy(c, ps)
		switch {
		case !exists:
			want[c.Name] = true
			p.creates = append(p.creates, cp)
		case !fromCluster(cur):
			p.refused = append(p.refused, c.Name)
		default:
			want[c.Name] = true
			if !sameCopy(cur, cp) {
				up := cur.DeepCopy()
				up.Labels, up.Annotations, up.Spec = cp.Labels, cp.Annotations, cp.Spec
				p.updates = append(p.updates, up)
			}
		}
	}
	for _, l := range local {
		if fromCluster(l) && !want[l.Name] {
			p.deletes = append(p.deletes, l)
		}
	}
	return p
}

func sameCopy(have, want *v1alpha1.PatchPolicy) bool {
	return equality.Semantic.DeepEqual(have.Spec, want.Spec) &&
		mapsEqual(have.Labels, want.Labels) && mapsEqual(have.Annotations, want.Annotations)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return reflect.DeepEqual(a, b)
}

// Source mirrors the cluster's PatchPolicies that select this host into the
// local store.
type Source struct {
	informer   cache.SharedIndexInformer
	store      *store.Store
	hostLabels map[string]string
	// release is the host's OS release ("" while unknown).
	release func() string
	log     logr.Logger
	// onRemove is told the names of copies deleted (the gate drops their
	// slots).
	onRemove func(names []string)
	// wake, when set, is called when a cluster policy's rollout gate
	// changed in status (a wave opened, a halt began or ended), so that a
	// waiting host asks again at once.
	wake func()

	kick     chan struct{}
	mu       sync.Mutex
	refused  map[string]bool
	synced   bool
	syncErrs int
}

func newSource(inf cache.SharedIndexInformer, st *store.Store, labels map[string]string, log logr.Logger, onRemove func([]string)) *Source {
	s := &Source{informer: inf, store: st, hostLabels: labels, log: log, onRemove: onRemove,
		kick: make(chan struct{}, 1), refused: map[string]bool{}}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.trigger() },
		UpdateFunc: func(old, cur any) { s.onUpdate(old, cur) },
		DeleteFunc: func(any) { s.trigger() },
	})
	return s
}

// onUpdate ignores status-only changes (the leader's aggregate writes),
// but for the gate's wake-up.
func (s *Source) onUpdate(old, cur any) {
	o, ok1 := old.(*v1alpha1.PatchPolicy)
	c, ok2 := cur.(*v1alpha1.PatchPolicy)
	if ok1 && ok2 && s.wake != nil && gateChanged(o, c) {
		if sel, err := c.Selects(s.hostLabels); err == nil && sel {
			s.wake()
		}
	}
	if ok1 && ok2 && o.Generation == c.Generation && mapsEqual(o.Labels, c.Labels) && mapsEqual(o.Annotations, c.Annotations) &&
		equality.Semantic.DeepEqual(o.Status.PatchSets, c.Status.PatchSets) {
		return
	}
	s.trigger()
}

// gateChanged reports whether the leader changed what the slot gate reads
// of a policy's status: the open wave or the halt.
func gateChanged(o, c *v1alpha1.PatchPolicy) bool {
	return Halted(o) != Halted(c) || o.Status.WavesGeneration != c.Status.WavesGeneration ||
		!equality.Semantic.DeepEqual(o.Status.CurrentWave, c.Status.CurrentWave)
}

func (s *Source) trigger() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Synced reports whether the first sync after the informer's initial list
// is done.
func (s *Source) Synced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.synced
}

// run syncs on every relevant informer event until ctx ends; the informer
// must be running.
func (s *Source) run(ctx context.Context) {
	if !cache.WaitForCacheSync(ctx.Done(), s.informer.HasSynced) {
		return
	}
	s.trigger()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
			if err := s.Sync(); err != nil {
				s.log.Error(err, "mirroring cluster policies")
			}
		}
	}
}

// Sync brings the local copies in line with the informer's cache once.
func (s *Source) Sync() error {
	var cluster []*v1alpha1.PatchPolicy
	for _, o := range s.informer.GetStore().List() {
		if p, ok := o.(*v1alpha1.PatchPolicy); ok {
			cluster = append(cluster, p)
		}
	}
	items, _, err := s.store.List(store.PatchPolicies)
	if err != nil {
		return fmt.Errorf("listing local policies: %w", err)
	}
	local := make([]*v1alpha1.PatchPolicy, 0, len(items))
	for _, it := range items {
		local = append(local, it.Object.(*v1alpha1.PatchPolicy))
	}
	rel := ""
	if s.release != nil {
		rel = s.release()
	}
	p := computeMirror(cluster, local, s.hostLabels, rel)
	var errs []error
	for _, c := range p.creates {
		if _, err := s.store.Create(store.PatchPolicies, c); err != nil {
			errs = append(errs, fmt.Errorf("creating local copy of policy %q: %w", c.Name, err))
			continue
		}
		s.log.Info("mirrored cluster policy", "policy", c.Name, "generation", c.Annotations[AnnotationClusterGeneration])
	}
	for _, u := range p.updates {
		if _, err := s.store.Update(store.PatchPolicies, u); err != nil {
			errs = append(errs, fmt.Errorf("updating local copy of policy %q: %w", u.Name, err))
			continue
		}
		s.log.Info("updated mirrored cluster policy", "policy", u.Name, "generation", u.Annotations[AnnotationClusterGeneration])
	}
	var removed []string
	for _, d := range p.deletes {
		if _, err := s.store.Delete(store.PatchPolicies, d.Name, d.ResourceVersion); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting local copy of policy %q: %w", d.Name, err))
			continue
		}
		removed = append(removed, d.Name)
		s.log.Info("removed mirrored policy no longer selecting this host", "policy", d.Name)
	}
	if len(removed) > 0 && s.onRemove != nil {
		s.onRemove(removed)
	}
	s.mu.Lock()
	next := map[string]bool{}
	for _, n := range p.refused {
		next[n] = true
		if !s.refused[n] {
			s.log.Error(errors.New("name held by a local policy of another source, or the policy is invalid"), "not mirroring cluster policy", "policy", n)
		}
	}
	s.refused = next
	s.synced = len(errs) == 0 || s.synced
	s.mu.Unlock()
	if len(p.pending) > 0 && rel == "" {
		// The patch sets wait for the host's release; look again soon.
		time.AfterFunc(time.Second, s.trigger)
	}
	if len(errs) > 0 {
		// A later event retries; also retry on our own after a while.
		time.AfterFunc(time.Second, s.trigger)
	}
	return errors.Join(errs...)
}
