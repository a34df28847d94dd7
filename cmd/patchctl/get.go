package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/jsonpath"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/client"
)

const getLong = `Show PatchPolicies, Hosts or Operations as a table, like kubectl get.

Tables are the agent's own (the Table kubectl get prints, too):

  patchpolicies  NAME READY MODE PENDING REBOOT AGE
                 (-o wide adds MATCHED, COMPLIANT, FAILED hosts, WAVE, REASON, MESSAGE)
  hosts          NAME BACKEND OS CACHE UPGRADABLE SECURITY REBOOT AGE
                 (-o wide adds VERSION, KERNEL, INSTALLED)
  operations     NAME STEP PHASE EXIT POLICY AGE
                 (-o wide adds HOST, REASON, PACKAGES)

READY of a policy is the status of its Ready condition (Unknown until the
agent has reported it); REBOOT that of its RebootRequired condition, or
whether a selected host needs a reboot. AGE counts from creation, as kubectl
shows it (45s, 3m12s, 5h, 2d). An empty cell is <none>.

-o yaml and -o json print the objects in full (a list when no single name
was given); -o name prints kind/name lines for scripts; -o jsonpath=TEMPLATE
prints the fields a kubectl JSONPath template picks (missing fields print
nothing). -l selects by labels
(key=value, key!=value, key in (a,b), key, !key). -w prints the table, then
one row per change until interrupted.`

const getExamples = `  # All policies, with their Ready message
  patchctl get policies -o wide

  # One host in full
  patchctl get host web-1 -o yaml

  # Operations of one policy, as they change
  patchctl get ops -l patchlet.io/policy=web-security -w

  # Names only
  patchctl get pp -o name

  # One field, for scripts
  patchctl get pp web-security -o jsonpath='{.status.lastOperation}'`

type getOptions struct {
	output        string
	jsonPath      *jsonpath.JSONPath
	selector      string
	fieldSelector string
	watch         bool
	noHeaders     bool
}

func newGetCommand(g *globalOptions, s streams) *cobra.Command {
	o := &getOptions{}
	cmd := newCommand(usage{"get KIND [NAME...] | KIND/NAME...", "Show objects as a table, YAML or JSON", getLong, getExamples},
		rangeArgs(1, -1, "resource type (one of "+kindList+")"), func(cmd *cobra.Command, args []string) error {
			switch o.output {
			case "", "wide", "yaml", "json", "name":
			default:
				tmpl, ok := strings.CutPrefix(o.output, "jsonpath=")
				if !ok {
					return usagef("get: unsupported output format %q (want wide, yaml, json, name or jsonpath=TEMPLATE)", o.output)
				}
				jp, err := parseJSONPath(tmpl)
				if err != nil {
					return usageError{err}
				}
				o.jsonPath, o.output = jp, "jsonpath"
			}
			if o.selector != "" {
				if _, err := labels.Parse(o.selector); err != nil {
					return usagef("get: bad label selector %q: %v", o.selector, err)
				}
			}
			if o.fieldSelector != "" {
				if _, err := fields.ParseSelector(o.fieldSelector); err != nil {
					return usagef("get: bad field selector %q: %v", o.fieldSelector, err)
				}
			}
			kind, refs, err := parseRefs(args, false)
			if err != nil {
				return err
			}
			if len(refs) > 0 && (o.selector != "" || o.fieldSelector != "") {
				return usagef("get: names and a selector cannot be given together")
			}
			if o.watch && (len(refs) > 1 || (len(refs) == 1 && refs[0].kind.Resource != kind.Resource)) {
				return usagef("get: --watch takes one resource type and at most one name")
			}
			return g.withClient(cmd.Context(), func(ctx context.Context, c *client.Client) error {
				return runGet(ctx, c, s, o, kind, refs)
			})
		})
	f := cmd.Flags()
	addOutputFlag(f, &o.output, "wide, yaml, json, name, jsonpath=TEMPLATE (e.g. '{.status.lastOperation}')")
	f.StringVarP(&o.selector, "selector", "l", "", "label selector, e.g. role=web,env!=test")
	f.StringVar(&o.fieldSelector, "field-selector", "", "field selector, e.g. metadata.name=web-1")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, print changes as they happen until interrupted")
	f.BoolVar(&o.noHeaders, "no-headers", false, "leave out the table header")
	return cmd
}

