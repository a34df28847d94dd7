package server

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

// resource is what the server knows of one resource beyond the store.
type resource struct {
	store.ResourceInfo
	// writable: clients may create, update, patch and delete.
	writable bool
	// readOnly explains who writes a read-only resource.
	readOnly string
	// subresources served besides the object itself.
	subresources []string
	// columns and cells of the server-side table.
	columns []metav1.TableColumnDefinition
	cells   func(o v1alpha1.Object) []any
}

func (r *resource) groupResource() schema.GroupResource { return store.GroupResource(r.Resource) }

func (r *resource) groupKind() schema.GroupKind {
	return schema.GroupKind{Group: v1alpha1.Group, Kind: r.Kind}
}

func (r *resource) hasSub(sub string) bool {
	for _, s := range r.subresources {
		if s == sub {
			return true
		}
	}
	return false
}

func column(name, typ, desc string, priority int32) metav1.TableColumnDefinition {
	c := metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc, Priority: priority}
	if name == "Name" {
		c.Format = "name"
	}
	return c
}

func newResources() map[string]*resource {
	m := map[string]*resource{}
	for _, info := range store.Resources {
		r := &resource{ResourceInfo: info}
		switch info.Resource {
		case store.PatchPolicies:
			r.writable = true
			r.subresources = []string{"status"}
			r.columns = []metav1.TableColumnDefinition{
				column("Name", "string", "Name of the policy.", 0),
				column("Ready", "string", "Status of the Ready condition.", 0),
				column("Mode", "string", "Enforce or Audit.", 0),
				column("Pending", "integer", "Package changes still to make.", 0),
				column("Reboot", "string", "Whether a selected host needs a reboot.", 0),
				column("Age", "date", "Time since the policy was created.", 0),
				column("Compliant", "string", "Compliant of matched hosts.", 1),
				column("Reason", "string", "Reason of the Ready condition.", 1),
				column("Message", "string", "Message of the Ready condition.", 1),
			}
			r.cells = policyCells
		case store.Hosts:
			r.readOnly = "hosts are written by the patchlet agent from what it observes on the machine; they are read-only over the API"
			r.subresources = []string{"status"}
			r.columns = []metav1.TableColumnDefinition{
				column("Name", "string", "Name of the host.", 0),
				column("Backend", "string", "Package-manager backend in use.", 0),
				column("OS", "string", "Operating system and version.", 0),
				column("Cache", "string", "Freshness of the package index.", 0),
				column("Upgradable", "integer", "Packages with a pending upgrade.", 0),
				column("Security", "integer", "Pending security upgrades.", 0),
				column("Reboot", "string", "Whether the host needs a reboot.", 0),
				column("Age", "date", "Time since the host was first seen.", 0),
				column("Kernel", "string", "Running kernel.", 1),
				column("Installed", "integer", "Installed packages.", 1),
			}
			r.cells = hostCells
		case store.Operations:
			r.readOnly = "operations are written by the patchlet agent when it runs a package-manager step and pruned by it; they are read-only over the API"
			r.subresources = []string{"status", "log"}
			r.columns = []metav1.TableColumnDefinition{
				column("Name", "string", "Name of the operation.", 0),
				column("Step", "string", "Kind of step.", 0),
				column("Phase", "string", "Pending, Running, Succeeded or Failed.", 0),
				column("Exit", "string", "Exit code of the command.", 0),
				column("Policy", "string", "Policy that caused the step.", 0),
				column("Age", "date", "Time since the operation was created.", 0),
				column("Host", "string", "Host the step ran on.", 1),
				column("Reason", "string", "Reason of a failure.", 1),
				column("Packages", "string", "Packages the step changes.", 1),
			}
			r.cells = operationCells
		}
		m[info.Resource] = r
	}
	return m
}

func conditionStatus(conds []metav1.Condition, typ string) string {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return string(c.Status)
	}
	return "Unknown"
}

func policyCells(o v1alpha1.Object) []any {
	p := o.(*v1alpha1.PatchPolicy)
	st := &p.Status
	reboot := "False"
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionRebootRequired); c != nil {
		reboot = string(c.Status)
	} else if st.Hosts.RebootRequired > 0 {
		reboot = "True"
	}
	reason, msg := "", ""
	if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); c != nil {
		reason, msg = c.Reason, c.Message
	}
	mode := p.Spec.Mode
	if mode == "" {
		mode = v1alpha1.ModeEnforce // the default, applied where the policy is enforced
	}
	return []any{
		p.Name,
		conditionStatus(st.Conditions, v1alpha1.ConditionReady),
		string(mode),
		int64(st.Pending),
		reboot,
		nil, // age, filled in by the table builder
		itoa(int64(st.Hosts.Compliant)) + "/" + itoa(int64(st.Hosts.Matched)),
		reason,
		msg,
	}
}

func hostCells(o v1alpha1.Object) []any {
	h := o.(*v1alpha1.Host)
	st := &h.Status
	backend := ""
	if st.Backend != nil {
		backend = st.Backend.Name
	}
	osName := strings.TrimSpace(st.OS.ID + " " + st.OS.VersionID)
	reboot := "False"
	if st.RebootRequired.Required {
		reboot = "True"
	}
	return []any{
		h.Name,
		backend,
		osName,
		string(st.Cache.State),
		int64(st.Packages.Upgradable),
		int64(st.Packages.Security),
		reboot,
		nil,
		st.OS.Kernel,
		int64(st.Packages.Installed),
	}
}

func operationCells(o v1alpha1.Object) []any {
	op := o.(*v1alpha1.Operation)
	exit := ""
	if op.Status.ExitCode != nil {
		exit = itoa(int64(*op.Status.ExitCode))
	}
	return []any{
		op.Name,
		string(op.Spec.Step),
		string(op.Status.Phase),
		exit,
		op.Spec.Policy,
		nil,
		op.Spec.Host,
		op.Status.Reason,
		strings.Join(op.Spec.Packages, ","),
	}
}
