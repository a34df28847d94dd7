package rpm

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultRebootPackages are the packages whose update needs a reboot, as
// dnf's needs-restarting -r lists them. A name ending in "*" is a prefix
// (kernel* covers kernel-core, kernel-rt, …).
var DefaultRebootPackages = []string{
	"kernel*", "glibc", "linux-firmware", "systemd", "udev", "dbus", "dbus-broker", "dbus-daemon",
	"openssl", "openssl-libs", "openssl1_1", "libopenssl3", "libopenssl1_1", "zlib", "gnutls",
}

// BootTime reads the boot time (btime) from PROC/stat.
func BootTime(procRoot string) (time.Time, error) {
	if procRoot == "" {
		procRoot = "/proc"
	}
	data, err := os.ReadFile(filepath.Join(procRoot, "stat"))
	if err != nil {
		return time.Time{}, fmt.Errorf("read boot time: %w", err)
	}
	return ParseBootTime(data)
}

// ParseBootTime finds the "btime SECONDS" line of /proc/stat.
func ParseBootTime(stat []byte) (time.Time, error) {
	sc := bufio.NewScanner(bytes.NewReader(stat))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || secs <= 0 {
				return time.Time{}, fmt.Errorf("bad btime %q in /proc/stat", v)
			}
			return time.Unix(secs, 0).UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("no btime in /proc/stat")
}

// matchName reports whether name matches one of patterns (exact, or a
// prefix for a pattern ending in "*").
func matchName(name string, patterns []string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(name, prefix) {
				return true
			}
		} else if name == p {
			return true
		}
	}
	return false
}

// RebootRequired reports the packages among pkgs whose names match
// patterns (DefaultRebootPackages when nil) and that were installed after
// boot. A zero boot time answers false: without a boot time nothing can
// be said, and a false negative is preferred to a reboot for nothing.
// Names are sorted and deduplicated.
func RebootRequired(pkgs []Installed, boot time.Time, patterns []string) (bool, []string) {
	if boot.IsZero() {
		return false, nil
	}
	if patterns == nil {
		patterns = DefaultRebootPackages
	}
	var names []string
	for _, p := range pkgs {
		if p.InstallTime.After(boot) && matchName(p.Name, patterns) {
			names = append(names, p.Name)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return len(names) > 0, names
}

// RebootCheck is RebootRequired with the boot time read from PROC/stat.
// An unreadable boot time is an error and answers false.
func RebootCheck(pkgs []Installed, procRoot string, patterns []string) (bool, []string, error) {
	boot, err := BootTime(procRoot)
	if err != nil {
		return false, nil, err
	}
	ok, names := RebootRequired(pkgs, boot, patterns)
	return ok, names, nil
}
