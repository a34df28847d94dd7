package v1alpha1

// FailureReason classifies a failed package-manager step: an Operation's
// status.reason, and the reason of a policy's Degraded condition.
type FailureReason string

// Failure classes of a failed step.
const (
	FailureLockHeld    FailureReason = "LockHeld"
	FailureStaleIndex  FailureReason = "StaleIndex"
	FailureInterrupted FailureReason = "Interrupted"
	FailureDiskFull    FailureReason = "DiskFull"
	FailureTimeout     FailureReason = "Timeout"
	FailureNotFound    FailureReason = "PackageNotFound"
	FailureFailed      FailureReason = "Failed"
	// FailureRefused: the backend refused to build the step (invalid
	// request or unsupported operation); nothing ran.
	FailureRefused FailureReason = "Refused"
)
