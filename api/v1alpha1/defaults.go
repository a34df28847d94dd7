package v1alpha1

import (
	"time"
)

// Defaults of a PatchPolicy.
const (
	DefaultCacheMaxAge = 4 * time.Hour
	DefaultTimeZone    = "UTC"
	// Health check defaults and bounds.
	DefaultHealthTimeout          = 10 * time.Second
	DefaultHealthInterval         = 10 * time.Second
	DefaultHealthFailureThreshold = 3
	MaxHealthTimeout              = 5 * time.Minute
	MaxHealthInterval             = time.Hour
	MaxHealthFailureThreshold     = 100
)

// SetDefaults fills in the defaults of a policy in place: mode Enforce,
// package state Present, updates None, cache maxAge 4h, reboot Never,
// window time zones UTC, health check timeout 10s, interval 10s and
// failure threshold 3. Defaulting is idempotent.
func (p *PatchPolicy) SetDefaults() {
	s := &p.Spec
	if s.Mode == "" {
		s.Mode = ModeEnforce
	}
	for i := range s.Packages {
		if s.Packages[i].State == "" {
			s.Packages[i].State = PackagePresent
		}
	}
	if s.Updates == nil {
		s.Updates = &UpdatesSpec{}
	}
	if s.Updates.Apply == "" {
		s.Updates.Apply = UpdatesNone
	}
	if s.Cache == nil {
		s.Cache = &CacheSpec{}
	}
	if s.Cache.MaxAge == nil {
		d := NewDuration(DefaultCacheMaxAge)
		s.Cache.MaxAge = &d
	}
	if s.Reboot == nil {
		s.Reboot = &RebootSpec{}
	}
	if s.Reboot.Policy == "" {
		s.Reboot.Policy = RebootNever
	}
	if s.Reboot.Window != nil && s.Reboot.Window.TimeZone == "" {
		s.Reboot.Window.TimeZone = DefaultTimeZone
	}
	if s.MaintenanceWindow != nil && s.MaintenanceWindow.TimeZone == "" {
		s.MaintenanceWindow.TimeZone = DefaultTimeZone
	}
	if hc := s.HealthCheck; hc != nil {
		if hc.Timeout == nil {
			hc.Timeout = DurationPtr(DefaultHealthTimeout)
		}
		if hc.Interval == nil {
			hc.Interval = DurationPtr(DefaultHealthInterval)
		}
		if hc.FailureThreshold == 0 {
			hc.FailureThreshold = DefaultHealthFailureThreshold
		}
	}
}
