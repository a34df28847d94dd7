package client

import (
	"context"
	"fmt"
	"net/http"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Resource is the typed client of one resource: O is its object type, L its
// list type.
type Resource[O v1alpha1.Object, L runtime.Object] struct {
	c        *Client
	resource string
	newObj   func() O
	newList  func() L
}

// PatchPolicies returns the client of PatchPolicies.
func (c *Client) PatchPolicies() *Resource[*v1alpha1.PatchPolicy, *v1alpha1.PatchPolicyList] {
	return &Resource[*v1alpha1.PatchPolicy, *v1alpha1.PatchPolicyList]{
		c: c, resource: PatchPolicies,
		newObj:  func() *v1alpha1.PatchPolicy { return &v1alpha1.PatchPolicy{} },
		newList: func() *v1alpha1.PatchPolicyList { return &v1alpha1.PatchPolicyList{} },
	}
}

// Hosts returns the client of Hosts.
func (c *Client) Hosts() *Resource[*v1alpha1.Host, *v1alpha1.HostList] {
	return &Resource[*v1alpha1.Host, *v1alpha1.HostList]{
		c: c, resource: Hosts,
		newObj:  func() *v1alpha1.Host { return &v1alpha1.Host{} },
		newList: func() *v1alpha1.HostList { return &v1alpha1.HostList{} },
	}
}

// Operations returns the client of Operations.
func (c *Client) Operations() *Resource[*v1alpha1.Operation, *v1alpha1.OperationList] {
	return &Resource[*v1alpha1.Operation, *v1alpha1.OperationList]{
		c: c, resource: Operations,
		newObj:  func() *v1alpha1.Operation { return &v1alpha1.Operation{} },
		newList: func() *v1alpha1.OperationList { return &v1alpha1.OperationList{} },
	}
}

// Dynamic returns a client of a resource chosen at run time
// ("patchpolicies", "hosts" or "operations"); its objects are the typed
// objects of package v1alpha1 behind the v1alpha1.Object interface and its
// lists the typed lists (use meta.ExtractList for the items).
func (c *Client) Dynamic(resource string) (*Resource[v1alpha1.Object, runtime.Object], error) {
	var kind string
	var newList func() runtime.Object
	switch resource {
	case PatchPolicies:
		kind, newList = v1alpha1.KindPatchPolicy, func() runtime.Object { return &v1alpha1.PatchPolicyList{} }
	case Hosts:
		kind, newList = v1alpha1.KindHost, func() runtime.Object { return &v1alpha1.HostList{} }
	case Operations:
		kind, newList = v1alpha1.KindOperation, func() runtime.Object { return &v1alpha1.OperationList{} }
	default:
		return nil, fmt.Errorf("unknown resource %q", resource)
	}
	return &Resource[v1alpha1.Object, runtime.Object]{
		c: c, resource: resource,
		newObj:  func() v1alpha1.Object { return v1alpha1.New(kind) },
		newList: newList,
	}, nil
}

// Name of the resource ("patchpolicies", …).
func (r *Resource[O, L]) Name() string { return r.resource }

// Get returns the object called name.
func (r *Resource[O, L]) Get(ctx context.Context, name string) (O, error) {
	out := r.newObj()
	err := r.c.do(ctx, request{method: http.MethodGet, path: resourcePath(r.resource, name, ""), resource: r.resource, name: name}, out)
	if err != nil {
		var zero O
		return zero, err
	}
	return out, nil
}

// List returns the objects that opts selects (labelSelector, fieldSelector).
func (r *Resource[O, L]) List(ctx context.Context, opts metav1.ListOptions) (L, error) {
	out := r.newList()
	err := r.c.do(ctx, request{method: http.MethodGet, path: resourcePath(r.resource, "", ""), query: listQuery(opts), resource: r.resource}, out)
	if err != nil {
		var zero L
		return zero, err
	}
	return out, nil
}

// Create creates obj and returns it as stored.
func (r *Resource[O, L]) Create(ctx context.Context, obj O) (O, error) {
	return r.write(ctx, http.MethodPost, resourcePath(r.resource, "", ""), obj)
}

// Update replaces obj's metadata and spec; a resourceVersion in obj must
// match the stored one (409 Conflict otherwise).
func (r *Resource[O, L]) Update(ctx context.Context, obj O) (O, error) {
	return r.write(ctx, http.MethodPut, resourcePath(r.resource, obj.GetName(), ""), obj)
}

// UpdateStatus replaces obj's status.
func (r *Resource[O, L]) UpdateStatus(ctx context.Context, obj O) (O, error) {
	return r.write(ctx, http.MethodPut, resourcePath(r.resource, obj.GetName(), "status"), obj)
}

func (r *Resource[O, L]) write(ctx context.Context, method, path string, obj O) (O, error) {
	out := r.newObj()
	err := r.c.do(ctx, request{method: method, path: path, body: obj, resource: r.resource, name: obj.GetName()}, out)
	if err != nil {
		var zero O
		return zero, err
	}
	return out, nil
}

// Delete deletes the object called name. opts may carry a resourceVersion
// precondition.
func (r *Resource[O, L]) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	var body any
	if opts.Preconditions != nil {
		opts.Kind, opts.APIVersion = "DeleteOptions", "v1"
		body = &opts
	}
	return r.c.do(ctx, request{method: http.MethodDelete, path: resourcePath(r.resource, name, ""), body: body, resource: r.resource, name: name}, nil)
}

// Watch streams changes of the objects opts selects, from
// opts.ResourceVersion on (the resourceVersion of a List, typically). The
// event objects are of type O; an ERROR event carries a *metav1.Status.
// The stream ends when ctx ends, Stop is called or the server closes it.
func (r *Resource[O, L]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	q := listQuery(opts)
	q.Set("watch", "true")
	ctx, cancel := context.WithCancel(ctx)
	resp, done, err := r.c.send(ctx, request{method: http.MethodGet, path: resourcePath(r.resource, "", ""), query: q, stream: true, resource: r.resource})
	if err != nil {
		cancel()
		return nil, err
	}
	w := newStreamWatcher(resp.Body, func() { cancel(); done() }, func() runtime.Object { return r.newObj() })
	return w, nil
}
