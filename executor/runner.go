package executor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	osexec "os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// Exit codes of RunnerMain. The step's own exit code is in result.json.
const (
	// RunnerOK: the step ran and its result is recorded.
	RunnerOK = 0
	// RunnerError: the runner could not do its job (see its stderr).
	RunnerError = 1
	// RunnerClaimed: another runner, or an Executor that gave up on the
	// step, claimed the step first; nothing was run.
	RunnerClaimed = 2
)

// exitNotStarted is the exit code recorded when the step's command could
// not be executed at all, as a shell reports a missing command.
const exitNotStarted = 127

// RunnerMain runs the step in dir (a step directory written by Start) and
// records its result; `patchlet run-step DIR` calls it. It claims the step
// first and runs nothing if the step was already claimed. The command runs
// with exactly the step's argv and environment, stdin /dev/null, stdout
// and stderr appended to output.log, in a process group of its own that is
// killed (SIGTERM, then SIGKILL after the kill grace) on timeout or when
// the runner is asked to stop (SIGTERM, SIGINT, SIGHUP). If the runner
// itself is killed, the command gets SIGKILL too.
func RunnerMain(dir string) int {
	// Keep the runner small: it lives as long as the step.
	debug.SetGCPercent(20)
	// The parent-death signal follows the thread that forked the child;
	// keep this goroutine, which forks, on one thread that stays alive.
	runtime.LockOSThread()
	r := runner{dir: dir, proc: procFS{Root: "/proc"}}
	code, err := r.run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "patchlet run-step %s: %v\n", dir, err)
	}
	return code
}

type runner struct {
	dir  string
	proc Proc
}

func (r runner) run() (int, error) {
	self, err := r.proc.Stat(0)
	if err != nil {
		return RunnerError, fmt.Errorf("read own process start time: %w", err)
	}
	var step stepRecord
	stepErr := readJSON(r.dir, stepFile, &step)
	if errors.Is(stepErr, fs.ErrNotExist) {
		return RunnerError, fmt.Errorf("no step: %w", stepErr)
	}
	// The boot id the agent compares with is the one it read (see stepRecord.BootID).
	boot := step.BootID
	if boot == "" {
		if boot, err = r.proc.BootID(); err != nil {
			return RunnerError, fmt.Errorf("read boot id: %w", err)
		}
	}
	claim := runnerRecord{PID: os.Getpid(), StartTime: self.StartTime, BootID: boot, StartedAt: time.Now().UTC()}
	if err := claimJSON(r.dir, runnerFile, claim); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return RunnerClaimed, fmt.Errorf("step already claimed")
		}
		return RunnerError, err
	}
	res := r.execute(step, stepErr)
	res.FinishedAt = time.Now().UTC()
	if err := writeJSONAtomic(r.dir, resultFile, res); err != nil {
		return RunnerError, err
	}
	return RunnerOK, nil
}

// execute runs the step and says how it ended.
func (r runner) execute(step stepRecord, stepErr error) resultRecord {
	failed := func(err error) resultRecord {
		return resultRecord{ExitCode: exitNotStarted, Reason: v1alpha1.FailureFailed, Message: err.Error()}
	}
	if stepErr != nil {
		return failed(stepErr)
	}
	timeout, err := parseDuration(step.Timeout)
	if err != nil {
		return failed(fmt.Errorf("step timeout: %w", err))
	}
	grace, err := parseDuration(step.KillGrace)
	if err != nil {
		return failed(fmt.Errorf("step kill grace: %w", err))
	}
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	if len(step.Argv) == 0 || !filepath.IsAbs(step.Argv[0]) {
		return failed(fmt.Errorf("argv %q must start with an absolute path", step.Argv))
	}
	out, err := os.OpenFile(filepath.Join(r.dir, logFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return failed(fmt.Errorf("open output: %w", err))
	}
	defer func() { _ = out.Close() }()

	// Catch stop requests before the child exists, so none is lost.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(stop)

	cmd := osexec.Command(step.Argv[0], step.Argv[1:]...)
	cmd.Env = step.Env
	if cmd.Env == nil {
		cmd.Env = []string{} // nil would mean this process's environment
	}
	cmd.Dir = "/"
	cmd.Stdin = nil // /dev/null
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_, _ = fmt.Fprintf(out, "patchlet: cannot start %q: %v\n", step.Argv, err)
		return failed(fmt.Errorf("start %q: %w", step.Argv, err))
	}
	pgid := cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	var deadline, kill <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	var reason v1alpha1.FailureReason
	var message string
	terminate := func() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		kill = t.C
	}
	for done := false; !done; {
		select {
		case <-exited:
			done = true
		case <-deadline:
			deadline = nil
			reason, message = v1alpha1.FailureTimeout, fmt.Sprintf("timed out after %s", timeout)
			terminate()
		case sig := <-stop:
			if reason == "" {
				reason, message = v1alpha1.FailureInterrupted, fmt.Sprintf("runner got %s", sig)
				terminate()
			}
		case <-kill:
			kill = nil
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	if reason != "" {
		// Whatever the command left behind in its group goes too.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	res := resultRecord{Reason: reason, Message: message}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		res.ExitCode = 128 + int(ws.Signal())
		res.Signal = ws.Signal().String()
	default:
		res.ExitCode = ws.ExitStatus()
	}
	if res.Reason == "" && res.ExitCode != 0 && (res.Signal != "" || !slices.Contains(step.SuccessExitCodes, res.ExitCode)) {
		res.Reason = v1alpha1.FailureFailed
		if res.Signal != "" {
			res.Message = fmt.Sprintf("killed by signal %d (%s)", int(ws.Signal()), res.Signal)
		}
	}
	return res
}
