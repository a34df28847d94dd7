package waves_test

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/waves"
)

func sized(v string) v1alpha1.RolloutWave {
	h := intstr.Parse(v)
	return v1alpha1.RolloutWave{Hosts: &h}
}

func zone(z string) v1alpha1.RolloutWave {
	return v1alpha1.RolloutWave{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"zone": z}}}
}

// hosts are h0 … h(n-1) in zone a, except those named in inB.
func hosts(n int, inB ...int) []waves.Host {
	out := make([]waves.Host, n)
	for i := range out {
		out[i] = waves.Host{Name: fmt.Sprintf("h%d", i), Labels: map[string]string{"zone": "a"}}
	}
	for _, i := range inB {
		out[i].Labels["zone"] = "b"
	}
	return out
}

var _ = Describe("Assign", func() {
	DescribeTable("puts hosts into waves in the order given",
		func(spec []v1alpha1.RolloutWave, hs []waves.Host, wave []int, lastHost []string, counts []int) {
			a := waves.Assign(spec, hs)
			Expect(a.Wave).To(Equal(wave))
			Expect(a.LastHost).To(Equal(lastHost))
			Expect(a.Hosts).To(Equal(counts))
		},
		Entry("no waves: every host in the implicit wave", nil, hosts(3),
			[]int{0, 0, 0}, []string{}, []int{3}),
		Entry("counts", []v1alpha1.RolloutWave{sized("1"), sized("3")}, hosts(5),
			[]int{0, 1, 1, 1, 2}, []string{"h0", "h3"}, []int{1, 3, 1}),
		Entry("percentages of all the hosts, rounded up", []v1alpha1.RolloutWave{sized("10%"), sized("50%")}, hosts(5),
			[]int{0, 1, 1, 1, 2}, []string{"h0", "h3"}, []int{1, 3, 1}),
		Entry("percentages count all the hosts, not the remaining ones", []v1alpha1.RolloutWave{sized("50%"), sized("50%"), sized("50%")}, hosts(4),
			[]int{0, 0, 1, 1}, []string{"h1", "h3", ""}, []int{2, 2, 0, 0}),
		Entry("a count past the end takes what is left; the implicit wave may be empty", []v1alpha1.RolloutWave{sized("10")}, hosts(3),
			[]int{0, 0, 0}, []string{"h2"}, []int{3, 0}),
		Entry("a selector wave takes the remaining hosts it matches",
			[]v1alpha1.RolloutWave{sized("1"), sized("30%"), zone("b")}, hosts(10, 1, 5, 8),
			[]int{0, 1, 1, 1, 3, 2, 3, 3, 2, 3}, []string{"h0", "h3", ""}, []int{1, 3, 2, 4}),
		Entry("a sized wave skips hosts an earlier selector wave took",
			[]v1alpha1.RolloutWave{zone("b"), sized("2")}, hosts(4, 0, 2),
			[]int{0, 1, 0, 1}, []string{"", "h3"}, []int{2, 2, 0}),
		Entry("a selector wave matching nothing is empty",
			[]v1alpha1.RolloutWave{zone("nowhere"), sized("1")}, hosts(2),
			[]int{1, 2}, []string{"", "h0"}, []int{0, 1, 1}),
		Entry("no hosts", []v1alpha1.RolloutWave{sized("1"), zone("b")}, nil,
			[]int{}, []string{"", ""}, []int{0, 0, 0}),
		Entry("hosts are taken in the order given, not sorted",
			[]v1alpha1.RolloutWave{sized("1")}, []waves.Host{{Name: "z"}, {Name: "a"}},
			[]int{0, 1}, []string{"z"}, []int{1, 1}),
	)
})

var _ = Describe("Place", func() {
	spec := []v1alpha1.RolloutWave{sized("1"), sized("30%"), zone("b")}
	lastHost := []string{"h0", "h3", ""}
	DescribeTable("places a host that joins later against the recorded boundaries",
		func(name, z string, want int) {
			Expect(waves.Place(spec, lastHost, waves.Host{Name: name, Labels: map[string]string{"zone": z}})).To(Equal(want))
		},
		Entry("before the first boundary", "a", "a", 0),
		Entry("at a boundary", "h3", "a", 1),
		Entry("between boundaries, even when a later selector would match", "h25", "b", 1),
		Entry("past the sized waves, matched by a selector", "z", "b", 2),
		Entry("past every wave: the implicit wave", "z", "a", 3),
	)
	It("never places a host in a sized wave that took none", func() {
		Expect(waves.Place([]v1alpha1.RolloutWave{sized("1"), sized("1")}, []string{"h0", ""}, waves.Host{Name: "h1"})).To(Equal(2))
	})
	It("agrees with Assign for hosts in name order", func() {
		hs := hosts(10, 1, 5, 8)
		a := waves.Assign(spec, hs)
		for i, h := range hs {
			Expect(waves.Place(spec, a.LastHost, h)).To(Equal(a.Wave[i]), h.Name)
		}
	})
})

var _ = DescribeTable("Size",
	func(v *intstr.IntOrString, total, want int, wantErr bool) {
		n, err := waves.Size(v, total)
		Expect(err != nil).To(Equal(wantErr))
		Expect(n).To(Equal(want))
	},
	Entry("none", nil, 10, 0, false),
	Entry("a count", ptr(intstr.FromInt32(3)), 10, 3, false),
	Entry("a count past the total is kept", ptr(intstr.FromInt32(30)), 10, 30, false),
	Entry("a percentage rounds up", ptr(intstr.FromString("25%")), 10, 3, false),
	Entry("1% of a small fleet is a host", ptr(intstr.FromString("1%")), 3, 1, false),
	Entry("a negative count is 0", ptr(intstr.FromInt32(-1)), 10, 0, false),
	Entry("not a percentage", ptr(intstr.FromString("ten")), 10, 0, true),
)

func ptr[T any](v T) *T { return &v }
