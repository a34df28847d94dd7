package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// PackageState is what a policy wants of one package.
// +kubebuilder:validation:Enum=Present;Latest;Absent;Held
type PackageState string

const (
	// PackagePresent: installed; at exactly spec.version when one is given.
	PackagePresent PackageState = "Present"
	// PackageLatest: installed and upgraded to the newest available version.
	PackageLatest PackageState = "Latest"
	// PackageAbsent: not installed (removed, configuration kept).
	PackageAbsent PackageState = "Absent"
	// PackageHeld: left at its installed version; upgrades skip it.
	PackageHeld PackageState = "Held"
)

// PackageSpec names one package and what the policy wants of it.
// +kubebuilder:validation:XValidation:rule="!has(self.version) || size(self.version) == 0 || !has(self.state) || self.state == 'Present' || self.state == 'Held'",message="a version pin is allowed only with state Present or Held"
type PackageSpec struct {
	// Name of the package as the package manager knows it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9@_+]([A-Za-z0-9@._+-]*[A-Za-z0-9@._+])?$`
	Name string `json:"name"`
	// Version pins the package to exactly this version (e.g. 3.0.15-1~deb12u1).
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._+~^:-]*$`
	// +optional
	Version string `json:"version,omitempty"`
	// State defaults to Present.
	// +optional
	State PackageState `json:"state,omitempty"`
}

// UpdateClass selects which pending updates a policy applies.
// +kubebuilder:validation:Enum=None;Security;All
type UpdateClass string

const (
	UpdatesNone     UpdateClass = "None"
	UpdatesSecurity UpdateClass = "Security"
	UpdatesAll      UpdateClass = "All"
)

// UpdatesSpec selects classes of pending updates to apply.
type UpdatesSpec struct {
	// Apply defaults to None.
	// +optional
	Apply UpdateClass `json:"apply,omitempty"`
	// Exclude lists shell-style globs of package names never upgraded by this
	// policy (e.g. "linux-image-*").
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9@_+*?\[][A-Za-z0-9@._+*?\[\]-]*$`
	// +optional
	Exclude []string `json:"exclude,omitempty"`
	// Resolved freezes the updates this policy applies to exactly these
	// package versions: a pending upgrade of a listed package installs the
	// listed version (not the newest), and pending upgrades of packages not
	// listed are left alone. In fleet mode the agent fills it in its local
	// copy from the policy's status.patchSets for the host's OS release.
	// +optional
	Resolved *ResolvedUpdates `json:"resolved,omitempty"`
}

// PackageVersion is one package at one exact version.
type PackageVersion struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9@_+]([A-Za-z0-9@._+-]*[A-Za-z0-9@._+])?$`
	Name string `json:"name"`
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._+~^:-]*$`
	Version string `json:"version"`
}

// ResolvedUpdates is a frozen set of update versions.
type ResolvedUpdates struct {
	// Release is the OS release the set was resolved for (e.g. debian-12).
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Release string `json:"release,omitempty"`
	// +kubebuilder:validation:MaxItems=5000
	// +listType=map
	// +listMapKey=name
	// +optional
	Packages []PackageVersion `json:"packages,omitempty"`
}

// PatchSet is the updates of one rollout resolved once for one OS release.
type PatchSet struct {
	// Release is "<os id>-<version id>" from a Host's status.os (e.g. debian-12).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Release string `json:"release"`
	// Generation is the policy generation the set was resolved for; a new
	// generation resolves anew.
	Generation int64 `json:"generation"`
	// Packages are the exact versions every host of the release installs.
	// +kubebuilder:validation:MaxItems=5000
	// +listType=map
	// +listMapKey=name
	// +optional
	Packages []PackageVersion `json:"packages,omitempty"`
	// ResolvedBy names the host whose reported upgrades the set was taken from.
	// +optional
	ResolvedBy string `json:"resolvedBy,omitempty"`
	// +optional
	ResolvedAt *metav1.Time `json:"resolvedAt,omitempty"`
}

