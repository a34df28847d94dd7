package v1alpha1

import (
	"time"
)

// Duration is a length of time written as a Go duration string ("4h",
// "90m", "1h30m"). It is kept exactly as written (unlike metav1.Duration,
// which re-encodes "4h" as "4h0m0s"), so that a policy read back from the
// API is what the operator sent and `kubectl apply` of an unchanged file
// says "unchanged". Validation rejects strings that do not parse.
//
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:Format=duration
type Duration string

// NewDuration returns a Duration of d.
func NewDuration(d time.Duration) Duration { return Duration(d.String()) }

// DurationPtr returns a pointer to a Duration of d.
func DurationPtr(d time.Duration) *Duration {
	v := NewDuration(d)
	return &v
}

// Parse returns the length of time.
func (d Duration) Parse() (time.Duration, error) { return time.ParseDuration(string(d)) }

// Get returns the length of time, 0 when it does not parse (validated
// objects always parse).
func (d Duration) Get() time.Duration {
	v, err := d.Parse()
	if err != nil {
		return 0
	}
	return v
}
