package pacman

import (
	"strings"

	"github.com/patchlet/patchlet/backends"
)

// kernelPackages are Arch's kernel packages and the suffix their
// kernels' releases carry (uname -r): linux 6.9.7.arch1-1 runs as
// 6.9.7-arch1-1, linux-lts 6.6.36-1 as 6.6.36-1-lts.
var kernelPackages = []struct{ name, suffix string }{
	{"linux-rt-lts", "-rt-lts"}, // before -lts
	{"linux-lts", "-lts"},
	{"linux-zen", "-zen"},
	{"linux-hardened", "-hardened"},
	{"linux-rt", "-rt"},
	{"linux", ""},
}

// KernelRebootRequired tells whether the running kernel (release as uname
// -r prints it) is older than the installed kernel package of its flavour,
// and names that package. It prefers a false negative: an unknown release,
// a flavour whose package is not installed (a custom or container kernel)
// or a package version it cannot relate to the release all say no reboot.
func KernelRebootRequired(release string, installed map[string]backends.Package) (bool, string) {
	release = strings.TrimSpace(release)
	if release == "" {
		return false, ""
	}
	for _, k := range kernelPackages {
		if k.suffix != "" && !strings.HasSuffix(release, k.suffix) {
			continue
		}
		p, ok := installed[k.name]
		if !ok {
			return false, ""
		}
		running := strings.TrimSuffix(release, k.suffix)
		if kernelVersion(p.Version) == kernelVersion(running) {
			return false, ""
		}
		// Only a running kernel older than the package asks for a reboot.
		if Vercmp(kernelVersion(running), kernelVersion(p.Version)) < 0 {
			return true, k.name
		}
		return false, ""
	}
	return false, ""
}

// kernelVersion normalizes a kernel package version or release for
// comparison: no epoch, '-' and '.' alike (6.9.7.arch1-1 ~ 6.9.7-arch1-1).
func kernelVersion(v string) string {
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	return strings.ReplaceAll(v, "-", ".")
}
