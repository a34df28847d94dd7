package main

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

var _ = Describe("parseWaitFor", func() {
	DescribeTable("accepts kubectl's forms",
		func(in string, want waitFor) {
			got, err := parseWaitFor(in)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry("condition defaults to True", "condition=Ready", waitFor{condType: "Ready", status: "True"}),
		Entry("explicit status, any case", "condition=Ready=false", waitFor{condType: "Ready", status: "False"}),
		Entry("Unknown", "condition=RebootRequired=Unknown", waitFor{condType: "RebootRequired", status: "Unknown"}),
		Entry("delete", "delete", waitFor{delete: true}),
	)
	It("parses a JSONPath and the value it must render", func() {
		got, err := parseWaitFor("jsonpath={.status.phase}=Succeeded")
		Expect(err).NotTo(HaveOccurred())
		Expect(got.jsonExpr).To(Equal("{.status.phase}"))
		Expect(got.jsonValue).To(Equal("Succeeded"))
		op := &v1alpha1.Operation{Status: v1alpha1.OperationStatus{Phase: v1alpha1.OperationRunning}}
		met, state := conditionState(op, got)
		Expect(met).To(BeFalse())
		Expect(state).To(Equal(`{.status.phase} is "Running"`))
		op.Status.Phase = v1alpha1.OperationSucceeded
		met, _ = conditionState(op, got)
		Expect(met).To(BeTrue())
		met, state = conditionState(&v1alpha1.Operation{}, got)
		Expect(met).To(BeFalse())
		Expect(state).To(Equal("{.status.phase} is not set"))
	})

	DescribeTable("rejects the rest",
		func(in string) {
			_, err := parseWaitFor(in)
			Expect(err).To(HaveOccurred())
		},
		Entry("no prefix", "Ready"),
		Entry("empty type", "condition="),
		Entry("bad status", "condition=Ready=yes"),
		Entry("jsonpath without a value", "jsonpath={.status.phase}"),
		Entry("bad jsonpath", "jsonpath={.status[}=x"),
	)
})

var _ = Describe("conditionState", func() {
	policy := func(gen, observed int64, conds ...metav1.Condition) *v1alpha1.PatchPolicy {
		return &v1alpha1.PatchPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: gen},
			Status:     v1alpha1.PatchPolicyStatus{ObservedGeneration: observed, Conditions: conds},
		}
	}
	ready := func(status metav1.ConditionStatus, gen int64) metav1.Condition {
		return metav1.Condition{Type: "Ready", Status: status, ObservedGeneration: gen, Reason: "Compliant", Message: "all done"}
	}
	wantReady := waitFor{condType: "Ready", status: "True"}

	DescribeTable("honours observedGeneration like kubectl",
		func(obj v1alpha1.Object, want waitFor, met bool, state string) {
			gotMet, gotState := conditionState(obj, want)
			Expect(gotMet).To(Equal(met))
			Expect(gotState).To(ContainSubstring(state))
		},
		Entry("met", policy(2, 2, ready(metav1.ConditionTrue, 2)), wantReady, true, "Ready=True (Compliant: all done)"),
		Entry("condition without its own generation", policy(2, 2, ready(metav1.ConditionTrue, 0)), wantReady, true, "Ready=True"),
		Entry("status of an older generation", policy(3, 2, ready(metav1.ConditionTrue, 2)), wantReady, false, "status.observedGeneration is 2, metadata.generation 3"),
		Entry("condition of an older generation", policy(3, 3, ready(metav1.ConditionTrue, 2)), wantReady, false, "observed at generation 2, metadata.generation 3"),
		Entry("wrong status", policy(1, 1, ready(metav1.ConditionFalse, 1)), wantReady, false, "Ready=False"),
		Entry("waiting for False", policy(1, 1, ready(metav1.ConditionFalse, 1)), waitFor{condType: "ready", status: "False"}, true, "Ready=False"),
		Entry("not reported", policy(1, 1), wantReady, false, "condition Ready not reported yet"),
		Entry("host without observedGeneration",
			&v1alpha1.Host{ObjectMeta: metav1.ObjectMeta{Generation: 1}, Status: v1alpha1.HostStatus{Conditions: []metav1.Condition{ready(metav1.ConditionTrue, 0)}}},
			wantReady, true, "Ready=True"),
		Entry("operation", &v1alpha1.Operation{Status: v1alpha1.OperationStatus{Phase: v1alpha1.OperationRunning}}, wantReady, false, "operations have no conditions (phase is Running)"),
	)
})

