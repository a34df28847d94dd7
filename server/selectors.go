package server

import (
	"fmt"
	"net/url"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// matcher reports whether an object is selected.
type matcher func(o v1alpha1.Object) bool

// parseSelectors reads labelSelector and fieldSelector; nil selects all.
// fieldSelector supports metadata.name and metadata.namespace (always empty:
// every resource is cluster-scoped) with =, == and !=.
func parseSelectors(q url.Values) (matcher, error) {
	var ls labels.Selector
	if v := q.Get("labelSelector"); v != "" {
		sel, err := labels.Parse(v)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid labelSelector %q: %v", v, err))
		}
		if !sel.Empty() {
			ls = sel
		}
	}
	var reqs fields.Requirements
	if v := q.Get("fieldSelector"); v != "" {
		sel, err := fields.ParseSelector(v)
		if err != nil {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid fieldSelector %q: %v", v, err))
		}
		reqs = sel.Requirements()
		for _, r := range reqs {
			if r.Field != "metadata.name" && r.Field != "metadata.namespace" {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s (patchlet supports metadata.name and metadata.namespace)", r.Field))
			}
		}
	}
	if ls == nil && len(reqs) == 0 {
		return nil, nil
	}
	return func(o v1alpha1.Object) bool {
		for _, r := range reqs {
			val := o.GetName()
			if r.Field == "metadata.namespace" {
				val = ""
			}
			switch r.Operator {
			case selection.Equals, selection.DoubleEquals:
				if val != r.Value {
					return false
				}
			case selection.NotEquals:
				if val == r.Value {
					return false
				}
			}
		}
		return ls == nil || ls.Matches(labels.Set(o.GetLabels()))
	}, nil
}
