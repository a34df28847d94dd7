package server

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// resource is what the server knows of one resource beyond the registry
// (v1alpha1.Resources).
type resource struct {
	v1alpha1.ResourceInfo
	// readOnly explains who writes a resource clients may not write.
	readOnly string
	// columns of the server-side table (ResourceInfo.TableColumns).
	columns []metav1.TableColumnDefinition
}

// readOnlyMessages say who writes the resources that are not Writable.
var readOnlyMessages = map[string]string{
	v1alpha1.ResourceHosts:      "hosts are written by the patchlet agent from what it observes on the machine; they are read-only over the API",
	v1alpha1.ResourceOperations: "operations are written by the patchlet agent when it runs a package-manager step and pruned by it; they are read-only over the API",
}

func newResources() map[string]*resource {
	m := map[string]*resource{}
	for _, info := range v1alpha1.Resources {
		m[info.Resource] = &resource{ResourceInfo: info, readOnly: readOnlyMessages[info.Resource], columns: info.TableColumns()}
	}
	return m
}
