package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

// Defaults of Options.
const (
	DefaultNamespace         = "patchlet-system"
	DefaultLeaderLease       = "patchlet-fleet-leader"
	DefaultSlotTTL           = 60 * time.Second
	DefaultSlotRetry         = 10 * time.Second
	DefaultStatusInterval    = 2 * time.Second
	DefaultAggregateInterval = 2 * time.Second
	DefaultLeaderDuration    = 15 * time.Second
	DefaultLeaderRenew       = 10 * time.Second
	DefaultLeaderRetry       = 2 * time.Second
)

// Options configure an Agent.
type Options struct {
	// Config reaches the API server as this host's identity.
	Config *rest.Config
	// Store is the agent's local store.
	Store *store.Store
	// HostName and HostLabels are the Host's name and labels.
	HostName   string
	HostLabels map[string]string
	// Namespace holds the slot and leader Leases (default patchlet-system).
	Namespace string
	Log       logr.Logger
	// SlotTTL is the leaseDurationSeconds of a slot (whole seconds, at
	// least 1s; default 60s): how long a slot outlives its holder.
	SlotTTL time.Duration
	// SlotRetry is how long a host waits before asking for a slot again
	// (jittered by up to 100%; default 10s).
	SlotRetry time.Duration
	// StatusInterval bounds how often the Host status is written (default 2s).
	StatusInterval time.Duration
	// LeaderCandidate makes this agent stand for election as the fleet
	// leader, which writes the policies' aggregate status.
	LeaderCandidate bool
	// AggregateInterval bounds how often the leader recomputes (default 2s).
	AggregateInterval time.Duration
	// Leader election timing (defaults 15s, 10s, 2s as in Kubernetes).
	LeaderDuration, LeaderRenew, LeaderRetry time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

// Agent is one host's fleet mode.
type Agent struct {
	o        Options
	client   rest.Interface
	leases   coordclient.LeasesGetter
	policies cache.SharedIndexInformer
	source   *Source
	reporter *HostReporter
	gate     *SlotGate
}

// New builds an Agent; Run starts it.
func New(o Options) (*Agent, error) {
	if o.Config == nil || o.Store == nil || o.HostName == "" {
		return nil, errors.New("fleet: Config, Store and HostName are required")
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.SlotTTL < time.Second {
		o.SlotTTL = DefaultSlotTTL
	}
	o.SlotTTL = o.SlotTTL.Truncate(time.Second)
	if o.SlotRetry <= 0 {
		o.SlotRetry = DefaultSlotRetry
	}
	if o.StatusInterval <= 0 {
		o.StatusInterval = DefaultStatusInterval
	}
	if o.AggregateInterval <= 0 {
		o.AggregateInterval = DefaultAggregateInterval
	}
	if o.LeaderDuration <= 0 {
		o.LeaderDuration, o.LeaderRenew, o.LeaderRetry = DefaultLeaderDuration, DefaultLeaderRenew, DefaultLeaderRetry
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg := rest.CopyConfig(o.Config)
	if cfg.QPS == 0 {
		cfg.QPS, cfg.Burst = 20, 40
	}
	client, err := NewRESTClient(cfg)
	if err != nil {
		return nil, err
	}
	// Leases are a built-in type: protobuf is several times cheaper than
	// JSON for the API server to encode when waiting hosts list the slots.
	lcfg := rest.CopyConfig(cfg)
	lcfg.ContentType = "application/vnd.kubernetes.protobuf"
	lcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	leases, err := coordclient.NewForConfig(lcfg)
	if err != nil {
		return nil, fmt.Errorf("building the Lease client: %w", err)
	}
	a := &Agent{o: o, client: client, leases: leases}
	a.policies = newInformer(client, ResourcePatchPolicies, &v1alpha1.PatchPolicy{})
	a.gate = &SlotGate{
		leases: leases.Leases(o.Namespace),
		holder: o.HostName,
		labels: o.HostLabels,
		ttl:    o.SlotTTL,
		retry:  o.SlotRetry,
		lookup: a.clusterPolicy,
		log:    o.Log.WithName("slots"),
		now:    o.Now,
		held:   map[string]*coordinationv1.Lease{},
		synced: a.policies.HasSynced,
	}
	a.source = newSource(a.policies, o.Store, o.HostLabels, o.Log.WithName("source"), a.gate.Release)
	a.source.release = a.hostRelease
	a.reporter = &HostReporter{client: client, store: o.Store, name: o.HostName, labels: o.HostLabels,
		interval: o.StatusInterval, log: o.Log.WithName("host")}
	return a, nil
}

// Gate is the rollout gate to pass to the local reconcile loop
// (policy.Options.Gate).
func (a *Agent) Gate() *SlotGate { return a.gate }

// SetWake makes the agent call wake (e.g. the local loop's Enqueue) when
// a selecting cluster policy opens a wave or its halt begins or ends, so
// that a host waiting at the gate asks again at once rather than at its
// next retry. Call it before Run.
func (a *Agent) SetWake(wake func()) { a.source.wake = wake }

// Source is the policy mirror.
func (a *Agent) Source() *Source { return a.source }

// Ready is the /readyz check of fleet mode: an error until the cluster's
// policies were mirrored once.
func (a *Agent) Ready() error {
	if !a.source.Synced() {
		return errors.New("fleet: cluster policies not mirrored yet")
	}
	return nil
}

func (a *Agent) clusterPolicy(name string) (*v1alpha1.PatchPolicy, bool) {
	o, ok, err := a.policies.GetStore().GetByKey(name)
	if err != nil || !ok {
		return nil, false
	}
	p, ok := o.(*v1alpha1.PatchPolicy)
	return p, ok
}

// hostRelease is the OS release the local Host reports ("" before the
// local loop created it).
func (a *Agent) hostRelease() string {
	obj, err := a.o.Store.Get(store.Hosts, a.o.HostName)
	if err != nil {
		return ""
	}
	h, ok := obj.(*v1alpha1.Host)
	if !ok {
		return ""
	}
	return Release(h.Status.OS)
}

// Run registers the Host and runs the mirror, the status reporter, the
// slot renewals and, for a leader candidate, the leader election until
// ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	for {
		err := a.reporter.Register(ctx)
		if err == nil {
			break
		}
		a.o.Log.Error(err, "registering the host; retrying")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	done := make(chan struct{})
	n := 4
	goRun := func(f func(context.Context)) {
		go func() {
			defer func() { done <- struct{}{} }()
			f(ctx)
		}()
	}
	goRun(a.policies.RunWithContext)
	goRun(a.source.run)
	goRun(a.reporter.run)
	goRun(a.gate.run)
	if a.o.LeaderCandidate {
		n++
		goRun(a.lead)
	}
	for range n {
		<-done
	}
	return ctx.Err()
}

// lead stands for election until ctx ends and aggregates while leading.
func (a *Agent) lead(ctx context.Context) {
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: DefaultLeaderLease, Namespace: a.o.Namespace},
		Client:     a.leases,
		LockConfig: resourcelock.ResourceLockConfig{Identity: a.o.HostName},
	}
	agg := &Aggregator{client: a.client, interval: a.o.AggregateInterval, log: a.o.Log.WithName("leader"), now: a.o.Now}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   a.o.LeaderDuration,
			RenewDeadline:   a.o.LeaderRenew,
			RetryPeriod:     a.o.LeaderRetry,
			ReleaseOnCancel: true,
			Name:            DefaultLeaderLease,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: agg.run,
				OnStoppedLeading: func() { a.o.Log.V(1).Info("not the fleet leader") },
			},
		})
		if err != nil {
			a.o.Log.Error(err, "leader election")
			return
		}
		le.Run(ctx)
	}
}
