package dnf

import "github.com/patchlet/patchlet/backends"

func init() {
	backends.Register(backends.Registration{
		Name:     "dnf",
		OSIDs:    []string{"fedora", "rhel", "centos", "rocky", "almalinux", "ol", "amzn"},
		Programs: []string{"usr/bin/dnf", "usr/bin/dnf-3", "usr/bin/dnf5"},
		Fallback: "yum",
		Open:     opener(ModeDNF),
	})
	backends.Register(backends.Registration{
		Name:     "yum",
		Programs: []string{"usr/bin/yum"},
		Open:     opener(ModeYum),
	})
}

func opener(mode Mode) func(backends.Settings) (backends.Backend, error) {
	return func(s backends.Settings) (backends.Backend, error) {
		return New(Options{Settings: s, Mode: mode})
	}
}
