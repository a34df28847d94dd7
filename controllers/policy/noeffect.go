package policy

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/reconcile"
)

// A step that exits 0 without reaching the declared state would run again
// at every pass, forever (apt-get install of a virtual name installs its
// provider and exits 0; an apt preference keeps the installed version).
// After the planned steps of a pass succeeded, noteNoEffect observes
// afresh and records, in each policy's status.noEffect, every item a
// step served that is still unsatisfied; the planner steps such an item
// once more and then stops (reconcile.ExhaustedNoEffect): the item is
// Skip/NoEffect and the policy Stalled until a new generation.

// ranStep is a planned step that succeeded in this pass.
type ranStep struct {
	plan      reconcile.Step
	step      backends.Step
	operation string
}

// noteNoEffect observes the host again after steps succeeded (the
// backends' caches are keyed by the package database, which the steps
// changed if they did anything) and records the items they left
// unsatisfied. When one of them reached MaxNoEffect it plans again, so
// that this pass's status already says Stalled.
func (c *Controller) noteNoEffect(ctx context.Context, p *pass, ran []ranStep) error {
	if len(ran) == 0 {
		return nil
	}
	before := p.obs
	if err := c.observe(ctx, p); err != nil {
		return err
	}
	exhausted := false
	for i := range p.policies {
		pol := &p.policies[i]
		pp, ok := p.plan.Policy(pol.Name)
		if !ok || !pp.Enforcing() {
			continue
		}
		for _, it := range pp.Items {
			r, ok := servedBy(ran, pol.Name, it)
			if !ok {
				continue
			}
			var rec v1alpha1.NoEffectStep
			pol.Status.NoEffect, rec = reconcile.NoteNoEffect(pol.Status.NoEffect, pol.Generation, it, r.step.Type, r.step.Argv, r.operation,
				runSummary(it, r, before, p.obs, c.tail(r.operation)),
				func(rec v1alpha1.NoEffectStep) string { return noEffectMessage(rec, it, r.step, p.obs) })
			c.log.Info("step succeeded but left the package as it was", "policy", pol.Name, "package", it.Package,
				"operation", r.operation, "attempts", rec.Attempts)
			exhausted = exhausted || rec.Attempts >= v1alpha1.MaxNoEffect
		}
	}
	if !exhausted {
		return nil
	}
	return c.observe(ctx, p)
}

// servedBy returns the last step of ran that served policy's item: one
// serving the policy with the item's package, preferring the step type of
// the item's action. ok is false when the item is satisfied or no step
// served it.
func servedBy(ran []ranStep, policy string, it v1alpha1.PlanItem) (ranStep, bool) {
	switch it.Action {
	case v1alpha1.ActionNone, v1alpha1.ActionSkip:
		return ranStep{}, false
	}
	var found ranStep
	ok := false
	for _, r := range ran {
		if !slices.Contains(r.plan.Policies, policy) || !slices.ContainsFunc(r.plan.Packages, func(ref backends.PackageRef) bool { return ref.Name == it.Package }) {
			continue
		}
		if !ok || string(r.plan.Type) == string(it.Action) || string(found.plan.Type) != string(it.Action) {
			found, ok = r, true
		}
	}
	return found, ok
}

// runSummary says what one run of a step changed on the host and what
// the package manager said: its last line naming the item's package, else
// the last naming an installed package the step did not ask for (apt-get
// install zeta-virt says "zeta-impl is already the newest version").
func runSummary(it v1alpha1.PlanItem, r ranStep, before, after *backends.Observation, out []byte) string {
	// The step's other packages changed as they were asked to: not news.
	asked := map[string]bool{}
	for _, ref := range r.plan.Packages {
		asked[ref.Name] = ref.Name != it.Package
	}
	run := changes(before, after, asked)
	line := lineNaming(out, it.Package)
	if line == "" {
		others := make([]string, 0, len(after.Installed))
		for name := range after.Installed {
			if _, ok := asked[name]; !ok {
				others = append(others, name)
			}
		}
		line = lineNaming(out, others...)
	}
	if line != "" {
		run += fmt.Sprintf(" (%s said %q)", commandName(r.step.Argv), line)
	}
	return run
}

// noEffectMessage says what the steps recorded in rec did: the command,
// how often it exited 0, what is still wrong, what each run changed and
// what the package manager said, and what an operator can do.
func noEffectMessage(rec v1alpha1.NoEffectStep, it v1alpha1.PlanItem, step backends.Step, after *backends.Observation) string {
	times := "once"
	switch {
	case rec.Attempts == 2:
		times = "twice"
	case rec.Attempts > 2:
		times = fmt.Sprintf("%d times", rec.Attempts)
	}
	runs := make([]string, len(rec.Runs))
	for i, r := range rec.Runs {
		runs[i] = fmt.Sprintf("run %d %s", i+1, r)
	}
	msg := fmt.Sprintf("%s exited 0 %s but %s; %s; ", commandLine(step), times, stillWrong(it), strings.Join(runs, "; "))
	if by := after.Provides[it.Package]; len(by) > 0 {
		msg += fmt.Sprintf("%s provides %s: name the provider", strings.Join(by, ", "), it.Package)
	} else {
		msg += hint(it)
	}
	if rec.Attempts >= v1alpha1.MaxNoEffect {
		return msg + "; no identical step runs again for this generation of the policy"
	}
	return msg + "; retried once after a fresh observation"
}

