package v1alpha1

// PolicyState is where a policy stands on one host: a Host's
// status.policies[].state.
type PolicyState string

// States of a policy on a host.
const (
	PolicyCompliant        PolicyState = "Compliant"
	PolicyProgressing      PolicyState = "Progressing"
	PolicyWaitingForWindow PolicyState = "WaitingForWindow"
	PolicyDrifted          PolicyState = "Drifted"
	PolicyFailed           PolicyState = "Failed"
	PolicyStalled          PolicyState = "Stalled"
	PolicySuspended        PolicyState = "Suspended"
	// PolicyNotSelected: the policy's selector does not match this host.
	PolicyNotSelected PolicyState = "NotSelected"
)
