package apk

import "github.com/patchlet/patchlet/backends"

func init() {
	backends.Register(backends.Registration{
		Name:     "apk",
		OSIDs:    []string{"alpine", "postmarketos"},
		Programs: []string{"sbin/apk", "usr/bin/apk"},
		Open:     func(s backends.Settings) (backends.Backend, error) { return New(Options{Settings: s}) },
	})
}
