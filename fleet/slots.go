package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// AnnotationSlotPolicy on a slot Lease names its policy in full (the label
// may be a hash of a long name).
const AnnotationSlotPolicy = "patchlet.io/rollout-policy"

// SlotName is the name of a policy's i-th slot Lease.
func SlotName(policy string, i int) string { return fmt.Sprintf("%s-slot-%d", policy, i) }

// labelValue is s when it is a valid label value, else a short hash of it.
func labelValue(s string) string {
	if len(validation.IsValidLabelValue(s)) == 0 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h-" + hex.EncodeToString(sum[:12])
}

// SlotGate is the Lease-backed rollout gate of one host (policy.Gate).
type SlotGate struct {
	leases coordclient.LeaseInterface
	holder string
	// labels are the host's labels, for the policies' wave selectors.
	labels map[string]string
	ttl    time.Duration
	retry  time.Duration
	lookup func(name string) (*v1alpha1.PatchPolicy, bool)
	log    logr.Logger
	now    func() time.Time
	// synced reports whether the cluster policies are known; until then
	// every acquisition waits.
	synced    func() bool
	acquireMu sync.Mutex // one acquisition at a time

	mu   sync.Mutex
	held map[string]*coordinationv1.Lease // by policy name
}

// Held returns the names of the policies whose slot this host holds.
func (g *SlotGate) Held() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.held))
	for p := range g.held {
		out = append(out, p)
	}
	return out
}

func (g *SlotGate) holding(policy string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held[policy] != nil
}

// retryAt is when a denied host asks again: the retry period, jittered by
// up to 100% so that waiting hosts spread out.
func (g *SlotGate) retryAt() time.Time {
	return g.now().Add(g.retry + time.Duration(rand.Int64N(int64(g.retry)+1)))
}

// maxRetryScale bounds how much slotRetryAt stretches the retry period;
// retryPerSlot is how many waiting hosts per slot ask in one period.
const (
	maxRetryScale = 30
	retryPerSlot  = 4
)

// slotRetryAt is when a host denied a slot of pol (n slots) asks again.
// The period grows with the hosts waiting per slot (status.hosts.progressing
// beyond the slots, as the leader counted them): the fleet then asks about
// retryPerSlot times per slot and retry period however large it is, rather
// than once per host.
func (g *SlotGate) slotRetryAt(pol *v1alpha1.PatchPolicy, n int) time.Time {
	base := g.retry
	if waiting := int(pol.Status.Hosts.Progressing) - n; n > 0 && waiting > retryPerSlot*n {
		base = time.Duration(float64(base) * min(float64(waiting)/float64(retryPerSlot*n), maxRetryScale))
	}
	return g.now().Add(base + time.Duration(rand.Int64N(int64(base)+1)))
}

// Acquire lets this host apply the named cluster policies now, or says
// when to ask again. A policy rolled out in waves (spec.rollout.waves)
// waits until the leader opened this host's wave; a policy that bounds its
// rollout (spec.rollout.maxConcurrent) needs one of its slots; a halted
// rollout grants neither. Other policies pass. Either every needed slot is
// held afterwards, or none newly taken is kept.
func (g *SlotGate) Acquire(ctx context.Context, policies []string) (bool, time.Time, error) {
	g.acquireMu.Lock()
	defer g.acquireMu.Unlock()
	if g.synced != nil && !g.synced() {
		return false, g.now().Add(time.Second), nil
	}
	var taken []string
	undo := func() { g.Release(taken) }
	for _, name := range policies {
		pol, ok := g.lookup(name)
		if !ok {
			continue
		}
		if HasWaves(pol) && !g.holding(name) {
			if why := g.waveClosed(pol); why != "" {
				undo()
				g.log.V(1).Info("waiting for the rollout wave", "policy", name, "reason", why)
				return false, g.retryAt(), nil
			}
		}
		n, bounded := SlotCount(pol, int(pol.Status.Hosts.Matched))
		if !bounded || g.holding(name) {
			continue
		}
		if Halted(pol) {
			undo()
			g.log.V(1).Info("rollout halted; not taking a slot", "policy", name)
			return false, g.retryAt(), nil
		}
		l, err := g.take(ctx, name, n)
		if err != nil {
			undo()
			return false, time.Time{}, err
		}
		if l == nil {
			undo()
			return false, g.slotRetryAt(pol, n), nil
		}
		g.mu.Lock()
		g.held[name] = l
		g.mu.Unlock()
		taken = append(taken, name)
		g.log.Info("took rollout slot", "policy", name, "slot", l.Name)
	}
	return true, time.Time{}, nil
}

