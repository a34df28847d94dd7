package v1alpha1

// Condition types of a PatchPolicy (metav1.Condition.Type). They stay
// untyped strings: metav1.Condition and meta.SetStatusCondition take
// strings, and a type would only add a conversion at every use.
const (
	// ConditionReady: the host is as the policy declares.
	ConditionReady = "Ready"
	// ConditionProgressing: patchlet is working towards the declared state.
	ConditionProgressing = "Progressing"
	// ConditionDegraded: the last attempt failed; it is retried.
	ConditionDegraded = "Degraded"
	// ConditionRebootRequired: the host needs a reboot.
	ConditionRebootRequired = "RebootRequired"
	// ConditionStalled: part of the policy cannot be done until the spec,
	// another policy or the host changes; no retry helps.
	ConditionStalled = "Stalled"
)

// Condition reasons of a PatchPolicy (metav1.Condition.Reason), untyped
// for the same reason as the types. Besides these, Stalled's reason is a
// PlanReason (Conflict, Unsupported, VersionNotAvailable, NoEffect, Held,
// InvalidSelector) and Degraded's a FailureReason (LockHeld, DiskFull, …)
// or one of ReasonCacheRefreshFailed and ReasonHealthCheckFailed.
const (
	ReasonCompliant          = "Compliant"
	ReasonApplying           = "Applying"
	ReasonWaitingForWindow   = "WaitingForWindow"
	ReasonDrifted            = "Drifted"
	ReasonSuspended          = "Suspended"
	ReasonNotSelected        = "NotSelected"
	ReasonStepFailed         = "StepFailed"
	ReasonCacheRefreshFailed = "CacheRefreshFailed"
	ReasonRebootPending      = "RebootPending"
	ReasonNoRebootRequired   = "NotRequired"
	// ReasonHealthCheckPending: packages are as declared and the policy's
	// health check has not passed yet (not run, or failing fewer than
	// failureThreshold times in a row).
	ReasonHealthCheckPending = "HealthCheckPending"
	// ReasonHealthCheckFailed: the health check failed failureThreshold
	// times in a row; it is retried every interval.
	ReasonHealthCheckFailed = "HealthCheckFailed"
)