// CacheSpec says how fresh the package index must be before changes are made.
type CacheSpec struct {
	// MaxAge: refresh the index when it is older than this. Default 4h.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="must not be negative"
	// +optional
	MaxAge *Duration `json:"maxAge,omitempty"`
}

// Weekday is a three-letter English day name: Mon, Tue, Wed, Thu, Fri, Sat, Sun.
// +kubebuilder:validation:Enum=Mon;Tue;Wed;Thu;Fri;Sat;Sun
type Weekday string

// TimeWindow is a recurring window: on each of Days, from Start (HH:MM, in
// TimeZone) for Duration. A window may run past midnight.
type TimeWindow struct {
	// Days the window opens on. Empty means every day.
	// +kubebuilder:validation:MaxItems=7
	// +listType=set
	// +optional
	Days []Weekday `json:"days,omitempty"`
	// Start is the local opening time, "HH:MM" (24-hour clock).
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`
	// Duration of the window, at most 7 days (e.g. "2h").
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('168h')",message="must be positive and at most 168h"
	Duration Duration `json:"duration"`
	// TimeZone is an IANA zone name (e.g. Europe/Berlin). Default UTC.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`
	// +kubebuilder:validation:XValidation:rule="self != 'Local'",message="must be an IANA time zone name"
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
}

// RebootPolicyType says whether patchlet may reboot the host.
// +kubebuilder:validation:Enum=Never;IfRequired
type RebootPolicyType string

const (
	RebootNever      RebootPolicyType = "Never"
	RebootIfRequired RebootPolicyType = "IfRequired"
)

// RebootSpec says whether and when the host may be rebooted.
type RebootSpec struct {
	// Policy defaults to Never.
	// +optional
	Policy RebootPolicyType `json:"policy,omitempty"`
	// Window limits reboots to a recurring time window. Without one a
	// required reboot happens as soon as it is allowed.
	// +optional
	Window *TimeWindow `json:"window,omitempty"`
}

// PolicyMode says whether a policy changes the host.
// +kubebuilder:validation:Enum=Enforce;Audit
type PolicyMode string

const (
	// ModeEnforce converges the host (default).
	ModeEnforce PolicyMode = "Enforce"
	// ModeAudit observes and reports drift and changes nothing.
	ModeAudit PolicyMode = "Audit"
)

// RolloutSpec bounds a fleet rollout.
type RolloutSpec struct {
	// MaxConcurrent hosts applying or rebooting at once: a count or a percentage of matched hosts.
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 1 : self.matches('^(100|[1-9][0-9]?)%$')",message="must be an integer of at least 1 or a percentage between 1% and 100%"
	// +optional
	MaxConcurrent *intstr.IntOrString `json:"maxConcurrent,omitempty"`
	// MaxFailures halts the rollout once crossed: a count or a percentage of matched hosts.
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self >= 0 : self.matches('^(100|[1-9]?[0-9])%$')",message="must be an integer of at least 0 or a percentage between 0% and 100%"
	// +optional
	MaxFailures *intstr.IntOrString `json:"maxFailures,omitempty"`
	// Waves split the matched hosts into ordered groups; a later wave
	// starts only when every host of the earlier ones is Ready and the
	// earlier wave soaked. Hosts no wave takes form a last, implicit wave.
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Waves []RolloutWave `json:"waves,omitempty"`
}

// RolloutWave is one wave: hosts (a count or a percentage of the matched
// hosts, in host-name order, counted after the earlier waves) or a label
// selector, and how long to soak after it succeeded.
// +kubebuilder:validation:XValidation:rule="has(self.hosts) != has(self.selector)",message="a wave has either hosts or a selector"
type RolloutWave struct {
	// Hosts is a count of at least 1 or a percentage between 1% and 100%
	// (checked by the agent: a CEL rule here would exceed the API server's
	// cost budget inside a list).
	// +optional
	Hosts *intstr.IntOrString `json:"hosts,omitempty"`
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Soak is how long the wave must stay succeeded before the next starts.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="must not be negative"
	// +optional
	Soak *Duration `json:"soak,omitempty"`
}

