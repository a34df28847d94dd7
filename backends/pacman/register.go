package pacman

import "github.com/patchlet/patchlet/backends"

func init() {
	backends.Register(backends.Registration{
		Name:     "pacman",
		OSIDs:    []string{"arch", "manjaro", "endeavouros", "archarm", "artix", "cachyos"},
		Programs: []string{"usr/bin/pacman"},
		Open:     func(s backends.Settings) (backends.Backend, error) { return New(Options{Settings: s}) },
	})
}
