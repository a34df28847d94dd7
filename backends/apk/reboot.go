package apk

import (
	"strings"

	"github.com/patchlet/patchlet/backends"
)

// KernelRebootRequired tells whether the running kernel (uname -r) is
// older than the installed kernel package of its flavour, and names that
// package. Alpine's kernel packages are linux-FLAVOUR (lts, virt, edge,
// rpi, …); linux-lts 6.6.36-r0 runs as 6.6.36-0-lts. It prefers a false
// negative: a release without that shape, or whose package is not
// installed (a container on another distribution's kernel), is no reboot.
func KernelRebootRequired(release string, installed map[string]backends.Package) (bool, string) {
	release = strings.TrimSpace(release)
	i := strings.LastIndexByte(release, '-')
	if i <= 0 || i == len(release)-1 {
		return false, ""
	}
	flavour, rest := release[i+1:], release[:i]
	j := strings.LastIndexByte(rest, '-')
	if j <= 0 {
		return false, ""
	}
	running := rest[:j] + "-r" + rest[j+1:]
	name := "linux-" + flavour
	p, ok := installed[name]
	if !ok || p.Version == running {
		return false, ""
	}
	if VersionCompare(running, p.Version) < 0 {
		return true, name
	}
	return false, ""
}
