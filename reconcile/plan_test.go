package reconcile_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/reconcile"
)

var now = utc("2026-11-23T10:00:00Z") // a Monday

func planOf(o obs, caps backends.Capabilities, policies ...v1alpha1.PatchPolicy) reconcile.PlanOutput {
	return reconcile.Plan(reconcile.PlanInput{
		Policies:     policies,
		HostLabels:   map[string]string{"role": "web"},
		Observation:  o.o,
		Capabilities: caps,
		Family:       v1alpha1.FamilyDebian,
		Now:          now,
	})
}

func onlyPolicy(out reconcile.PlanOutput, name string) reconcile.PolicyPlan {
	pp, ok := out.Policy(name)
	ExpectWithOffset(1, ok).To(BeTrue(), "policy %s in plan", name)
	return pp
}

func itemOf(pp reconcile.PolicyPlan, pkg string) v1alpha1.PlanItem {
	for _, it := range pp.Items {
		if it.Package == pkg {
			return it
		}
	}
	Fail("no item for " + pkg)
	return v1alpha1.PlanItem{}
}

// stepsText renders steps compactly: "Install:a=1,b Upgrade:c".
func stepsText(steps []reconcile.Step) string {
	var parts []string
	for _, s := range steps {
		refs := make([]string, len(s.Packages))
		for i, r := range s.Packages {
			refs[i] = r.Name
			if r.Version != "" {
				refs[i] += "=" + r.Version
			}
		}
		parts = append(parts, string(s.Type)+":"+strings.Join(refs, ","))
	}
	return strings.Join(parts, " ")
}

