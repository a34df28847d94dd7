package policy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/reconcile"
	"github.com/patchlet/patchlet/store"
)

// countingLimiter backs off a fixed time and counts how often it was asked.
type countingLimiter struct {
	d     time.Duration
	whens int
}

func (l *countingLimiter) When(string) time.Duration { l.whens++; return l.d }
func (l *countingLimiter) Forget(string)             {}
func (l *countingLimiter) NumRequeues(string) int    { return l.whens }

// fakeGate grants or not, as told.
type fakeGate struct {
	granted bool
	retryAt time.Time
	err     error
}

func (g *fakeGate) Acquire(context.Context, []string) (bool, time.Time, error) {
	return g.granted, g.retryAt, g.err
}
func (g *fakeGate) Release([]string) {}

const (
	testBackoff = 7 * time.Second
	testResync  = time.Hour
	testLock    = 3 * time.Second
)

var testNow = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// phaseController is a Controller over a store in a temporary directory,
// with a fixed clock and a counting limiter; nothing runs a step.
func phaseController() (*Controller, *countingLimiter) {
	st, err := store.Open(GinkgoT().TempDir(), store.Options{Log: logr.Discard()})
	Expect(err).NotTo(HaveOccurred())
	lim := &countingLimiter{d: testBackoff}
	c := New(Options{Store: st, Log: logr.Discard(), HostName: "h", Now: func() time.Time { return testNow },
		Resync: testResync, LockRetry: testLock, RateLimiter: lim, BootID: func() (string, error) { return "boot", nil }})
	Expect(c.ensureHost()).To(Succeed())
	return c, lim
}

func newPass() *pass {
	return &pass{now: testNow, running: map[string]bool{}, stepFailure: map[string]*reconcile.StepFailure{},
		lastOp: map[string]string{}, health: map[string]*v1alpha1.HealthCheckStatus{}}
}

var diskFull = backends.Failure{Reason: v1alpha1.FailureDiskFull, Message: "no space"}

