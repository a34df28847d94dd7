package testenv_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/testsupport/testenv"
)

var (
	policies = schema.GroupVersionResource{Group: "patchlet.io", Version: "v1alpha1", Resource: "patchpolicies"}
	hosts    = schema.GroupVersionResource{Group: "patchlet.io", Version: "v1alpha1", Resource: "hosts"}
	leases   = schema.GroupVersionResource{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"}
)

func dyn(cfg *rest.Config) dynamic.Interface {
	GinkgoHelper()
	c, err := dynamic.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())
	return c
}

func hostAs(name string, extraGroups ...string) dynamic.Interface {
	GinkgoHelper()
	cfg, err := env.HostConfig(name, extraGroups...)
	Expect(err).NotTo(HaveOccurred())
	return dyn(cfg)
}

func toUnstructured(obj runtime.Object) *unstructured.Unstructured {
	GinkgoHelper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	Expect(err).NotTo(HaveOccurred())
	return &unstructured.Unstructured{Object: m}
}

// causeFields lists the field paths of a 422's causes.
func causeFields(err error) []string {
	var fields []string
	if st, ok := err.(apierrors.APIStatus); ok && st.Status().Details != nil {
		for _, c := range st.Status().Details.Causes {
			fields = append(fields, c.Field)
		}
	}
	return fields
}

func validPolicy(name string) *v1alpha1.PatchPolicy {
	return &v1alpha1.PatchPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "patchlet.io/v1alpha1", Kind: "PatchPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.PatchPolicySpec{
			Packages: []v1alpha1.PackageSpec{{Name: "openssl", Version: "3.0.15-1~deb12u1"}, {Name: "docker-ce", State: v1alpha1.PackageHeld}},
			Updates:  &v1alpha1.UpdatesSpec{Apply: v1alpha1.UpdatesSecurity, Exclude: []string{"linux-image-*"}},
			Cache:    &v1alpha1.CacheSpec{MaxAge: v1alpha1.DurationPtr(4 * time.Hour)},
			MaintenanceWindow: &v1alpha1.TimeWindow{
				Days: []v1alpha1.Weekday{"Mon", "Tue"}, Start: "01:00", Duration: "3h", TimeZone: "Europe/Berlin",
			},
			Rollout: &v1alpha1.RolloutSpec{MaxConcurrent: ptr(intstr.FromString("10%")), MaxFailures: ptr(intstr.FromInt32(2))},
		},
	}
}

func ptr[T any](v T) *T { return &v }