var _ = Describe("Plan", func() {
	When("a policy names packages", func() {
		DescribeTable("each package gets one item and the steps it needs",
			func(spec func(*v1alpha1.PatchPolicy), o obs, caps backends.Capabilities,
				action v1alpha1.PlanAction, reason, from, to, steps string, stalled bool) {
				out := planOf(o, caps, policy("p", spec))
				pp := onlyPolicy(out, "p")
				Expect(pp.Items).To(HaveLen(1))
				it := pp.Items[0]
				Expect(it.Action).To(Equal(action), it.Message)
				Expect(it.Reason).To(BeEquivalentTo(reason), it.Message)
				Expect(it.From).To(Equal(from))
				Expect(it.To).To(Equal(to))
				Expect(it.Message).NotTo(BeEmpty())
				Expect(stepsText(out.Steps)).To(Equal(steps))
				Expect(pp.Stalled).To(Equal(stalled))
				for _, s := range out.Steps {
					Expect(s.Policies).To(Equal([]string{"p"}))
				}
			},
			Entry("Present and installed: Satisfied",
				pkg("curl", v1alpha1.PackagePresent, ""), observe().installed("curl", "7.88"), allCaps,
				v1alpha1.ActionNone, "Satisfied", "7.88", "7.88", "", false),
			Entry("Present and missing: Install (NotInstalled)",
				pkg("curl", v1alpha1.PackagePresent, ""), observe(), allCaps,
				v1alpha1.ActionInstall, "NotInstalled", "", "", "Install:curl", false),
			Entry("Present with a pending upgrade: Satisfied (only Latest upgrades)",
				pkg("curl", v1alpha1.PackagePresent, ""), observe().installed("curl", "7.88").upgrade("curl", "7.88", "7.89", false), allCaps,
				v1alpha1.ActionNone, "Satisfied", "7.88", "7.88", "", false),
			Entry("Latest and missing: Install at the newest available",
				pkg("curl", v1alpha1.PackageLatest, ""), observe().available("curl", "7.89", "7.88"), allCaps,
				v1alpha1.ActionInstall, "NotInstalled", "", "7.89", "Install:curl", false),
			Entry("Latest with a pending upgrade: Upgrade (Outdated)",
				pkg("curl", v1alpha1.PackageLatest, ""), observe().installed("curl", "7.88").upgrade("curl", "7.88", "7.89", true), allCaps,
				v1alpha1.ActionUpgrade, "Outdated", "7.88", "7.89", "Upgrade:curl", false),
			Entry("Latest and up to date: Satisfied",
				pkg("curl", v1alpha1.PackageLatest, ""), observe().installed("curl", "7.89"), allCaps,
				v1alpha1.ActionNone, "Satisfied", "7.89", "7.89", "", false),
			Entry("pinned, other version installed: Install that version (Pinned)",
				pkg("openssl", v1alpha1.PackagePresent, "3.0.15"), observe().installed("openssl", "3.0.11").available("openssl", "3.0.16", "3.0.15"), allCaps,
				v1alpha1.ActionInstall, "Pinned", "3.0.11", "3.0.15", "Install:openssl=3.0.15", false),
			Entry("pinned lower than installed: a pin means exactly that version, so downgrade",
				pkg("openssl", v1alpha1.PackagePresent, "3.0.11"), observe().installed("openssl", "3.0.15").available("openssl", "3.0.15", "3.0.11"), allCaps,
				v1alpha1.ActionInstall, "Pinned", "3.0.15", "3.0.11", "Install:openssl=3.0.11", false),
			Entry("pinned and missing: Install that version",
				pkg("openssl", v1alpha1.PackagePresent, "3.0.15"), observe().available("openssl", "3.0.15"), allCaps,
				v1alpha1.ActionInstall, "Pinned", "", "3.0.15", "Install:openssl=3.0.15", false),
			Entry("pinned and at that version: Satisfied, even with an upgrade pending",
				pkg("openssl", v1alpha1.PackagePresent, "3.0.15"), observe().installed("openssl", "3.0.15").upgrade("openssl", "3.0.15", "3.0.16", true), allCaps,
				v1alpha1.ActionNone, "Satisfied", "3.0.15", "3.0.15", "", false),
			Entry("pinned version not in the index: VersionNotAvailable, Stalled",
				pkg("openssl", v1alpha1.PackagePresent, "9.9"), observe().installed("openssl", "3.0.15").available("openssl", "3.0.15"), allCaps,
				v1alpha1.ActionSkip, "VersionNotAvailable", "3.0.15", "", "", true),
			Entry("pinned version, package unknown to the index: VersionNotAvailable",
				pkg("openssl", v1alpha1.PackagePresent, "9.9"), observe(), allCaps,
				v1alpha1.ActionSkip, "VersionNotAvailable", "", "", "", true),
			Entry("Absent and installed: Remove",
				pkg("telnet", v1alpha1.PackageAbsent, ""), observe().installed("telnet", "0.17"), allCaps,
				v1alpha1.ActionRemove, "Installed", "0.17", "", "Remove:telnet", false),
			Entry("Absent and missing: Satisfied",
				pkg("telnet", v1alpha1.PackageAbsent, ""), observe(), allCaps,
				v1alpha1.ActionNone, "Satisfied", "", "", "", false),
			Entry("Held, installed, not held: Hold",
				pkg("docker-ce", v1alpha1.PackageHeld, ""), observe().installed("docker-ce", "27.1"), allCaps,
				v1alpha1.ActionHold, "NotHeld", "27.1", "27.1", "Hold:docker-ce", false),
			Entry("Held and held: Satisfied, even with an upgrade pending",
				pkg("docker-ce", v1alpha1.PackageHeld, ""), observe().held("docker-ce", "27.1").upgrade("docker-ce", "27.1", "27.2", false), allCaps,
				v1alpha1.ActionNone, "Satisfied", "27.1", "27.1", "", false),
			Entry("Held and missing: nothing to hold, not installed",
				pkg("docker-ce", v1alpha1.PackageHeld, ""), observe(), allCaps,
				v1alpha1.ActionNone, "NotInstalled", "", "", "", false),
			Entry("Held on a backend without holds: Unsupported, Stalled",
				pkg("docker-ce", v1alpha1.PackageHeld, ""), observe().installed("docker-ce", "27.1"), backends.Capabilities{Security: true},
				v1alpha1.ActionSkip, "Unsupported", "27.1", "", "", true),
			Entry("Held at a version, held at another: unhold, install, hold",
				pkg("docker-ce", v1alpha1.PackageHeld, "27.3"), observe().held("docker-ce", "27.1").available("docker-ce", "27.3", "27.1"), allCaps,
				v1alpha1.ActionInstall, "Pinned", "27.1", "27.3", "Unhold:docker-ce Install:docker-ce=27.3 Hold:docker-ce", false),
			Entry("Held at a version, at it but not held: Hold",
				pkg("docker-ce", v1alpha1.PackageHeld, "27.1"), observe().installed("docker-ce", "27.1"), allCaps,
				v1alpha1.ActionHold, "NotHeld", "27.1", "27.1", "Hold:docker-ce", false),
			Entry("Held at a version and missing: install it and hold it",
				pkg("docker-ce", v1alpha1.PackageHeld, "27.1"), observe().available("docker-ce", "27.1"), allCaps,
				v1alpha1.ActionInstall, "Pinned", "", "27.1", "Install:docker-ce=27.1 Hold:docker-ce", false),
			Entry("Latest on a package held outside any policy: left alone (Held), Stalled",
				pkg("nginx", v1alpha1.PackageLatest, ""), observe().held("nginx", "1.22").upgrade("nginx", "1.22", "1.24", false), allCaps,
				v1alpha1.ActionSkip, "Held", "1.22", "", "", true),
			Entry("Absent on a package held outside any policy: left alone (Held)",
				pkg("nginx", v1alpha1.PackageAbsent, ""), observe().held("nginx", "1.22"), allCaps,
				v1alpha1.ActionSkip, "Held", "1.22", "", "", true),
			Entry("pin on a package held outside any policy: left alone (Held)",
				pkg("nginx", v1alpha1.PackagePresent, "1.24"), observe().held("nginx", "1.22").available("nginx", "1.24"), allCaps,
				v1alpha1.ActionSkip, "Held", "1.22", "", "", true),
			Entry("pin already met on a held package: Satisfied",
				pkg("nginx", v1alpha1.PackagePresent, "1.22"), observe().held("nginx", "1.22"), allCaps,
				v1alpha1.ActionNone, "Satisfied", "1.22", "1.22", "", false),
			Entry("a version the backend's family cannot have: Unsupported",
				pkg("curl", v1alpha1.PackagePresent, "1.0_beta"), observe().available("curl", "1.0_beta"), allCaps,
				v1alpha1.ActionSkip, "Unsupported", "", "", "", true),
			Entry("a name the backend's family cannot have: Unsupported",
				pkg("Foo_Bar", v1alpha1.PackagePresent, ""), observe(), allCaps,
				v1alpha1.ActionSkip, "Unsupported", "", "", "", true),
		)

		It("counts pending changes and sorts items by package", func() {
			out := planOf(observe().installed("telnet", "0.17").installed("curl", "7.88"), allCaps, policy("p",
				pkg("zsh", v1alpha1.PackagePresent, ""),
				pkg("telnet", v1alpha1.PackageAbsent, ""),
				pkg("curl", v1alpha1.PackagePresent, ""),
			))
			pp := onlyPolicy(out, "p")
			Expect(pp.Pending).To(BeEquivalentTo(2))
			Expect(pp.State).To(Equal(v1alpha1.PolicyProgressing))
			names := []string{}
			for _, it := range pp.Items {
				names = append(names, it.Package)
			}
			Expect(names).To(Equal([]string{"curl", "telnet", "zsh"}))
			Expect(stepsText(out.Steps)).To(Equal("Remove:telnet Install:zsh"))
			Expect(out.Steps[1].Names()).To(Equal([]string{"zsh"}))
			_, found := out.Policy("nope")
			Expect(found).To(BeFalse())
		})
	})

	When("a policy applies pending updates", func() {
		host := func() obs {
			return observe().
				installed("openssl", "3.0.11").upgrade("openssl", "3.0.11", "3.0.15", true).
				installed("vim", "9.0.1").upgrade("vim", "9.0.1", "9.0.2", false).
				installed("linux-image-amd64", "6.1.0-26").upgrade("linux-image-amd64", "6.1.0-26", "6.1.0-27", true).
				upgrade("linux-image-6.1.0-27-amd64", "", "6.1.0-27", true)
		}
		type want struct {
			items   map[string]string // package → "Action/Reason"
			steps   string
			stalled bool
		}
		DescribeTable("upgrades what the class covers and skips the rest, saying why",
			func(o obs, caps backends.Capabilities, w want, opts ...func(*v1alpha1.PatchPolicy)) {
				out := planOf(o, caps, policy("p", opts...), policy("other",
					pkg("vim", v1alpha1.PackagePresent, "9.0.1"),
					pkg("openssl", v1alpha1.PackageHeld, ""),
				))
				pp := onlyPolicy(out, "p")
				got := map[string]string{}
				for _, it := range pp.Items {
					got[it.Package] = string(it.Action) + "/" + string(it.Reason)
				}
				Expect(got).To(Equal(w.items))
				Expect(stepsText(out.StepsFor("p"))).To(Equal(w.steps))
				Expect(pp.Stalled).To(Equal(w.stalled))
			},
			Entry("All: everything not held or pinned elsewhere", host().installed("vim", "9.0.1"), allCaps,
				want{items: map[string]string{
					"openssl": "Skip/Held", "vim": "Skip/Pinned", "linux-image-amd64": "Upgrade/SecurityUpdate",
				}, steps: "Upgrade:linux-image-amd64"},
				updates(v1alpha1.UpdatesAll)),
			Entry("Security: only security updates, minus excludes",
				observe().installed("openssl", "3.0.11").upgrade("openssl", "3.0.11", "3.0.15", true).
					installed("libc6", "2.36-9").upgrade("libc6", "2.36-9", "2.36-9+deb12u9", true).
					installed("vim", "9.0.1").upgrade("vim", "9.0.1", "9.0.2", false).
					installed("linux-image-amd64", "6.1.0-26").upgrade("linux-image-amd64", "6.1.0-26", "6.1.0-27", true),
				allCaps,
				want{items: map[string]string{
					"openssl": "Skip/Held", "libc6": "Upgrade/SecurityUpdate", "linux-image-amd64": "Skip/Excluded",
				}, steps: "Upgrade:libc6"},
				updates(v1alpha1.UpdatesSecurity, "linux-image-*")),
			Entry("All without the other policy's claims: non-security is Outdated",
				observe().installed("curl", "7.88").upgrade("curl", "7.88", "7.89", false), allCaps,
				want{items: map[string]string{"curl": "Upgrade/Outdated"}, steps: "Upgrade:curl"},
				updates(v1alpha1.UpdatesAll)),
			Entry("a package held by the package manager is never upgraded",
				observe().held("curl", "7.88").upgrade("curl", "7.88", "7.89", false), allCaps,
				want{items: map[string]string{"curl": "Skip/Held"}, steps: ""},
				updates(v1alpha1.UpdatesAll)),
			Entry("the policy's own packages decide for themselves",
				host(), allCaps,
				want{items: map[string]string{
					"openssl": "Skip/Held", "vim": "Skip/Pinned", "linux-image-amd64": "None/Satisfied",
				}, steps: ""},
				updates(v1alpha1.UpdatesAll), pkg("linux-image-amd64", v1alpha1.PackagePresent, "")),
			Entry("Security on a backend that cannot tell: Unsupported, Stalled",
				host(), backends.Capabilities{Hold: true},
				want{items: map[string]string{"*": "Skip/Unsupported"}, steps: "", stalled: true},
				updates(v1alpha1.UpdatesSecurity)),
			Entry("All on a backend that cannot tell security: fine",
				observe().installed("curl", "7.88").upgrade("curl", "7.88", "7.89", false), backends.Capabilities{},
				want{items: map[string]string{"curl": "Upgrade/Outdated"}, steps: "Upgrade:curl"},
				updates(v1alpha1.UpdatesAll)),
			Entry("None: no items", host(), allCaps, want{items: map[string]string{}, steps: ""}),
		)

		It("installs exactly a resolved patch set's versions and leaves unlisted upgrades alone", func() {
			resolved := func(p *v1alpha1.PatchPolicy) {
				p.Spec.Updates.Resolved = &v1alpha1.ResolvedUpdates{Release: "debian-12", Packages: []v1alpha1.PackageVersion{
					{Name: "openssl", Version: "3.0.15"}, {Name: "libc6", Version: "2.36-9+deb12u9"}, {Name: "zlib1g", Version: "2"}}}
			}
			o := observe().installed("openssl", "3.0.11").upgrade("openssl", "3.0.11", "3.0.16", true).available("openssl", "3.0.16", "3.0.15").
				installed("libc6", "2.36-9+deb12u9").upgrade("libc6", "2.36-9+deb12u9", "2.36-9+deb12u10", true).
				installed("vim", "9.0.1").upgrade("vim", "9.0.1", "9.0.2", true).
				installed("zlib1g", "1").upgrade("zlib1g", "1", "3", true).available("zlib1g", "3")
			out := planOf(o, allCaps, policy("p", updates(v1alpha1.UpdatesSecurity), resolved))
			pp := onlyPolicy(out, "p")
			Expect(itemOf(pp, "openssl")).To(And(HaveField("Action", v1alpha1.ActionUpgrade), HaveField("To", "3.0.15")))
			Expect(itemOf(pp, "vim").Reason).To(Equal(v1alpha1.PlanNotInPatchSet))
			Expect(itemOf(pp, "zlib1g").Reason).To(Equal(v1alpha1.PlanVersionNotAvailable))
			Expect(pp.Items).NotTo(ContainElement(HaveField("Package", "libc6")), "already at the resolved version")
			Expect(stepsText(out.Steps)).To(Equal("Install:openssl=3.0.15"))
			Expect(pp.Stalled).To(BeTrue(), "zlib1g's resolved version is gone from the index")
		})

		It("does not upgrade what a third policy removes", func() {
			o := observe().installed("telnet", "0.17").upgrade("telnet", "0.17", "0.18", false)
			out := planOf(o, allCaps, policy("p", updates(v1alpha1.UpdatesAll)), policy("rm", pkg("telnet", v1alpha1.PackageAbsent, "")))
			Expect(itemOf(onlyPolicy(out, "p"), "telnet").Reason).To(BeEquivalentTo("Excluded"))
			Expect(itemOf(onlyPolicy(out, "p"), "telnet").Message).To(ContainSubstring("policy rm"))
			Expect(stepsText(out.Steps)).To(Equal("Remove:telnet"))
		})

		It("names the repository a security update comes from", func() {
			o := observe().installed("libc6", "2.36-9")
			o.o.Upgrades["libc6"] = backends.Upgrade{Name: "libc6", From: "2.36-9", To: "2.36-9+deb12u9", Source: "bookworm-security", Security: true}
			out := planOf(o, allCaps, policy("p", updates(v1alpha1.UpdatesSecurity)))
			Expect(itemOf(onlyPolicy(out, "p"), "libc6").Message).To(ContainSubstring("bookworm-security"))
		})

		It("names the glob an excluded package matched", func() {
			out := planOf(host(), allCaps, policy("p", updates(v1alpha1.UpdatesAll, "linux-*")))
			Expect(itemOf(onlyPolicy(out, "p"), "linux-image-amd64").Message).To(ContainSubstring(`"linux-*"`))
		})
	})

	When("policies disagree about a package", func() {
		DescribeTable("conflicting claims stall both policies and leave the package alone",
			func(a, b v1alpha1.PackageSpec, conflict bool) {
				o := observe().installed("openssl", "3.0.11").available("openssl", "3.0.16", "3.0.15", "3.0.11").
					upgrade("openssl", "3.0.11", "3.0.16", true)
				pa := policy("alpha", pkg(a.Name, a.State, a.Version), pkg("zsh", v1alpha1.PackagePresent, ""))
				pb := policy("beta", pkg(b.Name, b.State, b.Version))
				out := planOf(o, allCaps, pa, pb)
				ppa, ppb := onlyPolicy(out, "alpha"), onlyPolicy(out, "beta")
				if !conflict {
					Expect(ppa.StalledReason).NotTo(Equal("Conflict"))
					Expect(ppb.StalledReason).NotTo(Equal("Conflict"))
					return
				}
				Expect(ppa.Stalled).To(BeTrue())
				Expect(ppa.StalledReason).To(BeEquivalentTo("Conflict"))
				Expect(ppb.StalledReason).To(BeEquivalentTo("Conflict"))
				Expect(itemOf(ppa, "openssl").Action).To(Equal(v1alpha1.ActionSkip))
				Expect(itemOf(ppa, "openssl").Message).To(ContainSubstring("policy beta"))
				Expect(itemOf(ppb, "openssl").Message).To(ContainSubstring("policy alpha"))
				Expect(ppb.StalledMessage).To(ContainSubstring("policy alpha"))
				// The package is left alone, the rest of alpha proceeds.
				Expect(stepsText(out.Steps)).To(Equal("Install:zsh"))
				Expect(ppa.State).To(Equal(v1alpha1.PolicyProgressing))
				Expect(ppb.State).To(Equal(v1alpha1.PolicyStalled))
			},
			Entry("Absent vs Present", spec("openssl", "Absent", ""), spec("openssl", "Present", ""), true),
			Entry("Absent vs pinned", spec("openssl", "Absent", ""), spec("openssl", "Present", "3.0.15"), true),
			Entry("Absent vs Held", spec("openssl", "Absent", ""), spec("openssl", "Held", ""), true),
			Entry("two different pins", spec("openssl", "Present", "3.0.15"), spec("openssl", "Present", "3.0.16"), true),
			Entry("a pin vs Latest", spec("openssl", "Present", "3.0.15"), spec("openssl", "Latest", ""), true),
			Entry("Held vs Latest", spec("openssl", "Held", ""), spec("openssl", "Latest", ""), true),
			Entry("Held vs a pin", spec("openssl", "Held", ""), spec("openssl", "Present", "3.0.15"), true),
			Entry("Held at one version vs Held at another", spec("openssl", "Held", "3.0.11"), spec("openssl", "Held", "3.0.15"), true),
			Entry("Latest vs a pin", spec("openssl", "Latest", ""), spec("openssl", "Present", "3.0.15"), true),
			Entry("a pin vs Held", spec("openssl", "Present", "3.0.15"), spec("openssl", "Held", ""), true),
			Entry("Latest vs Absent", spec("openssl", "Latest", ""), spec("openssl", "Absent", ""), true),
			Entry("Absent vs Absent agree", spec("openssl", "Absent", ""), spec("openssl", "Absent", ""), false),
			Entry("same pin agrees", spec("openssl", "Present", "3.0.15"), spec("openssl", "Present", "3.0.15"), false),
			Entry("Present vs a pin agrees", spec("openssl", "Present", ""), spec("openssl", "Present", "3.0.15"), false),
			Entry("Present vs Latest agrees", spec("openssl", "Present", ""), spec("openssl", "Latest", ""), false),
			Entry("Present vs Held agrees", spec("openssl", "Present", ""), spec("openssl", "Held", ""), false),
			Entry("Held at a version vs the same pin agrees", spec("openssl", "Held", "3.0.15"), spec("openssl", "Present", "3.0.15"), false),
		)

		It("serves agreeing policies with one step carrying the pin", func() {
			o := observe().available("openssl", "3.0.16", "3.0.15")
			out := planOf(o, allCaps,
				policy("alpha", pkg("openssl", v1alpha1.PackagePresent, "")),
				policy("beta", pkg("openssl", v1alpha1.PackagePresent, "3.0.15")))
			Expect(out.Steps).To(HaveLen(1))
			Expect(out.Steps[0].Packages).To(Equal([]backends.PackageRef{{Name: "openssl", Version: "3.0.15"}}))
			Expect(out.Steps[0].Policies).To(Equal([]string{"alpha", "beta"}))
			Expect(itemOf(onlyPolicy(out, "alpha"), "openssl").To).To(Equal("3.0.15"))
		})

		It("does not let an Audit policy cause a conflict", func() {
			o := observe().installed("telnet", "0.17")
			out := planOf(o, allCaps,
				policy("enforce", pkg("telnet", v1alpha1.PackageAbsent, "")),
				policy("watch", audit, pkg("telnet", v1alpha1.PackagePresent, "")))
			Expect(onlyPolicy(out, "enforce").Stalled).To(BeFalse())
			Expect(stepsText(out.Steps)).To(Equal("Remove:telnet"))
			Expect(onlyPolicy(out, "watch").State).To(Equal(v1alpha1.PolicyCompliant))
		})

		It("keeps other policies' updates off a contested package", func() {
			o := observe().installed("openssl", "3.0.11").upgrade("openssl", "3.0.11", "3.0.16", true).available("openssl", "3.0.15")
			out := planOf(o, allCaps,
				policy("alpha", pkg("openssl", v1alpha1.PackagePresent, "3.0.15")),
				policy("beta", pkg("openssl", v1alpha1.PackageAbsent, "")),
				policy("gamma", updates(v1alpha1.UpdatesAll)))
			g := onlyPolicy(out, "gamma")
			Expect(itemOf(g, "openssl").Reason).To(BeEquivalentTo("Conflict"))
			Expect(itemOf(g, "openssl").Message).To(ContainSubstring("alpha, beta"))
			Expect(g.Stalled).To(BeFalse())
			Expect(out.Steps).To(BeEmpty())
		})
	})

	When("a policy is audited, suspended, unselected or outside its window", func() {
		o := func() obs { return observe().installed("telnet", "0.17") }

		It("reports drift in Audit mode and changes nothing", func() {
			out := planOf(o(), allCaps, policy("p", audit, pkg("telnet", v1alpha1.PackageAbsent, ""), pkg("zsh", v1alpha1.PackagePresent, "")))
			pp := onlyPolicy(out, "p")
			Expect(pp.State).To(Equal(v1alpha1.PolicyDrifted))
			Expect(pp.Pending).To(BeEquivalentTo(2))
			Expect(itemOf(pp, "telnet").Action).To(Equal(v1alpha1.ActionRemove))
			Expect(out.Steps).To(BeEmpty())
		})

		It("reports an Audit policy with nothing to change as Compliant", func() {
			pp := onlyPolicy(planOf(o(), allCaps, policy("p", audit, pkg("telnet", v1alpha1.PackagePresent, ""))), "p")
			Expect(pp.State).To(Equal(v1alpha1.PolicyCompliant))
		})

		It("plans nothing for a suspended policy", func() {
			out := planOf(o(), allCaps, policy("p", suspend, pkg("telnet", v1alpha1.PackageAbsent, "")))
			pp := onlyPolicy(out, "p")
			Expect(pp.State).To(Equal(v1alpha1.PolicySuspended))
			Expect(pp.Items).To(BeEmpty())
			Expect(out.Steps).To(BeEmpty())
		})

		It("plans nothing for a policy that does not select the host", func() {
			out := planOf(o(), allCaps, policy("p", selector(map[string]string{"role": "db"}), pkg("telnet", v1alpha1.PackageAbsent, "")))
			pp := onlyPolicy(out, "p")
			Expect(pp.Selected).To(BeFalse())
			Expect(pp.State).To(Equal(v1alpha1.PolicyNotSelected))
			Expect(out.Steps).To(BeEmpty())
		})

		It("stalls a policy whose selector cannot be evaluated", func() {
			p := policy("p", pkg("telnet", v1alpha1.PackageAbsent, ""))
			p.Spec.HostSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "a", Operator: "Near"}}}
			out := planOf(o(), allCaps, p)
			Expect(onlyPolicy(out, "p").StalledReason).To(Equal(v1alpha1.PlanInvalidSelector))
			Expect(out.Steps).To(BeEmpty())
		})

		It("plans items but no steps while the maintenance window is closed", func() {
			// now is Monday 10:00 UTC; the window opens Tuesday 01:00 Berlin.
			out := planOf(o(), allCaps, policy("p", pkg("telnet", v1alpha1.PackageAbsent, ""),
				maintenance(win("01:00", 3*time.Hour, berlin, "Tue"))))
			pp := onlyPolicy(out, "p")
			Expect(pp.State).To(Equal(v1alpha1.PolicyWaitingForWindow))
			Expect(pp.WindowOpen).To(BeFalse())
			Expect(pp.NextWindow).To(BeTemporally("==", utc("2026-11-24T00:00:00Z")))
			Expect(pp.Message).To(ContainSubstring("Tue 2026-11-24 01:00 CET"))
			Expect(pp.Pending).To(BeEquivalentTo(1))
			Expect(out.Steps).To(BeEmpty())
		})

		It("plans steps while the maintenance window is open", func() {
			out := planOf(o(), allCaps, policy("p", pkg("telnet", v1alpha1.PackageAbsent, ""),
				maintenance(win("10:00", time.Hour, "UTC", "Mon"))))
			Expect(onlyPolicy(out, "p").WindowOpen).To(BeTrue())
			Expect(stepsText(out.Steps)).To(Equal("Remove:telnet"))
		})

		It("is Compliant, not waiting, when nothing is to be done outside the window", func() {
			out := planOf(o(), allCaps, policy("p", pkg("telnet", v1alpha1.PackagePresent, ""),
				maintenance(win("01:00", time.Hour, "UTC", "Tue"))))
			Expect(onlyPolicy(out, "p").State).To(Equal(v1alpha1.PolicyCompliant))
		})

		It("lets an open policy act while a closed one waits", func() {
			out := planOf(observe().installed("telnet", "0.17").installed("rsh-client", "0.17"), allCaps,
				policy("closed", pkg("telnet", v1alpha1.PackageAbsent, ""), maintenance(win("01:00", time.Hour, "UTC", "Tue"))),
				policy("open", pkg("rsh-client", v1alpha1.PackageAbsent, "")))
			Expect(stepsText(out.Steps)).To(Equal("Remove:rsh-client"))
			Expect(out.Steps[0].Policies).To(Equal([]string{"open"}))
		})
	})

	When("several policies apply", func() {
		policies := func() []v1alpha1.PatchPolicy {
			return []v1alpha1.PatchPolicy{
				policy("web-security", updates(v1alpha1.UpdatesSecurity, "linux-image-*"),
					pkg("openssl", v1alpha1.PackagePresent, "3.0.15"),
					pkg("docker-ce", v1alpha1.PackageHeld, "")),
				policy("baseline", updates(v1alpha1.UpdatesAll),
					pkg("telnet", v1alpha1.PackageAbsent, ""),
					pkg("curl", v1alpha1.PackageLatest, ""),
					pkg("zsh", v1alpha1.PackagePresent, "")),
				policy("observer", audit, pkg("nano", v1alpha1.PackageAbsent, "")),
				policy("db-only", selector(map[string]string{"role": "db"}), pkg("postgresql", v1alpha1.PackagePresent, "")),
			}
		}
		host := func() obs {
			return observe().
				installed("openssl", "3.0.11").upgrade("openssl", "3.0.11", "3.0.16", true).available("openssl", "3.0.16", "3.0.15").
				installed("docker-ce", "27.1").upgrade("docker-ce", "27.1", "27.2", false).
				installed("telnet", "0.17").
				installed("curl", "7.88").upgrade("curl", "7.88", "7.89", true).
				installed("libc6", "2.36-9").upgrade("libc6", "2.36-9", "2.36-9+deb12u9", true).
				installed("vim", "9.0.1").upgrade("vim", "9.0.1", "9.0.2", false).
				installed("linux-image-amd64", "6.1.0-26").upgrade("linux-image-amd64", "6.1.0-26", "6.1.0-27", true).
				installed("nano", "7.2").
				available("zsh", "5.9")
		}

		It("merges the steps in a fixed order, each naming the policies it serves", func() {
			out := planOf(host(), allCaps, policies()...)
			Expect(stepsText(out.Steps)).To(Equal(
				"Remove:telnet Install:openssl=3.0.15,zsh Upgrade:curl,libc6,linux-image-amd64,vim Hold:docker-ce"))
			Expect(out.Steps[0].Policies).To(Equal([]string{"baseline"}))
			Expect(out.Steps[1].Policies).To(Equal([]string{"baseline", "web-security"}))
			Expect(out.Steps[2].Policies).To(Equal([]string{"baseline", "web-security"}))
			Expect(out.Steps[3].Policies).To(Equal([]string{"web-security"}))
			Expect(onlyPolicy(out, "observer").State).To(Equal(v1alpha1.PolicyDrifted))
			Expect(onlyPolicy(out, "db-only").State).To(Equal(v1alpha1.PolicyNotSelected))
			Expect(out.Policies).To(HaveLen(4))
		})

		It("is deterministic whatever the order of the policies", func() {
			want := planOf(host(), allCaps, policies()...)
			for range 20 {
				ps := policies()
				rand.Shuffle(len(ps), func(i, j int) { ps[i], ps[j] = ps[j], ps[i] })
				Expect(planOf(host(), allCaps, ps...)).To(Equal(want))
			}
		})

		It("is idempotent: after running its steps, the next plan has none", func() {
			o := host()
			first := planOf(o, allCaps, policies()...)
			Expect(first.Steps).NotTo(BeEmpty())
			apply(o.o, first.Steps)
			second := planOf(o, allCaps, policies()...)
			Expect(second.Steps).To(BeEmpty(), stepsText(second.Steps))
			for _, name := range []string{"web-security", "baseline"} {
				pp := onlyPolicy(second, name)
				Expect(pp.State).To(Equal(v1alpha1.PolicyCompliant), pp.Message)
				Expect(pp.Pending).To(BeZero())
			}
			// One policy's exclude does not stop another policy's updates.
			Expect(itemOf(onlyPolicy(first, "web-security"), "linux-image-amd64").Reason).To(BeEquivalentTo("Excluded"))
			Expect(itemOf(onlyPolicy(first, "baseline"), "linux-image-amd64").Action).To(Equal(v1alpha1.ActionUpgrade))
		})

		It("stays Compliant with an excluded update still pending", func() {
			o := host()
			only := policies()[:1]
			apply(o.o, planOf(o, allCaps, only...).Steps)
			out := planOf(o, allCaps, only...)
			pp := onlyPolicy(out, "web-security")
			Expect(out.Steps).To(BeEmpty())
			Expect(pp.State).To(Equal(v1alpha1.PolicyCompliant))
			Expect(itemOf(pp, "linux-image-amd64").Reason).To(BeEquivalentTo("Excluded"))
			Expect(o.o.Installed["libc6"].Version).To(Equal("2.36-9+deb12u9"))
			Expect(o.o.Installed["vim"].Version).To(Equal("9.0.1"), "not a security update")
		})

		It("plans no steps for a host that already satisfies everything", func() {
			o := observe().installed("curl", "7.89").installed("zsh", "5.9").held("docker-ce", "27.1").
				installed("openssl", "3.0.15")
			out := planOf(o, allCaps, policies()...)
			Expect(out.Steps).To(BeEmpty())
			Expect(onlyPolicy(out, "baseline").State).To(Equal(v1alpha1.PolicyCompliant))
			Expect(onlyPolicy(out, "web-security").State).To(Equal(v1alpha1.PolicyCompliant))
		})

		It("lists the pinned packages whose versions the backend must look up", func() {
			Expect(reconcile.AvailableNames(policies(), map[string]string{"role": "web"})).To(Equal([]string{"openssl"}))
			ps := append(policies(), policy("z", suspend, pkg("nginx", v1alpha1.PackagePresent, "1.24")),
				policy("y", pkg("bash", v1alpha1.PackageHeld, "5.2")))
			Expect(reconcile.AvailableNames(ps, map[string]string{"role": "web"})).To(Equal([]string{"bash", "openssl"}))
		})
	})

	It("treats a missing observation as an empty host", func() {
		out := reconcile.Plan(reconcile.PlanInput{Policies: []v1alpha1.PatchPolicy{policy("p", pkg("zsh", v1alpha1.PackagePresent, ""))}, Now: now})
		Expect(stepsText(out.Steps)).To(Equal("Install:zsh"))
		Expect(slices.ContainsFunc(out.Policies, func(p reconcile.PolicyPlan) bool { return p.Name == "p" })).To(BeTrue())
	})
})

func spec(name, state, version string) v1alpha1.PackageSpec {
	return v1alpha1.PackageSpec{Name: name, State: v1alpha1.PackageState(state), Version: version}
}