var _ = Describe("phase outcomes", func() {
	DescribeTable("requeue: what the report makes of an outcome",
		func(outcome error, after time.Duration, backoff bool, isErr bool) {
			a, b, err := requeue(outcome)
			Expect(a).To(Equal(after))
			Expect(b).To(Equal(backoff))
			Expect(err != nil).To(Equal(isErr))
			if isErr {
				Expect(err).To(Equal(outcome))
			}
		},
		Entry("done: no requeue of its own, no backoff", nil, time.Duration(0), false, false),
		Entry("waiting: its time, no error", &Waiting{RequeueAfter: 2 * time.Second, Reason: "LockHeld"}, 2*time.Second, false, false),
		Entry("waiting, wrapped", fmt.Errorf("gate: %w", &Waiting{RequeueAfter: time.Minute}), time.Minute, false, false),
		Entry("stalled: no retry, no error", &Stalled{Reason: "Interrupted"}, time.Duration(0), false, false),
		Entry("a failed step backs off", &StepFailed{Step: v1alpha1.StepInstall, Failure: diskFull}, time.Duration(0), true, true),
		Entry("any other error backs off", errors.New("observing packages: boom"), time.Duration(0), true, true),
	)

	type reportCase struct {
		outcome      error
		timer        time.Duration // 0: none
		cacheFailure bool
		wantAfter    time.Duration // -1: the jittered resync
		wantErr      bool
		wantWhens    int
	}
	DescribeTable("report: one status write, backoff computed once, then the Result",
		func(rc reportCase) {
			c, lim := phaseController()
			p := newPass()
			if rc.timer > 0 {
				p.timer(rc.timer)
			}
			if rc.cacheFailure {
				// As refresh leaves a failed refresh: its own backoff, a timer for it.
				p.cacheFailure = &reconcile.CacheFailure{Message: "Failed: network", NextRetry: testNow.Add(testBackoff)}
				p.timer(testBackoff)
			}
			p.running["web"] = true
			res, err := c.report(context.Background(), "h", p, rc.outcome)
			Expect(err != nil).To(Equal(rc.wantErr), fmt.Sprint(err))
			if rc.wantAfter < 0 {
				Expect(res.RequeueAfter).To(BeNumerically(">=", testResync))
				Expect(res.RequeueAfter).To(BeNumerically("<=", testResync+testResync/10))
			} else {
				Expect(res.RequeueAfter).To(Equal(rc.wantAfter))
			}
			Expect(lim.whens).To(Equal(rc.wantWhens))
			var f *StepFailed
			if errors.As(rc.outcome, &f) {
				for _, name := range f.Policies {
					Expect(p.stepFailure[name]).To(Equal(&reconcile.StepFailure{Step: f.Step, Failure: f.Failure, NextRetry: testNow.Add(testBackoff)}))
					Expect(p.running[name]).To(BeFalse())
				}
			} else {
				Expect(p.stepFailure).To(BeEmpty())
				Expect(p.running["web"]).To(BeTrue())
			}
			if rc.cacheFailure {
				Expect(p.cacheFailure.NextRetry).To(Equal(testNow.Add(testBackoff)))
			}
			h, gerr := c.o.Store.Get(store.Hosts, "h")
			Expect(gerr).NotTo(HaveOccurred())
			Expect(h.(*v1alpha1.Host).Status.Conditions).NotTo(BeEmpty(), "the status was written")
		},
		Entry("done, nothing to wait for: the resync", reportCase{wantAfter: -1}),
		Entry("done with a timer: the timer", reportCase{timer: 3 * time.Second, wantAfter: 3 * time.Second}),
		Entry("waiting: its time, even before a sooner timer", reportCase{outcome: &Waiting{RequeueAfter: 2 * time.Second}, timer: time.Second, wantAfter: 2 * time.Second}),
		Entry("waiting longer than the resync: the resync", reportCase{outcome: &Waiting{RequeueAfter: 2 * testResync}, wantAfter: -1}),
		Entry("stalled: the timer, no backoff", reportCase{outcome: &Stalled{Reason: "Interrupted"}, timer: 5 * time.Second, wantAfter: 5 * time.Second}),
		Entry("stalled without a timer: the resync", reportCase{outcome: &Stalled{Reason: "Interrupted"}, wantAfter: -1}),
		Entry("a failed step: backoff, its retry time on the policies it served", reportCase{
			outcome: &StepFailed{Step: v1alpha1.StepInstall, Failure: diskFull, Policies: []string{"web", "db"}},
			timer:   time.Second, wantAfter: testBackoff, wantErr: true, wantWhens: 1}),
		Entry("another error: backoff", reportCase{outcome: errors.New("observing packages: boom"), wantAfter: testBackoff, wantErr: true, wantWhens: 1}),
		Entry("a failed refresh alone: retried at its own backoff, no error, the host's backoff untouched", reportCase{cacheFailure: true, wantAfter: testBackoff}),
		Entry("a failed refresh and a failed step: the step's backoff computed once", reportCase{
			outcome:      &StepFailed{Step: v1alpha1.StepUpgrade, Failure: diskFull, Policies: []string{"web"}},
			cacheFailure: true, wantAfter: testBackoff, wantErr: true, wantWhens: 1}),
		Entry("a failed refresh while waiting: the wait", reportCase{
			outcome: &Waiting{RequeueAfter: time.Second}, cacheFailure: true, wantAfter: time.Second}),
	)

	DescribeTable("stepFailed: what a failed planned step makes of the pass",
		func(reason v1alpha1.FailureReason, wait time.Duration) {
			c, _ := phaseController()
			p := newPass()
			p.running["web"] = true
			f := backends.Failure{Reason: reason, Message: "m"}
			err := c.stepFailed(p, v1alpha1.StepInstall, f, []string{"web"})
			var w *Waiting
			if wait == 0 {
				Expect(err).To(Equal(&StepFailed{Step: v1alpha1.StepInstall, Failure: f, Policies: []string{"web"}}))
				Expect(p.stepFailure).To(BeEmpty(), "the report stamps it, with the backoff")
				return
			}
			Expect(errors.As(err, &w)).To(BeTrue())
			Expect(w.RequeueAfter).To(Equal(wait))
			Expect(p.stepFailure["web"]).To(Equal(&reconcile.StepFailure{Step: v1alpha1.StepInstall, Failure: f, NextRetry: testNow.Add(wait)}))
			Expect(p.running["web"]).To(BeFalse())
		},
		Entry("the lock held by another process: wait LockRetry", v1alpha1.FailureLockHeld, testLock),
		Entry("interrupted: the next pass, a second later, repairs", v1alpha1.FailureInterrupted, time.Second),
		Entry("a full disk: StepFailed, backoff", v1alpha1.FailureDiskFull, time.Duration(0)),
		Entry("a stale index (after its one retry): StepFailed", v1alpha1.FailureStaleIndex, time.Duration(0)),
		Entry("refused by the backend: StepFailed", v1alpha1.FailureRefused, time.Duration(0)),
	)

	DescribeTable("acquire: the rollout gate",
		func(g Gate, wait time.Duration, isErr bool) {
			c, _ := phaseController()
			c.o.Gate = g
			p := newPass()
			err := c.acquire(context.Background(), p, []string{"web"})
			var w *Waiting
			switch {
			case wait > 0:
				Expect(errors.As(err, &w)).To(BeTrue())
				Expect(w.RequeueAfter).To(Equal(wait))
				Expect(p.waitingUntil).To(Equal(testNow.Add(wait)))
			case isErr:
				Expect(err).To(HaveOccurred())
				Expect(errors.As(err, &w)).To(BeFalse(), "a gate that cannot be asked is a failure, not a wait")
			default:
				Expect(err).NotTo(HaveOccurred())
			}
		},
		Entry("no gate: go on", nil, time.Duration(0), false),
		Entry("granted: go on", &fakeGate{granted: true}, time.Duration(0), false),
		Entry("not granted: wait until the gate says", &fakeGate{retryAt: testNow.Add(time.Minute)}, time.Minute, false),
		Entry("not granted, no time given: wait a second", &fakeGate{}, time.Second, false),
		Entry("the gate failed: backoff", &fakeGate{err: errors.New("apiserver down")}, time.Duration(0), true),
	)
})
