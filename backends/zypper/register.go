package zypper

import "github.com/patchlet/patchlet/backends"

func init() {
	backends.Register(backends.Registration{
		Name:     "zypper",
		OSIDs:    []string{"opensuse", "opensuse-leap", "opensuse-tumbleweed", "sles", "suse"},
		Programs: []string{"usr/bin/zypper"},
		Open:     func(s backends.Settings) (backends.Backend, error) { return New(Options{Settings: s}) },
	})
}
