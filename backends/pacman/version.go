package pacman

import (
	"cmp"
	"strings"
)

// Vercmp compares two pacman versions ([epoch:]pkgver[-pkgrel]) as
// vercmp(8) does: <0 when a is older than b, 0 when equal, >0 when newer.
func Vercmp(a, b string) int {
	if a == b {
		return 0
	}
	ea, va, ra := splitEVR(a)
	eb, vb, rb := splitEVR(b)
	if c := segmentCmp(ea, eb); c != 0 {
		return c
	}
	if c := segmentCmp(va, vb); c != 0 {
		return c
	}
	if ra != "" && rb != "" {
		return segmentCmp(ra, rb)
	}
	return 0
}

// splitEVR splits [epoch:]version[-release]; a missing epoch is "0".
func splitEVR(s string) (epoch, version, release string) {
	epoch = "0"
	if i := strings.IndexByte(s, ':'); i >= 0 {
		if e := s[:i]; e != "" && strings.Trim(e, "0123456789") == "" {
			epoch = e
		}
		s = s[i+1:]
	}
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		return epoch, s[:i], s[i+1:]
	}
	return epoch, s, ""
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// segmentCmp is rpm's version comparison as libalpm implements it:
// alternating runs of digits and letters, separators between them,
// numbers newer than letters, a remaining letter run older than nothing.
func segmentCmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		si, sj := i, j
		for i < len(a) && !isAlnum(a[i]) {
			i++
		}
		for j < len(b) && !isAlnum(b[j]) {
			j++
		}
		if i >= len(a) || j >= len(b) {
			break
		}
		if i-si != j-sj {
			if i-si < j-sj {
				return -1
			}
			return 1
		}
		si, sj = i, j
		numeric := isDigit(a[i])
		class := isAlpha
		if numeric {
			class = isDigit
		}
		for i < len(a) && class(a[i]) {
			i++
		}
		for j < len(b) && class(b[j]) {
			j++
		}
		x, y := a[si:i], b[sj:j]
		if y == "" {
			// b's segment is of the other type: numbers are newer.
			if numeric {
				return 1
			}
			return -1
		}
		if numeric {
			x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
			if c := cmp.Compare(len(x), len(y)); c != 0 {
				return c // the longer number, without leading zeros, is larger
			}
		}
		if c := strings.Compare(x, y); c != 0 {
			return c
		}
	}
	restA, restB := a[i:], b[j:]
	if restA == "" && restB == "" {
		return 0
	}
	if (restA == "" && !isAlpha(restB[0])) || (restA != "" && isAlpha(restA[0])) {
		return -1
	}
	return 1
}