// waveClosed says why this host may not start pol yet ("" when its wave
// is open).
func (g *SlotGate) waveClosed(pol *v1alpha1.PatchPolicy) string {
	if Halted(pol) {
		return "halted"
	}
	w, ok := WaveOf(pol, g.holder, g.labels)
	switch {
	case !ok || pol.Status.CurrentWave == nil:
		return "waves not assigned yet"
	case w > int(*pol.Status.CurrentWave):
		return fmt.Sprintf("in wave %d; wave %d is open", w, *pol.Status.CurrentWave)
	}
	return ""
}

func (g *SlotGate) expired(l *coordinationv1.Lease) bool {
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
		return true
	}
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return true
	}
	return g.now().After(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

// listUpTo is the most slots a policy may have for take to list them all;
// a policy with more is probed (probeSlots at random per attempt).
const (
	listUpTo   = 32
	probeSlots = 3
)

// take tries to hold one of the n slots of policy, and returns nil when
// none is free. A slot is taken by creating its missing Lease, or by
// updating an expired one conditioned on the resourceVersion read, so two
// hosts never hold one slot; a slot this host holds already (an agent
// restarted) is adopted. Reads come from the API server's watch cache
// (resourceVersion 0): a stale view only makes a create or an update fail.
//
// With at most listUpTo slots, take lists them and takes one only while
// fewer than n are held by live hosts (so a policy whose slot count shrank
// does not exceed the new count). With more, listing every slot on every
// attempt of thousands of waiting hosts would dominate the API server's
// work, so take reads probeSlots slots at random instead; after a shrink,
// hosts holding slots beyond the new count finish first.
func (g *SlotGate) take(ctx context.Context, policy string, n int) (*coordinationv1.Lease, error) {
	if n > listUpTo {
		return g.probe(ctx, policy, n)
	}
	list, err := g.leases.List(ctx, metav1.ListOptions{LabelSelector: LabelSlotPolicy + "=" + labelValue(policy), ResourceVersion: "0"})
	if err != nil {
		return nil, fmt.Errorf("listing the slots of policy %q: %w", policy, err)
	}
	byName := map[string]*coordinationv1.Lease{}
	live := 0
	for i := range list.Items {
		l := &list.Items[i]
		if l.Annotations[AnnotationSlotPolicy] != policy {
			continue
		}
		byName[l.Name] = l
		if g.expired(l) {
			continue
		}
		if *l.Spec.HolderIdentity == g.holder {
			return g.claim(ctx, l)
		}
		live++
	}
	if live >= n {
		return nil, nil
	}
	for _, i := range rand.Perm(n) {
		name := SlotName(policy, i)
		l := byName[name]
		if l != nil && !g.expired(l) {
			continue
		}
		if got, done, err := g.takeSlot(ctx, policy, name, l); done {
			return got, err
		}
	}
	return nil, nil
}

// probe reads probeSlots of the n slots at random and takes the first one
// that is missing, expired or already this host's.
func (g *SlotGate) probe(ctx context.Context, policy string, n int) (*coordinationv1.Lease, error) {
	for _, i := range rand.Perm(n)[:min(probeSlots, n)] {
		name := SlotName(policy, i)
		l, err := g.leases.Get(ctx, name, metav1.GetOptions{ResourceVersion: "0"})
		switch {
		case apierrors.IsNotFound(err):
			l = nil
		case err != nil:
			return nil, fmt.Errorf("reading slot %s: %w", name, err)
		case l.Annotations[AnnotationSlotPolicy] != policy:
			continue
		case !g.expired(l) && *l.Spec.HolderIdentity != g.holder:
			continue // held by another host
		}
		if got, done, err := g.takeSlot(ctx, policy, name, l); done {
			return got, err
		}
	}
	return nil, nil
}

// takeSlot creates the missing slot name (l nil) or claims l. done is
// false when another host was first, so that the caller tries another
// slot.
func (g *SlotGate) takeSlot(ctx context.Context, policy, name string, l *coordinationv1.Lease) (got *coordinationv1.Lease, done bool, err error) {
	if l == nil {
		got, retry, err := g.create(ctx, policy, name)
		return got, !retry, err
	}
	got, err = g.claim(ctx, l)
	return got, got != nil || err != nil, err
}

// create makes this host the holder of the missing slot name; retry is
// true when another host created it first.
func (g *SlotGate) create(ctx context.Context, policy, name string) (got *coordinationv1.Lease, retry bool, err error) {
	created, err := g.leases.Create(ctx, g.newLease(policy, name), metav1.CreateOptions{})
	switch {
	case err == nil:
		return created, false, nil
	case apierrors.IsAlreadyExists(err):
		return nil, true, nil
	}
	return nil, false, fmt.Errorf("creating slot %s: %w", name, err)
}

// claim makes this host the holder of l (read at l.ResourceVersion); nil
// when another host changed it first.
func (g *SlotGate) claim(ctx context.Context, l *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	up := l.DeepCopy()
	g.fill(up)
	out, err := g.leases.Update(ctx, up, metav1.UpdateOptions{})
	switch {
	case err == nil:
		return out, nil
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		return nil, nil
	}
	return nil, fmt.Errorf("taking slot %s: %w", l.Name, err)
}

func (g *SlotGate) newLease(policy, name string) *coordinationv1.Lease {
	l := &coordinationv1.Lease{}
	l.Name = name
	g.fill(l)
	l.Labels[LabelSlotPolicy] = labelValue(policy)
	l.Annotations = map[string]string{AnnotationSlotPolicy: policy}
	return l
}

// fill makes l held by this host from now.
func (g *SlotGate) fill(l *coordinationv1.Lease) {
	now := metav1.NewMicroTime(g.now())
	secs := int32(g.ttl / time.Second)
	holder := g.holder
	l.Spec.HolderIdentity = &holder
	l.Spec.LeaseDurationSeconds = &secs
	l.Spec.AcquireTime = &now
	l.Spec.RenewTime = &now
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	l.Labels[LabelSlotHolder] = labelValue(g.holder)
}

// Release gives back the slots of the named policies this host holds.
func (g *SlotGate) Release(policies []string) {
	var drop []*coordinationv1.Lease
	g.mu.Lock()
	for _, p := range policies {
		if l := g.held[p]; l != nil {
			drop = append(drop, l)
			delete(g.held, p)
		}
	}
	g.mu.Unlock()
	for _, l := range drop {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		rv := l.ResourceVersion
		err := g.leases.Delete(ctx, l.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
		cancel()
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			// It expires on its own after its duration.
			g.log.Error(err, "releasing rollout slot", "slot", l.Name)
			continue
		}
		g.log.Info("released rollout slot", "policy", l.Annotations[AnnotationSlotPolicy], "slot", l.Name)
	}
}

// adopt takes over the slots this host held before the agent restarted,
// so that they are renewed and released when their policies are done.
func (g *SlotGate) adopt(ctx context.Context) error {
	// A consistent read: a slot held before the restart that a stale view
	// missed would let this host take a second one.
	list, err := g.leases.List(ctx, metav1.ListOptions{LabelSelector: LabelSlotHolder + "=" + labelValue(g.holder)})
	if err != nil {
		return fmt.Errorf("listing the slots held by %q: %w", g.holder, err)
	}
	for i := range list.Items {
		l := &list.Items[i]
		pol := l.Annotations[AnnotationSlotPolicy]
		if pol == "" || g.expired(l) || *l.Spec.HolderIdentity != g.holder {
			continue
		}
		got, err := g.claim(ctx, l)
		if err != nil || got == nil {
			continue
		}
		g.mu.Lock()
		g.held[pol] = got
		g.mu.Unlock()
		g.log.Info("adopted rollout slot held before a restart", "policy", pol, "slot", l.Name)
	}
	return nil
}

// run renews the held slots every third of their duration until ctx ends.
// A slot another host took (this one failed to renew in time) is dropped.
func (g *SlotGate) run(ctx context.Context) {
	if err := g.adopt(ctx); err != nil && ctx.Err() == nil {
		g.log.Error(err, "adopting rollout slots")
	}
	t := time.NewTicker(g.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		g.mu.Lock()
		cur := make(map[string]*coordinationv1.Lease, len(g.held))
		maps.Copy(cur, g.held)
		g.mu.Unlock()
		for pol, l := range cur {
			up := l.DeepCopy()
			now := metav1.NewMicroTime(g.now())
			up.Spec.RenewTime = &now
			out, err := g.leases.Update(ctx, up, metav1.UpdateOptions{})
			g.mu.Lock()
			switch {
			case g.held[pol] != l:
				// released meanwhile
			case err == nil:
				g.held[pol] = out
			case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
				delete(g.held, pol)
				g.log.Info("lost rollout slot", "policy", pol, "slot", l.Name)
			default:
				if ctx.Err() == nil {
					g.log.Error(err, "renewing rollout slot", "slot", l.Name)
				}
			}
			g.mu.Unlock()
		}
	}
}
