package toolkit

import (
	"slices"

	"github.com/patchlet/patchlet/backends"
)

// VirtualProvides is Observation.Provides from what each installed
// package provides (provides: provider's key in installed → the names it
// provides, versions already stripped): every provided name that is not
// itself an installed package (by key or name) nor the provider's own
// name, mapped to its providers, sorted and without duplicates. It never
// returns nil.
func VirtualProvides(installed map[string]backends.Package, provides map[string][]string) map[string][]string {
	isPkg := make(map[string]bool, 2*len(installed))
	for k, p := range installed {
		isPkg[k], isPkg[p.Name] = true, true
	}
	out := map[string][]string{}
	for provider, names := range provides {
		if _, ok := installed[provider]; !ok {
			continue
		}
		for _, n := range names {
			if n == "" || isPkg[n] {
				continue
			}
			out[n] = append(out[n], provider)
		}
	}
	for n, ps := range out {
		slices.Sort(ps)
		out[n] = slices.Compact(ps)
	}
	return out
}
