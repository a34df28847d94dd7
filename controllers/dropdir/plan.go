package dropdir

import (
	"fmt"
	"maps"
	"path/filepath"
	"strings"

	equality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// MessageAPIObject is the problem given to a file whose policy name is taken
// by an object created through the API.
const MessageAPIObject = "name already used by an object created through the API; delete it or rename"

// plan is what one rescan changes in the store, and the problems it found.
type plan struct {
	// creates are new objects (name, labels, annotations, spec).
	creates []*v1alpha1.PatchPolicy
	// updates are copies of stored objects with labels, annotations and
	// spec replaced; their resourceVersion is the stored one.
	updates []*v1alpha1.PatchPolicy
	// deletes are stored objects to remove (name and resourceVersion used).
	deletes []*v1alpha1.PatchPolicy
	// problems by file path.
	problems map[string]string
}

// owner says which file of dir an object came from, "" when it did not come
// from dir, and whether it came from the API (no source file at all).
func owner(dir string, obj *v1alpha1.PatchPolicy) (file string, fromAPI bool) {
	src := obj.Annotations[v1alpha1.AnnotationSourceFile]
	if src == "" {
		return "", true
	}
	if filepath.Dir(src) == dir {
		return src, false
	}
	return "", false
}

// computePlan works out how to bring the store's policies (existing) in line
// with the files of dir (files sorted by path). It is pure.
//
// The rules, in order:
//  1. A file with an error keeps the stored policies it defined as they are:
//     they are neither updated nor deleted, and their names stay reserved
//     for that file.
//  2. Files are taken in lexical order; the first file to define a name owns
//     it. A later definition (in another file or the same one) is refused,
//     and its file gets a problem naming both files.
//  3. A name held by an object created through the API (one without a
//     source-file annotation) is refused, and the API object left alone.
//  4. Every owned name is created or, when its labels, annotations or spec
//     differ, updated. Objects whose source file lies in dir and that no file
//     defines any more are deleted.
func computePlan(dir string, files []fileState, existing []*v1alpha1.PatchPolicy) plan {
	p := plan{problems: map[string]string{}}
	stored := make(map[string]*v1alpha1.PatchPolicy, len(existing))
	for _, o := range existing {
		stored[o.Name] = o
	}

	broken := map[string]bool{}
	for _, f := range files {
		if f.Err != nil {
			broken[f.Path] = true
			p.problems[f.Path] = f.Err.Error()
		}
	}
	// owners maps each name to the file that owns it.
	owners := map[string]string{}
	for _, o := range existing {
		if f, _ := owner(dir, o); f != "" && broken[f] {
			owners[o.Name] = f
		}
	}

	refused := map[string][]string{}
	desired := map[string]*v1alpha1.PatchPolicy{}
	var order []string
	for _, f := range files {
		if f.Err != nil {
			continue
		}
		for _, pol := range f.Policies {
			name := pol.Name
			if other, ok := owners[name]; ok {
				var msg string
				switch {
				case other == f.Path:
					msg = fmt.Sprintf("%s %q is defined more than once in this file; the first definition is used", v1alpha1.KindPatchPolicy, name)
				case broken[other]:
					msg = fmt.Sprintf("%s %q is also defined by %s, which has a problem and keeps it; this definition in %s is ignored", v1alpha1.KindPatchPolicy, name, other, f.Path)
				default:
					msg = fmt.Sprintf("%s %q is defined in both %s and %s; the first file in lexical order (%s) wins, this definition is ignored", v1alpha1.KindPatchPolicy, name, other, f.Path, other)
				}
				refused[f.Path] = append(refused[f.Path], msg)
				continue
			}
			if s, ok := stored[name]; ok {
				if _, fromAPI := owner(dir, s); fromAPI {
					refused[f.Path] = append(refused[f.Path], fmt.Sprintf("%s %q: %s", v1alpha1.KindPatchPolicy, name, MessageAPIObject))
					continue
				}
			}
			owners[name] = f.Path
			desired[name] = fromFile(pol, f.Path)
			order = append(order, name)
		}
	}
	for f, msgs := range refused {
		p.problems[f] = strings.Join(msgs, "; ")
	}

	for _, name := range order {
		want := desired[name]
		have, ok := stored[name]
		if !ok {
			p.creates = append(p.creates, want)
			continue
		}
		if sameContent(have, want) {
			continue
		}
		up := have.DeepCopy()
		up.Labels = want.Labels
		up.Annotations = want.Annotations
		up.Spec = want.Spec
		p.updates = append(p.updates, up)
	}
	for _, o := range existing {
		f, _ := owner(dir, o)
		if f == "" || broken[f] {
			continue
		}
		if _, ok := desired[o.Name]; ok {
			continue
		}
		p.deletes = append(p.deletes, o)
	}
	return p
}

// fromFile is the object to store for a policy read from file: its name,
// labels, annotations (with the source file) and spec; everything else in
// the file's metadata and any status are dropped.
func fromFile(pol *v1alpha1.PatchPolicy, file string) *v1alpha1.PatchPolicy {
	out := &v1alpha1.PatchPolicy{}
	out.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(v1alpha1.KindPatchPolicy))
	out.Name = pol.Name
	if len(pol.Labels) > 0 {
		out.Labels = maps.Clone(pol.Labels)
	}
	out.Annotations = maps.Clone(pol.Annotations)
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[v1alpha1.AnnotationSourceFile] = file
	pol.Spec.DeepCopyInto(&out.Spec)
	return out
}

// sameContent reports whether a stored object already has want's labels,
// annotations and spec.
func sameContent(have, want *v1alpha1.PatchPolicy) bool {
	if !mapsEqual(have.Labels, want.Labels) || !mapsEqual(have.Annotations, want.Annotations) {
		return false
	}
	// Semantic equality: nil and empty slices and maps are equal, as they
	// are once the store has encoded them (omitempty).
	return equality.Semantic.DeepEqual(have.Spec, want.Spec)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return maps.Equal(a, b)
}