func runGet(ctx context.Context, c *client.Client, s streams, o *getOptions, kind kindInfo, refs []ref) error {
	if len(refs) == 0 {
		return getList(ctx, c, s, o, kind)
	}
	if o.table() {
		return getTables(ctx, c, s, o, kind, refs)
	}
	// Named objects, grouped by kind in the order given.
	var order []kindInfo
	byKind := map[string][]v1alpha1.Object{}
	failed := eachRef(s, refs, func(r ref) error {
		obj, err := getRef(ctx, c, r)
		if err != nil {
			return err
		}
		if _, ok := byKind[r.kind.Kind]; !ok {
			order = append(order, r.kind)
		}
		byKind[r.kind.Kind] = append(byKind[r.kind.Kind], obj)
		return nil
	})
	var all []v1alpha1.Object
	for _, k := range order {
		all = append(all, byKind[k.Kind]...)
	}
	switch o.output {
	case "yaml", "json", "jsonpath":
		if len(refs) == 1 && len(all) == 1 {
			if err := o.printDoc(s.out, all[0]); err != nil {
				return err
			}
		} else if len(all) > 0 {
			if err := o.printDoc(s.out, genericList(all)); err != nil {
				return err
			}
		}
	case "name":
		for _, obj := range all {
			fmt.Fprintln(s.out, objRef(obj))
		}
	}
	if failed {
		return reportedError{}
	}
	if o.watch {
		return watchOne(ctx, c, s, o, kind, all[0], true)
	}
	return nil
}

// getTables prints the server's table rows of named objects, one table per
// kind in the order given.
func getTables(ctx context.Context, c *client.Client, s streams, o *getOptions, kind kindInfo, refs []ref) error {
	var order []string
	byKind := map[string]*metav1.Table{}
	failed := eachRef(s, refs, func(r ref) error {
		t, err := resourceOf(c, r.kind).TableOf(ctx, r.name)
		if err != nil {
			return err
		}
		if all, ok := byKind[r.kind.Kind]; ok {
			all.Rows = append(all.Rows, t.Rows...)
			return nil
		}
		order = append(order, r.kind.Kind)
		byKind[r.kind.Kind] = t
		return nil
	})
	for i, k := range order {
		if i > 0 {
			fmt.Fprintln(s.out)
		}
		if err := o.tablePrinter(s.out, false).print(byKind[k]); err != nil {
			return err
		}
	}
	if failed {
		return reportedError{}
	}
	if o.watch {
		first, err := rowMeta(byKind[order[0]].Rows[0])
		if err != nil {
			return err
		}
		return watchOne(ctx, c, s, o, kind, first, true)
	}
	return nil
}

// rowMeta is the metadata of the object of a table row (the server sends
// it with includeObject=Metadata, the default).
func rowMeta(row metav1.TableRow) (*metav1.PartialObjectMetadata, error) {
	var m metav1.PartialObjectMetadata
	if err := json.Unmarshal(row.Object.Raw, &m); err != nil || m.Name == "" {
		return nil, fmt.Errorf("the server's table row carries no object metadata")
	}
	return &m, nil
}

// watchOne prints the changes of one object after its resourceVersion.
func watchOne(ctx context.Context, c *client.Client, s streams, o *getOptions, kind kindInfo, obj metav1.Object, headerPrinted bool) error {
	return watchAndPrint(ctx, c, s, o, kind, metav1.ListOptions{
		FieldSelector:   fields.OneTermEqualSelector("metadata.name", obj.GetName()).String(),
		ResourceVersion: obj.GetResourceVersion(),
	}, headerPrinted)
}

// table says whether the output is the server's table.
func (o *getOptions) table() bool { return o.output == "" || o.output == "wide" }

func (o *getOptions) tablePrinter(w io.Writer, headerPrinted bool) *tablePrinter {
	return &tablePrinter{w: w, wide: o.output == "wide", noHeaders: o.noHeaders, printed: headerPrinted}
}

// genericList wraps objects in a kind: List, as kubectl prints several
// objects.
func genericList(objs []v1alpha1.Object) map[string]any {
	items := make([]any, len(objs))
	for i, o := range objs {
		items[i] = o
	}
	return map[string]any{"apiVersion": "v1", "kind": "List", "metadata": map[string]any{"resourceVersion": ""}, "items": items}
}

