package fleet

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

// HostReporter keeps the cluster Host of this agent: it registers it with
// the agent's labels and copies the local Host status to it, throttled.
type HostReporter struct {
	client   rest.Interface
	store    *store.Store
	name     string
	labels   map[string]string
	interval time.Duration
	log      logr.Logger

	cur  *v1alpha1.Host // the cluster object as last read or written
	last *v1alpha1.HostStatus
}

// Register creates the cluster Host, or sets its labels when it exists.
func (r *HostReporter) Register(ctx context.Context) error {
	h, err := getHost(ctx, r.client, r.name)
	if apierrors.IsNotFound(err) {
		n := &v1alpha1.Host{}
		n.Name = r.name
		n.Labels = maps.Clone(r.labels)
		created, err := createHost(ctx, r.client, n)
		if apierrors.IsAlreadyExists(err) {
			return r.Register(ctx)
		}
		if err != nil {
			return fmt.Errorf("registering host %q: %w", r.name, err)
		}
		r.cur = created
		r.log.Info("registered host", "host", r.name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading host %q: %w", r.name, err)
	}
	if !mapsEqual(h.Labels, r.labels) {
		h.Labels = maps.Clone(r.labels)
		h, err = updateHost(ctx, r.client, h)
		if err != nil {
			return fmt.Errorf("updating the labels of host %q: %w", r.name, err)
		}
	}
	r.cur = h
	return nil
}

// clusterStatus is the local Host status as the cluster sees it: every
// policy entry carries the cluster policy's generation (0 when the entry
// describes an older local generation than the copy in the store).
func (r *HostReporter) clusterStatus(local *v1alpha1.Host) *v1alpha1.HostStatus {
	st := local.Status.DeepCopy()
	kept := st.Policies[:0]
	for _, e := range st.Policies {
		obj, err := r.store.Get(store.PatchPolicies, e.Name)
		if err != nil {
			continue
		}
		pol := obj.(*v1alpha1.PatchPolicy)
		if !fromCluster(pol) {
			continue // local policies stay local
		}
		cg, _ := strconv.ParseInt(pol.Annotations[AnnotationClusterGeneration], 10, 64)
		if e.ObservedGeneration == pol.Generation {
			e.ObservedGeneration = cg
		} else {
			e.ObservedGeneration = 0
		}
		kept = append(kept, e)
	}
	st.Policies = kept
	return st
}

// push writes the local status to the cluster Host when it changed since
// the last write.
func (r *HostReporter) push(ctx context.Context) error {
	obj, err := r.store.Get(store.Hosts, r.name)
	if err != nil {
		return nil // the local loop has not created it yet
	}
	st := r.clusterStatus(obj.(*v1alpha1.Host))
	if r.last != nil && equality.Semantic.DeepEqual(r.last, st) {
		return nil
	}
	for attempt := 0; ; attempt++ {
		if r.cur == nil {
			if err := r.Register(ctx); err != nil {
				return err
			}
		}
		h := r.cur.DeepCopy()
		h.Status = *st
		out, err := updateHostStatus(ctx, r.client, h)
		if err == nil {
			r.cur = out
			r.last = st
			return nil
		}
		if (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) && attempt < 3 {
			r.cur = nil // re-read (or re-create) and retry
			continue
		}
		return fmt.Errorf("writing the status of host %q: %w", r.name, err)
	}
}

// run pushes the status on every change of the local Host, at most once
// per interval, until ctx ends.
func (r *HostReporter) run(ctx context.Context) {
	events, err := r.store.Watch(ctx, store.Hosts, 0)
	if err != nil {
		r.log.Error(err, "watching the local host")
		return
	}
	var next time.Time
	timer := time.NewTimer(0)
	defer timer.Stop()
	pending := true
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				if events, err = r.store.Watch(ctx, store.Hosts, 0); err != nil {
					return
				}
				continue
			}
			if ev.Object.GetName() != r.name && ev.Object.GetName() != "" {
				continue
			}
			if !pending {
				pending = true
				timer.Reset(max(time.Until(next), 0))
			}
		case <-timer.C:
			if !pending {
				continue
			}
			pending = false
			next = time.Now().Add(r.interval)
			if err := r.push(ctx); err != nil && ctx.Err() == nil {
				r.log.Error(err, "reporting host status")
				pending = true
				timer.Reset(r.interval)
			}
		}
	}
}
