package fleet

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Resource names of the patchlet.io group on the API server (the registry
// v1alpha1.Resources).
const (
	ResourcePatchPolicies = v1alpha1.ResourcePatchPolicies
	ResourceHosts         = v1alpha1.ResourceHosts
)

// NewRESTClient returns a client of the patchlet.io/v1alpha1 group for cfg.
func NewRESTClient(cfg *rest.Config) (rest.Interface, error) {
	c := rest.CopyConfig(cfg)
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("registering the patchlet.io types: %w", err)
	}
	gv := v1alpha1.GroupVersion
	c.GroupVersion = &gv
	c.APIPath = "/apis"
	c.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("building the patchlet.io client: %w", err)
	}
	return rc, nil
}

// requestTimeout bounds one API request of the fleet code.
const requestTimeout = 30 * time.Second

func getHost(ctx context.Context, c rest.Interface, name string) (*v1alpha1.Host, error) {
	h := &v1alpha1.Host{}
	err := c.Get().Resource(ResourceHosts).Name(name).Timeout(requestTimeout).Do(ctx).Into(h)
	return h, err
}

func createHost(ctx context.Context, c rest.Interface, h *v1alpha1.Host) (*v1alpha1.Host, error) {
	out := &v1alpha1.Host{}
	err := c.Post().Resource(ResourceHosts).Body(h).Timeout(requestTimeout).Do(ctx).Into(out)
	return out, err
}

func updateHost(ctx context.Context, c rest.Interface, h *v1alpha1.Host) (*v1alpha1.Host, error) {
	out := &v1alpha1.Host{}
	err := c.Put().Resource(ResourceHosts).Name(h.Name).Body(h).Timeout(requestTimeout).Do(ctx).Into(out)
	return out, err
}

func updateHostStatus(ctx context.Context, c rest.Interface, h *v1alpha1.Host) (*v1alpha1.Host, error) {
	out := &v1alpha1.Host{}
	err := c.Put().Resource(ResourceHosts).Name(h.Name).SubResource("status").Body(h).Timeout(requestTimeout).Do(ctx).Into(out)
	return out, err
}

func updatePolicyStatus(ctx context.Context, c rest.Interface, p *v1alpha1.PatchPolicy) (*v1alpha1.PatchPolicy, error) {
	out := &v1alpha1.PatchPolicy{}
	err := c.Put().Resource(ResourcePatchPolicies).Name(p.Name).SubResource("status").Body(p).Timeout(requestTimeout).Do(ctx).Into(out)
	return out, err
}

// newInformer returns an informer of one cluster-scoped resource of ours.
func newInformer(c rest.Interface, resource string, obj runtime.Object) cache.SharedIndexInformer {
	lw := cache.NewListWatchFromClient(c, resource, metav1.NamespaceAll, fields.Everything())
	return cache.NewSharedIndexInformer(lw, obj, 0, cache.Indexers{})
}
