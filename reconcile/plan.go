package reconcile

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
)

// allPackages is the PlanItem.Package of an item about a whole policy
// rather than one package (e.g. security updates on a backend that cannot
// tell them apart).
const allPackages = "*"

// PlanInput is everything Plan looks at.
type PlanInput struct {
	// Policies known to the agent, defaulted and validated, in any order.
	Policies []v1alpha1.PatchPolicy
	// HostLabels are this host's labels.
	HostLabels map[string]string
	// Observation is what the backend sees on the host.
	Observation *backends.Observation
	// Capabilities of the backend.
	Capabilities backends.Capabilities
	// Family is the backend's package naming family (v1alpha1.FamilyDebian,
	// …); names and versions that the family cannot have are Unsupported.
	// Empty accepts every family's names.
	Family string
	// Now decides whether maintenance windows are open.
	Now time.Time
}

// PolicyPlan is one policy's part of a plan.
type PolicyPlan struct {
	Name       string
	Generation int64
	// Selected: the policy's host selector matches this host.
	Selected  bool
	Suspended bool
	Audit     bool
	// Items lists, sorted by package, every package the policy names and
	// every pending upgrade its spec.updates covers.
	Items []v1alpha1.PlanItem
	// Pending counts the items that change the host (Install, Upgrade,
	// Remove, Hold, Unhold).
	Pending int32
	// Stalled: some item cannot be done until the spec, another policy or
	// the host changes (Conflict, VersionNotAvailable, Unsupported, a hold
	// patchlet did not place). Its other items still proceed.
	Stalled        bool
	StalledReason  v1alpha1.PlanReason
	StalledMessage string
	// WindowOpen: the maintenance window is open at Now (always true
	// without a window).
	WindowOpen bool
	// NextWindow is when a closed maintenance window opens next.
	NextWindow time.Time
	// State summarises the plan: Compliant, Progressing, WaitingForWindow,
	// Drifted (Audit), Stalled, Suspended or NotSelected.
	State v1alpha1.PolicyState
	// Message says why, for humans.
	Message string
}

// Enforcing reports whether the policy changes this host: selected,
// not suspended, not Audit.
func (pp PolicyPlan) Enforcing() bool { return pp.Selected && !pp.Suspended && !pp.Audit }

// Step is one merged package-manager step for the host.
type Step struct {
	Type v1alpha1.StepType
	// Packages sorted by name; Version is set on pinned installs only.
	Packages []backends.PackageRef
	// Policies the step serves, sorted.
	Policies []string
}

// Names returns the names of the step's packages.
func (s Step) Names() []string {
	names := make([]string, len(s.Packages))
	for i, p := range s.Packages {
		names[i] = p.Name
	}
	return names
}

// PlanOutput is the plan for one host.
type PlanOutput struct {
	// Policies has one entry per input policy, sorted by name.
	Policies []PolicyPlan
	// Steps to run, in order: Unhold, Remove, Install, Upgrade, Hold. Empty
	// when nothing is to be done.
	Steps []Step
}

// Policy returns the plan of the named policy.
func (o PlanOutput) Policy(name string) (PolicyPlan, bool) {
	for _, p := range o.Policies {
		if p.Name == name {
			return p, true
		}
	}
	return PolicyPlan{}, false
}

// StepsFor returns the steps that serve the named policy.
func (o PlanOutput) StepsFor(name string) []Step {
	var steps []Step
	for _, s := range o.Steps {
		if slices.Contains(s.Policies, name) {
			steps = append(steps, s)
		}
	}
	return steps
}

// stepOrder is the order steps run in: release holds that stand in the way
// of a pinned version, remove, install, upgrade, and hold last so that a
// package installed in this pass is held in the same pass.
var stepOrder = []v1alpha1.StepType{
	v1alpha1.StepUnhold, v1alpha1.StepRemove, v1alpha1.StepInstall, v1alpha1.StepUpgrade, v1alpha1.StepHold,
}

// claim is what one policy's spec.packages entry says about a package.
type claim struct {
	policy  string
	state   v1alpha1.PackageState
	version string
}

