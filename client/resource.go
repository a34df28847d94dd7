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
	return typed[*v1alpha1.PatchPolicy, *v1alpha1.PatchPolicyList](c, PatchPolicies)
}

// Hosts returns the client of Hosts.
func (c *Client) Hosts() *Resource[*v1alpha1.Host, *v1alpha1.HostList] {
	return typed[*v1alpha1.Host, *v1alpha1.HostList](c, Hosts)
}

// Operations returns the client of Operations.
func (c *Client) Operations() *Resource[*v1alpha1.Operation, *v1alpha1.OperationList] {
	return typed[*v1alpha1.Operation, *v1alpha1.OperationList](c, Operations)
}

// typed is the client of a resource of the registry whose objects are Os
// and lists Ls.
func typed[O v1alpha1.Object, L runtime.Object](c *Client, resource string) *Resource[O, L] {
	info, _ := v1alpha1.LookupResource(resource)
	return &Resource[O, L]{
		c: c, resource: resource,
		newObj:  func() O { return info.NewObject().(O) },
		newList: func() L { return info.NewList().(L) },
	}
}

// Dynamic returns a client of a resource chosen at run time
// ("patchpolicies", "hosts" or "operations"); its objects are the typed
// objects of package v1alpha1 behind the v1alpha1.Object interface and its
// lists the typed lists (use meta.ExtractList for the items).
func (c *Client) Dynamic(resource string) (*Resource[v1alpha1.Object, runtime.Object], error) {
	info, ok := v1alpha1.LookupResource(resource)
	if !ok {
		return nil, fmt.Errorf("unknown resource %q", resource)
	}
	return &Resource[v1alpha1.Object, runtime.Object]{c: c, resource: resource, newObj: info.NewObject, newList: info.NewList}, nil
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
	return r.watch(ctx, opts, "", func() runtime.Object { return r.newObj() })
}

func (r *Resource[O, L]) watch(ctx context.Context, opts metav1.ListOptions, accept string, newObj func() runtime.Object) (watch.Interface, error) {
	q := listQuery(opts)
	q.Set("watch", "true")
	ctx, cancel := context.WithCancel(ctx)
	resp, done, err := r.c.send(ctx, request{method: http.MethodGet, path: resourcePath(r.resource, "", ""), query: q, accept: accept, stream: true, resource: r.resource})
	if err != nil {
		cancel()
		return nil, err
	}
	return newStreamWatcher(resp.Body, func() { cancel(); done() }, newObj), nil
}

// Table returns the objects opts selects as the server's meta.k8s.io/v1
// Table: the columns kubectl get prints and one row per object, each row
// carrying the object's metadata (includeObject=Metadata).
func (r *Resource[O, L]) Table(ctx context.Context, opts metav1.ListOptions) (*metav1.Table, error) {
	return r.table(ctx, request{path: resourcePath(r.resource, "", ""), query: listQuery(opts)})
}

// TableOf returns the object called name as a Table of one row.
func (r *Resource[O, L]) TableOf(ctx context.Context, name string) (*metav1.Table, error) {
	return r.table(ctx, request{path: resourcePath(r.resource, name, ""), name: name})
}

func (r *Resource[O, L]) table(ctx context.Context, req request) (*metav1.Table, error) {
	req.method, req.accept, req.resource = http.MethodGet, tableAccept, r.resource
	var t metav1.Table
	if err := r.c.do(ctx, req, &t); err != nil {
		return nil, err
	}
	if t.Kind != "Table" {
		return nil, fmt.Errorf("%s %s: the server answered a %q, not a Table", req.method, req.path, t.Kind)
	}
	return &t, nil
}

// WatchTable is Watch with every event's object a *metav1.Table of the
// changed object's row (an ERROR event still carries a *metav1.Status).
func (r *Resource[O, L]) WatchTable(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return r.watch(ctx, opts, tableAccept, func() runtime.Object { return &metav1.Table{} })
}
