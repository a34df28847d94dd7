package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	v1 "github.com/patchlet/patchlet/api/v1alpha1"
)

// crd is the part of a generated CustomResourceDefinition (config/crd,
// made by controller-gen from the markers of the *_types.go files) that
// the registry must agree with.
type crd struct {
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind       string   `json:"kind"`
			ListKind   string   `json:"listKind"`
			Plural     string   `json:"plural"`
			Singular   string   `json:"singular"`
			ShortNames []string `json:"shortNames"`
		} `json:"names"`
		Scope    string `json:"scope"`
		Versions []struct {
			Name                     string `json:"name"`
			AdditionalPrinterColumns []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				JSONPath string `json:"jsonPath"`
				Priority int32  `json:"priority"`
			} `json:"additionalPrinterColumns"`
			Subresources map[string]any `json:"subresources"`
		} `json:"versions"`
	} `json:"spec"`
}

func readCRD(resource string) crd {
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", v1.Group+"_"+resource+".yaml"))
	Expect(err).NotTo(HaveOccurred())
	var c crd
	Expect(yaml.Unmarshal(b, &c)).To(Succeed())
	Expect(c.Spec.Versions).To(HaveLen(1))
	return c
}

// printerColumnDifferences lists where the CRD's printer columns (what
// kubectl prints in fleet mode) and the registry's columns that name a
// JSONPath (what the agent serves) disagree.
func printerColumnDifferences(r v1.ResourceInfo) []string {
	var diffs []string
	crdCols := readCRD(r.Resource).Spec.Versions[0].AdditionalPrinterColumns
	if len(crdCols) == 0 {
		// kubectl prints Name and Age then.
		return []string{r.Resource + ": the CRD has no printer columns"}
	}
	var common []string
	for _, c := range r.Columns {
		if c.JSONPath == "" || c.Name == "Name" { // a CRD prints the name without a column of its own
			continue
		}
		i := slices.IndexFunc(crdCols, func(cc struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			JSONPath string `json:"jsonPath"`
			Priority int32  `json:"priority"`
		}) bool {
			return cc.Name == c.Name
		})
		if i < 0 {
			diffs = append(diffs, fmt.Sprintf("%s %s: not in the CRD", r.Resource, c.Name))
			continue
		}
		cc := crdCols[i]
		common = append(common, c.Name)
		if cc.JSONPath != c.JSONPath {
			diffs = append(diffs, fmt.Sprintf("%s %s: JSONPath %s, CRD %s", r.Resource, c.Name, c.JSONPath, cc.JSONPath))
		}
		if cc.Type != c.Type {
			diffs = append(diffs, fmt.Sprintf("%s %s: type %s, CRD %s", r.Resource, c.Name, c.Type, cc.Type))
		}
		if cc.Priority != c.Priority {
			diffs = append(diffs, fmt.Sprintf("%s %s: priority %d, CRD %d", r.Resource, c.Name, c.Priority, cc.Priority))
		}
	}
	var crdOrder []string
	for _, cc := range crdCols {
		if slices.Contains(common, cc.Name) {
			crdOrder = append(crdOrder, cc.Name)
			continue
		}
		diffs = append(diffs, fmt.Sprintf("%s: CRD column %s (%s) has no column in the registry", r.Resource, cc.Name, cc.JSONPath))
	}
	if !slices.Equal(common, crdOrder) {
		diffs = append(diffs, fmt.Sprintf("%s: columns in the order %v, CRD %v", r.Resource, common, crdOrder))
	}
	return diffs
}

