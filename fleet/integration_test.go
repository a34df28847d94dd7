package fleet_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/client-go/rest"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/controllers/policy"
	"github.com/patchlet/patchlet/fleet"
	"github.com/patchlet/patchlet/internal/testsupport/fleettest"
	"github.com/patchlet/patchlet/internal/testsupport/testenv"
	"github.com/patchlet/patchlet/store"
)

// fast fleet timings for tests.
func fastFleet(leader bool) fleet.Options {
	return fleet.Options{
		SlotTTL:           3 * time.Second,
		SlotRetry:         300 * time.Millisecond,
		StatusInterval:    300 * time.Millisecond,
		AggregateInterval: 300 * time.Millisecond,
		LeaderCandidate:   leader,
		LeaderDuration:    4 * time.Second,
		LeaderRenew:       3 * time.Second,
		LeaderRetry:       500 * time.Millisecond,
	}
}

// simDir is a directory for simulated agents' stores, on a tmpfs when
// there is one (every store write is fsynced).
func simDir() string {
	base := os.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		base = "/dev/shm"
	}
	d, err := os.MkdirTemp(base, "patchlet-fleet-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, d)
	return d
}

type fleetRun struct {
	ctx    context.Context
	admin  rest.Interface
	leases coordclient.LeaseInterface
	dir    string
	repo   *fleettest.Repo

	mu     sync.Mutex
	agents map[string]*fleettest.Agent
}

func newFleetRun(repo map[string]string) *fleetRun {
	needEnv()
	ctx, cancel := context.WithCancel(context.Background())
	admin, err := fleet.NewRESTClient(env.Admin)
	Expect(err).NotTo(HaveOccurred())
	lc, err := coordclient.NewForConfig(env.Admin)
	Expect(err).NotTo(HaveOccurred())
	r := &fleetRun{ctx: ctx, admin: admin, leases: lc.Leases(fleet.DefaultNamespace), dir: simDir(),
		repo: fleettest.NewRepo(repo), agents: map[string]*fleettest.Agent{}}
	DeferCleanup(func() {
		r.mu.Lock()
		agents := r.agents
		r.agents = nil
		r.mu.Unlock()
		var wg sync.WaitGroup
		for _, a := range agents {
			wg.Add(1)
			go func() { defer wg.Done(); _ = a.Stop() }()
		}
		wg.Wait()
		cancel()
	})
	return r
}

type simHost struct {
	name      string
	labels    map[string]string
	installed map[string]string
	duration  time.Duration
	failRate  float64
	leader    bool
	checker   policy.HealthChecker
}

// checkFunc is a health checker in a function.
type checkFunc func(policy string) (bool, string)

func (f checkFunc) Check(_ context.Context, policy string, _ *v1alpha1.HealthCheckSpec) (bool, string) {
	return f(policy)
}

func (r *fleetRun) start(h simHost, tr *fleettest.Tracker, fo fleet.Options) *fleettest.Agent {
	groups := []string{}
	if h.leader {
		groups = append(groups, testenv.LeadersGroup)
	}
	cfg, err := env.HostConfig(h.name, groups...)
	Expect(err).NotTo(HaveOccurred())
	a, err := fleettest.StartAgent(r.ctx, fleettest.AgentOptions{
		Name: h.name, Labels: h.labels, Config: cfg, Dir: r.dir, Repo: r.repo, Installed: h.installed,
		StepDuration: h.duration, FailRate: h.failRate, Tracker: tr, Fleet: fo, Log: agentLog(h.name), HealthChecker: h.checker,
	})
	Expect(err).NotTo(HaveOccurred())
	r.mu.Lock()
	r.agents[h.name] = a
	r.mu.Unlock()
	return a
}

func (r *fleetRun) stop(name string) {
	r.mu.Lock()
	a := r.agents[name]
	delete(r.agents, name)
	r.mu.Unlock()
	_ = a.Stop()
}

func (r *fleetRun) createPolicy(p *v1alpha1.PatchPolicy) {
	out := &v1alpha1.PatchPolicy{}
	Expect(r.admin.Post().Resource(fleet.ResourcePatchPolicies).Body(p).Do(r.ctx).Into(out)).To(Succeed())
}

func (r *fleetRun) policy(name string) *v1alpha1.PatchPolicy {
	out := &v1alpha1.PatchPolicy{}
	Expect(r.admin.Get().Resource(fleet.ResourcePatchPolicies).Name(name).Do(r.ctx).Into(out)).To(Succeed())
	return out
}

