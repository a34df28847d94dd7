package store_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	v1 "github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

// fastDir is a directory on tmpfs when there is one: tests that need
// thousands of writes should not wait for thousands of disk fsyncs.
func fastDir() string {
	GinkgoHelper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "patchlet-store-test-")
		if err == nil {
			DeferCleanup(os.RemoveAll, d)
			return d
		}
	}
	return GinkgoT().TempDir()
}

// next receives one event or fails after a second.
func next(ch <-chan store.Event) store.Event {
	GinkgoHelper()
	select {
	case ev, ok := <-ch:
		Expect(ok).To(BeTrue(), "watch closed")
		return ev
	case <-time.After(time.Second):
		Fail("no event within a second")
	}
	return store.Event{}
}

type evSummary struct {
	Type watch.EventType
	Name string
	RV   uint64
}

func summary(ev store.Event) evSummary {
	GinkgoHelper()
	Expect(rvOf(ev.Object)).To(Equal(ev.RV), "the object carries the event's resourceVersion")
	Expect(ev.JSON).To(MatchJSON(mustJSON(ev.Object)))
	return evSummary{ev.Type, ev.Object.GetName(), ev.RV}
}

var _ = Describe("Watch", func() {
	var (
		s      *store.Store
		ctx    context.Context
		cancel context.CancelFunc
	)
	BeforeEach(func() {
		s = openStore(GinkgoT().TempDir())
		ctx, cancel = context.WithCancel(context.Background())
		DeferCleanup(cancel)
	})

	It("from 0 starts with a synthetic ADDED for every object of the resource, then follows changes", func() {
		a := mustCreate(s, newPolicy("a"))
		b := mustCreate(s, newPolicy("b"))
		_, err := s.Create(store.Hosts, &v1.Host{ObjectMeta: metav1.ObjectMeta{Name: "h"}})
		Expect(err).NotTo(HaveOccurred())

		ch, err := s.Watch(ctx, store.PatchPolicies, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect([]evSummary{summary(next(ch)), summary(next(ch))}).To(ConsistOf(
			evSummary{watch.Added, "a", rvOf(a)}, evSummary{watch.Added, "b", rvOf(b)}))

		upd := a.DeepCopy()
		upd.Spec.Mode = v1.ModeAudit
		u, err := s.Update(store.PatchPolicies, upd)
		Expect(err).NotTo(HaveOccurred())
		ev := next(ch)
		Expect(summary(ev)).To(Equal(evSummary{watch.Modified, "a", rvOf(u)}))
		Expect(ev.Object.(*v1.PatchPolicy).Spec.Mode).To(Equal(v1.ModeAudit))
	})

	It("from a recent resourceVersion sends only the later events, in order", func() {
		a := mustCreate(s, newPolicy("a"))
		upd := a.DeepCopy()
		upd.Labels = map[string]string{"x": "1"}
		u, err := s.Update(store.PatchPolicies, upd)
		Expect(err).NotTo(HaveOccurred())
		since := rvOf(u)
		b := mustCreate(s, newPolicy("b"))
		gone, err := s.Delete(store.PatchPolicies, "a", "")
		Expect(err).NotTo(HaveOccurred())
		st := b.DeepCopy()
		st.Status.Pending = 1
		bs, err := s.UpdateStatus(store.PatchPolicies, st)
		Expect(err).NotTo(HaveOccurred())

		ch, err := s.Watch(ctx, store.PatchPolicies, since)
		Expect(err).NotTo(HaveOccurred())
		Expect(summary(next(ch))).To(Equal(evSummary{watch.Added, "b", rvOf(b)}))
		Expect(summary(next(ch))).To(Equal(evSummary{watch.Deleted, "a", rvOf(gone)}))
		Expect(summary(next(ch))).To(Equal(evSummary{watch.Modified, "b", rvOf(bs)}))

		c := mustCreate(s, newPolicy("c"))
		Expect(summary(next(ch))).To(Equal(evSummary{watch.Added, "c", rvOf(c)}), "nothing replayed twice")
	})

	It("from the current resourceVersion sends only future events", func() {
		mustCreate(s, newPolicy("a"))
		ch, err := s.Watch(ctx, store.PatchPolicies, s.ResourceVersion())
		Expect(err).NotTo(HaveOccurred())
		Consistently(ch, 50*time.Millisecond).ShouldNot(Receive())
		b := mustCreate(s, newPolicy("b"))
		Expect(summary(next(ch))).To(Equal(evSummary{watch.Added, "b", rvOf(b)}))
	})

	It("watches every resource when the resource is empty", func() {
		ch, err := s.Watch(ctx, "", s.ResourceVersion())
		Expect(err).NotTo(HaveOccurred())
		mustCreate(s, newPolicy("p"))
		_, err = s.Create(store.Hosts, &v1.Host{ObjectMeta: metav1.ObjectMeta{Name: "h"}})
		Expect(err).NotTo(HaveOccurred())
		Expect(next(ch).Resource).To(Equal(store.PatchPolicies))
		Expect(next(ch).Resource).To(Equal(store.Hosts))
	})

	It("refuses an unknown resource", func() {
		_, err := s.Watch(ctx, "pods", 0)
		Expect(apierrors.IsNotFound(err)).To(BeTrue())
	})

	It("closes the channel when the context ends", func() {
		ch, err := s.Watch(ctx, store.PatchPolicies, 0)
		Expect(err).NotTo(HaveOccurred())
		cancel()
		Eventually(ch).Should(BeClosed())
		mustCreate(s, newPolicy("after")) // writers are not disturbed by a gone watcher
	})

	It("answers 410 Expired to a resourceVersion older than the remembered history", func() {
		s = openStore(fastDir())
		first := mustCreate(s, newPolicy("p"))
		for i := range 4200 { // more events than the store remembers
			_, err := s.Create(store.PatchPolicies, newPolicy(fmt.Sprintf("p-%d", i)))
			Expect(err).NotTo(HaveOccurred())
		}
		_, err := s.Watch(ctx, store.PatchPolicies, rvOf(first))
		Expect(apierrors.IsResourceExpired(err)).To(BeTrue(), "%v", err)
		Expect(apierrors.IsGone(err) || apierrors.IsResourceExpired(err)).To(BeTrue())

		recent := s.ResourceVersion() - 100
		ch, err := s.Watch(ctx, store.PatchPolicies, recent)
		Expect(err).NotTo(HaveOccurred())
		ev := next(ch)
		Expect(ev.RV).To(Equal(recent + 1))
	})

	It("answers 410 Expired after a restart to a resourceVersion from before it", func() {
		dir := GinkgoT().TempDir()
		s = openStore(dir)
		mustCreate(s, newPolicy("a"))
		mustCreate(s, newPolicy("b"))
		old := s.ResourceVersion() - 1

		s2 := openStore(dir)
		_, err := s2.Watch(ctx, store.PatchPolicies, old)
		Expect(apierrors.IsResourceExpired(err)).To(BeTrue(), "%v", err)

		ch, err := s2.Watch(ctx, store.PatchPolicies, s2.ResourceVersion())
		Expect(err).NotTo(HaveOccurred(), "the current resourceVersion is always fine")
		c := mustCreate(s2, newPolicy("c"))
		Expect(summary(next(ch))).To(Equal(evSummary{watch.Added, "c", rvOf(c)}))
	})

	It("closes a watcher that does not read instead of blocking writers", func() {
		s = openStore(fastDir())
		p := mustCreate(s, newPolicy("p"))
		slow, err := s.Watch(ctx, store.PatchPolicies, s.ResourceVersion())
		Expect(err).NotTo(HaveOccurred())
		fast, err := s.Watch(ctx, store.PatchPolicies, s.ResourceVersion())
		Expect(err).NotTo(HaveOccurred())
		var fastGot int
		fastDone := make(chan struct{})
		go func() {
			defer close(fastDone)
			for range fast {
				fastGot++
			}
		}()

		const writes = 1200
		done := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			defer close(done)
			for i := range writes {
				_, err := s.Create(store.PatchPolicies, newPolicy(fmt.Sprintf("p-%d", i)))
				Expect(err).NotTo(HaveOccurred())
			}
		}()
		Eventually(done).WithTimeout(30 * time.Second).Should(BeClosed())

		var got []uint64
		closed := false
		timeout := time.After(5 * time.Second)
		for !closed {
			select {
			case ev, ok := <-slow:
				if !ok {
					closed = true
					break
				}
				got = append(got, ev.RV)
			case <-timeout:
				Fail("the slow watcher was not closed")
			}
		}
		Expect(len(got)).To(BeNumerically(">", 0))
		Expect(len(got)).To(BeNumerically("<", writes))
		Expect(got[0]).To(Equal(rvOf(p)+1), "the events it did get are the first ones, in order")
		for i := 1; i < len(got); i++ {
			Expect(got[i]).To(Equal(got[i-1] + 1))
		}

		cancel()
		Eventually(fastDone).Should(BeClosed())
		Expect(fastGot).To(Equal(writes), "a reader that keeps up sees every event")
	})
})

