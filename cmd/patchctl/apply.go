package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/client"
)

const applyLong = `Create or update objects from YAML or JSON files, like kubectl apply.

Every file may hold several YAML documents separated by "---" lines. All
documents of all files are decoded strictly first (unknown or duplicate
fields are errors) and, unless --validate=false, validated the way the agent
validates them: if any document is wrong, each problem is printed with its
file, document number and field, and nothing is sent.

Then, for each document in order: an object that does not exist yet is
created; one that exists is replaced (metadata.labels, annotations and spec;
status is the agent's) with the resourceVersion just read, retrying once if
someone else changed it meanwhile. The result is printed like kubectl's:

  patchpolicy/web-security created
  patchpolicy/web-security configured   (the object changed)
  patchpolicy/web-security unchanged    (it already was as the file says)

The agent's validation errors are printed one field per line.

A "kind: List" document (what "patchctl get -o yaml" prints for several
objects) is applied item by item. Server-owned metadata in a file
(resourceVersion, uid, creationTimestamp, generation) is ignored, so the
output of "get -o yaml" can be applied again.

-f takes a file, a directory (its *.yaml, *.yml and *.json files, in name
order; with -R also those of its subdirectories), or "-" for standard input;
it may be repeated.`

const applyExamples = `  # Apply one policy
  patchctl apply -f web-security.yaml

  # Apply every policy in a directory
  patchctl apply -f ./policies/

  # From standard input
  cat web-security.yaml | patchctl apply -f -`

type applyOptions struct {
	files     []string
	recursive bool
	validate  bool
	output    string
}

func newApplyCommand(g *globalOptions, s streams) *cobra.Command {
	o := &applyOptions{}
	cmd := newCommand(usage{"apply -f FILENAME", "Create or update objects from YAML or JSON files", applyLong, applyExamples},
		noArgs, func(cmd *cobra.Command, args []string) error {
			if len(o.files) == 0 {
				return usagef("apply: missing -f FILENAME")
			}
			if o.output != "" && o.output != "name" {
				return usagef("apply: unsupported output format %q (want name)", o.output)
			}
			return runApply(cmd.Context(), g, s, o)
		})
	cmd.Flags().StringArrayVarP(&o.files, "filename", "f", nil, "file, directory or - (standard input) to apply; repeatable")
	cmd.Flags().BoolVarP(&o.recursive, "recursive", "R", false, "also read the subdirectories of a directory given with -f")
	cmd.Flags().BoolVar(&o.validate, "validate", true, "validate the documents before sending them (the agent validates them anyway)")
	addOutputFlag(cmd.Flags(), &o.output, "name (print only kind/name)")
	return cmd
}

// document is one decoded document of an input file.
type document struct {
	source string // file name, or "-" for standard input
	index  int    // 1-based position in its file
	item   int    // 1-based position in a List document; 0 when not in one
	obj    v1alpha1.Object
}

func (d document) where() string {
	if d.item > 0 {
		return fmt.Sprintf("%s: document %d, item %d", d.source, d.index, d.item)
	}
	return fmt.Sprintf("%s: document %d", d.source, d.index)
}

// listItem is one object document, on its own or an item of a List.
type listItem struct {
	doc  []byte
	list bool
}

// listItems expands a "kind: List" (or PatchPolicyList, …) document, as
// "patchctl get -o yaml" prints several objects, into its items; any other
// document is returned as it is.
func listItems(doc []byte) ([]listItem, error) {
	j, err := v1alpha1.ToJSON(doc)
	if err != nil {
		return []listItem{{doc: doc}}, nil // Decode reports it
	}
	var head struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(j, &head); err != nil || !strings.HasSuffix(head.Kind, "List") {
		return []listItem{{doc: doc}}, nil
	}
	if len(head.Items) == 0 {
		return nil, fmt.Errorf("%s without items", head.Kind)
	}
	out := make([]listItem, len(head.Items))
	for i, it := range head.Items {
		out[i] = listItem{doc: it, list: true}
	}
	return out, nil
}

