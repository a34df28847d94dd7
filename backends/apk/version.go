package apk

import (
	"strconv"
	"strings"
)

// suffixRank orders apk's version suffixes: pre-releases before the
// release (no suffix, rank 0), post-release markers after it.
var suffixRank = map[string]int{
	"alpha": -4, "beta": -3, "pre": -2, "rc": -1,
	"cvs": 1, "svn": 2, "git": 3, "hg": 4, "p": 5,
}

type apkVersion struct {
	nums     []string
	letter   string
	suffixes [][2]string // name, number
	rel      int
}

func parseAPKVersion(v string) apkVersion {
	var pv apkVersion
	if i := strings.LastIndex(v, "-r"); i >= 0 {
		if n, err := strconv.Atoi(v[i+2:]); err == nil {
			pv.rel = n
			v = v[:i]
		}
	}
	core, sfx, _ := strings.Cut(v, "_")
	// A trailing letter (1.2.3a) belongs to the last number.
	if n := len(core); n > 0 && core[n-1] >= 'a' && core[n-1] <= 'z' {
		pv.letter, core = core[n-1:], core[:n-1]
	}
	pv.nums = strings.Split(core, ".")
	if sfx != "" {
		for _, s := range strings.Split(sfx, "_") {
			i := strings.IndexFunc(s, func(r rune) bool { return r >= '0' && r <= '9' })
			if i < 0 {
				i = len(s)
			}
			pv.suffixes = append(pv.suffixes, [2]string{s[:i], s[i:]})
		}
	}
	return pv
}

func cmpNum(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// VersionCompare compares two apk versions (1.2.3a_rc1_p2-r4): <0 when a
// is older than b, 0 when equal, >0 when newer. It follows apk's order
// for the forms Alpine uses (numbers, a letter, suffixes _alpha … _rc
// before the release and _cvs … _p after it, the -rN revision); the
// special case of numbers with leading zeros is compared as numbers.
func VersionCompare(a, b string) int {
	if a == b {
		return 0
	}
	x, y := parseAPKVersion(a), parseAPKVersion(b)
	for i := 0; i < len(x.nums) || i < len(y.nums); i++ {
		switch {
		case i >= len(x.nums):
			return -1
		case i >= len(y.nums):
			return 1
		}
		if c := cmpNum(x.nums[i], y.nums[i]); c != 0 {
			return c
		}
	}
	if c := strings.Compare(x.letter, y.letter); c != 0 {
		return c
	}
	for i := 0; i < len(x.suffixes) || i < len(y.suffixes); i++ {
		var sx, sy [2]string
		if i < len(x.suffixes) {
			sx = x.suffixes[i]
		}
		if i < len(y.suffixes) {
			sy = y.suffixes[i]
		}
		if rx, ry := suffixRank[sx[0]], suffixRank[sy[0]]; rx != ry {
			if rx < ry {
				return -1
			}
			return 1
		}
		if c := cmpNum(sx[1], sy[1]); c != 0 {
			return c
		}
	}
	switch {
	case x.rel < y.rel:
		return -1
	case x.rel > y.rel:
		return 1
	}
	return 0
}
