package reconcile_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/reconcile"
)

// withCheck gives a policy an exec health check (interval 10s, threshold 3).
func withCheck(p *v1alpha1.PatchPolicy) {
	p.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: "web"}}
}

var _ = Describe("health checks", func() {
	const gen = 4
	key := reconcile.HealthKey{Generation: gen, Operation: "op-1", BootID: "boot-1"}
	base := func(opts ...func(*v1alpha1.PatchPolicy)) *v1alpha1.PatchPolicy {
		p := policy("web", append([]func(*v1alpha1.PatchPolicy){generation(gen), pkg("curl", v1alpha1.PackagePresent, "")}, opts...)...)
		p.Status.ObservedGeneration = gen - 1
		return &p
	}
	// satisfied is the outcome of a pass that found curl installed.
	satisfied := func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
		out := planOf(observe().installed("curl", "7.88"), allCaps, *p)
		pp, _ := out.Policy(p.Name)
		return reconcile.PassOutcome{Plan: pp, LastOperation: "op-1"}
	}
	health := func(result v1alpha1.HealthCheckResult, failures int32, msg string) *v1alpha1.HealthCheckStatus {
		t := metav1.NewTime(now)
		return &v1alpha1.HealthCheckStatus{Result: result, ObservedGeneration: gen, Operation: "op-1", BootID: "boot-1",
			ConsecutiveFailures: failures, LastChecked: &t, Message: msg}
	}

	type want struct {
		ready, degraded string
		state           string
		done            bool
		message         string
	}
	DescribeTable("the state of a policy whose packages are as declared",
		func(p *v1alpha1.PatchPolicy, h *v1alpha1.HealthCheckStatus, w want) {
			o := satisfied(p)
			o.Health = h
			st := reconcile.PolicyStatus(p, o, now)
			Expect(cond(st, "Ready")).To(Equal(w.ready))
			Expect(cond(st, "Degraded")).To(Equal(w.degraded))
			if w.done {
				Expect(st.ObservedGeneration).To(BeEquivalentTo(gen))
			} else {
				Expect(st.ObservedGeneration).To(BeEquivalentTo(gen-1), "not done with this generation")
			}
			Expect(meta.FindStatusCondition(st.Conditions, "Ready").Message).To(ContainSubstring(w.message))
			Expect(reconcile.HostPolicyState(p, o).State).To(BeEquivalentTo(w.state))
			Expect(reconcile.HostPolicyState(p, o).Message).To(ContainSubstring(w.message))
			if h != nil {
				Expect(st.HealthCheck).To(Equal(h), "status.healthCheck is the pass's")
			}
		},
		Entry("no health check: Compliant as before", base(), nil,
			want{"True/Compliant", "False/Compliant", "Compliant", true, ""}),
		Entry("not run yet: Progressing", base(withCheck), nil,
			want{"False/HealthCheckPending", "False/HealthCheckPending", "Progressing", false, "waiting for health check exec web"}),
		Entry("Pending, never tried", base(withCheck), health(v1alpha1.HealthPending, 0, ""),
			want{"False/HealthCheckPending", "False/HealthCheckPending", "Progressing", false, "waiting for health check exec web"}),
		Entry("failing below the threshold: still Progressing, with the check's words", base(withCheck),
			health(v1alpha1.HealthPending, 2, "exit status 3; output: db is down"),
			want{"False/HealthCheckPending", "False/HealthCheckPending", "Progressing", false,
				"health check exec web failed 2 of 3 attempts: exit status 3; output: db is down; retrying at 2026-11-23T10:00:10Z"}),
		Entry("failed at the threshold: Failed and Degraded", base(withCheck),
			health(v1alpha1.HealthFailed, 3, "exit status 3; output: db is down"),
			want{"False/HealthCheckFailed", "True/HealthCheckFailed", "Failed", false,
				"health check exec web failed 3 times in a row: exit status 3; output: db is down"}),
		Entry("passed: Compliant", base(withCheck), health(v1alpha1.HealthPassed, 0, "exit status 0"),
			want{"True/Compliant", "False/Compliant", "Compliant", true, ""}),
	)

	It("counts a host whose check failed as failed, and one waiting for it as progressing", func() {
		p := base(withCheck)
		o := satisfied(p)
		o.Health = health(v1alpha1.HealthFailed, 3, "boom")
		Expect(reconcile.PolicyStatus(p, o, now).Hosts).To(Equal(v1alpha1.HostCounts{Matched: 1, Failed: 1}))
		o.Health = health(v1alpha1.HealthPending, 1, "boom")
		Expect(reconcile.PolicyStatus(p, o, now).Hosts).To(Equal(v1alpha1.HostCounts{Matched: 1, Progressing: 1}))
	})

	It("keeps status.healthCheck when the pass did not look at it, and drops it with the spec's check", func() {
		p := base(withCheck)
		p.Status.HealthCheck = health(v1alpha1.HealthPassed, 0, "ok")
		o := satisfied(p)
		o.Health = nil
		o.Running = true
		Expect(reconcile.PolicyStatus(p, o, now).HealthCheck).To(Equal(p.Status.HealthCheck))
		p.Spec.HealthCheck = nil
		Expect(reconcile.PolicyStatus(p, satisfied(p), now).HealthCheck).To(BeNil())
	})

	DescribeTable("whether the check decides the state (is due) in a pass",
		func(p *v1alpha1.PatchPolicy, change func(*reconcile.PassOutcome), due bool) {
			o := satisfied(p)
			change(&o)
			Expect(reconcile.HealthCheckDue(p, o)).To(Equal(due))
		},
		Entry("satisfied, Enforce", base(withCheck), func(*reconcile.PassOutcome) {}, true),
		Entry("even after it passed (the caller skips a passed check)", base(withCheck),
			func(o *reconcile.PassOutcome) { o.Health = health(v1alpha1.HealthPassed, 0, "") }, true),
		Entry("no check", base(), func(*reconcile.PassOutcome) {}, false),
		Entry("Audit", base(withCheck, audit), func(*reconcile.PassOutcome) {}, false),
		Entry("suspended", base(withCheck, suspend), func(*reconcile.PassOutcome) {}, false),
		Entry("not selected", base(withCheck, selector(map[string]string{"role": "db"})), func(*reconcile.PassOutcome) {}, false),
		Entry("a step running", base(withCheck), func(o *reconcile.PassOutcome) { o.Running = true }, false),
		Entry("a change pending", base(withCheck), func(o *reconcile.PassOutcome) { o.Plan.Pending = 1 }, false),
		Entry("a reboot the policy wants", base(withCheck, reboot(v1alpha1.RebootIfRequired, nil)),
			func(o *reconcile.PassOutcome) { o.RebootRequired = true }, false),
		Entry("a reboot the policy leaves to the operator", base(withCheck),
			func(o *reconcile.PassOutcome) { o.RebootRequired = true }, true),
		Entry("the index refresh failed", base(withCheck),
			func(o *reconcile.PassOutcome) { o.CacheFailure = &reconcile.CacheFailure{Message: "offline"} }, false),
	)

	Describe("counting attempts", func() {
		It("starts over for a new generation, step or boot, and keeps a result for the same one", func() {
			rec := health(v1alpha1.HealthFailed, 5, "boom")
			Expect(reconcile.HealthFor(rec, key)).To(Equal(rec))
			for _, k := range []reconcile.HealthKey{
				{Generation: gen + 1, Operation: "op-1", BootID: "boot-1"},
				{Generation: gen, Operation: "op-2", BootID: "boot-1"},
				{Generation: gen, Operation: "op-1", BootID: "boot-2"},
			} {
				Expect(reconcile.HealthFor(rec, k)).To(Equal(&v1alpha1.HealthCheckStatus{Result: v1alpha1.HealthPending,
					ObservedGeneration: k.Generation, Operation: k.Operation, BootID: k.BootID}), "%+v", k)
			}
			Expect(reconcile.HealthFor(nil, key).Result).To(Equal(v1alpha1.HealthPending))
		})

		It("is Pending below the threshold, Failed from it on, and Passed resets the count", func() {
			var h *v1alpha1.HealthCheckStatus
			var results []v1alpha1.HealthCheckResult
			for i := range 4 {
				h = reconcile.HealthAttempt(h, key, false, "boom", 3, now.Add(time.Duration(i)*time.Second))
				results = append(results, h.Result)
			}
			Expect(results).To(Equal([]v1alpha1.HealthCheckResult{v1alpha1.HealthPending, v1alpha1.HealthPending, v1alpha1.HealthFailed, v1alpha1.HealthFailed}))
			Expect(h.ConsecutiveFailures).To(BeEquivalentTo(4))
			Expect(h.LastChecked.Time).To(BeTemporally("==", now.Add(3*time.Second)))
			Expect(h.Message).To(Equal("boom"))
			h = reconcile.HealthAttempt(h, key, true, "ok", 3, now)
			Expect(h.Result).To(Equal(v1alpha1.HealthPassed))
			Expect(h.ConsecutiveFailures).To(BeZero())
			// A failure recorded for another boot does not count.
			h = reconcile.HealthAttempt(health(v1alpha1.HealthPending, 2, ""), reconcile.HealthKey{Generation: gen, Operation: "op-1", BootID: "boot-2"}, false, "boom", 3, now)
			Expect(h.ConsecutiveFailures).To(BeEquivalentTo(1))
			Expect(h.BootID).To(Equal("boot-2"))
		})
	})

	DescribeTable("when a due check runs",
		func(h *v1alpha1.HealthCheckStatus, last time.Time, runNow bool, wait time.Duration) {
			r, w := reconcile.HealthCheckWhen(h, last, 10*time.Second, now)
			Expect(r).To(Equal(runNow))
			Expect(w).To(Equal(wait))
		},
		Entry("never tried: now", health(v1alpha1.HealthPending, 0, ""), time.Time{}, true, time.Duration(0)),
		Entry("passed: never again for the same key", health(v1alpha1.HealthPassed, 0, ""), now.Add(-time.Hour), false, time.Duration(0)),
		Entry("failed 4s ago: in 6s", health(v1alpha1.HealthPending, 1, ""), now.Add(-4*time.Second), false, 6*time.Second),
		Entry("failed an interval ago: now", health(v1alpha1.HealthFailed, 3, ""), now.Add(-10*time.Second), true, time.Duration(0)),
	)

	It("names the check for messages", func() {
		Expect(reconcile.HealthCheckTarget(&v1alpha1.HealthCheckSpec{HTTPGet: &v1alpha1.HTTPGetCheck{URL: "http://127.0.0.1/healthz"}})).
			To(Equal("httpGet http://127.0.0.1/healthz"))
		Expect(reconcile.HealthCheckTarget(&v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: "web"}})).To(Equal("exec web"))
	})
})