// PatchPolicySpec is the desired state of the hosts a policy selects.
type PatchPolicySpec struct {
	// HostSelector selects hosts by their labels; empty selects every host.
	// +optional
	HostSelector *metav1.LabelSelector `json:"hostSelector,omitempty"`
	// Packages the policy manages one by one.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=map
	// +listMapKey=name
	// +optional
	Packages []PackageSpec `json:"packages,omitempty"`
	// Updates selects classes of pending updates to apply.
	// +optional
	Updates *UpdatesSpec `json:"updates,omitempty"`
	// Cache says how fresh the package index must be.
	// +optional
	Cache *CacheSpec `json:"cache,omitempty"`
	// Reboot says whether and when a required reboot may happen.
	// +optional
	Reboot *RebootSpec `json:"reboot,omitempty"`
	// MaintenanceWindow limits when changes may be applied at all.
	// +optional
	MaintenanceWindow *TimeWindow `json:"maintenanceWindow,omitempty"`
	// Mode is Enforce (default) or Audit.
	// +optional
	Mode PolicyMode `json:"mode,omitempty"`
	// Suspend stops enforcement without deleting the policy.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// Rollout bounds a fleet rollout.
	// +optional
	Rollout *RolloutSpec `json:"rollout,omitempty"`
	// HealthCheck is run by the agent after it changed packages for this
	// policy (and after the reboot that followed); the policy is Compliant
	// on this host only once the check passed. In a fleet rollout a host
	// whose check keeps failing counts as failed.
	// +optional
	HealthCheck *HealthCheckSpec `json:"healthCheck,omitempty"`
}

