package toolkit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"

	"github.com/patchlet/patchlet/backends"
)

// What the kernel says about processes: a process's name, the running
// kernel's release (and whether it asks for a reboot), a command's exit
// code.

// ProcessName is /proc/PID/comm, or "" when unknown.
func ProcessName(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// KernelRelease is the running kernel's release, as uname -r prints it.
func KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// KernelReboot says whether the running kernel asks for a reboot, and
// names the package: release reads the running kernel's release (nil:
// KernelRelease) and newer, the package manager's own rule, tells whether
// an installed kernel package of its flavour is newer. A release that
// cannot be read is no reboot (logged at V(1)).
func KernelReboot(release func() (string, error), log logr.Logger, installed map[string]backends.Package,
	newer func(release string, installed map[string]backends.Package) (bool, string)) (bool, []string) {
	if release == nil {
		release = KernelRelease
	}
	r, err := release()
	if err != nil {
		log.V(1).Info("cannot read the running kernel release", "error", err.Error())
		return false, nil
	}
	if req, pkg := newer(r, installed); req {
		return true, []string{pkg}
	}
	return false, nil
}

// ExitCode is the exit code in err (from a Runner), or -1 when err is not
// an exit of the command.
func ExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