func getList(ctx context.Context, c *client.Client, s streams, o *getOptions, kind kindInfo) error {
	opts := metav1.ListOptions{LabelSelector: o.selector, FieldSelector: o.fieldSelector}
	if o.table() {
		t, err := resourceOf(c, kind).Table(ctx, opts)
		if err != nil {
			return err
		}
		if len(t.Rows) == 0 && !o.watch {
			fmt.Fprintln(s.errOut, "No resources found")
			return nil
		}
		if len(t.Rows) > 0 {
			if err := o.tablePrinter(s.out, false).print(t); err != nil {
				return err
			}
		}
		if !o.watch {
			return nil
		}
		opts.ResourceVersion = t.ResourceVersion
		return watchAndPrint(ctx, c, s, o, kind, opts, len(t.Rows) > 0)
	}
	list, objs, err := listKind(ctx, c, kind, opts)
	if err != nil {
		return err
	}
	switch o.output {
	case "yaml", "json", "jsonpath":
		list.GetObjectKind().SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind.ListKind))
		if err := o.printDoc(s.out, list); err != nil {
			return err
		}
	case "name":
		for _, obj := range objs {
			fmt.Fprintln(s.out, objRef(obj))
		}
	}
	if !o.watch {
		return nil
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return err
	}
	opts.ResourceVersion = lm.GetResourceVersion()
	return watchAndPrint(ctx, c, s, o, kind, opts, len(objs) > 0)
}

// listObjects returns the items of a typed list.
func listObjects(list runtime.Object, kind string) ([]v1alpha1.Object, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, fmt.Errorf("reading list: %w", err)
	}
	out := make([]v1alpha1.Object, 0, len(items))
	for _, it := range items {
		obj, ok := it.(v1alpha1.Object)
		if !ok {
			return nil, fmt.Errorf("unexpected list item %T", it)
		}
		ensureTypeMeta(obj, kind)
		out = append(out, obj)
	}
	return out, nil
}

// watchAndPrint prints every change from opts.ResourceVersion on, until
// ctx ends or the server ends the stream: a table row per change (the
// server's Table of the changed object), or the object itself.
func watchAndPrint(ctx context.Context, c *client.Client, s streams, o *getOptions, kind kindInfo, opts metav1.ListOptions, headerPrinted bool) error {
	res := resourceOf(c, kind)
	var w watch.Interface
	var err error
	if o.table() {
		w, err = res.WatchTable(ctx, opts)
	} else {
		w, err = res.Watch(ctx, opts)
	}
	if err != nil {
		return err
	}
	defer w.Stop()
	p := o.tablePrinter(s.out, headerPrinted)
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			if err := printEvent(s.out, p, o, ev, kind); err != nil {
				return err
			}
		}
	}
}

func printEvent(w io.Writer, p *tablePrinter, o *getOptions, ev watch.Event, kind kindInfo) error {
	if ev.Type == watch.Error {
		if st, ok := ev.Object.(*metav1.Status); ok {
			return fmt.Errorf("watch: %s", st.Message)
		}
		return errors.New("watch: error event")
	}
	if ev.Type == watch.Bookmark {
		return nil
	}
	if t, ok := ev.Object.(*metav1.Table); ok {
		return p.print(t)
	}
	obj, ok := ev.Object.(v1alpha1.Object)
	if !ok {
		return fmt.Errorf("watch: unexpected object %T", ev.Object)
	}
	ensureTypeMeta(obj, kind.Kind)
	switch o.output {
	case "yaml":
		fmt.Fprintln(w, "---")
		return printObject(w, obj, "yaml")
	case "json", "jsonpath":
		return o.printDoc(w, obj)
	}
	_, err := fmt.Fprintln(w, objRef(obj))
	return err
}

// printDoc writes one document (an object or a list) in the YAML, JSON or
// JSONPath output format.
func (o *getOptions) printDoc(w io.Writer, doc any) error {
	if o.output == "jsonpath" {
		return printJSONPath(w, o.jsonPath, doc)
	}
	return printObject(w, doc, o.output)
}
