package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OperationPhase is where an Operation is in its life.
type OperationPhase string

const (
	OperationPending   OperationPhase = "Pending"
	OperationRunning   OperationPhase = "Running"
	OperationSucceeded OperationPhase = "Succeeded"
	OperationFailed    OperationPhase = "Failed"
)

// StepType is the kind of package-manager step an Operation runs.
type StepType string

const (
	StepRefresh StepType = "Refresh"
	StepInstall StepType = "Install"
	StepUpgrade StepType = "Upgrade"
	StepRemove  StepType = "Remove"
	StepHold    StepType = "Hold"
	StepUnhold  StepType = "Unhold"
	StepRecover StepType = "Recover"
	StepReboot  StepType = "Reboot"
)

// OperationSpec is what an Operation runs. It is written once, by the agent.
type OperationSpec struct {
	// Policy that caused the step, if any.
	// +optional
	Policy string `json:"policy,omitempty"`
	// Host the step runs on.
	// +optional
	Host string `json:"host,omitempty"`
	// Step is the kind of step.
	Step StepType `json:"step"`
	// Backend that built the command line.
	// +optional
	Backend string `json:"backend,omitempty"`
	// Argv is the exact command line run.
	Argv []string `json:"argv"`
	// Packages the step changes.
	// +optional
	Packages []string `json:"packages,omitempty"`
}

// OperationStatus reports the progress of an Operation.
type OperationStatus struct {
	// +optional
	Phase OperationPhase `json:"phase,omitempty"`
	// Reason is a CamelCase word for a failure: LockHeld, StaleIndex,
	// Interrupted, DiskFull, Timeout, ExitCode.
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// +optional
	ExitCode *int32 `json:"exitCode,omitempty"`
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// PID of the runner while the step runs.
	// +optional
	PID int32 `json:"pid,omitempty"`
	// OutputTail is the last lines of the step's combined output.
	// +optional
	OutputTail string `json:"outputTail,omitempty"`
}

// Operation is one run of a package-manager step. Read-only over the API.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=op
// +kubebuilder:printcolumn:name="Step",type=string,JSONPath=`.spec.step`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Exit",type=string,JSONPath=`.status.exitCode`
// +kubebuilder:printcolumn:name="Policy",type=string,JSONPath=`.spec.policy`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Host",type=string,JSONPath=`.spec.host`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.reason`,priority=1
type Operation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec OperationSpec `json:"spec,omitempty"`
	// +optional
	Status OperationStatus `json:"status,omitempty"`
}

// OperationList is a list of Operation.
//
// +kubebuilder:object:root=true
type OperationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Operation `json:"items"`
}
