package v1alpha1

import (
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Column is one column of a resource's table: its definition as a
// meta.k8s.io Table serves it, and the cell of an object. The agent's
// server builds its Tables from these (kubectl get and patchctl get print
// them); in fleet mode kubectl prints the CRD's printer columns, which the
// +kubebuilder:printcolumn markers of the *_types.go files declare and
// which mirror these where JSONPath is set (resources_test.go compares
// them).
//
// +kubebuilder:object:generate=false
type Column struct {
	metav1.TableColumnDefinition
	// JSONPath is the printer column of the CRD that mirrors this column
	// ("" when the CRD has none).
	JSONPath string
	// Cell returns the column's value for an object of the resource; now is
	// the time ages count to.
	Cell func(o Object, now time.Time) any
}

// TableColumns are the column definitions of r's table.
func (r ResourceInfo) TableColumns() []metav1.TableColumnDefinition {
	defs := make([]metav1.TableColumnDefinition, len(r.Columns))
	for i, c := range r.Columns {
		defs[i] = c.TableColumnDefinition
	}
	return defs
}

// TableCells are the cells of o's row in r's table.
func (r ResourceInfo) TableCells(o Object, now time.Time) []any {
	cells := make([]any, len(r.Columns))
	for i, c := range r.Columns {
		cells[i] = c.Cell(o, now)
	}
	return cells
}

// column defines a column whose cell an objects of type T gives.
func column[T Object](name, typ, desc string, priority int32, jsonPath string, cell func(T) any) Column {
	c := Column{
		TableColumnDefinition: metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc, Priority: priority},
		JSONPath:              jsonPath,
		Cell:                  func(o Object, _ time.Time) any { return cell(o.(T)) },
	}
	if name == "Name" {
		c.Format = "name"
	}
	return c
}

// nameColumn is the first column of every table.
func nameColumn(what string) Column {
	return column("Name", "string", "Name of the "+what+".", 0, ".metadata.name", func(o Object) any { return o.GetName() })
}

// ageColumn is kubectl's AGE: the time since creation, in 2–3 significant
// figures (45s, 3m12s, 5h, 2d).
func ageColumn(desc string) Column {
	return Column{
		TableColumnDefinition: metav1.TableColumnDefinition{Name: "Age", Type: "date", Description: desc},
		JSONPath:              ".metadata.creationTimestamp",
		Cell:                  func(o Object, now time.Time) any { return Age(o.GetCreationTimestamp(), now) },
	}
}

// Age is the time from t to now as kubectl prints it, "<unknown>" for a
// zero t.
func Age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// conditionStatus is the status of a condition, "Unknown" when it is not set.
func conditionStatus(conds []metav1.Condition, typ string) string {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return string(c.Status)
	}
	return string(metav1.ConditionUnknown)
}

// readyField is a field of the Ready condition, "" when it is not set.
func readyField(p *PatchPolicy, f func(*metav1.Condition) string) string {
	if c := meta.FindStatusCondition(p.Status.Conditions, ConditionReady); c != nil {
		return f(c)
	}
	return ""
}

