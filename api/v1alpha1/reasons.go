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
// VersionNotAvailable, NoEffect, Held, InvalidSelector).
type PlanReason string

// Plan item reasons.
const (
	// PlanSatisfied: the package is as the policy wants it.
	PlanSatisfied PlanReason = "Satisfied"
	// PlanProvided: the package the policy wants Present (or Latest,
	// unpinned) is not installed under that name, but installed packages
	// provide it (a virtual package: apt's and pacman's Provides, rpm's
	// and apk's provides); the message names them (None).
	PlanProvided PlanReason = "Provided"
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
	// PlanNoEffect: the step for the item exited successfully twice, once
	// after a fresh observation, and left the package as it was; no
	// identical step runs again for this generation (Skip). The message
	// says what the package manager did instead (status.noEffect keeps
	// the record).
	PlanNoEffect PlanReason = "NoEffect"
	// PlanUnsupported: the backend cannot do what the policy asks (Skip).
	PlanUnsupported PlanReason = "Unsupported"
	// PlanConflict: policies disagree about the package (Skip).
	PlanConflict PlanReason = "Conflict"
	// PlanInvalidSelector: spec.hostSelector cannot be evaluated.
	PlanInvalidSelector PlanReason = "InvalidSelector"
)
