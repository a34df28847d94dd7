package v1alpha1_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	v1 "github.com/patchlet/patchlet/api/v1alpha1"
)

var _ = Describe("PatchPolicy defaults", func() {
	It("fills in mode Enforce, state Present, updates None, maxAge 4h, reboot Never", func() {
		obj, err := v1.Decode([]byte(policyHead + "spec:\n  packages: [{name: openssl}, {name: curl, state: Latest}]\n"))
		Expect(err).NotTo(HaveOccurred())
		p := obj.(*v1.PatchPolicy)
		p.SetDefaults()
		Expect(p.Spec.Mode).To(Equal(v1.ModeEnforce))
		Expect(p.Spec.Packages[0].State).To(Equal(v1.PackagePresent))
		Expect(p.Spec.Packages[1].State).To(Equal(v1.PackageLatest))
		Expect(p.Spec.Updates.Apply).To(Equal(v1.UpdatesNone))
		Expect(p.Spec.Cache.MaxAge.Get()).To(Equal(4 * time.Hour))
		Expect(p.Spec.Reboot.Policy).To(Equal(v1.RebootNever))
		Expect(p.Spec.Reboot.Window).To(BeNil(), "no window is invented")
		Expect(p.Spec.MaintenanceWindow).To(BeNil(), "no window is invented")
		Expect(p.Spec.Suspend).To(BeFalse())
		Expect(p.Spec.Rollout).To(BeNil())
		Expect(p.Validate()).To(BeEmpty())
	})

	It("defaults the time zone of both windows to UTC", func() {
		p := &v1.PatchPolicy{Spec: v1.PatchPolicySpec{
			MaintenanceWindow: &v1.TimeWindow{Start: "01:00", Duration: v1.NewDuration(time.Hour)},
			Reboot:            &v1.RebootSpec{Window: &v1.TimeWindow{Start: "02:00", Duration: v1.NewDuration(time.Hour)}},
		}}
		p.SetDefaults()
		Expect(p.Spec.MaintenanceWindow.TimeZone).To(Equal("UTC"))
		Expect(p.Spec.Reboot.Window.TimeZone).To(Equal("UTC"))
		Expect(p.Spec.Reboot.Policy).To(Equal(v1.RebootNever))
	})

	It("keeps every value the operator set", func() {
		p := fullObjects()[0].(*v1.PatchPolicy)
		*p.Spec.Cache.MaxAge = "0s" // zero is a choice (always refresh), not a missing value
		want := p.DeepCopy()
		p.SetDefaults()
		Expect(p).To(Equal(want))
	})

	It("is idempotent", func() {
		for _, doc := range []string{
			policyHead,
			policyHead + "spec: {}\n",
			policyHead + "spec:\n  packages: [{name: a}]\n  reboot: {window: {start: '02:00', duration: 1h}}\n",
			policyHead + "spec:\n  mode: Audit\n  updates: {exclude: ['x*']}\n  cache: {}\n  reboot: {}\n",
		} {
			obj, err := v1.Decode([]byte(doc))
			Expect(err).NotTo(HaveOccurred())
			once := obj.(*v1.PatchPolicy)
			once.SetDefaults()
			twice := once.DeepCopy()
			twice.SetDefaults()
			Expect(twice).To(Equal(once), doc)
		}
	})

	It("does not share defaults between policies", func() {
		a, b := &v1.PatchPolicy{}, &v1.PatchPolicy{}
		a.SetDefaults()
		b.SetDefaults()
		*a.Spec.Cache.MaxAge = v1.NewDuration(time.Minute)
		a.Spec.Reboot.Policy = v1.RebootIfRequired
		Expect(b.Spec.Cache.MaxAge.Get()).To(Equal(v1.DefaultCacheMaxAge))
		Expect(b.Spec.Reboot.Policy).To(Equal(v1.RebootNever))
	})
})
