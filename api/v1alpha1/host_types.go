package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OSInfo describes the operating system of a host.
type OSInfo struct {
	// ID from /etc/os-release (debian, ubuntu, fedora, …).
	// +optional
	ID string `json:"id,omitempty"`
	// +optional
	IDLike string `json:"idLike,omitempty"`
	// +optional
	VersionID string `json:"versionID,omitempty"`
	// +optional
	PrettyName string `json:"prettyName,omitempty"`
	// Kernel is the running kernel release (uname -r).
	// +optional
	Kernel string `json:"kernel,omitempty"`
}

// BackendInfo names the package-manager backend in use and why it was chosen.
type BackendInfo struct {
	Name string `json:"name"`
	// +optional
	Reason string `json:"reason,omitempty"`
}

// CacheState is the freshness of the package index.
type CacheState string

const (
	CacheFresh   CacheState = "fresh"
	CacheStale   CacheState = "stale"
	CacheUnknown CacheState = "unknown"
	CacheFailed  CacheState = "failed"
)

// CacheStatus reports the package index.
type CacheStatus struct {
	// LastRefresh is when patchlet last refreshed the index successfully.
	// +optional
	LastRefresh *metav1.Time `json:"lastRefresh,omitempty"`
	// +optional
	State CacheState `json:"state,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// PackageCounts counts packages on a host.
type PackageCounts struct {
	// +optional
	Installed int32 `json:"installed"`
	// +optional
	Upgradable int32 `json:"upgradable"`
	// +optional
	Security int32 `json:"security"`
}

// UpgradablePackage is one pending upgrade.
type UpgradablePackage struct {
	Name string `json:"name"`
	// +optional
	From string `json:"from,omitempty"`
	To   string `json:"to"`
	// +optional
	Source string `json:"source,omitempty"`
	// +optional
	Security bool `json:"security,omitempty"`
}

// RebootStatus reports whether the host needs a reboot.
type RebootStatus struct {
	// +optional
	Required bool `json:"required"`
	// +optional
	Since *metav1.Time `json:"since,omitempty"`
	// +optional
	Packages []string `json:"packages,omitempty"`
	// BootID is the boot the requirement was seen in.
	// +optional
	BootID string `json:"bootID,omitempty"`
}

// HostPolicyStatus is one policy's state on this host.
type HostPolicyStatus struct {
	Name string `json:"name"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// State is a CamelCase word: Compliant, Progressing, WaitingForWindow, Drifted, Failed, Stalled, Suspended.
	State PolicyState `json:"state"`
	// +optional
	Pending int32 `json:"pending"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	LastOperation string `json:"lastOperation,omitempty"`
}

// HostStatus is the observed state of a host.
type HostStatus struct {
	// +optional
	OS OSInfo `json:"os,omitempty"`
	// +optional
	Backend *BackendInfo `json:"backend,omitempty"`
	// +optional
	Cache CacheStatus `json:"cache,omitempty"`
	// +optional
	Packages PackageCounts `json:"packages"`
	// +optional
	Upgradable []UpgradablePackage `json:"upgradable,omitempty"`
	// +optional
	RebootRequired RebootStatus `json:"rebootRequired"`
	// +optional
	Policies []HostPolicyStatus `json:"policies,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Host is the observed state of one machine, like a Node.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:printcolumn:name="Backend",type=string,JSONPath=`.status.backend.name`
// +kubebuilder:printcolumn:name="OS",type=string,JSONPath=`.status.os.id`
// +kubebuilder:printcolumn:name="Cache",type=string,JSONPath=`.status.cache.state`
// +kubebuilder:printcolumn:name="Upgradable",type=integer,JSONPath=`.status.packages.upgradable`
// +kubebuilder:printcolumn:name="Security",type=integer,JSONPath=`.status.packages.security`
// +kubebuilder:printcolumn:name="Reboot",type=string,JSONPath=`.status.rebootRequired.required`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.status.os.versionID`,priority=1
// +kubebuilder:printcolumn:name="Kernel",type=string,JSONPath=`.status.os.kernel`,priority=1
// +kubebuilder:printcolumn:name="Installed",type=integer,JSONPath=`.status.packages.installed`,priority=1
type Host struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Status HostStatus `json:"status,omitempty"`
}

// HostList is a list of Host.
//
// +kubebuilder:object:root=true
type HostList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Host `json:"items"`
}