func trueFalse(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

var patchPolicyColumns = []Column{
	nameColumn("policy"),
	column("Ready", "string", "Status of the Ready condition.", 0, `.status.conditions[?(@.type=="Ready")].status`,
		func(p *PatchPolicy) any { return conditionStatus(p.Status.Conditions, ConditionReady) }),
	column("Mode", "string", "Enforce or Audit.", 0, ".spec.mode", func(p *PatchPolicy) any {
		if p.Spec.Mode == "" {
			return string(ModeEnforce) // the default, applied where the policy is enforced
		}
		return string(p.Spec.Mode)
	}),
	column("Pending", "integer", "Package changes still to make.", 0, ".status.pending",
		func(p *PatchPolicy) any { return int64(p.Status.Pending) }),
	column("Reboot", "string", "Whether a selected host needs a reboot.", 0, `.status.conditions[?(@.type=="RebootRequired")].status`,
		func(p *PatchPolicy) any {
			if c := meta.FindStatusCondition(p.Status.Conditions, ConditionRebootRequired); c != nil {
				return string(c.Status)
			}
			return trueFalse(p.Status.Hosts.RebootRequired > 0)
		}),
	ageColumn("Time since the policy was created."),
	column("Matched", "integer", "Hosts the policy selects.", 1, ".status.hosts.matched",
		func(p *PatchPolicy) any { return int64(p.Status.Hosts.Matched) }),
	column("Compliant", "integer", "Selected hosts that are as the policy declares.", 1, ".status.hosts.compliant",
		func(p *PatchPolicy) any { return int64(p.Status.Hosts.Compliant) }),
	column("Failed", "integer", "Selected hosts whose last attempt failed.", 1, ".status.hosts.failed",
		func(p *PatchPolicy) any { return int64(p.Status.Hosts.Failed) }),
	column("Wave", "integer", "Rollout wave now open (fleet mode).", 1, ".status.currentWave", func(p *PatchPolicy) any {
		if p.Status.CurrentWave == nil {
			return nil
		}
		return int64(*p.Status.CurrentWave)
	}),
	column("Reason", "string", "Reason of the Ready condition.", 1, `.status.conditions[?(@.type=="Ready")].reason`,
		func(p *PatchPolicy) any { return readyField(p, func(c *metav1.Condition) string { return c.Reason }) }),
	column("Message", "string", "Message of the Ready condition.", 1, `.status.conditions[?(@.type=="Ready")].message`,
		func(p *PatchPolicy) any { return readyField(p, func(c *metav1.Condition) string { return c.Message }) }),
}

var hostColumns = []Column{
	nameColumn("host"),
	column("Backend", "string", "Package-manager backend in use.", 0, ".status.backend.name", func(h *Host) any {
		if h.Status.Backend == nil {
			return ""
		}
		return h.Status.Backend.Name
	}),
	column("OS", "string", "Operating system and version.", 0, ".status.os.id",
		func(h *Host) any { return strings.TrimSpace(h.Status.OS.ID + " " + h.Status.OS.VersionID) }),
	column("Cache", "string", "Freshness of the package index.", 0, ".status.cache.state",
		func(h *Host) any { return string(h.Status.Cache.State) }),
	column("Upgradable", "integer", "Packages with a pending upgrade.", 0, ".status.packages.upgradable",
		func(h *Host) any { return int64(h.Status.Packages.Upgradable) }),
	column("Security", "integer", "Pending security upgrades.", 0, ".status.packages.security",
		func(h *Host) any { return int64(h.Status.Packages.Security) }),
	column("Reboot", "string", "Whether the host needs a reboot.", 0, ".status.rebootRequired.required",
		func(h *Host) any { return trueFalse(h.Status.RebootRequired.Required) }),
	ageColumn("Time since the host was first seen."),
	column("Version", "string", "Operating system version.", 1, ".status.os.versionID",
		func(h *Host) any { return h.Status.OS.VersionID }),
	column("Kernel", "string", "Running kernel.", 1, ".status.os.kernel",
		func(h *Host) any { return h.Status.OS.Kernel }),
	column("Installed", "integer", "Installed packages.", 1, ".status.packages.installed",
		func(h *Host) any { return int64(h.Status.Packages.Installed) }),
}

var operationColumns = []Column{
	nameColumn("operation"),
	column("Step", "string", "Kind of step.", 0, ".spec.step", func(o *Operation) any { return string(o.Spec.Step) }),
	column("Phase", "string", "Pending, Running, Succeeded or Failed.", 0, ".status.phase", func(o *Operation) any { return string(o.Status.Phase) }),
	column("Exit", "string", "Exit code of the command.", 0, ".status.exitCode", func(o *Operation) any {
		if o.Status.ExitCode == nil {
			return ""
		}
		return strconv.Itoa(int(*o.Status.ExitCode))
	}),
	column("Policy", "string", "Policy that caused the step.", 0, ".spec.policy", func(o *Operation) any { return o.Spec.Policy }),
	ageColumn("Time since the operation was created."),
	column("Host", "string", "Host the step ran on.", 1, ".spec.host", func(o *Operation) any { return o.Spec.Host }),
	column("Reason", "string", "Reason of a failure.", 1, ".status.reason", func(o *Operation) any { return o.Status.Reason }),
	column("Packages", "string", "Packages the step changes.", 1, "", func(o *Operation) any { return strings.Join(o.Spec.Packages, ",") }),
}
