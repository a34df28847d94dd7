package v1alpha1

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Resource names (plural, lowercase, as in URLs).
const (
	ResourcePatchPolicies = "patchpolicies"
	ResourceHosts         = "hosts"
	ResourceOperations    = "operations"
)

// Subresource names.
const (
	SubresourceStatus = "status"
	// SubresourceLog is an Operation's output, served as plain text.
	SubresourceLog = "log"
)

// ResourceInfo describes one resource of the API: its names, the types of
// its objects and lists, what clients may do with it, and the columns of
// its table. The store, the agent's server and client, metrics, fleet mode
// and patchctl all read it from Resources.
//
// +kubebuilder:object:generate=false
type ResourceInfo struct {
	// Resource is the plural lowercase name used in URLs.
	Resource string
	// Singular name, as in "patchpolicy/web".
	Singular string
	// Kind of its objects and ListKind of its lists.
	Kind, ListKind string
	// ShortNames served by discovery (kubectl get pp).
	ShortNames []string
	// Aliases are further names patchctl accepts besides the resource, the
	// singular, the short names, the Kind and "<resource>.patchlet.io".
	Aliases []string
	// Namespaced is false: every resource of the API is cluster-scoped.
	Namespaced bool
	// Writable: clients may create, update, patch and delete its objects
	// over the agent's API; the agent alone writes the others.
	Writable bool
	// Subresources besides the object itself (SubresourceStatus, …).
	Subresources []string
	// Columns of its table (kubectl get, patchctl get), in order.
	Columns []Column
	// NewObject and NewList return an empty object and list.
	NewObject func() Object
	NewList   func() runtime.Object
}

// Resources lists every resource of the API, in the order discovery lists
// them.
var Resources = []ResourceInfo{
	{
		Resource: ResourcePatchPolicies, Singular: "patchpolicy",
		Kind: KindPatchPolicy, ListKind: KindPatchPolicy + "List",
		ShortNames: []string{"pp"}, Aliases: []string{"policies", "policy"},
		Writable:     true,
		Subresources: []string{SubresourceStatus},
		Columns:      patchPolicyColumns,
		NewObject:    func() Object { return &PatchPolicy{} },
		NewList:      func() runtime.Object { return &PatchPolicyList{} },
	},
	{
		Resource: ResourceHosts, Singular: "host",
		Kind: KindHost, ListKind: KindHost + "List",
		Subresources: []string{SubresourceStatus},
		Columns:      hostColumns,
		NewObject:    func() Object { return &Host{} },
		NewList:      func() runtime.Object { return &HostList{} },
	},
	{
		Resource: ResourceOperations, Singular: "operation",
		Kind: KindOperation, ListKind: KindOperation + "List",
		ShortNames: []string{"op"}, Aliases: []string{"ops"},
		Subresources: []string{SubresourceStatus, SubresourceLog},
		Columns:      operationColumns,
		NewObject:    func() Object { return &Operation{} },
		NewList:      func() runtime.Object { return &OperationList{} },
	},
}

// LookupResource returns the ResourceInfo of a resource's plural name.
func LookupResource(resource string) (ResourceInfo, bool) {
	i := slices.IndexFunc(Resources, func(r ResourceInfo) bool { return r.Resource == resource })
	if i < 0 {
		return ResourceInfo{}, false
	}
	return Resources[i], true
}

// ResourceOfKind returns the ResourceInfo of a Kind.
func ResourceOfKind(kind string) (ResourceInfo, bool) {
	i := slices.IndexFunc(Resources, func(r ResourceInfo) bool { return r.Kind == kind })
	if i < 0 {
		return ResourceInfo{}, false
	}
	return Resources[i], true
}

// ResourceNamed finds a resource by any of the names a user may type: its
// plural, singular, short names, aliases, Kind or "<plural>.patchlet.io",
// ignoring case.
func ResourceNamed(name string) (ResourceInfo, bool) {
	i := slices.IndexFunc(Resources, func(r ResourceInfo) bool { return slices.Contains(r.Names(), strings.ToLower(name)) })
	if i < 0 {
		return ResourceInfo{}, false
	}
	return Resources[i], true
}

// Names are the lowercase names ResourceNamed accepts for r.
func (r ResourceInfo) Names() []string {
	return slices.Concat([]string{r.Resource, r.Singular}, r.ShortNames, r.Aliases,
		[]string{strings.ToLower(r.Kind), r.Resource + "." + Group})
}

// GroupResource of r, for errors.
func (r ResourceInfo) GroupResource() schema.GroupResource {
	return schema.GroupResource{Group: Group, Resource: r.Resource}
}

// GroupKind of r's objects.
func (r ResourceInfo) GroupKind() schema.GroupKind {
	return schema.GroupKind{Group: Group, Kind: r.Kind}
}

// HasSubresource says whether r serves sub.
func (r ResourceInfo) HasSubresource(sub string) bool { return slices.Contains(r.Subresources, sub) }
