package fleet

import (
	"context"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Aggregator writes every cluster PatchPolicy's aggregate status from the
// Hosts' statuses. Only the elected leader runs one.
type Aggregator struct {
	client   rest.Interface
	interval time.Duration
	log      logr.Logger
	now      func() time.Time

	// written is when each policy's status was last written.
	written map[string]time.Time
}

// hostsPerInterval sets how often a large fleet's counts are written: every
// policy status write reaches every agent's watch, so a change of counts
// alone is written at most once per interval per this many matched hosts.
const hostsPerInterval = 500

// countsEvery is how long a status change that only moves counts and
// messages waits after the previous write: the interval, times the matched
// hosts per 500 (20 intervals for 10,000 hosts).
func (a *Aggregator) countsEvery(matched int32) time.Duration {
	return a.interval * time.Duration(max(1, int(matched)/hostsPerInterval))
}

// gateChangedStatus reports whether a new status changes what agents act
// on or an operator waits for: a condition's status or reason, the
// observed generation, the patch sets, or the waves' assignment and
// progress. Counts and messages alone do not.
func gateChangedStatus(old, cur *v1alpha1.PatchPolicyStatus) bool {
	if old.ObservedGeneration != cur.ObservedGeneration || len(old.Conditions) != len(cur.Conditions) ||
		!equality.Semantic.DeepEqual(old.PatchSets, cur.PatchSets) || old.WavesGeneration != cur.WavesGeneration ||
		!equality.Semantic.DeepEqual(old.CurrentWave, cur.CurrentWave) || len(old.Waves) != len(cur.Waves) {
		return true
	}
	for i := range cur.Conditions {
		o, c := old.Conditions[i], cur.Conditions[i]
		if o.Type != c.Type || o.Status != c.Status || o.Reason != c.Reason || o.ObservedGeneration != c.ObservedGeneration {
			return true
		}
	}
	for i := range cur.Waves {
		if old.Waves[i].LastHost != cur.Waves[i].LastHost || !old.Waves[i].FinishedAt.Equal(cur.Waves[i].FinishedAt) {
			return true
		}
	}
	return false
}

// run keeps the aggregates until ctx ends: on any Host or PatchPolicy
// change it recomputes them, at most once per interval, and writes only
// the statuses that changed; a change of counts alone in a large fleet is
// written less often (countsEvery).
func (a *Aggregator) run(ctx context.Context) {
	hosts := newInformer(a.client, ResourceHosts, &v1alpha1.Host{})
	policies := newInformer(a.client, ResourcePatchPolicies, &v1alpha1.PatchPolicy{})
	kick := make(chan struct{}, 1)
	trigger := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { trigger() },
		UpdateFunc: func(any, any) { trigger() },
		DeleteFunc: func(any) { trigger() },
	}
	_, _ = hosts.AddEventHandler(h)
	_, _ = policies.AddEventHandler(h)
	go hosts.RunWithContext(ctx)
	go policies.RunWithContext(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), hosts.HasSynced, policies.HasSynced) {
		return
	}
	a.log.Info("aggregating policy status as the fleet leader")
	// soak fires when a wave's soak ends or a deferred write of counts is
	// due, so that it happens on time even when no host changes meanwhile.
	soak := time.NewTimer(time.Hour)
	soak.Stop()
	defer soak.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-soak.C:
		}
		wake, err := a.syncAll(ctx, hosts.GetStore(), policies.GetStore())
		if err != nil && ctx.Err() == nil {
			a.log.Error(err, "writing aggregate policy status")
			trigger()
		}
		soak.Stop()
		if !wake.IsZero() {
			soak.Reset(max(wake.Sub(a.now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.interval):
		}
	}
}

// syncAll writes every policy's aggregate and returns when it must run
// again though nothing changed (zero: no need): the earliest end of a
// wave's soak, or of a deferred write of counts.
func (a *Aggregator) syncAll(ctx context.Context, hs, ps cache.Store) (wake time.Time, err error) {
	hostObjs := hs.List()
	hosts := make([]*v1alpha1.Host, 0, len(hostObjs))
	for _, o := range hostObjs {
		if h, ok := o.(*v1alpha1.Host); ok {
			hosts = append(hosts, h)
		}
	}
	var firstErr error
	for _, o := range ps.List() {
		pol, ok := o.(*v1alpha1.PatchPolicy)
		if !ok {
			continue
		}
		agg := Aggregated(pol, hosts)
		now := metav1.NewTime(a.now().UTC().Truncate(time.Second))
		st := ApplyAggregate(pol, agg, now)
		st.PatchSets = ResolvePatchSets(pol, hosts, now)
		var ws WaveState
		if HasWaves(pol) {
			ws = PlanWaves(pol, hosts, agg.Halted, a.now())
			if !ws.WakeAt.IsZero() && (wake.IsZero() || ws.WakeAt.Before(wake)) {
				wake = ws.WakeAt
			}
		}
		ApplyWaves(pol, &st, ws)
		if equality.Semantic.DeepEqual(st, pol.Status) {
			continue
		}
		if !gateChangedStatus(&pol.Status, &st) {
			if due := a.written[pol.Name].Add(a.countsEvery(st.Hosts.Matched)); a.now().Before(due) {
				if wake.IsZero() || due.Before(wake) {
					wake = due
				}
				continue
			}
		}
		up := pol.DeepCopy()
		up.Status = st
		if a.written == nil {
			a.written = map[string]time.Time{}
		}
		a.written[pol.Name] = a.now()
		if _, err := updatePolicyStatus(ctx, a.client, up); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				continue // the informer brings the newer object; the next round writes it
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for _, ps := range st.PatchSets {
			if PatchSetFor(pol, ps.Release) == nil {
				a.log.Info("resolved rollout patch set", "policy", pol.Name, "release", ps.Release, "packages", len(ps.Packages), "resolvedBy", ps.ResolvedBy)
			}
		}
		if st.CurrentWave != nil && (pol.Status.CurrentWave == nil || *pol.Status.CurrentWave != *st.CurrentWave || pol.Status.WavesGeneration != st.WavesGeneration) {
			a.log.Info("rollout wave opened", "policy", pol.Name, "generation", pol.Generation, "wave", *st.CurrentWave,
				"hosts", st.Waves[*st.CurrentWave].Hosts)
		}
		if agg.Halted != Halted(pol) {
			a.log.Info("rollout halt changed", "policy", pol.Name, "halted", agg.Halted, "failed", agg.FailedHosts)
		}
	}
	return wake, firstErr
}
