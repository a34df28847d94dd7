package fleet

import (
	"path"
	"sort"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Release is the OS release a host's status.os names, "<id>-<versionID>"
// (e.g. debian-12); "" while the host has not reported it.
func Release(os v1alpha1.OSInfo) string {
	if os.ID == "" {
		return ""
	}
	if os.VersionID == "" {
		return os.ID
	}
	return os.ID + "-" + os.VersionID
}

// NeedsPatchSet reports whether a cluster policy's updates are resolved
// once per OS release: it has spec.rollout and applies Security or All
// updates.
func NeedsPatchSet(pol *v1alpha1.PatchPolicy) bool {
	u := pol.Spec.Updates
	return pol.Spec.Rollout != nil && u != nil && (u.Apply == v1alpha1.UpdatesSecurity || u.Apply == v1alpha1.UpdatesAll)
}

// PatchSetFor is the policy's patch set for release at its current
// generation; nil when none was resolved yet.
func PatchSetFor(pol *v1alpha1.PatchPolicy, release string) *v1alpha1.PatchSet {
	for i := range pol.Status.PatchSets {
		ps := &pol.Status.PatchSets[i]
		if ps.Release == release && ps.Generation == pol.Generation {
			return ps
		}
	}
	return nil
}

// ResolvePatchSets returns the policy's patch sets with every release of
// its matched hosts resolved. It is pure.
//
// Sets of the current generation are kept as they are: once resolved, a
// release's set never changes within a generation. A release without one
// is resolved from the first matched host of that release (by name) that
// reported an observation (its status has a Ready condition): the pending upgrades in its status.upgradable
// (security ones only for Security), minus spec.updates.exclude, at the
// versions it reported. Sets of older generations are dropped. Policies
// that need no patch set get none.
func ResolvePatchSets(pol *v1alpha1.PatchPolicy, hosts []*v1alpha1.Host, now metav1.Time) []v1alpha1.PatchSet {
	if !NeedsPatchSet(pol) {
		return nil
	}
	var out []v1alpha1.PatchSet
	have := map[string]bool{}
	for _, ps := range pol.Status.PatchSets {
		if ps.Generation == pol.Generation {
			out = append(out, *ps.DeepCopy())
			have[ps.Release] = true
		}
	}
	sorted := make([]*v1alpha1.Host, len(hosts))
	copy(sorted, hosts)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, h := range sorted {
		rel := Release(h.Status.OS)
		if rel == "" || have[rel] || meta.FindStatusCondition(h.Status.Conditions, v1alpha1.ConditionReady) == nil {
			continue
		}
		if sel, err := pol.Selects(h.Labels); err != nil || !sel {
			continue
		}
		have[rel] = true
		ps := v1alpha1.PatchSet{Release: rel, Generation: pol.Generation, ResolvedBy: h.Name, ResolvedAt: &now}
		for _, up := range h.Status.Upgradable {
			if up.From == "" || up.To == "" || (pol.Spec.Updates.Apply == v1alpha1.UpdatesSecurity && !up.Security) || excluded(pol, up.Name) {
				continue
			}
			ps.Packages = append(ps.Packages, v1alpha1.PackageVersion{Name: up.Name, Version: up.To})
		}
		sort.Slice(ps.Packages, func(i, j int) bool { return ps.Packages[i].Name < ps.Packages[j].Name })
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Release < out[j].Release })
	return out
}

func excluded(pol *v1alpha1.PatchPolicy, name string) bool {
	for _, g := range pol.Spec.Updates.Exclude {
		if m, err := path.Match(g, name); err == nil && m {
			return true
		}
	}
	return false
}