// stillWrong says what the item still wants.
func stillWrong(it v1alpha1.PlanItem) string {
	switch {
	case it.Action == v1alpha1.ActionInstall && it.From == "":
		return it.Package + " is still not installed"
	case it.Action == v1alpha1.ActionInstall || it.Action == v1alpha1.ActionUpgrade:
		to := ""
		if it.To != "" {
			to = " (wanted " + it.To + ")"
		}
		return fmt.Sprintf("%s is still at %s%s", it.Package, it.From, to)
	case it.Action == v1alpha1.ActionRemove:
		return it.Package + " is still installed"
	case it.Action == v1alpha1.ActionHold:
		return it.Package + " is still not held"
	case it.Action == v1alpha1.ActionUnhold:
		return it.Package + " is still held"
	}
	return it.Package + " is still not as declared"
}

// hint says what usually makes the item's step a no-op.
func hint(it v1alpha1.PlanItem) string {
	switch {
	case it.Action == v1alpha1.ActionInstall && it.From == "":
		return "if " + it.Package + " is a virtual package, name the package that provides it"
	case it.Action == v1alpha1.ActionInstall || it.Action == v1alpha1.ActionUpgrade:
		return "the package manager's own pins (apt preferences, dnf versionlock, pacman IgnorePkg) may keep the version; change them or the policy"
	}
	return "change the host or the policy"
}

// changes says what differs between two observations' installed
// packages, but for those in skip: "installed zeta-impl 1.0, changed
// hello 1.0 → 2.0", or "changed nothing".
func changes(before, after *backends.Observation, skip map[string]bool) string {
	var parts []string
	for name, a := range after.Installed {
		b, was := before.Installed[name]
		switch {
		case skip[name]:
		case !was:
			parts = append(parts, fmt.Sprintf("installed %s %s", name, a.Version))
		case b.Version != a.Version:
			parts = append(parts, fmt.Sprintf("changed %s %s → %s", name, b.Version, a.Version))
		case b.Held != a.Held && a.Held:
			parts = append(parts, "held "+name)
		case b.Held != a.Held:
			parts = append(parts, "released "+name)
		}
	}
	for name := range before.Installed {
		if _, is := after.Installed[name]; !is && !skip[name] {
			parts = append(parts, "removed "+name)
		}
	}
	if len(parts) == 0 {
		return "changed nothing"
	}
	sort.Strings(parts)
	const most = 5
	if len(parts) > most {
		parts = append(parts[:most], fmt.Sprintf("and %d more", len(parts)-most))
	}
	return strings.Join(parts, ", ")
}

// lineNaming returns the last line of out that names one of pkgs as a
// word, trimmed and bounded: the package manager's own words about it
// ("Note, selecting 'zeta-impl' instead of 'zeta-virt'", "hello is
// already the newest version (1.0).").
func lineNaming(out []byte, pkgs ...string) string {
	lines := strings.Split(string(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if slices.ContainsFunc(pkgs, func(p string) bool { return namesWord(l, p) }) {
			const most = 200
			if len(l) > most {
				l = l[:most] + "…"
			}
			return l
		}
	}
	return ""
}

// namesWord reports whether line has pkg as a word: not inside a longer
// package name (hello-doc, libhello), a trailing full stop allowed.
func namesWord(line, pkg string) bool {
	for off := 0; pkg != ""; {
		i := strings.Index(line[off:], pkg)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(pkg)
		before := i == 0 || !isNameByte(line[i-1])
		after := end == len(line) || !isNameByte(line[end]) ||
			line[end] == '.' && (end+1 == len(line) || !isNameByte(line[end+1]))
		if before && after {
			return true
		}
		off = i + 1
	}
	return false
}

// isNameByte: a byte a Debian, RPM, Arch or Alpine package name may hold.
func isNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || strings.IndexByte("+._-", b) >= 0
}

// verbRE is a package manager's subcommand (install, add, remove, …).
var verbRE = regexp.MustCompile(`^[A-Za-z][A-Za-z-]*$`)

// commandLine renders a step's argv for a message: the program's base
// name and the arguments from its subcommand on, without the options
// every step carries ("apt-get install zeta-virt"); the whole argv when
// no package is found in it.
func commandLine(s backends.Step) string {
	if len(s.Argv) == 0 {
		return string(s.Type) + " step"
	}
	first := -1
	if len(s.Packages) > 0 {
		first = slices.IndexFunc(s.Argv[1:], func(a string) bool {
			return !strings.HasPrefix(a, "-") && strings.HasPrefix(a, s.Packages[0])
		}) + 1
	}
	if first <= 0 {
		return strings.Join(append([]string{commandName(s.Argv)}, s.Argv[1:]...), " ")
	}
	start := first - 1
	for start > 0 && strings.HasPrefix(s.Argv[start], "-") {
		start--
	}
	if start == 0 || !verbRE.MatchString(s.Argv[start]) {
		start++
	}
	return strings.Join(append([]string{commandName(s.Argv)}, s.Argv[start:]...), " ")
}

// commandName is the base name of argv's program.
func commandName(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	return filepath.Base(argv[0])
}