var _ = Describe("Resources", func() {
	It("names every kind of the package once", func() {
		var kinds, resources []string
		for _, r := range v1.Resources {
			kinds = append(kinds, r.Kind)
			resources = append(resources, r.Resource)
			Expect(fmt.Sprintf("%T", r.NewObject())).To(Equal("*v1alpha1." + r.Kind))
			Expect(fmt.Sprintf("%T", r.NewList())).To(Equal(fmt.Sprintf("%T", r.NewObject()) + "List"))
		}
		Expect(kinds).To(Equal([]string{v1.KindPatchPolicy, v1.KindHost, v1.KindOperation}))
		Expect(resources).To(Equal([]string{v1.ResourcePatchPolicies, v1.ResourceHosts, v1.ResourceOperations}))
	})

	DescribeTable("agrees with the CRD controller-gen generated",
		func(resource string) {
			r, ok := v1.LookupResource(resource)
			Expect(ok).To(BeTrue())
			c := readCRD(resource)
			Expect(c.Spec.Group).To(Equal(v1.Group))
			Expect(c.Spec.Names.Kind).To(Equal(r.Kind))
			Expect(c.Spec.Names.ListKind).To(Equal(r.ListKind))
			Expect(c.Spec.Names.Plural).To(Equal(r.Resource))
			Expect(c.Spec.Names.Singular).To(Equal(r.Singular))
			Expect(c.Spec.Names.ShortNames).To(Equal(r.ShortNames))
			Expect(c.Spec.Scope).To(Equal("Cluster"))
			Expect(r.Namespaced).To(BeFalse())
			Expect(c.Spec.Versions[0].Name).To(Equal(v1.Version))
			Expect(c.Spec.Versions[0].Subresources).To(HaveKey(v1.SubresourceStatus))
			Expect(r.HasSubresource(v1.SubresourceStatus)).To(BeTrue())
		},
		Entry("patchpolicies", v1.ResourcePatchPolicies),
		Entry("hosts", v1.ResourceHosts),
		Entry("operations", v1.ResourceOperations),
	)

	// The CRD's printer columns (kubectl get in fleet mode) are the
	// registry's: the +kubebuilder:printcolumn markers mirror every column
	// that has a JSONPath, in the same order, type and priority.
	It("has the CRD's printer columns", func() {
		var diffs []string
		for _, r := range v1.Resources {
			diffs = append(diffs, printerColumnDifferences(r)...)
		}
		Expect(diffs).To(BeEmpty())
	})

	DescribeTable("finds a resource by any name a user types",
		func(name, want string) {
			r, ok := v1.ResourceNamed(name)
			Expect(ok).To(BeTrue())
			Expect(r.Resource).To(Equal(want))
		},
		Entry(nil, "pp", v1.ResourcePatchPolicies),
		Entry(nil, "PatchPolicy", v1.ResourcePatchPolicies),
		Entry(nil, "policies", v1.ResourcePatchPolicies),
		Entry(nil, "patchpolicies.patchlet.io", v1.ResourcePatchPolicies),
		Entry(nil, "HOST", v1.ResourceHosts),
		Entry(nil, "ops", v1.ResourceOperations),
		Entry(nil, "op", v1.ResourceOperations),
	)

	It("finds nothing for other names", func() {
		for _, n := range []string{"pods", "p", "hosts.example.com", ""} {
			_, ok := v1.ResourceNamed(n)
			Expect(ok).To(BeFalse(), n)
		}
		_, ok := v1.LookupResource("pp")
		Expect(ok).To(BeFalse())
		_, ok = v1.ResourceOfKind("Pod")
		Expect(ok).To(BeFalse())
	})

	Describe("table rows", func() {
		now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
		created := metav1.NewTime(now.Add(-49 * time.Hour))
		cells := func(resource string, o v1.Object) []any {
			r, _ := v1.LookupResource(resource)
			Expect(r.TableColumns()).To(HaveLen(len(r.Columns)))
			return r.TableCells(o, now)
		}

		It("renders a policy with its defaults and its Ready condition", func() {
			p := &v1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: created}}
			p.Status.Pending = 3
			p.Status.Hosts = v1.HostCounts{Matched: 2, Compliant: 1, RebootRequired: 1}
			p.Status.Conditions = []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionFalse, Reason: "WaitingForWindow", Message: "3 pending"}}
			Expect(cells(v1.ResourcePatchPolicies, p)).To(Equal([]any{"web", "False", "Enforce", int64(3), "True", "2d1h", int64(2), int64(1), int64(0), nil, "WaitingForWindow", "3 pending"}))
		})

		It("renders a host", func() {
			h := &v1.Host{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}}
			h.Status.Backend = &v1.BackendInfo{Name: "apt"}
			h.Status.OS = v1.OSInfo{ID: "debian", VersionID: "12", Kernel: "6.1.0"}
			h.Status.Packages.Upgradable, h.Status.Packages.Security, h.Status.Packages.Installed = 11, 3, 400
			Expect(cells(v1.ResourceHosts, h)).To(Equal([]any{"web-1", "apt", "debian 12", "", int64(11), int64(3), "False", "<unknown>", "12", "6.1.0", int64(400)}))
		})

		It("renders an operation", func() {
			exit := int32(1)
			op := &v1.Operation{ObjectMeta: metav1.ObjectMeta{Name: "op-1", CreationTimestamp: created},
				Spec:   v1.OperationSpec{Step: v1.StepUpgrade, Policy: "web", Host: "web-1", Packages: []string{"a", "b"}},
				Status: v1.OperationStatus{Phase: v1.OperationFailed, ExitCode: &exit, Reason: "Failed"}}
			Expect(cells(v1.ResourceOperations, op)).To(Equal([]any{"op-1", "Upgrade", "Failed", "1", "web", "2d1h", "web-1", "Failed", "a,b"}))
		})
	})
})