// readDocuments reads, splits and strictly decodes every document of the
// named sources. Problems are returned one per line, naming file, document
// and field.
func readDocuments(sources []string, recursive bool, stdin io.Reader, validate bool) ([]document, []string, error) {
	var files []string
	for _, src := range sources {
		if src == "-" {
			files = append(files, src)
			continue
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", src, errors.Unwrap(err))
		}
		if !st.IsDir() {
			files = append(files, src)
			continue
		}
		found, err := manifestFiles(src, recursive)
		if err != nil {
			return nil, nil, err
		}
		if len(found) == 0 {
			return nil, nil, fmt.Errorf("no *.yaml, *.yml or *.json files in directory %s", src)
		}
		files = append(files, found...)
	}

	var docs []document
	var problems []string
	for _, f := range files {
		var data []byte
		var err error
		if f == "-" {
			data, err = io.ReadAll(io.LimitReader(stdin, 64<<20))
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("reading %s: %w", f, err)
		}
		parts, err := v1alpha1.SplitDocuments(data)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", f, err))
			continue
		}
		for i, part := range parts {
			items, err := listItems(part)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: document %d: %v", f, i+1, err))
				continue
			}
			for j, item := range items {
				d := document{source: f, index: i + 1}
				if items[0].list {
					d.item = j + 1
				}
				obj, err := v1alpha1.Decode(item.doc)
				if err != nil {
					problems = append(problems, decodeProblems(d.where(), err)...)
					continue
				}
				d.obj = obj
				if validate {
					if errs := validateObject(obj); len(errs) > 0 {
						for _, e := range errs {
							problems = append(problems, fmt.Sprintf("%s (%s): %s", d.where(), objRef(obj), e.Error()))
						}
						continue
					}
				}
				docs = append(docs, d)
			}
		}
	}
	if len(docs) == 0 && len(problems) == 0 {
		return nil, nil, errors.New("no objects passed to apply")
	}
	return docs, problems, nil
}

// manifestFiles lists the manifest files of a directory in name order.
func manifestFiles(dir string, recursive bool) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && !recursive {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading directory %s: %w", dir, err)
	}
	slices.Sort(files)
	return files, nil
}

func decodeProblems(where string, err error) []string {
	var de *v1alpha1.DecodeError
	if errors.As(err, &de) && len(de.Fields) > 0 {
		out := make([]string, 0, len(de.Fields))
		for _, fe := range de.Fields {
			out = append(out, fmt.Sprintf("%s: %s", where, fe.Error()))
		}
		return out
	}
	return []string{fmt.Sprintf("%s: %v", where, err)}
}

// validateObject validates a defaulted copy of obj as the agent would.
func validateObject(obj v1alpha1.Object) field.ErrorList {
	switch o := obj.DeepCopyObject().(type) {
	case *v1alpha1.PatchPolicy:
		o.SetDefaults()
		return o.Validate()
	case *v1alpha1.Host:
		return o.Validate()
	case *v1alpha1.Operation:
		return o.Validate()
	}
	return nil
}

// objRef names an object "patchpolicy/NAME".
func objRef(obj v1alpha1.Object) string {
	k, ok := kindOf(obj.GetObjectKind().GroupVersionKind().Kind)
	name := obj.GetName()
	if name == "" {
		name = "<no name>"
	}
	if !ok {
		return strings.ToLower(obj.GetObjectKind().GroupVersionKind().Kind) + "/" + name
	}
	return k.Singular + "/" + name
}

func runApply(ctx context.Context, g *globalOptions, s streams, o *applyOptions) error {
	docs, problems, err := readDocuments(o.files, o.recursive, s.in, o.validate)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(s.errOut, "error: %s\n", p)
		}
		fmt.Fprintf(s.errOut, "error: nothing was applied: %d problem(s) in the input\n", len(problems))
		return reportedError{}
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	failed := false
	for _, d := range docs {
		k, _ := kindOf(d.obj.GetObjectKind().GroupVersionKind().Kind)
		result, err := applyOne(ctx, resourceOf(c, k), d.obj)
		if err != nil {
			failed = true
			printError(s.errOut, fmt.Errorf("%s (%s): %w", d.where(), objRef(d.obj), err))
			continue
		}
		if o.output == "name" {
			fmt.Fprintln(s.out, objRef(d.obj))
		} else {
			fmt.Fprintf(s.out, "%s %s\n", objRef(d.obj), result)
		}
	}
	if failed {
		return reportedError{}
	}
	return nil
}

// applyOne creates obj or replaces the live object with it, and says which
// happened: "created", "configured" or "unchanged".
func applyOne(ctx context.Context, r *client.Resource[v1alpha1.Object, runtime.Object], obj v1alpha1.Object) (string, error) {
	// Metadata the server owns is not taken from the file (it may come
	// from "patchctl get -o yaml").
	obj = obj.DeepCopyObject().(v1alpha1.Object)
	obj.SetResourceVersion("")
	obj.SetUID("")
	obj.SetCreationTimestamp(metav1.Time{})
	obj.SetGeneration(0)
	for attempt := 0; ; attempt++ {
		live, err := r.Get(ctx, obj.GetName())
		if apierrors.IsNotFound(err) {
			if _, err := r.Create(ctx, obj); err != nil {
				if apierrors.IsAlreadyExists(err) && attempt == 0 {
					continue // created meanwhile: replace it instead
				}
				return "", err
			}
			return "created", nil
		}
		if err != nil {
			return "", err
		}
		desired := obj.DeepCopyObject().(v1alpha1.Object)
		desired.SetResourceVersion(live.GetResourceVersion())
		updated, err := r.Update(ctx, desired)
		if apierrors.IsConflict(err) && attempt == 0 {
			continue
		}
		if err != nil {
			return "", err
		}
		if updated.GetResourceVersion() == live.GetResourceVersion() {
			return "unchanged", nil
		}
		return "configured", nil
	}
}