func (c claim) String() string {
	if c.version != "" {
		return fmt.Sprintf("%s at %s", c.state, c.version)
	}
	return string(c.state)
}

// compatible reports whether two policies can both have their way with one
// package. Absent agrees only with Absent; Held agrees with nothing that
// moves the version (Latest, or a pin unless Held itself pins the same
// version); two pins agree only on the same version; a pin disagrees with
// Latest. Present without a version agrees with everything but Absent.
func compatible(a, b claim) bool {
	if a.state == v1alpha1.PackageAbsent || b.state == v1alpha1.PackageAbsent {
		return a.state == b.state
	}
	if a.state == v1alpha1.PackageLatest || b.state == v1alpha1.PackageLatest {
		other := a
		if a.state == v1alpha1.PackageLatest {
			other = b
		}
		return other.state != v1alpha1.PackageHeld && other.version == ""
	}
	if a.version != "" && b.version != "" {
		return a.version == b.version
	}
	// At most one pins; a Held without a version keeps whatever is
	// installed and so disagrees with a pin.
	if a.version != b.version {
		unpinned := a
		if a.version != "" {
			unpinned = b
		}
		return unpinned.state != v1alpha1.PackageHeld
	}
	return true
}

// hostClaims are the Enforce policies' claims on this host, merged.
type hostClaims struct {
	// conflicts[pkg][policy] names the policies that disagree with policy about pkg.
	conflicts map[string]map[string][]string
	claims    map[string][]claim
	pins      map[string]string   // pinned version, from non-conflicting claims
	heldBy    map[string][]string // policies that hold a package
	absentBy  map[string][]string // policies that remove a package
	pinnedBy  map[string][]string
}

func mergeClaims(policies []*v1alpha1.PatchPolicy) hostClaims {
	h := hostClaims{
		conflicts: map[string]map[string][]string{},
		claims:    map[string][]claim{},
		pins:      map[string]string{},
		heldBy:    map[string][]string{},
		absentBy:  map[string][]string{},
		pinnedBy:  map[string][]string{},
	}
	for _, p := range policies {
		for _, pkg := range p.Spec.Packages {
			h.claims[pkg.Name] = append(h.claims[pkg.Name], claim{policy: p.Name, state: pkg.State, version: pkg.Version})
		}
	}
	for name, cs := range h.claims {
		for i := range cs {
			for j := i + 1; j < len(cs); j++ {
				if compatible(cs[i], cs[j]) {
					continue
				}
				if h.conflicts[name] == nil {
					h.conflicts[name] = map[string][]string{}
				}
				h.conflicts[name][cs[i].policy] = append(h.conflicts[name][cs[i].policy], cs[j].policy)
				h.conflicts[name][cs[j].policy] = append(h.conflicts[name][cs[j].policy], cs[i].policy)
			}
		}
		if h.conflicts[name] != nil {
			continue
		}
		for _, c := range cs {
			if c.version != "" {
				h.pins[name] = c.version
				h.pinnedBy[name] = append(h.pinnedBy[name], c.policy)
			}
			switch c.state {
			case v1alpha1.PackageHeld:
				h.heldBy[name] = append(h.heldBy[name], c.policy)
			case v1alpha1.PackageAbsent:
				h.absentBy[name] = append(h.absentBy[name], c.policy)
			}
		}
	}
	return h
}

func (h hostClaims) claimOf(pkg, policy string) claim {
	for _, c := range h.claims[pkg] {
		if c.policy == policy {
			return c
		}
	}
	return claim{}
}

// contribution is one package's part in one step.
type contribution struct {
	step v1alpha1.StepType
	ref  backends.PackageRef
}

// planner holds what every policy's planning shares.
type planner struct {
	obs    *backends.Observation
	caps   backends.Capabilities
	family string
	claims hostClaims
	// upgrades are the names of obs.Upgrades, sorted.
	upgrades []string
}

