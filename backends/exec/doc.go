// Package exec runs package-manager steps detached from the agent, so that
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
package exec
