package main

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/client"
)

// kindInfo describes one resource type the CLI knows.
type kindInfo struct {
	// resource is the plural name used in URLs.
	resource string
	// singular is used in "patchpolicy/NAME" references.
	singular string
	// kind is the Kind of its objects.
	kind    string
	aliases []string
}

var kinds = []kindInfo{
	{resource: client.PatchPolicies, singular: "patchpolicy", kind: v1alpha1.KindPatchPolicy,
		aliases: []string{"patchpolicies", "patchpolicy", "policies", "policy", "pp", "patchpolicies.patchlet.io"}},
	{resource: client.Hosts, singular: "host", kind: v1alpha1.KindHost,
		aliases: []string{"hosts", "host", "hosts.patchlet.io"}},
	{resource: client.Operations, singular: "operation", kind: v1alpha1.KindOperation,
		aliases: []string{"operations", "operation", "ops", "op", "operations.patchlet.io"}},
}

// lookupKind finds a resource type by any of its names or its Kind,
// ignoring case.
func lookupKind(name string) (kindInfo, bool) {
	n := strings.ToLower(name)
	for _, k := range kinds {
		if n == strings.ToLower(k.kind) {
			return k, true
		}
		for _, a := range k.aliases {
			if n == a {
				return k, true
			}
		}
	}
	return kindInfo{}, false
}

// kindOf returns the kindInfo of a Kind name.
func kindOf(kind string) (kindInfo, bool) {
	for _, k := range kinds {
		if k.kind == kind {
			return k, true
		}
	}
	return kindInfo{}, false
}

const kindList = "patchpolicies (pp), hosts, operations (op)"

// ref is one named object: "patchpolicy/web".
type ref struct {
	kind kindInfo
	name string
}

func (r ref) String() string { return r.kind.singular + "/" + r.name }

// parseRefs turns "KIND NAME..." or "KIND/NAME..." arguments into
// references. needName says whether at least one name is required.
func parseRefs(args []string, needName bool) (kindInfo, []ref, error) {
	if len(args) == 0 {
		return kindInfo{}, nil, usagef("missing resource type (one of %s)", kindList)
	}
	if strings.Contains(args[0], "/") {
		var refs []ref
		var first kindInfo
		for i, a := range args {
			k, n, ok := strings.Cut(a, "/")
			if !ok || n == "" {
				return kindInfo{}, nil, usagef("%q: mixing KIND/NAME and KIND NAME arguments, or an empty name", a)
			}
			ki, found := lookupKind(k)
			if !found {
				return kindInfo{}, nil, usagef("unknown resource type %q (known: %s)", k, kindList)
			}
			if i == 0 {
				first = ki
			}
			refs = append(refs, ref{kind: ki, name: n})
		}
		return first, refs, nil
	}
	ki, found := lookupKind(args[0])
	if !found {
		return kindInfo{}, nil, usagef("unknown resource type %q (known: %s)", args[0], kindList)
	}
	var refs []ref
	for _, n := range args[1:] {
		if strings.Contains(n, "/") {
			return kindInfo{}, nil, usagef("%q: there is no need to name the type twice; use KIND NAME or KIND/NAME", n)
		}
		refs = append(refs, ref{kind: ki, name: n})
	}
	if needName && len(refs) == 0 {
		return kindInfo{}, nil, usagef("missing the name of the %s", ki.singular)
	}
	return ki, refs, nil
}

// schemaGR is the GroupResource of a resource, for errors.
func schemaGR(resource string) schema.GroupResource {
	return schema.GroupResource{Group: v1alpha1.Group, Resource: resource}
}