var _ = Describe("the API server", Label("integration"), func() {
	BeforeEach(requireEnv)

	It("serves patchlet.io/v1alpha1 with policies, hosts and their status subresources", func() {
		dc, err := discovery.NewDiscoveryClientForConfig(env.Admin)
		Expect(err).NotTo(HaveOccurred())
		v, err := dc.ServerVersion()
		Expect(err).NotTo(HaveOccurred())
		Expect(v.GitVersion).To(HavePrefix("v1.3"))
		res, err := dc.ServerResourcesForGroupVersion("patchlet.io/v1alpha1")
		Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, r := range res.APIResources {
			names = append(names, r.Name)
		}
		Expect(names).To(ContainElements("patchpolicies", "patchpolicies/status", "hosts", "hosts/status"))
	})

	It("prints the agent's columns for policies and hosts", func() {
		crds := dyn(env.Admin).Resource(schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"})
		cols := func(name string) []string {
			crd, err := crds.Get(context.Background(), name, metav1.GetOptions{})
			Expect(err).NotTo(HaveOccurred())
			versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
			var out []string
			for _, c := range versions[0].(map[string]any)["additionalPrinterColumns"].([]any) {
				if _, wide := c.(map[string]any)["priority"]; !wide {
					out = append(out, strings.ToUpper(c.(map[string]any)["name"].(string)))
				}
			}
			return out
		}
		Expect(cols("patchpolicies.patchlet.io")).To(Equal([]string{"READY", "MODE", "PENDING", "REBOOT", "AGE"}))
		Expect(cols("hosts.patchlet.io")).To(Equal([]string{"BACKEND", "OS", "CACHE", "UPGRADABLE", "SECURITY", "REBOOT", "AGE"}))
	})
})

var _ = Describe("PatchPolicy validation by the CRD", Label("integration"), func() {
	BeforeEach(requireEnv)

	It("accepts every sample in config/samples, as the agent does", func(ctx context.Context) {
		root, err := testenv.RepoRoot()
		Expect(err).NotTo(HaveOccurred())
		files, err := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).NotTo(BeEmpty())
		for _, f := range files {
			data, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			obj, err := v1alpha1.Decode(data)
			Expect(err).NotTo(HaveOccurred(), f)
			if p, ok := obj.(*v1alpha1.PatchPolicy); ok {
				p.SetDefaults()
				Expect(p.Validate()).To(BeEmpty(), f)
			}
			objs, err := testenv.DecodeManifests(data)
			Expect(err).NotTo(HaveOccurred())
			Expect(env.ApplyObjects(ctx, env.Admin, objs...)).To(Succeed(), f)
			got, err := dyn(env.Admin).Resource(policies).Get(ctx, objs[0].GetName(), metav1.GetOptions{})
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Object["spec"]).To(Equal(objs[0].Object["spec"]), "stored as written: %s", f)
		}
	})

	DescribeTable("rejects what the agent rejects, naming the field",
		func(ctx context.Context, mutate func(*v1alpha1.PatchPolicy), field string) {
			p := validPolicy("hostile-" + strings.NewReplacer(".", "-", "[", "-", "]", "").Replace(strings.ToLower(field)))
			mutate(p)
			Expect(p.Validate()).NotTo(BeEmpty(), "the agent's own validation rejects it too")
			_, err := dyn(env.Admin).Resource(policies).Create(ctx, toUnstructured(p), metav1.CreateOptions{})
			Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
			Expect(causeFields(err)).To(ContainElement(HavePrefix(field)), err.Error())
		},
		Entry("a package name that is an option", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Packages[0].Name = "--allow-downgrades"
		}, "spec.packages[0].name"),
		Entry("a package name with shell metacharacters", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Packages[0].Name = "openssl;reboot"
		}, "spec.packages[0].name"),
		Entry("a package name with a space", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Packages[1].Name = "docker ce"
		}, "spec.packages[1].name"),
		Entry("a non-ASCII look-alike", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Packages[0].Name = "оpenssl" // Cyrillic о
		}, "spec.packages[0].name"),
		Entry("a package name longer than 128", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Packages[0].Name = strings.Repeat("a", 129)
		}, "spec.packages[0].name"),
		Entry("a version with a newline", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Packages[0].Version = "1.0\n-o Dpkg::Pre-Invoke=sh"
		}, "spec.packages[0].version"),
		Entry("a version pin with state Latest", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Packages[0].State = v1alpha1.PackageLatest
		}, "spec.packages[0]"),
		Entry("a package named twice", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Packages[1].Name = "openssl"
		}, "spec.packages[1]"),
		Entry("an unknown package state", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Packages[1].State = "Purged"
		}, "spec.packages[1].state"),
		Entry("an exclude glob that starts with a dash", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Updates.Exclude = []string{"-linux*"}
		}, "spec.updates.exclude[0]"),
		Entry("an unknown update class", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Updates.Apply = "Everything"
		}, "spec.updates.apply"),
		Entry("a window start that is not HH:MM", func(p *v1alpha1.PatchPolicy) {
			p.Spec.MaintenanceWindow.Start = "25:00"
		}, "spec.maintenanceWindow.start"),
		Entry("a window longer than a week", func(p *v1alpha1.PatchPolicy) {
			p.Spec.MaintenanceWindow.Duration = "200h"
		}, "spec.maintenanceWindow.duration"),
		Entry("a window duration that is not a duration", func(p *v1alpha1.PatchPolicy) {
			p.Spec.MaintenanceWindow.Duration = "three hours"
		}, "spec.maintenanceWindow.duration"),
		Entry("a day twice", func(p *v1alpha1.PatchPolicy) {
			p.Spec.MaintenanceWindow.Days = []v1alpha1.Weekday{"Mon", "Mon"}
		}, "spec.maintenanceWindow.days"),
		Entry("an unknown day", func(p *v1alpha1.PatchPolicy) {
			p.Spec.MaintenanceWindow.Days = []v1alpha1.Weekday{"Monday"}
		}, "spec.maintenanceWindow.days[0]"),
		Entry("the agent's local time zone", func(p *v1alpha1.PatchPolicy) {
			p.Spec.MaintenanceWindow.TimeZone = "Local"
		}, "spec.maintenanceWindow.timeZone"),
		Entry("a time zone that is a path", func(p *v1alpha1.PatchPolicy) {
			p.Spec.MaintenanceWindow.TimeZone = "../../etc/passwd"
		}, "spec.maintenanceWindow.timeZone"),
		Entry("a negative cache age", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Cache.MaxAge = ptr(v1alpha1.Duration("-1h"))
		}, "spec.cache.maxAge"),
		Entry("an unknown mode", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Mode = "DryRun"
		}, "spec.mode"),
		Entry("an unknown reboot policy", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Reboot = &v1alpha1.RebootSpec{Policy: "Always"}
		}, "spec.reboot.policy"),
		Entry("maxConcurrent of zero", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromInt32(0))
		}, "spec.rollout.maxConcurrent"),
		Entry("maxConcurrent of 0%", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromString("0%"))
		}, "spec.rollout.maxConcurrent"),
		Entry("maxFailures above 100%", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Rollout.MaxFailures = ptr(intstr.FromString("150%"))
		}, "spec.rollout.maxFailures"),
		Entry("maxFailures that is not a number", func(p *v1alpha1.PatchPolicy) {
			p.Spec.Rollout.MaxFailures = ptr(intstr.FromString("some"))
		}, "spec.rollout.maxFailures"),
		Entry("a health check with both httpGet and exec", func(p *v1alpha1.PatchPolicy) {
			p.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{HTTPGet: &v1alpha1.HTTPGetCheck{URL: "http://127.0.0.1/"}, Exec: &v1alpha1.ExecCheck{Name: "web"}}
		}, "spec.healthCheck"),
		Entry("a health check that is a command line", func(p *v1alpha1.PatchPolicy) {
			p.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: "curl -f localhost"}}
		}, "spec.healthCheck.exec.name"),
		Entry("a health check that leaves the checks directory", func(p *v1alpha1.PatchPolicy) {
			p.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: "../../bin/sh"}}
		}, "spec.healthCheck.exec.name"),
		Entry("a health check URL that is a file", func(p *v1alpha1.PatchPolicy) {
			p.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{HTTPGet: &v1alpha1.HTTPGetCheck{URL: "file:///etc/shadow"}}
		}, "spec.healthCheck.httpGet.url"),
		Entry("a health check timeout of an hour", func(p *v1alpha1.PatchPolicy) {
			p.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: "web"}, Timeout: v1alpha1.DurationPtr(time.Hour)}
		}, "spec.healthCheck.timeout"),
		Entry("a health check failure threshold of 101", func(p *v1alpha1.PatchPolicy) {
			p.Spec.HealthCheck = &v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: "web"}, FailureThreshold: 101}
		}, "spec.healthCheck.failureThreshold"),
	)
})

var _ = Describe("config/fleet", Label("integration"), func() {
	BeforeEach(requireEnv)

	It("holds a DaemonSet the API server accepts for the agent's service account", func(ctx context.Context) {
		root, err := testenv.RepoRoot()
		Expect(err).NotTo(HaveOccurred())
		objs, err := testenv.ReadManifests(filepath.Join(root, "config", "fleet", "daemonset.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(objs).To(HaveLen(1))
		ds := objs[0]
		Expect(ds.GetKind()).To(Equal("DaemonSet"))
		sa, _, _ := unstructured.NestedString(ds.Object, "spec", "template", "spec", "serviceAccountName")
		Expect(sa).To(Equal("patchlet-agent"), "the service account config/rbac binds and the admission policy pins")
		data, err := ds.MarshalJSON()
		Expect(err).NotTo(HaveOccurred())
		force := true
		_, err = dyn(env.Admin).Resource(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}).
			Namespace(ds.GetNamespace()).Patch(ctx, ds.GetName(), "application/apply-patch+yaml", data,
			metav1.PatchOptions{FieldManager: "test", Force: &force, DryRun: []string{metav1.DryRunAll}})
		Expect(err).NotTo(HaveOccurred())
	})
})