// HealthCheckSpec names one check: an HTTP URL the agent probes or a check
// executable in the agent's checks directory (/etc/patchlet/checks.d),
// referenced by file name. A policy never carries a command line.
// +kubebuilder:validation:XValidation:rule="has(self.httpGet) != has(self.exec)",message="a health check has either httpGet or exec"
type HealthCheckSpec struct {
	// HTTPGet passes when a GET of the URL answers 200-399.
	// +optional
	HTTPGet *HTTPGetCheck `json:"httpGet,omitempty"`
	// Exec passes when the named executable exits 0.
	// +optional
	Exec *ExecCheck `json:"exec,omitempty"`
	// Timeout of one attempt. Default 10s, at most 5m.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('5m')",message="must be more than 0s and at most 5m"
	// +optional
	Timeout *Duration `json:"timeout,omitempty"`
	// Interval between attempts while the check fails. Default 10s, at most 1h.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('1h')",message="must be more than 0s and at most 1h"
	// +optional
	Interval *Duration `json:"interval,omitempty"`
	// FailureThreshold is how many attempts in a row must fail before the
	// policy is Failed on this host (it keeps retrying). Default 3.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

// HTTPGetCheck probes a URL.
type HTTPGetCheck struct {
	// URL is an http or https URL, e.g. http://127.0.0.1:8080/healthz.
	// Redirects are not followed; a 3xx answer passes.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	URL string `json:"url"`
	// InsecureSkipTLSVerify skips verifying an https server's certificate
	// (a local service with a self-signed certificate).
	// +optional
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`
}

// ExecCheck names a check executable.
type ExecCheck struct {
	// Name of an executable file in the agent's checks directory: letters,
	// digits, '.', '_' and '-', not starting with '.' or '-'. It runs
	// without arguments or a shell, with PATCHLET_POLICY set to the
	// policy's name; exit status 0 passes.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_][A-Za-z0-9._-]*$`
	Name string `json:"name"`
}

// HealthCheckResult is the outcome of a policy's health check.
type HealthCheckResult string

const (
	HealthPending HealthCheckResult = "Pending"
	HealthPassed  HealthCheckResult = "Passed"
	HealthFailed  HealthCheckResult = "Failed"
)

// HealthCheckStatus is the last health check of a policy on this host.
type HealthCheckStatus struct {
	// Result is Pending (not run, or failing fewer than failureThreshold
	// times), Passed or Failed.
	Result HealthCheckResult `json:"result"`
	// ObservedGeneration, Operation and BootID say what the result is for:
	// the policy's generation, its last Operation and the boot it ran in.
	// A new step, generation or boot needs a new check.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Operation string `json:"operation,omitempty"`
	// +optional
	BootID string `json:"bootID,omitempty"`
	// ConsecutiveFailures counts failed attempts in a row.
	// +optional
	ConsecutiveFailures int32 `json:"consecutiveFailures,omitempty"`
	// +optional
	LastChecked *metav1.Time `json:"lastChecked,omitempty"`
	// Message says what the last attempt saw (status code, exit status, output).
	// +optional
	Message string `json:"message,omitempty"`
}

// PlanAction is what a plan item does to a package.
type PlanAction string

const (
	ActionNone    PlanAction = "None"
	ActionInstall PlanAction = "Install"
	ActionUpgrade PlanAction = "Upgrade"
	ActionRemove  PlanAction = "Remove"
	ActionHold    PlanAction = "Hold"
	ActionUnhold  PlanAction = "Unhold"
	ActionSkip    PlanAction = "Skip"
)

// PlanItem is one package's place in a plan and why.
type PlanItem struct {
	Package string     `json:"package"`
	Action  PlanAction `json:"action"`
	// +optional
	From string `json:"from,omitempty"`
	// +optional
	To string `json:"to,omitempty"`
	// Reason is a CamelCase word: Satisfied, Provided, NotInstalled, Pinned,
	// Outdated, SecurityUpdate, Excluded, Held, VersionNotAvailable,
	// NoEffect, Unsupported, Conflict.
	Reason PlanReason `json:"reason"`
	// +optional
	Message string `json:"message,omitempty"`
}

// HostCounts counts the hosts a policy matched, by state.
type HostCounts struct {
	// +optional
	Matched int32 `json:"matched"`
	// +optional
	Compliant int32 `json:"compliant"`
	// +optional
	Progressing int32 `json:"progressing"`
	// +optional
	Failed int32 `json:"failed"`
	// +optional
	RebootRequired int32 `json:"rebootRequired"`
}

// PatchPolicyStatus is the observed state of a policy.
type PatchPolicyStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	Hosts HostCounts `json:"hosts"`
	// Pending is the number of package changes still to make.
	// +optional
	Pending int32 `json:"pending"`
	// Plan lists the changes still to make (drift, in Audit mode), and the
	// packages that only their providers satisfy (reason Provided).
	// +optional
	Plan []PlanItem `json:"plan,omitempty"`
	// LastOperation names the last Operation run for this policy.
	// +optional
	LastOperation string `json:"lastOperation,omitempty"`
	// NextRetry is when a failed or waiting pass runs again.
	// +optional
	NextRetry *metav1.Time `json:"nextRetry,omitempty"`
	// PatchSets are the rollout's updates resolved once per OS release
	// (fleet mode, policies with spec.rollout and spec.updates).
	// +listType=map
	// +listMapKey=release
	// +kubebuilder:validation:MaxItems=100
	// +optional
	PatchSets []PatchSet `json:"patchSets,omitempty"`
	// CurrentWave is the 0-based index of the rollout wave now open
	// (fleet mode, policies with spec.rollout.waves): hosts of this wave
	// and the earlier ones may apply the policy.
	// +optional
	CurrentWave *int32 `json:"currentWave,omitempty"`
	// Waves is the fleet leader's record of the rollout's waves at
	// WavesGeneration: membership, progress and when each one finished.
	// +kubebuilder:validation:MaxItems=21
	// +optional
	Waves []WaveStatus `json:"waves,omitempty"`
	// WavesGeneration is the policy generation Waves were assigned at.
	// +optional
	WavesGeneration int64 `json:"wavesGeneration,omitempty"`
	// HealthCheck is this host's last health check (single-host status;
	// in fleet mode each Host reports its own state).
	// +optional
	HealthCheck *HealthCheckStatus `json:"healthCheck,omitempty"`
	// NoEffect records, for this generation, the plan items whose step
	// exited successfully but left the package unsatisfied. An item is
	// stepped again once after a fresh observation; after MaxNoEffect
	// such steps it is Skip/NoEffect and the policy Stalled until the
	// spec changes (a new generation clears the list) or the host
	// satisfies the item some other way.
	// +listType=map
	// +listMapKey=package
	// +kubebuilder:validation:MaxItems=1000
	// +optional
	NoEffect []NoEffectStep `json:"noEffect,omitempty"`
}

