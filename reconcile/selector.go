package reconcile

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Selects reports whether the policy's spec.hostSelector matches a host
// with the given labels. A nil or empty selector selects every host.
func Selects(policy *v1alpha1.PatchPolicy, hostLabels map[string]string) (bool, error) {
	if policy.Spec.HostSelector == nil {
		return true, nil
	}
	sel, err := metav1.LabelSelectorAsSelector(policy.Spec.HostSelector)
	if err != nil {
		return false, fmt.Errorf("policy %s: host selector: %w", policy.Name, err)
	}
	return sel.Matches(labels.Set(hostLabels)), nil
}
