package fleet

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

func clusterPolicy(name, role string, gen int64, pkg string) *v1alpha1.PatchPolicy {
	p := &v1alpha1.PatchPolicy{}
	p.Name = name
	p.Generation = gen
	p.ResourceVersion = "77"
	p.Spec.HostSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"role": role}}
	p.Spec.Packages = []v1alpha1.PackageSpec{{Name: pkg}}
	p.Status.Hosts.Matched = 9
	return p
}

var _ = Describe("mirroring cluster policies", func() {
	labels := map[string]string{"role": "web"}

	It("copies the selecting policies with the source and generation, without status", func() {
		p := computeMirror([]*v1alpha1.PatchPolicy{clusterPolicy("a", "web", 4, "curl"), clusterPolicy("b", "db", 1, "curl")}, nil, labels)
		Expect(p.creates).To(HaveLen(1))
		c := p.creates[0]
		Expect(c.Name).To(Equal("a"))
		Expect(c.Annotations).To(HaveKeyWithValue(AnnotationSource, SourceCluster))
		Expect(c.Annotations).To(HaveKeyWithValue(AnnotationClusterGeneration, "4"))
		Expect(c.Status.Hosts.Matched).To(BeZero())
		Expect(c.ResourceVersion).To(BeEmpty())
	})

	It("updates a changed copy, leaves an unchanged one, deletes one no longer selecting", func() {
		old := localCopy(clusterPolicy("a", "web", 1, "curl"))
		same := localCopy(clusterPolicy("s", "web", 1, "curl"))
		gone := localCopy(clusterPolicy("g", "web", 1, "curl"))
		p := computeMirror([]*v1alpha1.PatchPolicy{clusterPolicy("a", "web", 2, "wget"), clusterPolicy("s", "web", 1, "curl"), clusterPolicy("g", "db", 2, "curl")},
			[]*v1alpha1.PatchPolicy{old, same, gone}, labels)
		Expect(p.creates).To(BeEmpty())
		Expect(p.updates).To(HaveLen(1))
		Expect(p.updates[0].Spec.Packages[0].Name).To(Equal("wget"))
		Expect(p.deletes).To(HaveLen(1))
		Expect(p.deletes[0].Name).To(Equal("g"))
	})

	It("never overwrites a policy of another source", func() {
		local := clusterPolicy("a", "web", 1, "vim")
		local.Annotations = map[string]string{v1alpha1.AnnotationSourceFile: "/etc/patchlet/policies.d/a.yaml"}
		p := computeMirror([]*v1alpha1.PatchPolicy{clusterPolicy("a", "web", 1, "curl")}, []*v1alpha1.PatchPolicy{local}, labels)
		Expect(p.creates).To(BeEmpty())
		Expect(p.updates).To(BeEmpty())
		Expect(p.deletes).To(BeEmpty())
		Expect(p.refused).To(Equal([]string{"a"}))
	})

	It("refuses an invalid cluster policy", func() {
		bad := clusterPolicy("a", "web", 1, "Not A Package!")
		p := computeMirror([]*v1alpha1.PatchPolicy{bad}, nil, labels)
		Expect(p.creates).To(BeEmpty())
		Expect(p.refused).To(Equal([]string{"a"}))
	})
})
