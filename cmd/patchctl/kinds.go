package main

import (
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// kindInfo describes one resource type the CLI knows: an entry of the
// registry v1alpha1.Resources.
type kindInfo = v1alpha1.ResourceInfo

// lookupKind finds a resource type by any of its names or its Kind,
// ignoring case.
func lookupKind(name string) (kindInfo, bool) { return v1alpha1.ResourceNamed(name) }

// kindOf returns the kindInfo of a Kind name.
func kindOf(kind string) (kindInfo, bool) { return v1alpha1.ResourceOfKind(kind) }

// kindList names the resource types for messages: "patchpolicies (pp),
// hosts, operations (op)".
var kindList = func() string {
	var names []string
	for _, r := range v1alpha1.Resources {
		if len(r.ShortNames) > 0 {
			names = append(names, r.Resource+" ("+strings.Join(r.ShortNames, ", ")+")")
		} else {
			names = append(names, r.Resource)
		}
	}
	return strings.Join(names, ", ")
}()

// ref is one named object: "patchpolicy/web".
type ref struct {
	kind kindInfo
	name string
}

func (r ref) String() string { return r.kind.Singular + "/" + r.name }

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
		return kindInfo{}, nil, usagef("missing the name of the %s", ki.Singular)
	}
	return ki, refs, nil
}
