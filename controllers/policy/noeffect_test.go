package policy_test

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/controllers/policy"
	"github.com/patchlet/patchlet/internal/testsupport/fleettest"
	"github.com/patchlet/patchlet/store"
)

// virtualBackend is the in-memory backend of fleettest, where installing
// zeta-virt installs zeta-impl instead, as apt-get install does for a
// virtual package with one provider: a step that exits 0 and leaves
// zeta-virt not installed. With provides it reports that zeta-impl
// provides zeta-virt (Observation.Provides). It counts observations.
type virtualBackend struct {
	*fleettest.Backend
	provides bool
	observed atomic.Int64
}

func (b *virtualBackend) Observe(ctx context.Context, names []string) (*backends.Observation, error) {
	b.observed.Add(1)
	obs, err := b.Backend.Observe(ctx, names)
	if err != nil {
		return nil, err
	}
	if p, ok := obs.Installed["zeta-virt"]; ok {
		delete(obs.Installed, "zeta-virt")
		delete(obs.Upgrades, "zeta-virt")
		p.Name = "zeta-impl"
		obs.Installed["zeta-impl"] = p
		if b.provides {
			obs.Provides = map[string][]string{"zeta-virt": {"zeta-impl"}}
		}
	}
	return obs, nil
}

// simAgent is a Controller over a store, virtualBackend and fleettest's
// in-memory executor: no process runs.
type simAgent struct {
	store   *store.Store
	backend *virtualBackend
	exec    *fleettest.Executor
	cancel  context.CancelFunc
	done    chan error
}

func newSimAgent(dir string, provides bool) *simAgent {
	st, err := store.Open(dir, store.Options{Log: logr.Discard()})
	Expect(err).NotTo(HaveOccurred())
	repo := fleettest.NewRepo(map[string]string{"zeta-virt": "1.0", "hello": "1.0"})
	b := &virtualBackend{Backend: fleettest.NewBackend(repo, nil, 0), provides: provides}
	return &simAgent{store: st, backend: b, exec: fleettest.NewExecutor(b.Backend, 0)}
}

