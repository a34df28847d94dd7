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

// PlanReason says why a plan item does what it does: a PlanItem's reason,
// and the reason of a policy's Stalled condition (Conflict, Unsupported,
// VersionNotAvailable, Held, InvalidSelector).
type PlanReason string

// Plan item reasons.
const (
	// PlanSatisfied: the package is as the policy wants it.
	PlanSatisfied PlanReason = "Satisfied"
	// PlanNotInstalled: a wanted package is missing (Install), or a Held
	// package without a pinned version is not installed (nothing to hold).
	PlanNotInstalled PlanReason = "NotInstalled"
	// PlanInstalled: a package the policy wants Absent is installed (Remove).
	PlanInstalled PlanReason = "Installed"
	// PlanPinned: the installed version differs from the pinned one
	// (Install), or an update is skipped because another policy pins it.
	PlanPinned PlanReason = "Pinned"
	// PlanOutdated: an upgrade is pending (Upgrade).
	PlanOutdated PlanReason = "Outdated"
	// PlanNotInPatchSet: a pending upgrade of a package the policy's
	// resolved patch set (spec.updates.resolved) does not list (Skip).
	PlanNotInPatchSet PlanReason = "NotInPatchSet"
	// PlanSecurityUpdate: a security upgrade is pending (Upgrade).
	PlanSecurityUpdate PlanReason = "SecurityUpdate"
	// PlanExcluded: a pending upgrade matches spec.updates.exclude, or
	// another policy removes the package (Skip).
	PlanExcluded PlanReason = "Excluded"
	// PlanHeld: the package is held, so it is not changed (Skip).
	PlanHeld PlanReason = "Held"
	// PlanNotHeld: a package the policy wants Held is not held yet (Hold).
	PlanNotHeld PlanReason = "NotHeld"
	// PlanVersionNotAvailable: the pinned version is neither installed nor
	// in the package index (Skip).
	PlanVersionNotAvailable PlanReason = "VersionNotAvailable"
	// PlanUnsupported: the backend cannot do what the policy asks (Skip).
	PlanUnsupported PlanReason = "Unsupported"
	// PlanConflict: policies disagree about the package (Skip).
	PlanConflict PlanReason = "Conflict"
	// PlanInvalidSelector: spec.hostSelector cannot be evaluated.
	PlanInvalidSelector PlanReason = "InvalidSelector"
)
