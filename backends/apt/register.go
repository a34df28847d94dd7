package apt

import "github.com/patchlet/patchlet/backends"

func init() {
	backends.Register(backends.Registration{
		Name:     "apt",
		OSIDs:    []string{"debian", "ubuntu", "raspbian", "linuxmint", "pop"},
		Programs: []string{"usr/bin/apt-get"},
		Open:     func(s backends.Settings) (backends.Backend, error) { return New(Options{Settings: s}) },
	})
}