func (r *fleetRun) host(name string) (*v1alpha1.Host, error) {
	out := &v1alpha1.Host{}
	err := r.admin.Get().Resource(fleet.ResourceHosts).Name(name).Do(r.ctx).Into(out)
	return out, err
}

func upgradeAll(name, role string, maxConcurrent, maxFailures string) *v1alpha1.PatchPolicy {
	p := &v1alpha1.PatchPolicy{}
	p.Name = name
	p.Spec.HostSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"role": role}}
	p.Spec.Updates = &v1alpha1.UpdatesSpec{Apply: v1alpha1.UpdatesAll}
	p.Spec.Rollout = &v1alpha1.RolloutSpec{}
	if maxConcurrent != "" {
		v := intstr.Parse(maxConcurrent)
		p.Spec.Rollout.MaxConcurrent = &v
	}
	if maxFailures != "" {
		v := intstr.Parse(maxFailures)
		p.Spec.Rollout.MaxFailures = &v
	}
	return p
}

// slotWatch follows a policy's slot Leases: who holds them now, the most
// held at once, and every host that ever held one.
type slotWatch struct {
	mu      sync.Mutex
	holders map[string]string // lease -> holder
	max     int
	ever    map[string]time.Time
}

func (r *fleetRun) watchSlots(policy string) *slotWatch {
	s := &slotWatch{holders: map[string]string{}, ever: map[string]time.Time{}}
	sel := fleet.LabelSlotPolicy + "=" + policy
	go func() {
		rv := ""
		for r.ctx.Err() == nil {
			if rv == "" {
				// List, then watch from there (this API server's etcd
				// cannot serve a watch that starts with the current state).
				l, err := r.leases.List(r.ctx, metav1.ListOptions{LabelSelector: sel})
				if err != nil {
					time.Sleep(100 * time.Millisecond)
					continue
				}
				for i := range l.Items {
					s.observe(watch.Added, &l.Items[i])
				}
				rv = l.ResourceVersion
			}
			w, err := r.leases.Watch(r.ctx, metav1.ListOptions{LabelSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				l, ok := ev.Object.(*coordinationv1.Lease)
				if !ok {
					rv = "" // expired: list again
					continue
				}
				rv = l.ResourceVersion
				s.observe(ev.Type, l)
			}
		}
	}()
	return s
}

func (s *slotWatch) observe(t watch.EventType, l *coordinationv1.Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch t {
	case watch.Deleted:
		delete(s.holders, l.Name)
	case watch.Added, watch.Modified:
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			delete(s.holders, l.Name)
			return
		}
		h := *l.Spec.HolderIdentity
		s.holders[l.Name] = h
		if _, ok := s.ever[h]; !ok {
			s.ever[h] = time.Now()
		}
	default:
		return
	}
	// Count distinct hosts holding a slot: one host holding two slots of
	// one policy would be a bug of its own.
	s.max = max(s.max, len(s.holders))
}

func (s *slotWatch) snapshot() (holders map[string]string, most int, ever []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	holders = map[string]string{}
	for k, v := range s.holders {
		holders[k] = v
	}
	for h := range s.ever {
		ever = append(ever, h)
	}
	sort.Strings(ever)
	return holders, s.max, ever
}

func (s *slotWatch) holderOf(lease string) func() string {
	return func() string {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.holders[lease]
	}
}

func counts(r *fleetRun, name string) func() v1alpha1.HostCounts {
	return func() v1alpha1.HostCounts { return r.policy(name).Status.Hosts }
}

