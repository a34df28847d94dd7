package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Selects reports whether the policy's spec.hostSelector matches a host
// with the given labels. A nil or empty selector selects every host.
func (p *PatchPolicy) Selects(hostLabels map[string]string) (bool, error) {
	ok, err := SelectorMatches(p.Spec.HostSelector, hostLabels)
	if err != nil {
		return false, fmt.Errorf("policy %s: host selector: %w", p.Name, err)
	}
	return ok, nil
}

// SelectorMatches reports whether ls matches set. A nil or empty selector
// matches everything; an invalid one (validation refuses it) is an error.
func SelectorMatches(ls *metav1.LabelSelector, set map[string]string) (bool, error) {
	sel, err := AsSelector(ls)
	if err != nil {
		return false, err
	}
	return sel.Matches(labels.Set(set)), nil
}

// AsSelector converts ls to a labels.Selector. Unlike
// metav1.LabelSelectorAsSelector, which selects nothing for nil, a nil
// selector selects everything, as spec.hostSelector and a wave's selector
// mean it.
func AsSelector(ls *metav1.LabelSelector) (labels.Selector, error) {
	if ls == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(ls)
}
