package v1alpha1

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// MaxDocumentSize is the largest document the decoder accepts (1 MiB).
const MaxDocumentSize = 1 << 20

// Kind names.
const (
	KindPatchPolicy = "PatchPolicy"
	KindHost        = "Host"
	KindOperation   = "Operation"
)

// DecodeError is a document that could not be decoded. Fields, when set,
// names each offending field (unknown or duplicate); otherwise the document
// was not well-formed YAML or JSON, or a value had the wrong type.
//
// +kubebuilder:object:generate=false
type DecodeError struct {
	// Fields holds one error per unknown or duplicate field.
	Fields field.ErrorList
	// Err is a syntax or type error.
	Err error
}

func (e *DecodeError) Error() string {
	if len(e.Fields) > 0 {
		return "strict decoding error: " + e.Fields.ToAggregate().Error()
	}
	return "decoding error: " + e.Err.Error()
}

func (e *DecodeError) Unwrap() error { return e.Err }

// ToJSON converts one YAML or JSON document to JSON, rejecting duplicate keys
// and documents larger than MaxDocumentSize.
func ToJSON(doc []byte) ([]byte, error) {
	if len(doc) > MaxDocumentSize {
		return nil, &DecodeError{Err: fmt.Errorf("document of %d bytes is larger than the limit of %d bytes", len(doc), MaxDocumentSize)}
	}
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
		// JSON: duplicate keys are caught by the strict decoder. A YAML flow
		// mapping ({kind: Host}) also starts with '{' but is not valid JSON.
		return trimmed, nil
	}
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		// The YAML error names a duplicate key by line only; name it by path.
		return nil, &DecodeError{Fields: yamlDuplicates(doc), Err: err}
	}
	return j, nil
}

// yamlDuplicates returns one error per duplicate mapping key of a YAML
// document, named by its path. Aliases are not followed.
func yamlDuplicates(doc []byte) field.ErrorList {
	var root yamlv3.Node
	if yamlv3.Unmarshal(doc, &root) != nil {
		return nil
	}
	var errs field.ErrorList
	var walk func(n *yamlv3.Node, p *field.Path)
	walk = func(n *yamlv3.Node, p *field.Path) {
		switch n.Kind {
		case yamlv3.DocumentNode:
			for _, c := range n.Content {
				walk(c, p)
			}
		case yamlv3.MappingNode:
			seen := map[string]bool{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				kp := p.Child(k.Value)
				if seen[k.Value] {
					e := field.Duplicate(kp, k.Value)
					e.Detail = fmt.Sprintf("key %q already set in this mapping (line %d)", k.Value, k.Line)
					errs = append(errs, e)
				}
				seen[k.Value] = true
				walk(n.Content[i+1], kp)
			}
		case yamlv3.SequenceNode:
			for i, c := range n.Content {
				walk(c, p.Index(i))
			}
		}
	}
	walk(&root, nil)
	return errs
}

type typeHeader struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// Decode strictly decodes one YAML or JSON document into a new object of
// the kind it names. Unknown fields and duplicate keys are errors naming
// the field. It neither defaults nor validates.
func Decode(doc []byte) (Object, error) {
	j, err := ToJSON(doc)
	if err != nil {
		return nil, err
	}
	var h typeHeader
	if err := kjson.UnmarshalCaseSensitivePreserveInts(j, &h); err != nil {
		return nil, &DecodeError{Err: err}
	}
	var errs field.ErrorList
	if h.APIVersion != GroupVersion.String() {
		errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), h.APIVersion, []string{GroupVersion.String()}))
	}
	var obj Object
	if r, ok := ResourceOfKind(h.Kind); ok {
		obj = r.NewObject()
	} else {
		errs = append(errs, field.NotSupported(field.NewPath("kind"), h.Kind, []string{KindPatchPolicy, KindHost, KindOperation}))
	}
	if len(errs) > 0 {
		return nil, &DecodeError{Fields: errs}
	}
	if err := decodeJSONStrict(j, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// DecodeInto strictly decodes one YAML or JSON document into obj. An empty
// apiVersion or kind is accepted and filled in; a different one is an error.
func DecodeInto(doc []byte, obj Object, kind string) error {
	j, err := ToJSON(doc)
	if err != nil {
		return err
	}
	if err := decodeJSONStrict(j, obj); err != nil {
		return err
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	var errs field.ErrorList
	if gvk.Empty() {
		obj.GetObjectKind().SetGroupVersionKind(GroupVersion.WithKind(kind))
		return nil
	}
	if gvk.GroupVersion() != GroupVersion {
		errs = append(errs, field.NotSupported(field.NewPath("apiVersion"), gvk.GroupVersion().String(), []string{GroupVersion.String()}))
	}
	if gvk.Kind != kind {
		errs = append(errs, field.NotSupported(field.NewPath("kind"), gvk.Kind, []string{kind}))
	}
	if len(errs) > 0 {
		return &DecodeError{Fields: errs}
	}
	return nil
}

func decodeJSONStrict(j []byte, obj any) error {
	strict, err := kjson.UnmarshalStrict(j, obj)
	if err != nil {
		return &DecodeError{Err: err}
	}
	if len(strict) == 0 {
		return nil
	}
	var errs field.ErrorList
	for _, e := range strict {
		path := ""
		var fe kjson.FieldError
		if errors.As(e, &fe) {
			path = strings.TrimPrefix(fe.FieldPath(), ".")
		}
		p := field.NewPath(path)
		if strings.HasPrefix(e.Error(), "duplicate field") {
			errs = append(errs, field.Duplicate(p, path))
		} else {
			errs = append(errs, field.Forbidden(p, "unknown field"))
		}
	}
	return &DecodeError{Fields: errs}
}

// SplitDocuments splits a stream of YAML documents separated by "---" lines
// (or one JSON document) into documents, dropping empty ones.
func SplitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReaderSize(bytes.NewReader(data), 64<<10))
	var docs [][]byte
	for {
		d, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &DecodeError{Err: fmt.Errorf("splitting documents: %w", err)}
		}
		if isEmptyDocument(d) {
			continue
		}
		docs = append(docs, d)
	}
	return docs, nil
}

func isEmptyDocument(d []byte) bool {
	for _, line := range bytes.Split(d, []byte("\n")) {
		l := bytes.TrimSpace(line)
		if len(l) == 0 || l[0] == '#' || bytes.Equal(l, []byte("---")) || bytes.Equal(l, []byte("...")) {
			continue
		}
		return false
	}
	return true
}
