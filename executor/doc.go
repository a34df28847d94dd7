// Package executor runs package-manager steps detached from the agent, so that
// a step outlives an agent restart or crash, and lets a restarted agent
// re-attach to it.
//
// It owns the step directory (<state-dir>/steps/<id>/) and the files in
// it:
//
//	step.json    what to run (argv, env, timeout), written by Start
//	runner.json  the runner's pid, process start time and boot id
//	output.log   the step's stdout and stderr, appended as they come
//	result.json  exit code, finish time and failure reason
//
// Every record is written atomically (temporary file, fsync, rename or
// link, fsync of the directory). Start hands the step directory to a runner
// (RunnerMain, reached as `patchlet run-step DIR`) started in its own
// session ("detached") or in a transient systemd unit ("systemd"). The
// runner claims the step by linking runner.json into place, which succeeds
// only once, so a step never runs twice. Status tells a live runner from a
// dead one, or from an unrelated process that reuses its pid, by comparing
// the process start time and the boot id with the recorded ones.
//
// The step's command runs in a process group of its own inside the
// runner's session, so that the runner can kill the whole group on timeout
// and still live to record the result. If the runner dies, the command
// gets SIGKILL (parent-death signal); in systemd mode the unit's
// KillMode=control-group also takes down whatever the command started.
//
// Wiring (cmd/patchlet):
//
//	self, _ := os.Executable()
//	e, err := exec.New(exec.Options{Dir: filepath.Join(stateDir, "steps"),
//		Mode: exec.Mode(flagExecutor), Self: []string{self, "run-step"}, Log: log})
//	// and the run-step subcommand: os.Exit(exec.RunnerMain(args[0]))
//
// An agent run by systemd in detached mode needs KillMode=process in its
// own unit, or stopping the agent kills its runners; auto picks systemd
// mode there anyway.
package executor
