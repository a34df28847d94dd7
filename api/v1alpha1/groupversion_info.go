// Package v1alpha1 holds patchlet's API types (group patchlet.io, version
// v1alpha1): PatchPolicy (desired state), Host (observed state of one
// machine) and Operation (one run of a package-manager step), with their
// defaults, validation and strict decoding. It is a leaf: it imports no
// other package of this module.
//
// +kubebuilder:object:generate=true
// +groupName=patchlet.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and Version of every kind in this package.
const (
	Group   = "patchlet.io"
	Version = "v1alpha1"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&PatchPolicy{}, &PatchPolicyList{},
		&Host{}, &HostList{},
		&Operation{}, &OperationList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Object is what every top-level kind of this package implements.
//
// +kubebuilder:object:generate=false
type Object interface {
	metav1.Object
	runtime.Object
}

// Well-known annotations and labels.
const (
	// AnnotationSourceFile names the file of the drop directory an object was
	// read from. Such objects are read-only over the API.
	AnnotationSourceFile = "patchlet.io/source-file"
	// AnnotationSource says where a mirrored object came from; the value
	// SourceCluster marks a fleet-mode copy of a cluster PatchPolicy. Such
	// objects are read-only over the agent's API.
	AnnotationSource = "patchlet.io/source"
	// SourceCluster is AnnotationSource's value for fleet-mode copies.
	SourceCluster = "cluster"
	// LabelPolicy on an Operation names the policy that caused it.
	LabelPolicy = "patchlet.io/policy"
	// LabelHost on an Operation names the host it ran on.
	LabelHost = "patchlet.io/host"
)
