package executor

import (
	"fmt"
	"slices"
	"strings"
)

// Mode says how Start launches a step's runner.
type Mode string

const (
	// ModeAuto picks systemd where systemd is PID 1 and systemd-run
	// exists, detached elsewhere.
	ModeAuto Mode = "auto"
	// ModeDetached starts the runner in a new session of its own.
	ModeDetached Mode = "detached"
	// ModeSystemd starts the runner in a transient systemd service.
	ModeSystemd Mode = "systemd"
)

// resolveMode turns the configured mode into the one to use, given the
// name of PID 1 (/proc/1/comm) and the path of systemd-run ("" when it is
// not installed).
func resolveMode(m Mode, pid1Comm, systemdRun string) (Mode, error) {
	systemd := strings.TrimSpace(pid1Comm) == "systemd" && systemdRun != ""
	switch m {
	case "", ModeAuto:
		if systemd {
			return ModeSystemd, nil
		}
		return ModeDetached, nil
	case ModeDetached:
		return ModeDetached, nil
	case ModeSystemd:
		if !systemd {
			return "", fmt.Errorf("executor mode systemd: systemd is not PID 1 (it is %q) or systemd-run is missing (%q)",
				strings.TrimSpace(pid1Comm), systemdRun)
		}
		return ModeSystemd, nil
	default:
		return "", fmt.Errorf("executor mode %q: want auto, detached or systemd", m)
	}
}

// unitName is the transient unit of a step. The explicit .service suffix
// keeps an id with a dot from being read as a unit type.
func unitName(id string) string { return "patchlet-step-" + id + ".service" }

// systemdRunArgv builds the systemd-run command line that starts the runner
// (self followed by the step directory) in a transient service. The unit
// is garbage-collected after it ends (--collect) whatever its result;
// --service-type=exec makes systemd-run return only once the runner was
// executed; KillMode=control-group takes the step's whole process tree
// down when the unit stops.
func systemdRunArgv(systemdRun, id string, self []string, stepDir string) []string {
	return slices.Concat(
		[]string{
			systemdRun,
			"--unit=" + unitName(id),
			"--description=patchlet step " + id,
			"--collect",
			"--quiet",
			"--no-ask-password",
			"--service-type=exec",
			"-p", "KillMode=control-group",
			"-p", "WorkingDirectory=/",
			"-p", "StandardInput=null",
			"-p", "StandardOutput=null",
			"--",
		},
		self,
		[]string{stepDir},
	)
}
