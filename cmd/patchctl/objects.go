package main

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/client"
)

// resourceOf is the client of a resource type of the registry.
func resourceOf(c *client.Client, k kindInfo) *client.Resource[v1alpha1.Object, runtime.Object] {
	res, err := c.Dynamic(k.Resource)
	if err != nil {
		panic(err) // every kindInfo comes from the registry, which the client knows
	}
	return res
}

// getRef returns the object r names, with its apiVersion and kind set.
func getRef(ctx context.Context, c *client.Client, r ref) (v1alpha1.Object, error) {
	obj, err := resourceOf(c, r.kind).Get(ctx, r.name)
	if err != nil {
		return nil, err
	}
	ensureTypeMeta(obj, r.kind.Kind)
	return obj, nil
}

// listKind returns the list of the objects of a kind that opts selects,
// and its items with their apiVersion and kind set.
func listKind(ctx context.Context, c *client.Client, k kindInfo, opts metav1.ListOptions) (runtime.Object, []v1alpha1.Object, error) {
	list, err := resourceOf(c, k).List(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	objs, err := listObjects(list, k.Kind)
	return list, objs, err
}

// eachRef runs f on every reference in order; a failure is printed as
// "error: …" and the others go on. It says whether any failed.
func eachRef(s streams, refs []ref, f func(r ref) error) (failed bool) {
	for _, r := range refs {
		if err := f(r); err != nil {
			failed = true
			printError(s.errOut, err)
		}
	}
	return failed
}

// reported is the error of a command whose failures were printed already:
// reportedError (exit status 1) when any failed, nil otherwise.
func reported(failed bool) error {
	if failed {
		return reportedError{}
	}
	return nil
}

// withClient runs f with a client for the agent the global flags name.
func (g *globalOptions) withClient(ctx context.Context, f func(context.Context, *client.Client) error) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	return f(ctx, c)
}