var _ = Describe("concurrent use", func() {
	It("keeps every update, hands out increasing resourceVersions and tells watchers everything", func() {
		dir := fastDir()
		s := openStore(dir)
		mustCreate(s, newPolicy("shared"))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		start := s.ResourceVersion()

		// Watchers rebuild the state from events.
		const watchers = 3
		type view struct {
			rvs  map[string]uint64
			last uint64
			err  error
		}
		views := make([]view, watchers)
		var wwg sync.WaitGroup
		for w := range watchers {
			ch, err := s.Watch(ctx, store.PatchPolicies, start)
			Expect(err).NotTo(HaveOccurred())
			wwg.Add(1)
			go func() {
				defer wwg.Done()
				v := view{rvs: map[string]uint64{"shared": start}, last: start}
				for ev := range ch {
					if ev.RV <= v.last && v.err == nil {
						v.err = fmt.Errorf("resourceVersion %d after %d", ev.RV, v.last)
					}
					v.last = ev.RV
					if ev.Type == watch.Deleted {
						delete(v.rvs, ev.Object.GetName())
					} else {
						v.rvs[ev.Object.GetName()] = ev.RV
					}
				}
				views[w] = v
			}()
		}

		const writers, rounds = 6, 15
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		report := func(err error) {
			select {
			case errs <- err:
			default:
			}
		}
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				own := fmt.Sprintf("own-%d", w)
				for r := range rounds {
					// Read-modify-write of the shared object, retried on conflict.
					for {
						o, err := s.Get(store.PatchPolicies, "shared")
						if err != nil {
							report(err)
							return
						}
						p := o.(*v1.PatchPolicy)
						p.Spec.Packages = append(p.Spec.Packages, v1.PackageSpec{Name: fmt.Sprintf("w%d-r%d", w, r)})
						_, err = s.Update(store.PatchPolicies, p)
						if apierrors.IsConflict(err) {
							continue
						}
						if err != nil {
							report(err)
							return
						}
						break
					}
					// Own object: create, update status, delete every other round.
					switch r % 3 {
					case 0:
						if _, err := s.Create(store.PatchPolicies, newPolicy(own, "openssl")); err != nil && !apierrors.IsAlreadyExists(err) {
							report(err)
						}
					case 1:
						p := newPolicy(own)
						p.Status.Pending = int32(r)
						if _, err := s.UpdateStatus(store.PatchPolicies, p); err != nil {
							report(err)
						}
					case 2:
						if r%2 == 0 {
							if _, err := s.Delete(store.PatchPolicies, own, ""); err != nil {
								report(err)
							}
						}
					}
				}
			}()
		}
		// Readers.
		stop := make(chan struct{})
		var rwg sync.WaitGroup
		for range 3 {
			rwg.Add(1)
			go func() {
				defer rwg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					items, rv, err := s.List(store.PatchPolicies)
					if err != nil {
						report(err)
						return
					}
					for _, it := range items {
						if _, err := v1.Decode(it.JSON); err != nil {
							report(err)
						}
						if n := it.Object.GetResourceVersion(); n == "" || len(n) > 20 {
							report(fmt.Errorf("bad resourceVersion %q", n))
						}
					}
					if rv < start {
						report(fmt.Errorf("list resourceVersion %d went back", rv))
					}
					j, err := s.GetJSON(store.PatchPolicies, "shared")
					if err != nil || len(j) == 0 {
						report(fmt.Errorf("GetJSON: %v", err))
					}
					if o, err := s.Get(store.PatchPolicies, "shared"); err == nil {
						o.SetLabels(map[string]string{"mine": "yes"}) // a copy: harmless
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		rwg.Wait()
		cancel()
		wwg.Wait()
		close(errs)
		for err := range errs {
			Expect(err).NotTo(HaveOccurred())
		}

		shared := mustGet(s, "shared")
		Expect(shared.Spec.Packages).To(HaveLen(writers*rounds), "no update was lost")
		Expect(shared.Generation).To(BeEquivalentTo(1 + writers*rounds))

		items, _, err := s.List(store.PatchPolicies)
		Expect(err).NotTo(HaveOccurred())
		want := map[string]uint64{}
		for _, it := range items {
			want[it.Object.GetName()] = rvOf(it.Object)
		}
		for i, v := range views {
			Expect(v.err).NotTo(HaveOccurred(), "watcher %d", i)
			Expect(v.rvs).To(Equal(want), "watcher %d's view of the store", i)
		}

		reopened := openStore(dir)
		Expect(reopened.ResourceVersion()).To(Equal(s.ResourceVersion()))
		again, _, err := reopened.List(store.PatchPolicies)
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(HaveLen(len(items)))
		for i := range items {
			Expect(again[i].JSON).To(MatchJSON(items[i].JSON))
		}
	})
})