var _ = Describe("fleet mode against a real API server", Label("integration"), func() {
	It("registers its Host, mirrors the policy that selects it and converges it", func() {
		r := newFleetRun(map[string]string{"hello": "2.0"})
		r.createPolicy(upgradeAll("conv", "conv", "1", ""))
		other := upgradeAll("conv-other", "other", "", "")
		r.createPolicy(other)
		a := r.start(simHost{name: "conv-1", labels: map[string]string{"role": "conv"},
			installed: map[string]string{"hello": "1.0"}, duration: 20 * time.Millisecond, leader: true}, nil, fastFleet(true))

		Eventually(func() string { return a.Backend.Installed("hello") }, 30*time.Second, 50*time.Millisecond).Should(Equal("2.0"))

		By("the local copy is marked as the cluster's; the unselected policy is not mirrored")
		obj, err := a.Store.Get(store.PatchPolicies, "conv")
		Expect(err).NotTo(HaveOccurred())
		Expect(obj.GetAnnotations()).To(HaveKeyWithValue(fleet.AnnotationSource, fleet.SourceCluster))
		_, err = a.Store.Get(store.PatchPolicies, "conv-other")
		Expect(apierrors.IsNotFound(err)).To(BeTrue())

		By("the cluster Host has the labels and reports the policy Compliant at its cluster generation")
		Eventually(func(g Gomega) {
			h, err := r.host("conv-1")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(h.Labels).To(HaveKeyWithValue("role", "conv"))
			g.Expect(h.Status.Policies).To(ConsistOf(And(
				HaveField("Name", "conv"), HaveField("State", BeEquivalentTo("Compliant")), HaveField("ObservedGeneration", int64(1)))))
			g.Expect(h.Status.Packages.Installed).To(BeEquivalentTo(1))
		}, 20*time.Second, 100*time.Millisecond).Should(Succeed())

		By("the leader writes the aggregate, and the slot is given back")
		Eventually(counts(r, "conv"), 20*time.Second, 100*time.Millisecond).Should(Equal(v1alpha1.HostCounts{Matched: 1, Compliant: 1}))
		Expect(meta.IsStatusConditionTrue(r.policy("conv").Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue())
		Eventually(func() int {
			l, err := r.leases.List(r.ctx, metav1.ListOptions{LabelSelector: fleet.LabelSlotPolicy + "=conv"})
			Expect(err).NotTo(HaveOccurred())
			return len(l.Items)
		}, 10*time.Second, 100*time.Millisecond).Should(BeZero())

		By("a spec change in the cluster reaches the local copy")
		p := r.policy("conv")
		p.Spec.Updates.Exclude = []string{"hello"}
		Expect(r.admin.Put().Resource(fleet.ResourcePatchPolicies).Name("conv").Body(p).Do(r.ctx).Error()).To(Succeed())
		Eventually(func() []string {
			obj, err := a.Store.Get(store.PatchPolicies, "conv")
			Expect(err).NotTo(HaveOccurred())
			return obj.(*v1alpha1.PatchPolicy).Spec.Updates.Exclude
		}, 10*time.Second, 50*time.Millisecond).Should(Equal([]string{"hello"}))
	})

	DescribeTable("never lets more than maxConcurrent simulated hosts apply at once",
		func(hosts, slots int, prefix string) {
			r := newFleetRun(map[string]string{"openssl": "3.0.2", "curl": "8.1"})
			r.createPolicy(upgradeAll(prefix, prefix, fmt.Sprint(slots), ""))
			sw := r.watchSlots(prefix)
			tr := &fleettest.Tracker{}
			fo := fastFleet(false)
			fo.SlotRetry = time.Second // hundreds of waiting hosts ask a few hundred times a second
			fo.StatusInterval = time.Second
			start := time.Now()
			var wg sync.WaitGroup
			for i := range hosts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer GinkgoRecover()
					o := fo
					o.LeaderCandidate = i < 2
					r.start(simHost{name: fmt.Sprintf("%s-%03d", prefix, i), labels: map[string]string{"role": prefix},
						installed: map[string]string{"openssl": "3.0.1", "curl": "8.0"}, duration: 50 * time.Millisecond, leader: i < 2}, tr, o)
				}()
			}
			wg.Wait()
			Eventually(counts(r, prefix), 150*time.Second, 500*time.Millisecond).Should(
				HaveField("Compliant", BeEquivalentTo(hosts)))
			_, leaseMax, ever := sw.snapshot()
			stepMax, total := tr.Max()
			GinkgoWriter.Printf("%d hosts converged in %s; at most %d slots held, %d steps at once, %d steps, %d hosts held a slot\n",
				hosts, time.Since(start).Round(time.Millisecond), leaseMax, stepMax, total, len(ever))
			Expect(leaseMax).To(BeNumerically("<=", slots))
			Expect(stepMax).To(BeNumerically("<=", slots))
			Expect(stepMax).To(BeNumerically(">=", 2), "hosts applied in parallel")
			Expect(total).To(BeNumerically(">=", hosts))
			Expect(len(ever)).To(Equal(hosts))
		},
		Entry("300 hosts, 10 slots (listed)", 300, 10, "wide"),
		Entry("200 hosts, 40 slots (probed)", 200, 40, "probe"),
	)

	It("takes over the slot of a holder that stopped renewing within its TTL", func() {
		r := newFleetRun(map[string]string{"hello": "2.0"})
		r.createPolicy(upgradeAll("reclaim", "reclaim", "1", ""))
		sw := r.watchSlots("reclaim")
		fo := fastFleet(true)
		labels := map[string]string{"role": "reclaim"}
		old := map[string]string{"hello": "1.0"}
		r.start(simHost{name: "reclaim-a", labels: labels, installed: old, duration: time.Minute, leader: true}, nil, fo)
		slot := fleet.SlotName("reclaim", 0)
		Eventually(sw.holderOf(slot), 20*time.Second, 20*time.Millisecond).Should(Equal("reclaim-a"))
		b := r.start(simHost{name: "reclaim-b", labels: labels, installed: old, duration: 10 * time.Millisecond}, nil, fastFleet(false))
		Consistently(sw.holderOf(slot), 2*time.Second, 50*time.Millisecond).Should(Equal("reclaim-a"), "b waits while a holds the only slot")

		By("killing a mid-step: it stops renewing")
		killed := time.Now()
		r.stop("reclaim-a")
		Eventually(sw.holderOf(slot), fo.SlotTTL+3*time.Second, 20*time.Millisecond).Should(Equal("reclaim-b"))
		took := time.Since(killed)
		GinkgoWriter.Printf("slot taken over %s after its holder stopped (TTL %s)\n", took.Round(time.Millisecond), fo.SlotTTL)
		Expect(took).To(BeNumerically("<=", fo.SlotTTL+2*fo.SlotRetry+500*time.Millisecond))
		Eventually(func() string { return b.Backend.Installed("hello") }, 10*time.Second, 20*time.Millisecond).Should(Equal("2.0"))
	})

	It("halts once failures cross maxFailures and grants no new slot", func() {
		r := newFleetRun(map[string]string{"hello": "2.0"})
		r.createPolicy(upgradeAll("halt", "halt", "6", "1"))
		sw := r.watchSlots("halt")
		labels := map[string]string{"role": "halt"}
		old := map[string]string{"hello": "1.0"}
		r.start(simHost{name: "halt-leader", labels: map[string]string{"role": "none"}, leader: true}, nil, fastFleet(true))
		for i := range 4 {
			r.start(simHost{name: fmt.Sprintf("halt-bad-%d", i), labels: labels, installed: old, duration: 100 * time.Millisecond, failRate: 1}, nil, fastFleet(false))
		}
		Eventually(func() bool { return fleet.Halted(r.policy("halt")) }, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
		for i := range 16 {
			r.start(simHost{name: fmt.Sprintf("halt-ok-%02d", i), labels: labels, installed: old, duration: 100 * time.Millisecond}, nil, fastFleet(false))
		}
		c := meta.FindStatusCondition(r.policy("halt").Status.Conditions, fleet.ConditionHalted)
		Expect(c.Message).To(MatchRegexp(`failed: halt-bad-\d, halt-bad-\d`))
		Expect(c.Reason).To(Equal(fleet.ReasonFailuresExceeded))

		By("no host that did not hold a slot before the halt gets one")
		Eventually(func() []string { _, _, ever := sw.snapshot(); return ever }, 5*time.Second, 50*time.Millisecond).Should(
			ContainElement(HavePrefix("halt-bad-")), "the slot watch sees the failing holders")
		Consistently(func() []string {
			_, _, ever := sw.snapshot()
			var ok []string
			for _, h := range ever {
				if strings.HasPrefix(h, "halt-ok-") {
					ok = append(ok, h)
				}
			}
			return ok
		}, 4*time.Second, 100*time.Millisecond).Should(BeEmpty())
		Eventually(counts(r, "halt"), 10*time.Second, 100*time.Millisecond).Should(And(
			HaveField("Matched", BeEquivalentTo(20)), HaveField("Compliant", BeEquivalentTo(0))))
	})

	It("installs the patch set resolved by the first host even after the repository publishes a newer version", func() {
		r := newFleetRun(map[string]string{"openssl": "3.0.2", "curl": "8.1"})
		pol := upgradeAll("pset", "pset", "1", "")
		pol.Spec.Updates.Apply = v1alpha1.UpdatesSecurity
		r.createPolicy(pol)
		r.repo.Publish("openssl", "3.0.2", true) // a security update; curl 8.1 is not one
		labels := map[string]string{"role": "pset"}
		old := map[string]string{"openssl": "3.0.1", "curl": "8.0"}
		first := r.start(simHost{name: "pset-0", labels: labels, installed: old, duration: 200 * time.Millisecond, leader: true}, nil, fastFleet(true))

		By("the leader records debian-12's patch set from the first host")
		var ps *v1alpha1.PatchSet
		Eventually(func() *v1alpha1.PatchSet { ps = fleet.PatchSetFor(r.policy("pset"), "debian-12"); return ps },
			20*time.Second, 50*time.Millisecond).ShouldNot(BeNil())
		Expect(ps.ResolvedBy).To(Equal("pset-0"))
		Expect(ps.Packages).To(Equal([]v1alpha1.PackageVersion{{Name: "openssl", Version: "3.0.2"}}))

		By("the repository publishes a newer openssl mid-rollout; more hosts join")
		r.repo.Publish("openssl", "3.0.3", true)
		var later []*fleettest.Agent
		for i := 1; i <= 3; i++ {
			later = append(later, r.start(simHost{name: fmt.Sprintf("pset-%d", i), labels: labels, installed: old, duration: 100 * time.Millisecond}, nil, fastFleet(false)))
		}
		Eventually(counts(r, "pset"), 40*time.Second, 100*time.Millisecond).Should(HaveField("Compliant", BeEquivalentTo(4)))
		for _, a := range append([]*fleettest.Agent{first}, later...) {
			Expect(a.Backend.Installed("openssl")).To(Equal("3.0.2"), "%s installs the resolved version, not the newest", a.Name)
			Expect(a.Backend.Installed("curl")).To(Equal("8.0"), "%s: not a security update, not in the set", a.Name)
			Expect(a.Backend.Applied()).To(Equal([]string{"openssl=3.0.2"}))
		}
		Expect(fleet.PatchSetFor(r.policy("pset"), "debian-12").Packages).To(Equal(ps.Packages), "the set never changes within a generation")
	})

	It("stops an agent from writing another host's status", func() {
		needEnv()
		ctx := context.Background()
		admin, err := fleet.NewRESTClient(env.Admin)
		Expect(err).NotTo(HaveOccurred())
		for _, n := range []string{"rbac-a", "rbac-b"} {
			h := &v1alpha1.Host{}
			h.Name = n
			Expect(admin.Post().Resource(fleet.ResourceHosts).Body(h).Do(ctx).Error()).To(Succeed())
		}
		cfg, err := env.HostConfig("rbac-a")
		Expect(err).NotTo(HaveOccurred())
		c, err := fleet.NewRESTClient(cfg)
		Expect(err).NotTo(HaveOccurred())
		write := func(name string) error {
			h := &v1alpha1.Host{}
			if err := c.Get().Resource(fleet.ResourceHosts).Name(name).Do(ctx).Into(h); err != nil {
				return err
			}
			h.Status.Packages.Installed = 7
			return c.Put().Resource(fleet.ResourceHosts).Name(name).SubResource("status").Body(h).Do(ctx).Error()
		}
		Expect(write("rbac-a")).To(Succeed())
		err = write("rbac-b")
		Expect(apierrors.IsForbidden(err) || apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("rbac-b"))

		By("nor the policies' aggregate status without the leaders group")
		p := upgradeAll("rbac-pol", "rbac", "", "")
		Expect(admin.Post().Resource(fleet.ResourcePatchPolicies).Body(p).Do(ctx).Into(p)).To(Succeed())
		p.Status.Hosts.Matched = 5
		err = c.Put().Resource(fleet.ResourcePatchPolicies).Name(p.Name).SubResource("status").Body(p).Do(ctx).Error()
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "got %v", err)
	})
})

