package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"sigs.k8s.io/yaml"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

const none = "<none>"

// newTabWriter aligns columns the way kubectl does.
func newTabWriter(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
}

// age is kubectl's AGE: the time since t, in 2–3 significant figures.
func age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// conditionStatus returns the status of a condition, or "Unknown".
func conditionStatus(conds []metav1.Condition, typ string) string {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return string(c.Status)
	}
	return string(metav1.ConditionUnknown)
}

// tableColumns returns the column headers of a kind's table.
func tableColumns(kind string, wide bool) []string {
	switch kind {
	case v1alpha1.KindPatchPolicy:
		cols := []string{"NAME", "READY", "MODE", "PENDING", "REBOOT", "AGE"}
		if wide {
			cols = append(cols, "HOSTS", "LAST-OPERATION", "MESSAGE")
		}
		return cols
	case v1alpha1.KindHost:
		cols := []string{"NAME", "BACKEND", "OS", "CACHE", "UPGRADABLE", "SECURITY", "REBOOT", "AGE"}
		if wide {
			cols = append(cols, "KERNEL", "INSTALLED", "LAST-REFRESH")
		}
		return cols
	case v1alpha1.KindOperation:
		cols := []string{"NAME", "STEP", "PHASE", "EXIT", "POLICY", "AGE"}
		if wide {
			cols = append(cols, "DURATION", "ATTEMPTS", "ARGV")
		}
		return cols
	}
	return []string{"NAME", "AGE"}
}

// tableRow renders one object as a row of its kind's table.
func tableRow(obj v1alpha1.Object, wide bool, now time.Time) []string {
	switch o := obj.(type) {
	case *v1alpha1.PatchPolicy:
		st := o.Status
		mode := string(o.Spec.Mode)
		if mode == "" {
			mode = string(v1alpha1.ModeEnforce)
		}
		if o.Spec.Suspend {
			mode += ",Suspended"
		}
		row := []string{o.Name, conditionStatus(st.Conditions, v1alpha1.ConditionReady), mode,
			strconv.Itoa(int(st.Pending)), conditionStatus(st.Conditions, v1alpha1.ConditionRebootRequired), age(o.CreationTimestamp, now)}
		if wide {
			msg := ""
			if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady); c != nil {
				msg = c.Message
			}
			row = append(row, fmt.Sprintf("%d/%d", st.Hosts.Compliant, st.Hosts.Matched), orNone(st.LastOperation), orNone(oneLine(msg)))
		}
		return row
	case *v1alpha1.Host:
		st := o.Status
		backend := none
		if st.Backend != nil && st.Backend.Name != "" {
			backend = st.Backend.Name
		}
		osName := st.OS.ID
		if st.OS.VersionID != "" {
			osName += "-" + st.OS.VersionID
		}
		cache := string(st.Cache.State)
		row := []string{o.Name, backend, orNone(osName), orNone(cache),
			strconv.Itoa(int(st.Packages.Upgradable)), strconv.Itoa(int(st.Packages.Security)),
			boolWord(st.RebootRequired.Required), age(o.CreationTimestamp, now)}
		if wide {
			refresh := none
			if st.Cache.LastRefresh != nil {
				refresh = age(*st.Cache.LastRefresh, now) + " ago"
			}
			row = append(row, orNone(st.OS.Kernel), strconv.Itoa(int(st.Packages.Installed)), refresh)
		}
		return row
	case *v1alpha1.Operation:
		st := o.Status
		exit := none
		if st.ExitCode != nil {
			exit = strconv.Itoa(int(*st.ExitCode))
		}
		phase := string(st.Phase)
		if phase == "" {
			phase = string(v1alpha1.OperationPending)
		}
		row := []string{o.Name, orNone(string(o.Spec.Step)), phase, exit, orNone(o.Spec.Policy), age(o.CreationTimestamp, now)}
		if wide {
			row = append(row, operationDuration(o, now), strconv.Itoa(int(st.Attempts)), orNone(strings.Join(o.Spec.Argv, " ")))
		}
		return row
	}
	return []string{obj.GetName(), age(obj.GetCreationTimestamp(), now)}
}

// operationDuration is how long a step ran (or has been running).
func operationDuration(o *v1alpha1.Operation, now time.Time) string {
	if o.Status.StartedAt == nil {
		return none
	}
	end := now
	if o.Status.FinishedAt != nil {
		end = o.Status.FinishedAt.Time
	}
	return duration.HumanDuration(end.Sub(o.Status.StartedAt.Time))
}

func orNone(s string) string {
	if s == "" {
		return none
	}
	return s
}

func boolWord(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// tablePrinter writes rows of one kind's table, the header once.
type tablePrinter struct {
	w         io.Writer
	kind      string
	wide      bool
	noHeaders bool
	now       func() time.Time
	printed   bool
}

// print writes objs as table rows (and the header before the first row).
func (p *tablePrinter) print(objs []v1alpha1.Object) error {
	tw := newTabWriter(p.w)
	if !p.printed && !p.noHeaders {
		fmt.Fprintln(tw, strings.Join(tableColumns(p.kind, p.wide), "\t"))
	}
	p.printed = true
	now := p.now()
	for _, o := range objs {
		fmt.Fprintln(tw, strings.Join(tableRow(o, p.wide, now), "\t"))
	}
	return tw.Flush()
}

// printObject writes one object as YAML or JSON. obj must carry its
// apiVersion and kind.
func printObject(w io.Writer, obj any, format string) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(obj, "", "    ")
		if err != nil {
			return fmt.Errorf("encoding JSON: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(obj)
		if err != nil {
			return fmt.Errorf("encoding YAML: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unknown output format %q", format)
}

// ensureTypeMeta sets apiVersion and kind when the server left them out.
func ensureTypeMeta(obj v1alpha1.Object, kind string) {
	if obj.GetObjectKind().GroupVersionKind().Kind == "" {
		obj.GetObjectKind().SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
	}
}
