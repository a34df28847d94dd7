package main

import (
	"strings"
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

	table := func() *metav1.Table {
		return &metav1.Table{
			ColumnDefinitions: []metav1.TableColumnDefinition{
				{Name: "Name", Type: "string", Format: "name"},
				{Name: "Exit", Type: "string"},
				{Name: "Pending", Type: "integer"},
				{Name: "Age", Type: "date"},
				{Name: "Message", Type: "string", Priority: 1},
			},
			Rows: []metav1.TableRow{
				{Cells: []any{"op-1", "1", float64(1234567), "2d1h", "first line\nsecond line"}},
				{Cells: []any{"op-2", "", float64(0), "5s", nil}},
			},
		}
	}

	It("prints the server's columns of priority 0, upper case, with <none> for empty cells", func() {
		var b strings.Builder
		Expect((&tablePrinter{w: &b}).print(table())).To(Succeed())
		Expect(b.String()).To(Equal("" +
			"NAME   EXIT     PENDING   AGE\n" +
			"op-1   1        1234567   2d1h\n" +
			"op-2   <none>   0         5s\n"))
	})

	It("adds the wide columns, cuts a cell at its first line break, and prints the header once", func() {
		var b strings.Builder
		p := &tablePrinter{w: &b, wide: true}
		Expect(p.print(table())).To(Succeed())
		t := table()
		t.Rows = t.Rows[:1]
		Expect(p.print(t)).To(Succeed())
		ls := lines(b.String())
		Expect(ls).To(HaveLen(4))
		Expect(columns(ls[0])).To(Equal([]string{"NAME", "EXIT", "PENDING", "AGE", "MESSAGE"}))
		Expect(columns(ls[1])).To(Equal([]string{"op-1", "1", "1234567", "2d1h", "first line …"}))
		Expect(columns(ls[2])).To(Equal([]string{"op-2", "<none>", "0", "5s", "<none>"}))
		Expect(columns(ls[3])).To(Equal([]string{"op-1", "1", "1234567", "2d1h", "first line …"}))
	})

	It("leaves the header out with --no-headers", func() {
		var b strings.Builder
		Expect((&tablePrinter{w: &b, noHeaders: true}).print(table())).To(Succeed())
		Expect(b.String()).NotTo(ContainSubstring("NAME"))
		Expect(lines(b.String())).To(HaveLen(2))
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
		Expect(k.Resource).To(Equal("patchpolicies"))
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
