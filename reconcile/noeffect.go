package reconcile

import (
	"slices"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// A no-effect step exited successfully but left the plan item it served
// unsatisfied (apt-get install of a virtual name installs its provider;
// an apt preference keeps the installed version). The controller notes
// each one in the policy's status.noEffect (NoteNoEffect); Plan stops
// stepping an item once it was noted MaxNoEffect times for the
// generation (ExhaustedNoEffect); PolicyStatus keeps only the records
// of the generation whose items are still unsatisfied (pruneNoEffect).

// noEffectMatches reports whether rec is about item in generation gen:
// the same package, wanting the same thing (action and version). A
// Skip/NoEffect item is the one its record stopped.
func noEffectMatches(rec v1alpha1.NoEffectStep, gen int64, item v1alpha1.PlanItem) bool {
	if rec.ObservedGeneration != gen || rec.Package != item.Package {
		return false
	}
	if item.Action == v1alpha1.ActionSkip && item.Reason == v1alpha1.PlanNoEffect {
		return true
	}
	return rec.Action == item.Action && rec.To == item.To
}

// ExhaustedNoEffect returns the record of item in generation gen when
// successful steps left it unsatisfied MaxNoEffect times already.
func ExhaustedNoEffect(recs []v1alpha1.NoEffectStep, gen int64, item v1alpha1.PlanItem) (v1alpha1.NoEffectStep, bool) {
	for _, r := range recs {
		if noEffectMatches(r, gen, item) && r.Attempts >= v1alpha1.MaxNoEffect {
			return r, true
		}
	}
	return v1alpha1.NoEffectStep{}, false
}

// NoteNoEffect returns recs (not modified) with one more successful step
// that left item unsatisfied in generation gen, and that record: the
// step, its Operation, run (what it changed, what the package manager
// said) and the message msg makes of the record. Records of other
// generations are dropped; a record of the package that wanted something
// else is replaced.
func NoteNoEffect(recs []v1alpha1.NoEffectStep, gen int64, item v1alpha1.PlanItem, step v1alpha1.StepType, argv []string,
	operation, run string, msg func(rec v1alpha1.NoEffectStep) string) ([]v1alpha1.NoEffectStep, v1alpha1.NoEffectStep) {
	var prev v1alpha1.NoEffectStep
	out := make([]v1alpha1.NoEffectStep, 0, len(recs)+1)
	for _, r := range recs {
		switch {
		case r.ObservedGeneration != gen:
		case r.Package != item.Package:
			out = append(out, r)
		case noEffectMatches(r, gen, item):
			prev = r
		}
	}
	rec := v1alpha1.NoEffectStep{
		Package: item.Package, Action: item.Action, To: item.To, ObservedGeneration: gen,
		Step: step, Argv: slices.Clone(argv), Attempts: prev.Attempts + 1,
		Operations: append(slices.Clone(prev.Operations), operation),
		Runs:       append(slices.Clone(prev.Runs), clip(run)),
	}
	rec.Message = clip(msg(rec))
	out = append(out, rec)
	slices.SortFunc(out, func(a, b v1alpha1.NoEffectStep) int { return strings.Compare(a.Package, b.Package) })
	return out, rec
}

// pruneNoEffect keeps the records of generation gen whose items are still
// unsatisfied in items; nil when none is left.
func pruneNoEffect(recs []v1alpha1.NoEffectStep, gen int64, items []v1alpha1.PlanItem) []v1alpha1.NoEffectStep {
	var out []v1alpha1.NoEffectStep
	for _, r := range recs {
		if slices.ContainsFunc(items, func(it v1alpha1.PlanItem) bool { return noEffectMatches(r, gen, it) }) {
			out = append(out, r)
		}
	}
	return out
}
