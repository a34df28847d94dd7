package reconcile_test

import (
	"fmt"
	"testing"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/reconcile"
)

// BenchmarkPlan plans a large host: 2000 installed packages, 500 pending
// upgrades, 10 policies naming 100 packages each and applying updates.
func BenchmarkPlan(b *testing.B) {
	o := observe()
	for i := range 2000 {
		name := fmt.Sprintf("pkg-%04d", i)
		o.installed(name, "1.0")
		if i%4 == 0 {
			o.upgrade(name, "1.0", "1.1", i%8 == 0)
		}
		o.available(name, "1.1", "1.0")
	}
	var policies []v1alpha1.PatchPolicy
	for p := range 10 {
		opts := []func(*v1alpha1.PatchPolicy){updates(v1alpha1.UpdatesAll, "pkg-00*")}
		for i := range 100 {
			opts = append(opts, pkg(fmt.Sprintf("pkg-%04d", p*100+i), v1alpha1.PackageLatest, ""))
		}
		policies = append(policies, policy(fmt.Sprintf("policy-%02d", p), opts...))
	}
	in := reconcile.PlanInput{Policies: policies, Observation: o.o, Capabilities: allCaps, Now: now}
	b.ReportAllocs()
	for b.Loop() {
		reconcile.Plan(in)
	}
}