var _ = Describe("tables", func() {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	created := metav1.NewTime(now.Add(-49 * time.Hour))

	It("renders a suspended audit policy and defaults", func() {
		p := &v1alpha1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: created},
			Spec: v1alpha1.PatchPolicySpec{Mode: v1alpha1.ModeAudit, Suspend: true}}
		Expect(tableRow(p, false, now)).To(Equal([]string{"web", "Unknown", "Audit,Suspended", "0", "Unknown", "2d1h"}))
	})

	It("renders an operation's duration and argv when wide", func() {
		exit := int32(1)
		op := &v1alpha1.Operation{ObjectMeta: metav1.ObjectMeta{Name: "op-1", CreationTimestamp: created},
			Spec: v1alpha1.OperationSpec{Step: v1alpha1.StepRefresh, Argv: []string{"apt-get", "update"}},
			Status: v1alpha1.OperationStatus{Phase: v1alpha1.OperationFailed, ExitCode: &exit, Attempts: 2,
				StartedAt: &metav1.Time{Time: now.Add(-95 * time.Second)}, FinishedAt: &metav1.Time{Time: now.Add(-5 * time.Second)}}}
		Expect(tableRow(op, true, now)).To(Equal([]string{"op-1", "Refresh", "Failed", "1", "<none>", "2d1h", "90s", "2", "apt-get update"}))
		Expect(tableColumns(v1alpha1.KindOperation, true)).To(HaveLen(9))
	})

	DescribeTable("ages like kubectl",
		func(d time.Duration, want string) {
			Expect(age(metav1.NewTime(now.Add(-d)), now)).To(Equal(want))
		},
		Entry("seconds", 5*time.Second, "5s"),
		Entry("minutes and seconds", 3*time.Minute+12*time.Second, "3m12s"),
		Entry("minutes", 42*time.Minute, "42m"),
		Entry("hours", 5*time.Hour, "5h"),
		Entry("days", 50*time.Hour, "2d2h"),
		Entry("many days", 20*24*time.Hour, "20d"),
	)

	It("quotes only what a shell would misread", func() {
		Expect(shellJoin([]string{"apt-get", "-o", "Dpkg::Options::=--force-confold", "install", "openssl=3.0.15-1~deb12u1", "it's", "~home"})).
			To(Equal(`apt-get -o Dpkg::Options::=--force-confold install openssl=3.0.15-1~deb12u1 'it'\''s' '~home'`))
	})
})

var _ = Describe("parseRefs", func() {
	It("accepts KIND NAME and KIND/NAME and aliases", func() {
		k, refs, err := parseRefs([]string{"PP", "a", "b"}, true)
		Expect(err).NotTo(HaveOccurred())
		Expect(k.resource).To(Equal("patchpolicies"))
		Expect(refs).To(HaveLen(2))
		_, refs, err = parseRefs([]string{"op/x", "host/y"}, true)
		Expect(err).NotTo(HaveOccurred())
		Expect(refs[0].String()).To(Equal("operation/x"))
		Expect(refs[1].String()).To(Equal("host/y"))
	})
	It("rejects mixtures and unknown types as usage errors", func() {
		for _, args := range [][]string{{"pp/a", "b"}, {"pp", "pp/a"}, {"pods/a"}, {"pp"}} {
			_, _, err := parseRefs(args, true)
			Expect(err).To(BeAssignableToTypeOf(usageError{}), "%v", args)
		}
	})
})