// MaxNoEffect is how many successful steps may leave one plan item
// unsatisfied before it is Skip/NoEffect: the first, and one retry after
// a fresh observation.
const MaxNoEffect = 2

// NoEffectStep is a plan item that successful steps left unsatisfied.
type NoEffectStep struct {
	// Package is the item's package.
	Package string `json:"package"`
	// Action and To are what the item wanted (Install, Upgrade, …, and
	// the version); an item that wants something else starts over.
	Action PlanAction `json:"action"`
	// +optional
	To string `json:"to,omitempty"`
	// ObservedGeneration is the policy generation the steps ran for.
	ObservedGeneration int64 `json:"observedGeneration"`
	// Step and Argv are the last step that served the item.
	Step StepType `json:"step"`
	// +optional
	Argv []string `json:"argv,omitempty"`
	// Operations name the Operations of the steps, oldest first.
	// +optional
	Operations []string `json:"operations,omitempty"`
	// Attempts counts the successful steps that left the item unsatisfied.
	Attempts int32 `json:"attempts"`
	// Runs says, for each of them, oldest first, what it changed on the
	// host and what the package manager said of the package.
	// +kubebuilder:validation:MaxItems=10
	// +optional
	Runs []string `json:"runs,omitempty"`
	// Message says, in the package manager's terms where it can, what
	// the steps did instead.
	// +optional
	Message string `json:"message,omitempty"`
}

// WaveStatus is one rollout wave as the fleet leader assigned it.
type WaveStatus struct {
	// Index is the wave's 0-based position; the last one may be the
	// implicit wave of the hosts no written wave took.
	Index int32 `json:"index"`
	// LastHost is, for a wave sized by hosts, the last host name it took
	// (hosts are taken in name order). A host that joins later belongs to
	// the first such wave whose LastHost sorts at or after its name,
	// unless an earlier wave took it.
	// +optional
	LastHost string `json:"lastHost,omitempty"`
	// Hosts, Succeeded and Failed count the wave's hosts now.
	// +optional
	Hosts int32 `json:"hosts"`
	// +optional
	Succeeded int32 `json:"succeeded"`
	// +optional
	Failed int32 `json:"failed"`
	// FinishedAt is when every host of the wave had succeeded or failed
	// (within maxFailures); the next wave opens after the wave's soak.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// PatchPolicy is the desired package state of the hosts it selects.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=pp
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`
// +kubebuilder:printcolumn:name="Pending",type=integer,JSONPath=`.status.pending`
// +kubebuilder:printcolumn:name="Reboot",type=string,JSONPath=`.status.conditions[?(@.type=="RebootRequired")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.hosts.matched`,priority=1
// +kubebuilder:printcolumn:name="Compliant",type=integer,JSONPath=`.status.hosts.compliant`,priority=1
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.hosts.failed`,priority=1
// +kubebuilder:printcolumn:name="Wave",type=integer,JSONPath=`.status.currentWave`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type PatchPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec PatchPolicySpec `json:"spec,omitempty"`
	// +optional
	Status PatchPolicyStatus `json:"status,omitempty"`
}

// PatchPolicyList is a list of PatchPolicy.
//
// +kubebuilder:object:root=true
type PatchPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PatchPolicy `json:"items"`
}