// agentLog logs the agents named by PATCHLET_FLEET_LOG (a prefix) to the
// Ginkgo writer, for debugging.
func agentLog(name string) logr.Logger {
	if p := os.Getenv("PATCHLET_FLEET_LOG"); p != "" && strings.HasPrefix(name, p) {
		return GinkgoLogr.WithName(name)
	}
	return logr.Discard()
}

var _ = Describe("fleet rollout waves against a real API server", Label("integration"), func() {
	// startWaveFleet starts a leader that matches no policy and n hosts
	// role=<role>, named <role>-00 …, and waits until the leader sees every
	// Host, so that it assigns the waves over all of them.
	startWaveFleet := func(r *fleetRun, role string, n int, tr *fleettest.Tracker, failing func(i int) bool, checker func(name string) policy.HealthChecker) {
		r.start(simHost{name: role + "-leader", labels: map[string]string{"role": "none"}, leader: true}, nil, fastFleet(true))
		for i := range n {
			fail := 0.0
			if failing != nil && failing(i) {
				fail = 1
			}
			name := fmt.Sprintf("%s-%02d", role, i)
			var hc policy.HealthChecker
			if checker != nil {
				hc = checker(name)
			}
			r.start(simHost{name: name, labels: map[string]string{"role": role},
				installed: map[string]string{"hello": "1.0"}, duration: 200 * time.Millisecond, failRate: fail, checker: hc}, tr, fastFleet(false))
		}
		// The leader counts every host (an Audit policy changes nothing),
		// so its assignment of waves will see them all.
		probe := upgradeAll(role+"-probe", role, "", "")
		probe.Spec.Mode = v1alpha1.ModeAudit
		r.createPolicy(probe)
		Eventually(counts(r, role+"-probe"), 30*time.Second, 100*time.Millisecond).Should(HaveField("Matched", BeEquivalentTo(n)))
	}

	It("rolls out wave by wave: a later wave starts only after the earlier one succeeded and soaked", func() {
		const soak0, soak1 = 3 * time.Second, 2 * time.Second
		r := newFleetRun(map[string]string{"hello": "2.0"})
		tr := &fleettest.Tracker{}
		startWaveFleet(r, "wave", 12, tr, nil, nil)
		pol := upgradeAll("waves", "wave", "3", "")
		pol.Spec.Rollout.Waves = []v1alpha1.RolloutWave{
			{Hosts: ios("2"), Soak: v1alpha1.DurationPtr(soak0)},
			{Hosts: ios("50%"), Soak: v1alpha1.DurationPtr(soak1)},
		}
		r.createPolicy(pol)

		Eventually(counts(r, "waves"), 90*time.Second, 200*time.Millisecond).Should(HaveField("Compliant", BeEquivalentTo(12)))
		st := r.policy("waves").Status
		Expect(st.CurrentWave).To(HaveValue(BeEquivalentTo(2)))
		Expect(st.Waves).To(HaveLen(3))
		Expect([]int32{st.Waves[0].Hosts, st.Waves[1].Hosts, st.Waves[2].Hosts}).To(Equal([]int32{2, 6, 4}))
		Expect(st.Waves[0].LastHost).To(Equal("wave-01"))
		Expect(st.Waves[1].LastHost).To(Equal("wave-07"))

		first := tr.FirstSteps()
		Expect(first).To(HaveLen(12))
		waveOf := func(i int) int {
			switch {
			case i < 2:
				return 0
			case i < 8:
				return 1
			}
			return 2
		}
		var started [3][]time.Time
		for i := range 12 {
			started[waveOf(i)] = append(started[waveOf(i)], first[fmt.Sprintf("wave-%02d", i)])
		}
		latest := func(ts []time.Time) time.Time {
			var m time.Time
			for _, t := range ts {
				if t.After(m) {
					m = t
				}
			}
			return m
		}
		earliest := func(ts []time.Time) time.Time {
			m := ts[0]
			for _, t := range ts {
				if t.Before(m) {
					m = t
				}
			}
			return m
		}
		GinkgoWriter.Printf("wave starts: %s, %s, %s\n", earliest(started[0]).Format("15:04:05.000"),
			earliest(started[1]).Format("15:04:05.000"), earliest(started[2]).Format("15:04:05.000"))
		// A wave's hosts finish after their step started; the next wave
		// waits for that and then the soak.
		Expect(earliest(started[1]).Sub(latest(started[0]))).To(BeNumerically(">=", soak0), "wave 1 started before wave 0 soaked")
		Expect(earliest(started[2]).Sub(latest(started[1]))).To(BeNumerically(">=", soak1), "wave 2 started before wave 1 soaked")
		for w := range 2 {
			Expect(st.Waves[w].FinishedAt).NotTo(BeNil())
			Expect(earliest(started[w+1])).To(BeTemporally(">=", st.Waves[w].FinishedAt.Time), "wave %d started before wave %d finished", w+1, w)
		}
	})

	It("counts a host as succeeded only once its health check passed; a failing canary halts the rollout until the spec changes", func() {
		r := newFleetRun(map[string]string{"hello": "2.0"})
		tr := &fleettest.Tracker{}
		var fixed atomic.Bool
		checks := map[string]*atomic.Int32{}
		checker := func(name string) policy.HealthChecker {
			n := &atomic.Int32{}
			checks[name] = n
			return checkFunc(func(string) (bool, string) {
				n.Add(1)
				if name == "hc-00" && !fixed.Load() {
					return false, "GET http://127.0.0.1:8080/healthz: 503 Service Unavailable"
				}
				return true, "GET http://127.0.0.1:8080/healthz: 200 OK"
			})
		}
		startWaveFleet(r, "hc", 4, tr, nil, checker)
		pol := upgradeAll("hc", "hc", "", "0")
		pol.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: "web"},
			Interval: v1alpha1.DurationPtr(200 * time.Millisecond), FailureThreshold: 2}
		pol.Spec.Rollout.Waves = []v1alpha1.RolloutWave{{Hosts: ios("1")}} // the canary: hc-00
		r.createPolicy(pol)

		By("the canary upgrades, its check fails twice: it counts as failed and the rollout halts")
		Eventually(func() bool { return fleet.Halted(r.policy("hc")) }, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
		Expect(r.agents["hc-00"].Backend.Installed("hello")).To(Equal("2.0"))
		h, err := r.host("hc-00")
		Expect(err).NotTo(HaveOccurred())
		Expect(h.Status.Policies).To(ContainElement(And(HaveField("Name", "hc"), HaveField("State", BeEquivalentTo("Failed")),
			HaveField("Message", ContainSubstring("503 Service Unavailable")))))
		Consistently(func() []string {
			var others []string
			for n := range tr.FirstSteps() {
				if n != "hc-00" {
					others = append(others, n)
				}
			}
			return others
		}, 2*time.Second, 100*time.Millisecond).Should(BeEmpty(), "no host of the next wave starts")

		By("the service is fixed: the canary turns Compliant, but the halt stays until the spec changes")
		fixed.Store(true)
		Eventually(func() v1alpha1.HostCounts { return r.policy("hc").Status.Hosts }, 20*time.Second, 100*time.Millisecond).Should(
			HaveField("Compliant", BeEquivalentTo(1)))
		Expect(fleet.Halted(r.policy("hc"))).To(BeTrue())
		Expect(tr.FirstSteps()).To(HaveLen(1))

		By("resuming: a spec change assigns the waves again; the canary is checked again and the rest follow")
		p := r.policy("hc")
		p.Spec.HealthCheck.FailureThreshold = 3
		Expect(r.admin.Put().Resource(fleet.ResourcePatchPolicies).Name("hc").Body(p).Do(r.ctx).Error()).To(Succeed())
		Eventually(counts(r, "hc"), 60*time.Second, 200*time.Millisecond).Should(HaveField("Compliant", BeEquivalentTo(4)))
		Expect(fleet.Halted(r.policy("hc"))).To(BeFalse())
		for i := range 4 {
			Expect(checks[fmt.Sprintf("hc-%02d", i)].Load()).To(BeNumerically(">=", 1), "every host ran its check")
		}
	})

	It("halts within the canary wave: no host of a later wave starts", func() {
		r := newFleetRun(map[string]string{"hello": "2.0"})
		tr := &fleettest.Tracker{}
		startWaveFleet(r, "canary", 6, tr, func(i int) bool { return i == 0 }, nil)
		pol := upgradeAll("canary", "canary", "", "0")
		pol.Spec.Rollout.Waves = []v1alpha1.RolloutWave{{Hosts: ios("2")}}
		r.createPolicy(pol)

		Eventually(func() bool { return fleet.Halted(r.policy("canary")) }, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
		Eventually(func() map[string]time.Time { return tr.FirstSteps() }, 10*time.Second, 100*time.Millisecond).Should(HaveKey("canary-01"))
		Consistently(func() []string {
			var later []string
			for h := range tr.FirstSteps() {
				if h != "canary-00" && h != "canary-01" {
					later = append(later, h)
				}
			}
			return later
		}, 3*time.Second, 100*time.Millisecond).Should(BeEmpty())
		st := r.policy("canary").Status
		Expect(st.CurrentWave).To(HaveValue(BeEquivalentTo(0)))
		Expect(meta.FindStatusCondition(st.Conditions, fleet.ConditionHalted).Message).To(ContainSubstring("canary-00"))
	})
})