// start runs a new Controller on the agent's store and host, as an agent
// (re)started would.
func (a *simAgent) start() {
	ctl := policy.New(policy.Options{Store: a.store, Backend: a.backend, Executor: a.exec, Log: GinkgoLogr,
		HostName: hostName, BootID: func() (string, error) { return "boot", nil }, Resync: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() { a.done <- ctl.Run(ctx) }()
}

func (a *simAgent) stop() {
	a.cancel()
	Eventually(a.done).WithTimeout(5 * time.Second).Should(Receive(Satisfy(func(err error) bool {
		return err == nil || errors.Is(err, context.Canceled)
	})))
}

func (a *simAgent) policy(name string) *v1alpha1.PatchPolicy {
	obj, err := a.store.Get(store.PatchPolicies, name)
	Expect(err).NotTo(HaveOccurred())
	return obj.(*v1alpha1.PatchPolicy)
}

// installs counts the install steps run: their Operations.
func (a *simAgent) installs() int {
	items, _, err := a.store.List(store.Operations)
	Expect(err).NotTo(HaveOccurred())
	n := 0
	for _, it := range items {
		if it.Object.(*v1alpha1.Operation).Spec.Step == v1alpha1.StepInstall {
			n++
		}
	}
	return n
}

// stalledNoEffect: the policy's generation is done and Stalled with reason NoEffect.
func stalledNoEffect(p *v1alpha1.PatchPolicy) bool {
	c := condition(p.Status.Conditions, v1alpha1.ConditionStalled)
	return c.Status == metav1.ConditionTrue && c.Reason == string(v1alpha1.PlanNoEffect) &&
		c.ObservedGeneration == p.Generation && p.Status.ObservedGeneration == p.Generation
}

var _ = Describe("a step that exits 0 but leaves its item unsatisfied", func() {
	var a *simAgent
	BeforeEach(func() {
		a = newSimAgent(GinkgoT().TempDir(), false)
		pol := newPolicy("web", v1alpha1.PackageSpec{Name: "zeta-virt"}, v1alpha1.PackageSpec{Name: "hello"})
		pol.SetDefaults()
		_, err := a.store.Create(store.PatchPolicies, pol)
		Expect(err).NotTo(HaveOccurred())
		a.start()
		DeferCleanup(func() { a.stop() })
	})

	It("runs twice, then the item is Stalled (NoEffect) saying what happened, and nothing runs or spins after", func() {
		Eventually(func() bool { return stalledNoEffect(a.policy("web")) }).WithTimeout(5 * time.Second).Should(BeTrue())
		Expect(a.installs()).To(Equal(2), "the first step and one retry after a fresh observation")

		p := a.policy("web")
		c := condition(p.Status.Conditions, v1alpha1.ConditionStalled)
		Expect(c.Message).To(HavePrefix("zeta-virt: NoEffect: sim Install zeta-virt exited 0 twice but zeta-virt is still not installed; " +
			"run 1 installed zeta-impl 1.0; run 2 changed nothing; if zeta-virt is a virtual package, name the package that provides it"))
		Expect(condition(p.Status.Conditions, v1alpha1.ConditionReady).Reason).To(Equal("NoEffect"))
		Expect(a.backend.Installed("hello")).To(Equal("1.0"), "the rest of the policy went ahead")
		Expect(p.Status.NoEffect).To(HaveLen(1))
		rec := p.Status.NoEffect[0]
		Expect(rec.Package).To(Equal("zeta-virt"))
		Expect(rec.Attempts).To(BeEquivalentTo(2))
		Expect(rec.Operations).To(HaveLen(2))

		observed := a.backend.observed.Load()
		Consistently(a.installs).WithTimeout(time.Second).Should(Equal(2), "no identical step runs again")
		Expect(a.backend.observed.Load()-observed).To(BeNumerically("<=", 2), "no pass loop")
	})

	It("remembers it across an agent restart, and a new generation tries again, twice", func() {
		Eventually(func() bool { return stalledNoEffect(a.policy("web")) }).WithTimeout(5 * time.Second).Should(BeTrue())
		a.stop()
		a.start()
		Consistently(a.installs).WithTimeout(time.Second).Should(Equal(2), "the restarted agent runs nothing for it")
		Expect(stalledNoEffect(a.policy("web"))).To(BeTrue())

		p := a.policy("web").DeepCopy()
		maxAge := v1alpha1.NewDuration(8 * time.Hour)
		p.Spec.Cache = &v1alpha1.CacheSpec{MaxAge: &maxAge} // a spec edit: a new generation
		_, err := a.store.Update(store.PatchPolicies, p)
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() bool { return stalledNoEffect(a.policy("web")) && a.policy("web").Generation == 2 }).
			WithTimeout(5 * time.Second).Should(BeTrue())
		Expect(a.installs()).To(Equal(4), "two more for the new generation")
		Expect(a.policy("web").Status.NoEffect).To(ConsistOf(HaveField("ObservedGeneration", BeEquivalentTo(2))))
	})
})

var _ = Describe("a virtual package the backend says is provided", func() {
	It("is satisfied once its provider is installed: one step, Ready, and the message names the provider", func() {
		a := newSimAgent(GinkgoT().TempDir(), true)
		pol := newPolicy("web", v1alpha1.PackageSpec{Name: "zeta-virt"})
		pol.SetDefaults()
		_, err := a.store.Create(store.PatchPolicies, pol)
		Expect(err).NotTo(HaveOccurred())
		a.start()
		DeferCleanup(func() { a.stop() })
		Eventually(func() bool { return isReady(a.policy("web")) }).WithTimeout(5 * time.Second).Should(BeTrue())
		Expect(a.installs()).To(Equal(1))
		p := a.policy("web")
		Expect(condition(p.Status.Conditions, v1alpha1.ConditionReady).Message).To(
			Equal("all packages as declared; zeta-virt provided by zeta-impl (zeta-virt is a virtual package)"))
		Expect(p.Status.NoEffect).To(BeEmpty())
		Consistently(a.installs).WithTimeout(500 * time.Millisecond).Should(Equal(1))
	})
})
