package v1alpha1

import (
	"time"
)

// Defaults of a PatchPolicy.
const (
	DefaultCacheMaxAge = 4 * time.Hour
	DefaultTimeZone    = "UTC"
)

// SetDefaults fills in the defaults of a policy in place: mode Enforce,
// package state Present, updates None, cache maxAge 4h, reboot Never,
// window time zones UTC. Defaulting is idempotent.
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
}
