package v1alpha1_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/patchlet/patchlet/api/v1alpha1"
)

var _ = Describe("Selects", func() {
	labels := map[string]string{"role": "web", "env": "prod"}
	DescribeTable("matches host labels",
		func(sel *metav1.LabelSelector, want bool, wantErr bool) {
			p := &v1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
			p.Spec.HostSelector = sel
			ok, err := p.Selects(labels)
			if wantErr {
				Expect(err).To(MatchError(ContainSubstring("policy p")))
				return
			}
			Expect(err).NotTo(HaveOccurred())
			Expect(ok).To(Equal(want))
		},
		Entry("nil selects every host", nil, true, false),
		Entry("empty selects every host", &metav1.LabelSelector{}, true, false),
		Entry("matching labels", &metav1.LabelSelector{MatchLabels: map[string]string{"role": "web"}}, true, false),
		Entry("other labels", &metav1.LabelSelector{MatchLabels: map[string]string{"role": "db"}}, false, false),
		Entry("In", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"prod", "stage"}}}}, true, false),
		Entry("NotIn", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "env", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"prod"}}}}, false, false),
		Entry("DoesNotExist", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "canary", Operator: metav1.LabelSelectorOpDoesNotExist}}}, true, false),
		Entry("bad operator is an error", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "env", Operator: "Near"}}}, false, true),
	)
	It("AsSelector selects everything for nil, as a host selector means it", func() {
		s, err := v1.AsSelector(nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(s.Empty()).To(BeTrue())
		ok, err := v1.SelectorMatches(nil, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(ok).To(BeTrue())
	})
})
