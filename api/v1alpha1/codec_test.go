package v1alpha1_test

import (
	"encoding/json"
	"errors"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	v1 "github.com/patchlet/patchlet/api/v1alpha1"
)

// decodeErr decodes doc and returns its *DecodeError (failing if there is none).
func decodeErr(doc string) *v1.DecodeError {
	GinkgoHelper()
	obj, err := v1.Decode([]byte(doc))
	Expect(err).To(HaveOccurred(), "decoded %#v", obj)
	Expect(obj).To(BeNil())
	var de *v1.DecodeError
	Expect(errors.As(err, &de)).To(BeTrue(), "error %T: %v", err, err)
	return de
}

// fieldErr is a field and its error type, for matching DecodeError.Fields.
type fieldErr struct {
	Field string
	Type  field.ErrorType
}

func fieldErrs(errs field.ErrorList) []fieldErr {
	out := make([]fieldErr, 0, len(errs))
	for _, e := range errs {
		out = append(out, fieldErr{e.Field, e.Type})
	}
	return out
}

const policyHead = "apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata:\n  name: web\n"

var _ = Describe("strict decoding", func() {
	It("decodes the policy of the design document", func() {
		obj, err := v1.Decode([]byte(policyHead + `spec:
  hostSelector: {matchLabels: {role: web}}
  updates: {apply: Security, exclude: ["linux-image-*"]}
  packages:
  - {name: openssl, version: "3.0.15-1~deb12u1"}   # pinned
  - {name: docker-ce, state: Held}
  cache: {maxAge: 4h}
  maintenanceWindow: {days: [Mon, Tue, Wed, Thu], start: "01:00", duration: 3h, timeZone: Europe/Berlin}
  reboot: {policy: IfRequired, window: {days: [Sun], start: "02:00", duration: 2h, timeZone: Europe/Berlin}}
  rollout: {maxConcurrent: 10%, maxFailures: 2}
`))
		Expect(err).NotTo(HaveOccurred())
		p := obj.(*v1.PatchPolicy)
		Expect(p.Name).To(Equal("web"))
		Expect(p.Spec.Packages).To(Equal([]v1.PackageSpec{
			{Name: "openssl", Version: "3.0.15-1~deb12u1"}, {Name: "docker-ce", State: v1.PackageHeld}}))
		Expect(p.Spec.Cache.MaxAge.Get()).To(Equal(4 * time.Hour))
		Expect(*p.Spec.Rollout.MaxConcurrent).To(Equal(intstr.FromString("10%")))
		Expect(*p.Spec.Rollout.MaxFailures).To(Equal(intstr.FromInt32(2)))
		Expect(p.Spec.Reboot.Window.Days).To(Equal([]v1.Weekday{"Sun"}))
		p.SetDefaults()
		Expect(p.Validate()).To(BeEmpty())
	})

	DescribeTable("names every unknown field",
		func(doc string, want ...fieldErr) {
			Expect(fieldErrs(decodeErr(doc).Fields)).To(ConsistOf(want))
		},
		Entry("spec.foo", policyHead+"spec:\n  foo: 1\n", fieldErr{"spec.foo", field.ErrorTypeForbidden}),
		Entry("a nested field", policyHead+"spec:\n  packages: [{name: x, bar: 2}]\n",
			fieldErr{"spec.packages[0].bar", field.ErrorTypeForbidden}),
		Entry("a misspelt top-level field", policyHead+"specs: {}\n", fieldErr{"specs", field.ErrorTypeForbidden}),
		Entry("a field differing only in case", policyHead+"Spec: {mode: Audit}\n", fieldErr{"Spec", field.ErrorTypeForbidden}),
		Entry("a lowercase key of a camelCase field", policyHead+"spec:\n  maintenancewindow: {start: '01:00', duration: 1h}\n",
			fieldErr{"spec.maintenancewindow", field.ErrorTypeForbidden}),
		Entry("a metadata field", policyHead+"  nmae: x\n", fieldErr{"metadata.nmae", field.ErrorTypeForbidden}),
		Entry("several at once", policyHead+"spec:\n  foo: 1\n  reboot: {policy: Never, when: now}\n",
			fieldErr{"spec.foo", field.ErrorTypeForbidden}, fieldErr{"spec.reboot.when", field.ErrorTypeForbidden}),
		Entry("in JSON", `{"apiVersion":"patchlet.io/v1alpha1","kind":"Host","metadata":{"name":"h"},"status":{"os":{"kernal":"6.1"}}}`,
			fieldErr{"status.os.kernal", field.ErrorTypeForbidden}),
		Entry("spec on a Host", "apiVersion: patchlet.io/v1alpha1\nkind: Host\nmetadata: {name: h}\nspec: {}\n",
			fieldErr{"spec", field.ErrorTypeForbidden}),
	)

	DescribeTable("names a duplicate key in JSON",
		func(doc, path string) {
			Expect(fieldErrs(decodeErr(doc).Fields)).To(ContainElement(fieldErr{path, field.ErrorTypeDuplicate}))
		},
		Entry("spec.mode", `{"apiVersion":"patchlet.io/v1alpha1","kind":"PatchPolicy","metadata":{"name":"a"},"spec":{"mode":"Audit","mode":"Enforce"}}`, "spec.mode"),
		Entry("kind", `{"apiVersion":"patchlet.io/v1alpha1","kind":"Host","kind":"PatchPolicy","metadata":{"name":"a"}}`, "kind"),
		Entry("a package field", `{"apiVersion":"patchlet.io/v1alpha1","kind":"PatchPolicy","metadata":{"name":"a"},"spec":{"packages":[{"name":"a","name":"-x"}]}}`, "spec.packages[0].name"),
		Entry("metadata.name", " \n{\"apiVersion\":\"patchlet.io/v1alpha1\",\"kind\":\"Host\",\"metadata\":{\"name\":\"a\",\"name\":\"b\"}}\n", "metadata.name"),
	)

	DescribeTable("names a duplicate key in YAML by path and line",
		func(doc, path, line string) {
			de := decodeErr(doc)
			Expect(fieldErrs(de.Fields)).To(ConsistOf(fieldErr{path, field.ErrorTypeDuplicate}))
			Expect(de.Error()).To(ContainSubstring(path))
			Expect(de.Err).To(MatchError(ContainSubstring("line " + line)))
			Expect(de.Error()).To(ContainSubstring("already set in this mapping (line " + line + ")"))
		},
		Entry("spec.mode", policyHead+"spec:\n  mode: Audit\n  mode: Enforce\n", "spec.mode", "7"),
		Entry("kind", policyHead+"kind: Host\n", "kind", "5"),
		Entry("a package name", policyHead+"spec:\n  packages:\n  - name: openssl\n    name: -oAPT::Get::x=1\n", "spec.packages[0].name", "8"),
		Entry("in a flow mapping", policyHead+"spec: {mode: Audit, mode: Enforce}\n", "spec.mode", "5"),
		Entry("a quoted key", policyHead+"spec:\n  mode: Audit\n  'mode': Enforce\n", "spec.mode", "7"),
	)

	DescribeTable("names a wrong apiVersion or kind",
		func(doc string, want ...string) {
			Expect(fieldsOf(decodeErr(doc).Fields)).To(ConsistOf(want))
		},
		Entry("another group", "apiVersion: apps/v1\nkind: PatchPolicy\nmetadata: {name: a}\n", "apiVersion"),
		Entry("another version", "apiVersion: patchlet.io/v1\nkind: PatchPolicy\nmetadata: {name: a}\n", "apiVersion"),
		Entry("no apiVersion", "kind: PatchPolicy\nmetadata: {name: a}\n", "apiVersion"),
		Entry("an unknown kind", "apiVersion: patchlet.io/v1alpha1\nkind: Pod\nmetadata: {name: a}\n", "kind"),
		Entry("a lowercase kind", "apiVersion: patchlet.io/v1alpha1\nkind: patchpolicy\nmetadata: {name: a}\n", "kind"),
		Entry("a list kind", "apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicyList\nitems: []\n", "kind"),
		Entry("neither", "metadata: {name: a}\n", "apiVersion", "kind"),
		Entry("a Kubernetes Pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n", "apiVersion", "kind"),
		Entry("null", "null\n", "apiVersion", "kind"),
	)

	DescribeTable("reports a document that is not an object or has a wrong type",
		func(doc string) {
			de := decodeErr(doc)
			Expect(de.Fields).To(BeEmpty())
			Expect(de.Err).To(HaveOccurred())
			Expect(de.Error()).To(HavePrefix("decoding error: "))
		},
		Entry("a list", "- a\n- b\n"),
		Entry("a scalar", "hello\n"),
		Entry("broken YAML", "apiVersion: [\n"),
		Entry("broken JSON", `{"apiVersion": "patchlet.io/v1alpha1",`),
		Entry("a string for a list", policyHead+"spec:\n  packages: openssl\n"),
		Entry("a number for a name", policyHead+"spec:\n  packages: [{name: 1}]\n"),
		Entry("a fractional count", policyHead+"spec:\n  rollout: {maxConcurrent: 1.5}\n"),
		Entry("a tab-indented document", "apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata:\n\tname: a\n"),
	)

	It("decodes a YAML flow mapping that starts with a brace", func() {
		obj, err := v1.Decode([]byte("{apiVersion: patchlet.io/v1alpha1, kind: Host, metadata: {name: web-1}}\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(obj.GetName()).To(Equal("web-1"))
		Expect(obj).To(BeAssignableToTypeOf(&v1.Host{}))
	})

	It("refuses a document larger than MaxDocumentSize", func() {
		doc := policyHead + "# " + strings.Repeat("x", v1.MaxDocumentSize) + "\n"
		de := decodeErr(doc)
		Expect(de.Error()).To(ContainSubstring("larger than the limit"))
	})

	Describe("DecodeInto", func() {
		It("fills in an empty apiVersion and kind", func() {
			var p v1.PatchPolicy
			Expect(v1.DecodeInto([]byte("metadata: {name: a}\nspec: {mode: Audit}\n"), &p, v1.KindPatchPolicy)).To(Succeed())
			Expect(p.APIVersion).To(Equal("patchlet.io/v1alpha1"))
			Expect(p.Kind).To(Equal(v1.KindPatchPolicy))
			Expect(p.Spec.Mode).To(Equal(v1.ModeAudit))
		})

		It("names a kind that differs from the one expected", func() {
			var p v1.PatchPolicy
			err := v1.DecodeInto([]byte("apiVersion: patchlet.io/v1alpha1\nkind: Host\nmetadata: {name: a}\n"), &p, v1.KindPatchPolicy)
			var de *v1.DecodeError
			Expect(errors.As(err, &de)).To(BeTrue())
			Expect(fieldsOf(de.Fields)).To(ConsistOf("kind"))
		})

		It("names unknown fields", func() {
			var h v1.Host
			err := v1.DecodeInto([]byte("metadata: {name: a}\nstatus: {rebootRequired: {required: true, why: x}}\n"), &h, v1.KindHost)
			var de *v1.DecodeError
			Expect(errors.As(err, &de)).To(BeTrue())
			Expect(fieldsOf(de.Fields)).To(ConsistOf("status.rebootRequired.why"))
		})
	})
})

var _ = Describe("SplitDocuments", func() {
	It("splits a stream and drops empty and comment-only documents", func() {
		stream := `# policies for the web tier
---
---
# nothing here
...
---
apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata: {name: one}   # first
---

# the second one
apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata: {name: two}
---
   
---
`
		docs, err := v1.SplitDocuments([]byte(stream))
		Expect(err).NotTo(HaveOccurred())
		Expect(docs).To(HaveLen(2))
		var names []string
		for _, d := range docs {
			obj, err := v1.Decode(d)
			Expect(err).NotTo(HaveOccurred(), "%q", d)
			names = append(names, obj.GetName())
		}
		Expect(names).To(Equal([]string{"one", "two"}))
	})

	It("returns one document for a JSON object", func() {
		docs, err := v1.SplitDocuments([]byte(`{"apiVersion":"patchlet.io/v1alpha1","kind":"Host","metadata":{"name":"h"}}`))
		Expect(err).NotTo(HaveOccurred())
		Expect(docs).To(HaveLen(1))
		_, err = v1.Decode(docs[0])
		Expect(err).NotTo(HaveOccurred())
	})

	It("splits documents with CRLF line endings", func() {
		docs, err := v1.SplitDocuments([]byte("apiVersion: patchlet.io/v1alpha1\r\nkind: Host\r\nmetadata: {name: a}\r\n---\r\napiVersion: patchlet.io/v1alpha1\r\nkind: Host\r\nmetadata: {name: b}\r\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(docs).To(HaveLen(2))
		for _, d := range docs {
			_, err := v1.Decode(d)
			Expect(err).NotTo(HaveOccurred())
		}
	})

	It("returns nothing for an empty or comment-only stream", func() {
		for _, s := range []string{"", "\n\n", "# just a comment\n", "---\n---\n", "---\n# c\n...\n"} {
			docs, err := v1.SplitDocuments([]byte(s))
			Expect(err).NotTo(HaveOccurred())
			Expect(docs).To(BeEmpty(), "%q", s)
		}
	})
})

// fullObjects returns one object of every kind with every field set.
func fullObjects() []v1.Object {
	t1 := metav1.NewTime(time.Date(2026, 11, 22, 9, 12, 3, 0, time.UTC))
	t2 := metav1.NewTime(time.Date(2026, 11, 22, 9, 14, 40, 0, time.UTC))
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, UID: "6f1c4c7e-2f0e-4d3b-9b0a-1d2e3f4a5b6c", ResourceVersion: "42", Generation: 4,
			CreationTimestamp: t1, Labels: map[string]string{"role": "web"},
			Annotations: map[string]string{v1.AnnotationSourceFile: "/etc/patchlet/policies.d/web.yaml"}}
	}
	cond := []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionFalse, ObservedGeneration: 4,
		LastTransitionTime: t2, Reason: "WaitingForWindow", Message: "3 security updates pending; window opens Mon 01:00 CET"}}
	p := &v1.PatchPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "patchlet.io/v1alpha1", Kind: v1.KindPatchPolicy},
		ObjectMeta: meta("web-security"),
		Spec: v1.PatchPolicySpec{
			HostSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "web"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod"}}}},
			Packages:          []v1.PackageSpec{{Name: "openssl", Version: "3.0.15-1~deb12u1", State: v1.PackagePresent}, {Name: "docker-ce", State: v1.PackageHeld}},
			Updates:           &v1.UpdatesSpec{Apply: v1.UpdatesSecurity, Exclude: []string{"linux-image-*"}},
			Cache:             &v1.CacheSpec{MaxAge: v1.DurationPtr(4 * time.Hour)},
			Reboot:            &v1.RebootSpec{Policy: v1.RebootIfRequired, Window: &v1.TimeWindow{Days: []v1.Weekday{"Sun"}, Start: "02:00", Duration: v1.NewDuration(2 * time.Hour), TimeZone: "Europe/Berlin"}},
			MaintenanceWindow: &v1.TimeWindow{Days: []v1.Weekday{"Mon", "Tue"}, Start: "01:00", Duration: v1.NewDuration(90 * time.Minute), TimeZone: "UTC"},
			Mode:              v1.ModeAudit,
			Suspend:           true,
			Rollout:           &v1.RolloutSpec{MaxConcurrent: ptr(intstr.FromString("10%")), MaxFailures: ptr(intstr.FromInt32(2))},
		},
		Status: v1.PatchPolicyStatus{
			ObservedGeneration: 4, Conditions: cond,
			Hosts:   v1.HostCounts{Matched: 5, Compliant: 1, Progressing: 2, Failed: 1, RebootRequired: 1},
			Pending: 3,
			Plan: []v1.PlanItem{{Package: "openssl", Action: v1.ActionUpgrade, From: "3.0.14-1~deb12u1", To: "3.0.15-1~deb12u1",
				Reason: "SecurityUpdate", Message: "DSA-5800-1"}},
			LastOperation: "op-7f3a", NextRetry: &t2,
		},
	}
	exit := int32(100)
	h := &v1.Host{
		TypeMeta:   metav1.TypeMeta{APIVersion: "patchlet.io/v1alpha1", Kind: v1.KindHost},
		ObjectMeta: meta("web-1"),
		Status: v1.HostStatus{
			OS:       v1.OSInfo{ID: "debian", IDLike: "", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)", Kernel: "6.1.0-26-amd64"},
			Backend:  &v1.BackendInfo{Name: "apt", Reason: "ID=debian in /etc/os-release"},
			Cache:    v1.CacheStatus{LastRefresh: &t1, State: v1.CacheFresh, Message: "ok"},
			Packages: v1.PackageCounts{Installed: 856, Upgradable: 11, Security: 3},
			Upgradable: []v1.UpgradablePackage{{Name: "linux-image-6.1.0-27-amd64", From: "", To: "6.1.115-1",
				Source: "bookworm-security", Security: true}},
			RebootRequired: v1.RebootStatus{Required: true, Since: &t2, Packages: []string{"linux-image-6.1.0-27-amd64"}, BootID: "b00t"},
			Policies: []v1.HostPolicyStatus{{Name: "web-security", ObservedGeneration: 4, State: "WaitingForWindow", Pending: 3,
				Message: "window opens Mon 01:00", LastOperation: "op-7f3a"}},
			Conditions: cond,
		},
	}
	o := &v1.Operation{
		TypeMeta:   metav1.TypeMeta{APIVersion: "patchlet.io/v1alpha1", Kind: v1.KindOperation},
		ObjectMeta: meta("op-7f3a"),
		Spec: v1.OperationSpec{Policy: "web-security", Host: "web-1", Step: v1.StepInstall, Backend: "apt",
			Argv:     []string{"/usr/bin/apt-get", "-y", "install", "--", "openssl=3.0.15-1~deb12u1"},
			Packages: []string{"openssl"}},
		Status: v1.OperationStatus{Phase: v1.OperationFailed, Reason: "LockHeld", Message: "E: Could not get lock",
			StartedAt: &t1, FinishedAt: &t2, ExitCode: &exit, Attempts: 2, PID: 4242, OutputTail: "line 1\nline 2 \"quoted\" ünïcödé\n"},
	}
	return []v1.Object{p, h, o}
}

var _ = Describe("round trip", func() {
	for _, obj := range fullObjects() {
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		encoders := map[string]func(any) ([]byte, error){"JSON": json.Marshal, "YAML": yaml.Marshal}
		for format, encode := range encoders {
			It("decodes an encoded "+kind+" to an equal object in "+format, func() {
				b, err := encode(obj)
				Expect(err).NotTo(HaveOccurred())
				back, err := v1.Decode(b)
				Expect(err).NotTo(HaveOccurred(), string(b))
				Expect(equality.Semantic.DeepEqual(back, obj)).To(BeTrue(), "%s", b)
				again, err := encode(back)
				Expect(err).NotTo(HaveOccurred())
				Expect(string(again)).To(Equal(string(b)))
			})
		}
	}

	It("fills every field of the round-trip objects", func() {
		// A field added to the types but not to fullObjects would escape the round trip.
		for _, obj := range fullObjects() {
			b, err := json.Marshal(obj)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(b)).NotTo(ContainSubstring(`:""`))
			Expect(string(b)).NotTo(ContainSubstring(`:0,`))
			Expect(string(b)).NotTo(ContainSubstring(`:null`))
		}
	})
})
