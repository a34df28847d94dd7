package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

// includeObject reads the includeObject parameter of a table request.
func includeObject(r *http.Request) (metav1.IncludeObjectPolicy, error) {
	switch v := metav1.IncludeObjectPolicy(r.URL.Query().Get("includeObject")); v {
	case "":
		return metav1.IncludeMetadata, nil
	case metav1.IncludeNone, metav1.IncludeMetadata, metav1.IncludeObject:
		return v, nil
	default:
		return "", apierrors.NewBadRequest(fmt.Sprintf("includeObject must be None, Metadata or Object, not %q", v))
	}
}

// table renders objects as a meta.k8s.io/v1 Table.
func (s *Server) table(res *resource, items []store.Item, include metav1.IncludeObjectPolicy, rv, cont string, remaining int64) (*metav1.Table, error) {
	t := &metav1.Table{
		TypeMeta:          metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"},
		ListMeta:          metav1.ListMeta{ResourceVersion: rv, Continue: cont},
		ColumnDefinitions: res.columns,
		Rows:              make([]metav1.TableRow, 0, len(items)),
	}
	if remaining > 0 {
		t.RemainingItemCount = &remaining
	}
	now := s.now()
	for _, it := range items {
		o := it.Object
		row := metav1.TableRow{Cells: res.TableCells(o, now)}
		switch include {
		case metav1.IncludeObject:
			raw := it.JSON
			if raw == nil {
				b, err := json.Marshal(o)
				if err != nil {
					return nil, err
				}
				raw = b
			}
			row.Object = runtime.RawExtension{Raw: raw}
		case metav1.IncludeMetadata:
			m := metav1.PartialObjectMetadata{
				TypeMeta:   metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"},
				ObjectMeta: objectMeta(o),
			}
			b, err := json.Marshal(&m)
			if err != nil {
				return nil, err
			}
			row.Object = runtime.RawExtension{Raw: b}
		}
		t.Rows = append(t.Rows, row)
	}
	return t, nil
}

// objectMeta returns a copy of the metadata of an object.
func objectMeta(o v1alpha1.Object) metav1.ObjectMeta {
	if m, ok := o.(metav1.ObjectMetaAccessor); ok {
		if om, ok := m.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return *om.DeepCopy()
		}
	}
	return metav1.ObjectMeta{Name: o.GetName()}
}

func (s *Server) writeTable(w http.ResponseWriter, r *http.Request, res *resource, items []store.Item, rv, cont string, remaining int64) {
	include, err := includeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.table(res, items, include, rv, cont, remaining)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := json.Marshal(t)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, formatJSON, b)
}
