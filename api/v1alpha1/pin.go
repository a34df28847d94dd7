package v1alpha1

import "strings"

// PinMatches reports whether an installed or available version satisfies
// a package's pinned spec.version. In the RPM family a pin says as much as
// rpm's own NAME-VERSION does: a pin without a release ("3.0") matches
// every release of that version ("3.0-1", "3.0-2.el9"), and a pin without
// an epoch matches every epoch, as dnf install NAME-3.0 and zypper install
// NAME=3.0 take it. Elsewhere a pin is the exact version.
func PinMatches(family, pin, version string) bool {
	if pin == version {
		return true
	}
	if family != FamilyRPM {
		return false
	}
	pe, pv, pr := splitEVR(pin)
	ve, vv, vr := splitEVR(version)
	return (pe == "" || pe == orZero(ve)) && pv == vv && (pr == "" || pr == vr)
}

// splitEVR splits [EPOCH:]VERSION[-RELEASE]; the release is what follows
// the last "-", as rpm reads it.
func splitEVR(s string) (epoch, version, release string) {
	if e, rest, ok := strings.Cut(s, ":"); ok {
		epoch, s = e, rest
	}
	if i := strings.LastIndex(s, "-"); i >= 0 {
		return epoch, s[:i], s[i+1:]
	}
	return epoch, s, ""
}

func orZero(epoch string) string {
	if epoch == "" {
		return "0"
	}
	return epoch
}

// ResolvePin returns the first of versions (newest first, as a backend
// lists what its index offers) that the pin matches.
func ResolvePin(family, pin string, versions []string) (string, bool) {
	for _, v := range versions {
		if PinMatches(family, pin, v) {
			return v, true
		}
	}
	return "", false
}
