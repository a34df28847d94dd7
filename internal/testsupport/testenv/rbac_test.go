package testenv_test

import (
	"context"
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/testsupport/testenv"
)

func newHost(name string) *unstructured.Unstructured {
	return toUnstructured(&v1alpha1.Host{
		TypeMeta:   metav1.TypeMeta{APIVersion: "patchlet.io/v1alpha1", Kind: "Host"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"role": "web"}},
	})
}

func newLease(name, holder string) *unstructured.Unstructured {
	l := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "coordination.k8s.io/v1",
		"kind":       "Lease",
		"metadata":   map[string]any{"name": name},
		"spec":       map[string]any{"holderIdentity": holder, "leaseDurationSeconds": int64(15)},
	}}
	return l
}

var _ = Describe("an agent's rights", Label("integration"), Ordered, ContinueOnFailure, func() {
	BeforeEach(requireEnv)

	var hostA, hostB *unstructured.Unstructured

	BeforeAll(func(ctx context.Context) {
		requireEnv()
		var err error
		hostA, err = hostAs("rbac-a").Resource(hosts).Create(ctx, newHost("rbac-a"), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred(), "an agent registers its own Host")
		hostB, err = hostAs("rbac-b").Resource(hosts).Create(ctx, newHost("rbac-b"), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
	})

	It("lets an agent write its own Host's status", func(ctx context.Context) {
		h := hostA.DeepCopy()
		Expect(unstructured.SetNestedField(h.Object, "apt", "status", "backend", "name")).To(Succeed())
		Expect(unstructured.SetNestedField(h.Object, int64(3), "status", "packages", "security")).To(Succeed())
		got, err := hostAs("rbac-a").Resource(hosts).UpdateStatus(ctx, h, metav1.UpdateOptions{})
		Expect(err).NotTo(HaveOccurred())
		n, _, _ := unstructured.NestedInt64(got.Object, "status", "packages", "security")
		Expect(n).To(Equal(int64(3)))
	})

	It("shows a host's status in kubectl's columns", func(ctx context.Context) {
		cfg := rest.CopyConfig(env.Admin)
		cfg.AcceptContentTypes = "application/json;as=Table;v=v1;g=meta.k8s.io"
		cfg.GroupVersion = &schema.GroupVersion{Group: "patchlet.io", Version: "v1alpha1"}
		cfg.APIPath = "/apis"
		cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
		rc, err := rest.RESTClientFor(cfg)
		Expect(err).NotTo(HaveOccurred())
		body, err := rc.Get().Resource("hosts").Name("rbac-a").SetHeader("Accept", cfg.AcceptContentTypes).DoRaw(ctx)
		Expect(err).NotTo(HaveOccurred())
		var table metav1.Table
		Expect(json.Unmarshal(body, &table)).To(Succeed())
		Expect(table.Rows).To(HaveLen(1))
		var cols []string
		for _, c := range table.ColumnDefinitions {
			cols = append(cols, c.Name)
		}
		Expect(cols[:5]).To(Equal([]string{"Name", "Backend", "OS", "Cache", "Upgradable"}))
		Expect(table.Rows[0].Cells[1]).To(Equal("apt"))
		Expect(table.Rows[0].Cells[5]).To(BeEquivalentTo(3), "security updates")
	})

	It("forbids an agent to write another host's status", func(ctx context.Context) {
		h := hostB.DeepCopy()
		Expect(unstructured.SetNestedField(h.Object, true, "status", "rebootRequired", "required")).To(Succeed())
		_, err := hostAs("rbac-a").Resource(hosts).UpdateStatus(ctx, h, metav1.UpdateOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want 403, got %v", err)
		Expect(err.Error()).To(ContainSubstring("may write only its own Host rbac-a"))

		got, err := dyn(env.Admin).Resource(hosts).Get(ctx, "rbac-b", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		req, _, _ := unstructured.NestedBool(got.Object, "status", "rebootRequired", "required")
		Expect(req).To(BeFalse(), "host B's status is untouched")
	})

	It("forbids an agent to relabel, register or delete another host", func(ctx context.Context) {
		a := hostAs("rbac-a").Resource(hosts)
		h := hostB.DeepCopy()
		h.SetLabels(map[string]string{"role": "db"})
		_, err := a.Update(ctx, h, metav1.UpdateOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "update: %v", err)
		_, err = a.Patch(ctx, "rbac-b", "application/merge-patch+json", []byte(`{"metadata":{"labels":{"role":"db"}}}`), metav1.PatchOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "patch: %v", err)
		_, err = a.Create(ctx, newHost("rbac-c"), metav1.CreateOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "create: %v", err)
		Expect(a.Delete(ctx, "rbac-b", metav1.DeleteOptions{})).To(Satisfy(apierrors.IsForbidden))
		Expect(a.Delete(ctx, "rbac-a", metav1.DeleteOptions{})).To(Satisfy(apierrors.IsForbidden), "not even its own")
	})

	It("lets an agent read and watch policies but not write them", func(ctx context.Context) {
		Expect(env.ApplyObjects(ctx, env.Admin, toUnstructured(validPolicy("rbac-policy")))).To(Succeed())
		a := hostAs("rbac-a").Resource(policies)
		list, err := a.List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(list.Items).NotTo(BeEmpty())
		w, err := a.Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
		Expect(err).NotTo(HaveOccurred())
		w.Stop()

		_, err = a.Create(ctx, toUnstructured(validPolicy("rbac-by-agent")), metav1.CreateOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "create policy: %v", err)
		p, err := a.Get(ctx, "rbac-policy", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(unstructured.SetNestedField(p.Object, int64(1), "status", "hosts", "matched")).To(Succeed())
		_, err = a.UpdateStatus(ctx, p, metav1.UpdateOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "policy status without the leader role: %v", err)
	})

	It("lets the fleet leader write a policy's status", func(ctx context.Context) {
		leader := hostAs("rbac-a", testenv.LeadersGroup).Resource(policies)
		Eventually(func(g Gomega) {
			p, err := leader.Get(ctx, "rbac-policy", metav1.GetOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(unstructured.SetNestedField(p.Object, int64(7), "status", "hosts", "matched")).To(Succeed())
			got, err := leader.UpdateStatus(ctx, p, metav1.UpdateOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			n, _, _ := unstructured.NestedInt64(got.Object, "status", "hosts", "matched")
			g.Expect(n).To(Equal(int64(7)))
		}).WithTimeout(10 * time.Second).Should(Succeed())
	})

	It("lets an agent hold Leases in patchlet-system and nowhere else", func(ctx context.Context) {
		a := hostAs("rbac-a").Resource(leases)
		l, err := a.Namespace(testenv.Namespace).Create(ctx, newLease("rbac-slot-0", "rbac-a"), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(unstructured.SetNestedField(l.Object, int64(30), "spec", "leaseDurationSeconds")).To(Succeed())
		_, err = a.Namespace(testenv.Namespace).Update(ctx, l, metav1.UpdateOptions{})
		Expect(err).NotTo(HaveOccurred(), "renew")
		Expect(a.Namespace(testenv.Namespace).Delete(ctx, "rbac-slot-0", metav1.DeleteOptions{})).To(Succeed())

		_, err = a.Namespace("default").Create(ctx, newLease("rbac-slot-0", "rbac-a"), metav1.CreateOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "lease in default: %v", err)
	})

	It("treats an impersonated agent like one with its own certificate", func(ctx context.Context) {
		a := dyn(env.ImpersonatedHostConfig("rbac-a")).Resource(hosts)
		own, err := a.Get(ctx, "rbac-a", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(unstructured.SetNestedField(own.Object, "fresh", "status", "cache", "state")).To(Succeed())
		_, err = a.UpdateStatus(ctx, own, metav1.UpdateOptions{})
		Expect(err).NotTo(HaveOccurred())

		other, err := a.Get(ctx, "rbac-b", metav1.GetOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(unstructured.SetNestedField(other.Object, "failed", "status", "cache", "state")).To(Succeed())
		_, err = a.UpdateStatus(ctx, other, metav1.UpdateOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want 403, got %v", err)
	})

	It("lets an agent hold Leases only in its own name", func(ctx context.Context) {
		a := hostAs("rbac-a").Resource(leases).Namespace(testenv.Namespace)
		b := hostAs("rbac-b").Resource(leases).Namespace(testenv.Namespace)

		_, err := a.Create(ctx, newLease("rbac-slot-1", "rbac-b"), metav1.CreateOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "create as another holder: %v", err)
		Expect(err.Error()).To(ContainSubstring("may hold a Lease only as itself"))

		held, err := b.Create(ctx, newLease("rbac-slot-1", "rbac-b"), metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(a.Delete(ctx, "rbac-slot-1", metav1.DeleteOptions{})).To(Satisfy(apierrors.IsForbidden), "delete another host's Lease")

		renewed := held.DeepCopy()
		Expect(unstructured.SetNestedField(renewed.Object, int64(60), "spec", "leaseDurationSeconds")).To(Succeed())
		_, err = a.Update(ctx, renewed, metav1.UpdateOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "renew in another host's name: %v", err)

		// Taking over (the fleet code decides the Lease expired) and releasing are allowed.
		taken := held.DeepCopy()
		Expect(unstructured.SetNestedField(taken.Object, "rbac-a", "spec", "holderIdentity")).To(Succeed())
		taken, err = a.Update(ctx, taken, metav1.UpdateOptions{})
		Expect(err).NotTo(HaveOccurred(), "take over")
		Expect(unstructured.SetNestedField(taken.Object, "", "spec", "holderIdentity")).To(Succeed())
		_, err = a.Update(ctx, taken, metav1.UpdateOptions{})
		Expect(err).NotTo(HaveOccurred(), "release")
		Expect(b.Delete(ctx, "rbac-slot-1", metav1.DeleteOptions{})).To(Succeed(), "a free Lease may be deleted")
	})

	DescribeTable("pins the DaemonSet's service account to the Host of its node",
		func(ctx context.Context, node []string, host string, allowed bool) {
			cfg := env.Impersonate("system:serviceaccount:"+testenv.Namespace+":patchlet-agent",
				"system:serviceaccounts", "system:serviceaccounts:"+testenv.Namespace, "system:authenticated")
			if node != nil {
				cfg.Impersonate.Extra = map[string][]string{"authentication.kubernetes.io/node-name": node}
			}
			c := dyn(cfg).Resource(hosts)
			h, err := c.Get(ctx, host, metav1.GetOptions{})
			Expect(err).NotTo(HaveOccurred())
			Expect(unstructured.SetNestedField(h.Object, "sa", "status", "os", "id")).To(Succeed())
			_, err = c.UpdateStatus(ctx, h, metav1.UpdateOptions{})
			if allowed {
				Expect(err).NotTo(HaveOccurred())
			} else {
				Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want 403, got %v", err)
			}
		},
		Entry("its own node", []string{"rbac-a"}, "rbac-a", true),
		Entry("another node", []string{"rbac-a"}, "rbac-b", false),
		Entry("a token that names no node", nil, "rbac-a", false),
	)

	It("rejects identities that are not agents", func(ctx context.Context) {
		cfg, err := env.ConfigFor("mallory")
		Expect(err).NotTo(HaveOccurred())
		_, err = dyn(cfg).Resource(policies).List(ctx, metav1.ListOptions{})
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "%v", err)
	})
})
