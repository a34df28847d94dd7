package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

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
func age(t metav1.Time, now time.Time) string { return v1alpha1.Age(t, now) }

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

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	return s
}

// tablePrinter writes the rows of the server's Tables of one resource,
// the header once, as kubectl prints them: column names in upper case,
// columns of priority 0 only unless wide, a string cell up to its first
// line break; an empty cell is <none>.
type tablePrinter struct {
	w         io.Writer
	wide      bool
	noHeaders bool
	printed   bool
}

// print writes t's rows (and the header before the first row).
func (p *tablePrinter) print(t *metav1.Table) error {
	var cols []int
	for i, c := range t.ColumnDefinitions {
		if p.wide || c.Priority == 0 {
			cols = append(cols, i)
		}
	}
	tw := newTabWriter(p.w)
	if !p.printed && !p.noHeaders {
		names := make([]string, len(cols))
		for j, i := range cols {
			names[j] = strings.ToUpper(t.ColumnDefinitions[i].Name)
		}
		fmt.Fprintln(tw, strings.Join(names, "\t"))
	}
	p.printed = true
	for _, row := range t.Rows {
		cells := make([]string, len(cols))
		for j, i := range cols {
			if i < len(row.Cells) {
				cells[j] = cellText(row.Cells[i])
			} else {
				cells[j] = none
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// cellText renders one cell of a Table decoded from JSON: numbers arrive
// as float64, integers print without a fraction.
func cellText(c any) string {
	switch v := c.(type) {
	case nil:
		return none
	case string:
		return orNone(oneLine(v))
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			return strconv.FormatInt(int64(v), 10)
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return orNone(fmt.Sprint(c))
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
