package reconcile_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/reconcile"
)

// cond renders a condition as "Status/Reason".
func cond(st v1alpha1.PatchPolicyStatus, typ string) string {
	c := meta.FindStatusCondition(st.Conditions, typ)
	if c == nil {
		return "missing"
	}
	return string(c.Status) + "/" + c.Reason
}

var _ = Describe("Policy status", func() {
	const gen = 4
	base := func(opts ...func(*v1alpha1.PatchPolicy)) *v1alpha1.PatchPolicy {
		p := policy("web", append([]func(*v1alpha1.PatchPolicy){generation(gen)}, opts...)...)
		p.Status.ObservedGeneration = gen - 1
		return &p
	}
	// outcome plans one policy against an observation and wraps it.
	outcome := func(p *v1alpha1.PatchPolicy, o obs, caps backends.Capabilities, others ...v1alpha1.PatchPolicy) reconcile.PassOutcome {
		out := planOf(o, caps, append([]v1alpha1.PatchPolicy{*p}, others...)...)
		pp, _ := out.Policy(p.Name)
		return reconcile.PassOutcome{Plan: pp}
	}
	retry := utc("2026-11-23T10:05:00Z")

	type want struct {
		ready, progressing, degraded, stalled, reboot string
		observed                                      int64
		state                                         string
		message                                       string
	}
	DescribeTable("conditions, observedGeneration and host state after a pass",
		func(p *v1alpha1.PatchPolicy, mk func(*v1alpha1.PatchPolicy) reconcile.PassOutcome, w want) {
			o := mk(p)
			st := reconcile.PolicyStatus(p, o, now)
			Expect(cond(st, "Ready")).To(Equal(w.ready))
			Expect(cond(st, "Progressing")).To(Equal(w.progressing))
			Expect(cond(st, "Degraded")).To(Equal(w.degraded))
			Expect(cond(st, "Stalled")).To(Equal(w.stalled))
			Expect(cond(st, "RebootRequired")).To(Equal(w.reboot))
			Expect(st.ObservedGeneration).To(Equal(w.observed))
			for _, c := range st.Conditions {
				Expect(c.ObservedGeneration).To(BeEquivalentTo(gen), c.Type)
				Expect(c.LastTransitionTime.Time).To(BeTemporally("==", now))
			}
			if w.message != "" {
				Expect(meta.FindStatusCondition(st.Conditions, "Ready").Message).To(ContainSubstring(w.message))
			}
			hs := reconcile.HostPolicyState(p, o)
			Expect(hs.State).To(BeEquivalentTo(w.state))
			Expect(hs.Name).To(Equal("web"))
			Expect(hs.ObservedGeneration).To(BeEquivalentTo(gen))
			Expect(hs.Pending).To(Equal(o.Plan.Pending))
			Expect(p.Status.Conditions).To(BeEmpty(), "the policy itself is not modified")
		},
		Entry("Compliant", base(pkg("curl", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				return outcome(p, observe().installed("curl", "7.88"), allCaps)
			},
			want{"True/Compliant", "False/Compliant", "False/Compliant", "False/Compliant", "False/NotRequired", gen, "Compliant", ""}),
		Entry("Applying", base(pkg("curl", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				o := outcome(p, observe(), allCaps)
				o.Running = true
				return o
			},
			want{"False/Applying", "True/Applying", "False/Applying", "False/Applying", "False/NotRequired", gen - 1, "Progressing", "1 changes pending"}),
		Entry("WaitingForWindow", base(pkg("curl", v1alpha1.PackagePresent, ""), maintenance(win("01:00", time.Hour, berlin, "Tue"))),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome { return outcome(p, observe(), allCaps) },
			want{"False/WaitingForWindow", "False/WaitingForWindow", "False/WaitingForWindow", "False/WaitingForWindow", "False/NotRequired", gen - 1, "WaitingForWindow", "window opens Tue"}),
		Entry("Drifted (Audit) is done", base(audit, pkg("curl", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome { return outcome(p, observe(), allCaps) },
			want{"False/Drifted", "False/Drifted", "False/Drifted", "False/Drifted", "False/NotRequired", gen, "Drifted", "audit"}),
		Entry("Audit without drift is Compliant", base(audit, pkg("curl", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				return outcome(p, observe().installed("curl", "7.88"), allCaps)
			},
			want{"True/Compliant", "False/Compliant", "False/Compliant", "False/Compliant", "False/NotRequired", gen, "Compliant", "no drift"}),
		Entry("waiting for a rollout slot or a lock", base(pkg("curl", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				o := outcome(p, observe(), allCaps)
				o.WaitingUntil = retry
				return o
			},
			want{"False/Applying", "True/Applying", "False/Applying", "False/Applying", "False/NotRequired", gen - 1, "Progressing", "waiting for the rollout (a slot, or its wave)"}),
		Entry("an unclassified step failure", base(pkg("curl", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				o := outcome(p, observe(), allCaps)
				o.StepFailure = &reconcile.StepFailure{Step: v1alpha1.StepUpgrade}
				return o
			},
			want{"False/StepFailed", "True/StepFailed", "True/StepFailed", "False/StepFailed", "False/NotRequired", gen - 1, "Failed", "upgrade step failed"}),
		Entry("Suspended", base(suspend, pkg("curl", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome { return outcome(p, observe(), allCaps) },
			want{"False/Suspended", "False/Suspended", "False/Suspended", "False/Suspended", "False/NotRequired", gen, "Suspended", "suspend"}),
		Entry("NotSelected is Ready", base(selector(map[string]string{"role": "db"})),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome { return outcome(p, observe(), allCaps) },
			want{"True/NotSelected", "False/NotSelected", "False/NotSelected", "False/NotSelected", "False/NotRequired", gen, "NotSelected", ""}),
		Entry("Conflict is Stalled and done", base(pkg("telnet", v1alpha1.PackageAbsent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				return outcome(p, observe().installed("telnet", "0.17"), allCaps, policy("legacy", pkg("telnet", v1alpha1.PackagePresent, "")))
			},
			want{"False/Conflict", "False/Conflict", "False/Conflict", "True/Conflict", "False/NotRequired", gen, "Stalled", "policy legacy"}),
		Entry("Conflict on one package while the rest applies", base(pkg("telnet", v1alpha1.PackageAbsent, ""), pkg("zsh", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				return outcome(p, observe().installed("telnet", "0.17"), allCaps, policy("legacy", pkg("telnet", v1alpha1.PackagePresent, "")))
			},
			want{"False/Applying", "True/Applying", "False/Applying", "True/Conflict", "False/NotRequired", gen - 1, "Progressing", ""}),
		Entry("VersionNotAvailable", base(pkg("openssl", v1alpha1.PackagePresent, "9.9")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome { return outcome(p, observe(), allCaps) },
			want{"False/VersionNotAvailable", "False/VersionNotAvailable", "False/VersionNotAvailable", "True/VersionNotAvailable", "False/NotRequired", gen, "Stalled", "9.9"}),
		Entry("Unsupported", base(pkg("docker-ce", v1alpha1.PackageHeld, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				return outcome(p, observe().installed("docker-ce", "27.1"), backends.Capabilities{})
			},
			want{"False/Unsupported", "False/Unsupported", "False/Unsupported", "True/Unsupported", "False/NotRequired", gen, "Stalled", "cannot hold"}),
		Entry("StepFailed: LockHeld", base(pkg("curl", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				o := outcome(p, observe(), allCaps)
				o.StepFailure = &reconcile.StepFailure{Step: v1alpha1.StepInstall, NextRetry: retry, Failure: backends.Failure{
					Reason: v1alpha1.FailureLockHeld, Message: "Could not get lock /var/lib/dpkg/lock-frontend", LockHolder: "unattended-upgr", LockHolderPID: 812}}
				return o
			},
			want{"False/StepFailed", "True/StepFailed", "True/LockHeld", "False/StepFailed", "False/NotRequired", gen - 1, "Failed", "unattended-upgr pid 812"}),
		Entry("StepFailed: DiskFull", base(pkg("curl", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				o := outcome(p, observe(), allCaps)
				o.StepFailure = &reconcile.StepFailure{Step: v1alpha1.StepInstall, NextRetry: retry, Failure: backends.Failure{
					Reason: v1alpha1.FailureDiskFull, Message: "No space left on device"}}
				return o
			},
			want{"False/StepFailed", "True/StepFailed", "True/DiskFull", "False/StepFailed", "False/NotRequired", gen - 1, "Failed", "install step failed (DiskFull): No space left on device; retrying at 2026-11-23T10:05:00Z"}),
		Entry("CacheRefreshFailed", base(pkg("curl", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				o := outcome(p, observe(), allCaps)
				o.CacheFailure = &reconcile.CacheFailure{Message: "Temporary failure resolving deb.debian.org", NextRetry: retry}
				return o
			},
			want{"False/CacheRefreshFailed", "True/CacheRefreshFailed", "True/CacheRefreshFailed", "False/CacheRefreshFailed", "False/NotRequired", gen - 1, "Failed", "deb.debian.org"}),
		Entry("RebootPending with IfRequired is not Ready yet", base(pkg("curl", v1alpha1.PackagePresent, ""), reboot(v1alpha1.RebootIfRequired, nil)),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				o := outcome(p, observe().installed("curl", "7.88"), allCaps)
				o.RebootRequired, o.RebootPackages, o.RebootAt = true, []string{"linux-image-6.1.0-27-amd64"}, retry
				return o
			},
			want{"False/RebootPending", "True/RebootPending", "False/RebootPending", "False/RebootPending", "True/RebootPending", gen - 1, "Progressing", "reboot pending"}),
		Entry("RebootRequired with reboot Never is Ready and says so", base(pkg("curl", v1alpha1.PackagePresent, "")),
			func(p *v1alpha1.PatchPolicy) reconcile.PassOutcome {
				o := outcome(p, observe().installed("curl", "7.88"), allCaps)
				o.RebootRequired, o.RebootPackages = true, []string{"linux-image-6.1.0-27-amd64"}
				return o
			},
			want{"True/Compliant", "False/Compliant", "False/Compliant", "False/Compliant", "True/RebootPending", gen, "Compliant", ""}),
	)

	It("reports pending changes, the plan, the next retry and host counts", func() {
		p := base(pkg("curl", v1alpha1.PackagePresent, ""), pkg("zsh", v1alpha1.PackagePresent, ""), maintenance(win("01:00", time.Hour, "UTC", "Tue")))
		o := outcome(p, observe().installed("curl", "7.88"), allCaps)
		o.LastOperation = "op-7f3a"
		st := reconcile.PolicyStatus(p, o, now)
		Expect(st.Pending).To(BeEquivalentTo(1))
		Expect(st.Plan).To(HaveLen(1), "satisfied items are left out")
		Expect(st.Plan[0].Package).To(Equal("zsh"))
		Expect(st.NextRetry.Time).To(BeTemporally("==", utc("2026-11-24T01:00:00Z")))
		Expect(st.LastOperation).To(Equal("op-7f3a"))
		Expect(st.Hosts).To(Equal(v1alpha1.HostCounts{Matched: 1, Progressing: 1}))
	})

	It("keeps a condition's transition time while its status holds", func() {
		p := base(pkg("curl", v1alpha1.PackagePresent, ""))
		o := outcome(p, observe(), allCaps)
		o.Running = true
		p.Status = reconcile.PolicyStatus(p, o, now)
		later := now.Add(time.Minute)
		o.StepFailure = &reconcile.StepFailure{Step: v1alpha1.StepInstall, Failure: backends.Failure{Reason: v1alpha1.FailureLockHeld}}
		st := reconcile.PolicyStatus(p, o, later)
		ready := meta.FindStatusCondition(st.Conditions, "Ready")
		Expect(ready.Reason).To(Equal("StepFailed"))
		Expect(ready.LastTransitionTime.Time).To(BeTemporally("==", now), "Ready stayed False")
		Expect(meta.FindStatusCondition(st.Conditions, "Degraded").LastTransitionTime.Time).To(BeTemporally("==", later))
	})

	It("advances observedGeneration once the generation converges", func() {
		p := base(pkg("curl", v1alpha1.PackagePresent, ""))
		o := outcome(p, observe(), allCaps)
		o.Running = true
		p.Status = reconcile.PolicyStatus(p, o, now)
		Expect(p.Status.ObservedGeneration).To(BeEquivalentTo(gen - 1))
		p.Status = reconcile.PolicyStatus(p, outcome(p, observe().installed("curl", "7.88"), allCaps), now)
		Expect(p.Status.ObservedGeneration).To(BeEquivalentTo(gen))
		Expect(p.Status.Pending).To(BeZero())
		Expect(p.Status.Plan).To(BeEmpty())
		Expect(p.Status.NextRetry).To(BeNil())
	})

	It("bounds long messages", func() {
		opts := []func(*v1alpha1.PatchPolicy){}
		for i := range 300 {
			opts = append(opts, pkg(fmt.Sprintf("pkg-%03d", i), v1alpha1.PackagePresent, "1.0"))
		}
		p := base(opts...)
		st := reconcile.PolicyStatus(p, outcome(p, observe(), allCaps), now)
		Expect(len(meta.FindStatusCondition(st.Conditions, "Stalled").Message)).To(BeNumerically("<=", 2100))
		Expect(st.Conditions).To(HaveLen(5))
	})
})