// AvailableNames returns, sorted, the packages whose available versions
// Plan needs (the pinned ones) of the policies that select a host: pass
// them to backends.Backend.Observe.
func AvailableNames(policies []v1alpha1.PatchPolicy, hostLabels map[string]string) []string {
	seen := map[string]bool{}
	for i := range policies {
		p := &policies[i]
		if ok, err := p.Selects(hostLabels); err != nil || !ok || p.Spec.Suspend {
			continue
		}
		for _, pkg := range p.Spec.Packages {
			if pkg.Version != "" {
				seen[pkg.Name] = true
			}
		}
		if u := p.Spec.Updates; u != nil && u.Resolved != nil {
			for _, pv := range u.Resolved.Packages {
				seen[pv.Name] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Plan works out what must change on a host for the policies selecting it
// to hold. It is pure and deterministic: the same input gives the same
// output, and an observation that already satisfies every policy gives no
// steps.
//
// Decisions worth knowing:
//   - A pin (spec.packages[].version) means exactly that version: it is
//     installed whether that is an upgrade or a downgrade. In the RPM
//     family a pin without a release means any release of that version,
//     as rpm's NAME-VERSION does; the newest the index offers is installed
//     (v1alpha1.PinMatches, ResolvePin). A pinned version
//     that is neither installed nor in obs.Available is VersionNotAvailable;
//     the policy is Stalled until the index has it.
//   - Held holds an installed package. Held without a version does not
//     install a missing package. Held with a version installs that version
//     and holds it, releasing patchlet's hold first when the version must
//     move. (A Held package another policy installs is held on the next
//     pass.) A package held by the package manager that no policy holds is
//     left alone: patchlet never releases a hold it did not ask for, and no
//     policy installs, upgrades or removes it (the item is Skip/Held and the
//     policy is Stalled).
//   - spec.updates applies pending upgrades of installed packages (Security
//     or All), except those matching spec.updates.exclude (path.Match
//     globs), held ones, ones another policy pins, holds or removes, and the
//     policy's own spec.packages (their items decide). Upgrades that would
//     install a new package (From empty) follow from upgrading the package
//     that needs them and get no item of their own.
//   - spec.updates.resolved (a rollout's patch set) freezes the updates: a
//     pending upgrade of a listed package installs exactly the listed
//     version (VersionNotAvailable when the index lacks it); one already at
//     that version is satisfied even when a newer one is pending; pending
//     upgrades of unlisted packages are Skip/NotInPatchSet, not blocking.
//   - Conflicts: when Enforce policies disagree about a package (Absent
//     against anything else, different pins, a pin or Held against Latest,
//     Held against a pin of another version) that package is left alone: no
//     step touches it, each policy's item is Skip/Conflict naming the other
//     policies, and each policy is Stalled (reason Conflict). Everything
//     else of those policies proceeds.
//   - A Present or unpinned Latest package that is not installed under its
//     name but that installed packages provide (obs.Provides: a virtual
//     package) is satisfied: None/Provided, naming the providers. A pin of
//     such a name is planned as any pin: a provider does not satisfy it.
//   - An item that successful steps left unsatisfied MaxNoEffect times in
//     this generation (status.noEffect, kept by the controller) is
//     Skip/NoEffect with the record's message, and the policy is Stalled.
//   - Audit policies report items (drift) but contribute no steps, and
//     neither cause nor suffer conflicts; suspended and unselected policies
//     have no items; policies whose maintenance window is closed at Now
//     have items but contribute no steps (WaitingForWindow, NextWindow).
func Plan(in PlanInput) PlanOutput {
	obs := in.Observation
	if obs == nil {
		obs = &backends.Observation{}
	}
	policies := make([]*v1alpha1.PatchPolicy, len(in.Policies))
	for i := range in.Policies {
		policies[i] = &in.Policies[i]
	}
	sort.SliceStable(policies, func(i, j int) bool { return policies[i].Name < policies[j].Name })

	out := PlanOutput{Policies: make([]PolicyPlan, 0, len(policies))}
	var active, enforcing []*v1alpha1.PatchPolicy
	for _, p := range policies {
		pp := PolicyPlan{
			Name:       p.Name,
			Generation: p.Generation,
			Suspended:  p.Spec.Suspend,
			Audit:      p.Spec.Mode == v1alpha1.ModeAudit,
			WindowOpen: true,
		}
		ok, err := p.Selects(in.HostLabels)
		pp.Selected = ok
		switch {
		case err != nil:
			pp.Stalled, pp.StalledReason, pp.StalledMessage = true, v1alpha1.PlanInvalidSelector, err.Error()
			pp.State, pp.Message = v1alpha1.PolicyStalled, err.Error()
		case !ok:
			pp.State, pp.Message = v1alpha1.PolicyNotSelected, "host labels do not match spec.hostSelector"
		case p.Spec.Suspend:
			pp.State, pp.Message = v1alpha1.PolicySuspended, "spec.suspend is true"
		default:
			active = append(active, p)
			if !pp.Audit {
				enforcing = append(enforcing, p)
			}
		}
		out.Policies = append(out.Policies, pp)
	}

	pl := planner{obs: obs, caps: in.Capabilities, family: in.Family, claims: mergeClaims(enforcing), upgrades: sortedKeys(obs.Upgrades)}
	// steps[type][package] → version and the policies served.
	type merged struct {
		version  string
		policies map[string]bool
	}
	steps := map[v1alpha1.StepType]map[string]*merged{}
	for _, p := range active {
		pp := &out.Policies[slices.IndexFunc(out.Policies, func(x PolicyPlan) bool { return x.Name == p.Name })]
		contribs, blocked := pl.planPolicy(p, pp)
		pl.summarise(p, pp, blocked, in.Now)
		if pp.Audit || !pp.WindowOpen {
			continue
		}
		for _, c := range contribs {
			if steps[c.step] == nil {
				steps[c.step] = map[string]*merged{}
			}
			m := steps[c.step][c.ref.Name]
			if m == nil {
				m = &merged{policies: map[string]bool{}}
				steps[c.step][c.ref.Name] = m
			}
			if c.ref.Version != "" {
				m.version = c.ref.Version
			}
			m.policies[p.Name] = true
		}
	}
	for _, t := range stepOrder {
		byName := steps[t]
		if len(byName) == 0 {
			continue
		}
		s := Step{Type: t}
		served := map[string]bool{}
		for name, m := range byName {
			v := m.version
			if t == v1alpha1.StepInstall && v == "" {
				v = pl.claims.pins[name]
			}
			if t != v1alpha1.StepInstall {
				v = ""
			}
			s.Packages = append(s.Packages, backends.PackageRef{Name: name, Version: v})
			for pol := range m.policies {
				served[pol] = true
			}
		}
		sort.Slice(s.Packages, func(i, j int) bool { return s.Packages[i].Name < s.Packages[j].Name })
		for pol := range served {
			s.Policies = append(s.Policies, pol)
		}
		sort.Strings(s.Policies)
		out.Steps = append(out.Steps, s)
	}
	return out
}

// blockedItem is an item that cannot be done now.
type blockedItem struct {
	pkg     string
	reason  v1alpha1.PlanReason
	message string
}

// planPolicy fills pp.Items and returns the policy's step contributions and
// its blocked items.
func (pl planner) planPolicy(p *v1alpha1.PatchPolicy, pp *PolicyPlan) ([]contribution, []blockedItem) {
	var contribs []contribution
	var blocked []blockedItem
	add := func(item v1alpha1.PlanItem, cs []contribution, isBlocked bool) {
		if len(cs) > 0 {
			if rec, ok := ExhaustedNoEffect(p.Status.NoEffect, p.Generation, item); ok {
				// Successful steps left it as it was MaxNoEffect times:
				// no identical step runs again for this generation.
				item.Action, item.Reason, item.Message = v1alpha1.ActionSkip, v1alpha1.PlanNoEffect, rec.Message
				cs, isBlocked = nil, true
			}
		}
		pp.Items = append(pp.Items, item)
		contribs = append(contribs, cs...)
		if isBlocked {
			blocked = append(blocked, blockedItem{pkg: item.Package, reason: item.Reason, message: item.Message})
		}
		switch item.Action {
		case v1alpha1.ActionInstall, v1alpha1.ActionUpgrade, v1alpha1.ActionRemove, v1alpha1.ActionHold, v1alpha1.ActionUnhold:
			pp.Pending++
		}
	}
	own := map[string]bool{}
	for _, spec := range p.Spec.Packages {
		own[spec.Name] = true
		if others := pl.claims.conflicts[spec.Name][p.Name]; !pp.Audit && len(others) > 0 {
			add(pl.conflictItem(p.Name, spec, others), nil, true)
			continue
		}
		item, cs, isBlocked := pl.packageItem(spec)
		add(item, cs, isBlocked)
	}
	if u := p.Spec.Updates; u != nil && (u.Apply == v1alpha1.UpdatesSecurity || u.Apply == v1alpha1.UpdatesAll) {
		if u.Apply == v1alpha1.UpdatesSecurity && !pl.caps.Security {
			add(v1alpha1.PlanItem{
				Package: allPackages, Action: v1alpha1.ActionSkip, Reason: v1alpha1.PlanUnsupported,
				Message: "this backend cannot tell security updates apart; use spec.updates.apply All or None",
			}, nil, true)
		} else {
			for _, name := range pl.upgrades {
				if own[name] {
					continue
				}
				if item, cs, ok := pl.updateItem(p, pl.obs.Upgrades[name]); ok {
					add(item, cs, item.Reason == v1alpha1.PlanVersionNotAvailable)
				}
			}
		}
	}
	sort.SliceStable(pp.Items, func(i, j int) bool { return pp.Items[i].Package < pp.Items[j].Package })
	return contribs, blocked
}

func (pl planner) conflictItem(policy string, spec v1alpha1.PackageSpec, others []string) v1alpha1.PlanItem {
	others = slices.Clone(others)
	sort.Strings(others)
	others = slices.Compact(others)
	parts := make([]string, len(others))
	for i, o := range others {
		parts[i] = fmt.Sprintf("policy %s wants %s", o, pl.claims.claimOf(spec.Name, o))
	}
	return v1alpha1.PlanItem{
		Package: spec.Name, Action: v1alpha1.ActionSkip, Reason: v1alpha1.PlanConflict,
		From: pl.obs.Installed[spec.Name].Version,
		Message: fmt.Sprintf("this policy wants %s but %s; left alone until they agree",
			claim{policy: policy, state: spec.State, version: spec.Version}, strings.Join(parts, ", ")),
	}
}

// packageItem decides one spec.packages entry.
func (pl planner) packageItem(spec v1alpha1.PackageSpec) (v1alpha1.PlanItem, []contribution, bool) {
	name := spec.Name
	inst, installed := pl.obs.Installed[name]
	held := installed && inst.Held
	item := v1alpha1.PlanItem{Package: name, From: inst.Version}
	skip := func(reason v1alpha1.PlanReason, msg string, args ...any) (v1alpha1.PlanItem, []contribution, bool) {
		item.Action, item.Reason, item.Message = v1alpha1.ActionSkip, reason, fmt.Sprintf(msg, args...)
		return item, nil, true
	}
	ok := func(msg string) (v1alpha1.PlanItem, []contribution, bool) {
		item.Action, item.Reason, item.Message = v1alpha1.ActionNone, v1alpha1.PlanSatisfied, msg
		item.To = inst.Version
		return item, nil, false
	}
	const manualHold = "held by the package manager and no policy holds it; patchlet does not release holds it did not place"

	if !v1alpha1.IsPackageName(pl.family, name) {
		return skip(v1alpha1.PlanUnsupported, "%q is not a valid %s package name", name, familyName(pl.family))
	}
	if spec.Version != "" && !v1alpha1.IsPackageVersion(pl.family, spec.Version) {
		return skip(v1alpha1.PlanUnsupported, "%q is not a valid %s package version", spec.Version, familyName(pl.family))
	}
	if spec.State == v1alpha1.PackageHeld && !pl.caps.Hold {
		return skip(v1alpha1.PlanUnsupported, "this backend cannot hold packages")
	}
	policyHeld := spec.State == v1alpha1.PackageHeld || len(pl.claims.heldBy[name]) > 0

	switch {
	case spec.State == v1alpha1.PackageAbsent:
		if !installed {
			item.Action, item.Reason, item.Message = v1alpha1.ActionNone, v1alpha1.PlanSatisfied, "not installed"
			if by := pl.obs.Provides[name]; len(by) > 0 {
				item.Message = fmt.Sprintf("not installed; %s provides it, which Absent does not remove: name the provider to remove it", strings.Join(by, ", "))
			}
			return item, nil, false
		}
		if held {
			return skip(v1alpha1.PlanHeld, "%s", manualHold)
		}
		item.Action, item.Reason, item.Message = v1alpha1.ActionRemove, v1alpha1.PlanInstalled, "installed; the policy wants it absent"
		return item, []contribution{{step: v1alpha1.StepRemove, ref: backends.PackageRef{Name: name}}}, false

	case spec.Version != "":
		v := spec.Version
		if installed && v1alpha1.PinMatches(pl.family, v, inst.Version) {
			if spec.State == v1alpha1.PackageHeld && !held {
				item.Action, item.Reason, item.To, item.Message = v1alpha1.ActionHold, v1alpha1.PlanNotHeld, inst.Version, "at the pinned version; not held yet"
				return item, []contribution{{step: v1alpha1.StepHold, ref: backends.PackageRef{Name: name}}}, false
			}
			return ok("at the pinned version")
		}
		// The exact version to install: the pin itself, or in the RPM
		// family the newest release the index offers of a pin without one.
		resolved, found := v1alpha1.ResolvePin(pl.family, v, pl.obs.Available[name])
		if !found {
			avail := "none"
			if a := pl.obs.Available[name]; len(a) > 0 {
				avail = strings.Join(a, ", ")
			}
			msg := fmt.Sprintf("version %s is neither installed nor in the package index (available: %s)", v, avail)
			if by := pl.obs.Provides[name]; len(by) > 0 && !installed {
				msg += fmt.Sprintf("; %s is provided by %s, but a provider does not satisfy a pinned version: name the provider", name, strings.Join(by, ", "))
			}
			return skip(v1alpha1.PlanVersionNotAvailable, "%s", msg)
		}
		if held && !policyHeld {
			return skip(v1alpha1.PlanHeld, "%s", manualHold)
		}
		item.Action, item.Reason, item.To = v1alpha1.ActionInstall, v1alpha1.PlanPinned, resolved
		pinned := v
		if resolved != v {
			pinned = fmt.Sprintf("%s (%s)", v, resolved)
		}
		if installed {
			item.Message = fmt.Sprintf("pinned to %s, installed %s", pinned, inst.Version)
		} else {
			item.Message = fmt.Sprintf("pinned to %s, not installed", pinned)
		}
		var cs []contribution
		if held {
			cs = append(cs, contribution{step: v1alpha1.StepUnhold, ref: backends.PackageRef{Name: name}})
		}
		cs = append(cs, contribution{step: v1alpha1.StepInstall, ref: backends.PackageRef{Name: name, Version: resolved}})
		if policyHeld {
			cs = append(cs, contribution{step: v1alpha1.StepHold, ref: backends.PackageRef{Name: name}})
		}
		return item, cs, false

	case spec.State == v1alpha1.PackageHeld:
		switch {
		case !installed:
			item.Action, item.Reason, item.Message = v1alpha1.ActionNone, v1alpha1.PlanNotInstalled, "not installed; nothing to hold"
			return item, nil, false
		case held:
			return ok("held")
		default:
			item.Action, item.Reason, item.To, item.Message = v1alpha1.ActionHold, v1alpha1.PlanNotHeld, inst.Version, "installed; not held yet"
			return item, []contribution{{step: v1alpha1.StepHold, ref: backends.PackageRef{Name: name}}}, false
		}

	default: // Present or Latest, no version
		if by := pl.obs.Provides[name]; !installed && len(by) > 0 && pl.claims.pins[name] == "" {
			// A virtual package: what the package manager installs for
			// the name is there. (A pin of the name is another policy's
			// item, planned as a pin; providers do not satisfy it.)
			item.Action, item.Reason = v1alpha1.ActionNone, v1alpha1.PlanProvided
			item.Message = fmt.Sprintf("provided by %s (%s is a virtual package)", strings.Join(by, ", "), name)
			return item, nil, false
		}
		if !installed {
			item.Action, item.Reason, item.Message = v1alpha1.ActionInstall, v1alpha1.PlanNotInstalled, "not installed"
			if pin := pl.claims.pins[name]; pin != "" {
				item.To = pin
			} else if a := pl.obs.Available[name]; len(a) > 0 {
				item.To = a[0]
			}
			return item, []contribution{{step: v1alpha1.StepInstall, ref: backends.PackageRef{Name: name}}}, false
		}
		up, pending := pl.obs.Upgrades[name]
		if spec.State != v1alpha1.PackageLatest || !pending {
			return ok("installed")
		}
		if held {
			return skip(v1alpha1.PlanHeld, "an upgrade to %s is pending but the package is %s", up.To, manualHold)
		}
		item.Action, item.Reason, item.To = v1alpha1.ActionUpgrade, v1alpha1.PlanOutdated, up.To
		item.Message = "an upgrade is pending"
		if up.Security {
			item.Message = "a security upgrade is pending"
		}
		return item, []contribution{{step: v1alpha1.StepUpgrade, ref: backends.PackageRef{Name: name}}}, false
	}
}

// updateItem decides one pending upgrade under spec.updates. ok is false
// when the upgrade is not the policy's business at all.
func (pl planner) updateItem(p *v1alpha1.PatchPolicy, up backends.Upgrade) (v1alpha1.PlanItem, []contribution, bool) {
	inst, installed := pl.obs.Installed[up.Name]
	if !installed || up.From == "" {
		return v1alpha1.PlanItem{}, nil, false
	}
	resolved, pinned := "", false
	if r := p.Spec.Updates.Resolved; r != nil {
		// A resolved set decides alone which upgrades apply, and to what.
		for _, pv := range r.Packages {
			if pv.Name == up.Name {
				resolved, pinned = pv.Version, true
				break
			}
		}
		if !pinned {
			return v1alpha1.PlanItem{Package: up.Name, From: inst.Version, To: up.To, Action: v1alpha1.ActionSkip,
				Reason: v1alpha1.PlanNotInPatchSet, Message: "not in the rollout's resolved patch set; not upgraded by it"}, nil, true
		}
		if inst.Version == resolved {
			return v1alpha1.PlanItem{}, nil, false
		}
	} else if p.Spec.Updates.Apply == v1alpha1.UpdatesSecurity && !up.Security {
		return v1alpha1.PlanItem{}, nil, false
	}
	item := v1alpha1.PlanItem{Package: up.Name, From: inst.Version, To: up.To, Action: v1alpha1.ActionSkip}
	if pinned {
		item.To = resolved
	}
	skip := func(reason v1alpha1.PlanReason, msg string, args ...any) (v1alpha1.PlanItem, []contribution, bool) {
		item.Reason, item.Message = reason, fmt.Sprintf(msg, args...)
		return item, nil, true
	}
	for _, g := range p.Spec.Updates.Exclude {
		if m, err := path.Match(g, up.Name); err == nil && m {
			return skip(v1alpha1.PlanExcluded, "matches spec.updates.exclude %q", g)
		}
	}
	if others := pl.claims.conflicts[up.Name]; len(others) > 0 {
		return skip(v1alpha1.PlanConflict, "left alone while policies %s disagree about it", strings.Join(sortedKeys(others), ", "))
	}
	if inst.Held {
		return skip(v1alpha1.PlanHeld, "held by the package manager")
	}
	if by := pl.claims.heldBy[up.Name]; len(by) > 0 {
		return skip(v1alpha1.PlanHeld, "held by policy %s", strings.Join(sorted(by), ", "))
	}
	if by := pl.claims.pinnedBy[up.Name]; len(by) > 0 {
		return skip(v1alpha1.PlanPinned, "pinned to %s by policy %s", pl.claims.pins[up.Name], strings.Join(sorted(by), ", "))
	}
	if by := pl.claims.absentBy[up.Name]; len(by) > 0 {
		return skip(v1alpha1.PlanExcluded, "policy %s removes it", strings.Join(sorted(by), ", "))
	}
	if pinned {
		if !slices.Contains(pl.obs.Available[up.Name], resolved) {
			// Not blocking the rest; the policy reports the item.
			return skip(v1alpha1.PlanVersionNotAvailable, "the resolved version %s is not in the package index (newest %s)", resolved, up.To)
		}
		item.Action, item.Reason = v1alpha1.ActionUpgrade, v1alpha1.PlanOutdated
		item.Message = fmt.Sprintf("the rollout's resolved patch set wants %s (newest %s)", resolved, up.To)
		if up.Security {
			item.Reason = v1alpha1.PlanSecurityUpdate
		}
		return item, []contribution{{step: v1alpha1.StepInstall, ref: backends.PackageRef{Name: up.Name, Version: resolved}}}, true
	}
	item.Action, item.Reason, item.Message = v1alpha1.ActionUpgrade, v1alpha1.PlanOutdated, "an upgrade is pending"
	if up.Security {
		item.Reason, item.Message = v1alpha1.PlanSecurityUpdate, "a security upgrade is pending"
		if up.Source != "" {
			item.Message += " from " + up.Source
		}
	}
	return item, []contribution{{step: v1alpha1.StepUpgrade, ref: backends.PackageRef{Name: up.Name}}}, true
}

// stallPriority orders the reasons a policy is stalled for.
var stallPriority = []v1alpha1.PlanReason{v1alpha1.PlanConflict, v1alpha1.PlanUnsupported, v1alpha1.PlanVersionNotAvailable,
	v1alpha1.PlanNoEffect, v1alpha1.PlanHeld}

// summarise sets the window, stall and state fields of a policy's plan.
func (pl planner) summarise(p *v1alpha1.PatchPolicy, pp *PolicyPlan, blocked []blockedItem, now time.Time) {
	if w := p.Spec.MaintenanceWindow; w != nil && !Contains(*w, now) {
		pp.WindowOpen = false
		pp.NextWindow = NextOpen(*w, now)
	}
	if len(blocked) > 0 {
		best := len(stallPriority)
		msgs := make([]string, len(blocked))
		for i, b := range blocked {
			if k := slices.Index(stallPriority, b.reason); k >= 0 && k < best {
				best = k
			}
			msgs[i] = fmt.Sprintf("%s: %s: %s", b.pkg, b.reason, b.message)
		}
		if !pp.Audit {
			pp.Stalled = true
			pp.StalledReason = stallPriority[min(best, len(stallPriority)-1)]
			pp.StalledMessage = strings.Join(msgs, "; ")
		}
	}
	switch {
	case pp.Audit && (pp.Pending > 0 || len(blocked) > 0):
		pp.State = v1alpha1.PolicyDrifted
		pp.Message = fmt.Sprintf("%d changes pending (audit: nothing is changed)", pp.Pending+int32(len(blocked)))
	case pp.Audit:
		pp.State, pp.Message = v1alpha1.PolicyCompliant, "no drift"
	case pp.Pending == 0 && pp.Stalled:
		pp.State, pp.Message = v1alpha1.PolicyStalled, pp.StalledMessage
	case pp.Pending == 0:
		pp.State, pp.Message = v1alpha1.PolicyCompliant, "all packages as declared"
		var provided []string
		for _, it := range pp.Items {
			if it.Reason == v1alpha1.PlanProvided {
				provided = append(provided, it.Package+" "+it.Message)
			}
		}
		if len(provided) > 0 {
			pp.Message += "; " + strings.Join(provided, "; ")
		}
	case !pp.WindowOpen:
		pp.State = v1alpha1.PolicyWaitingForWindow
		pp.Message = fmt.Sprintf("%d changes pending; window opens %s", pp.Pending, FormatWindowTime(*p.Spec.MaintenanceWindow, pp.NextWindow))
	default:
		pp.State = v1alpha1.PolicyProgressing
		pp.Message = fmt.Sprintf("%d changes pending", pp.Pending)
	}
}

func familyName(f string) string {
	if f == "" {
		return "any"
	}
	return f
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return slices.Compact(s)
}
