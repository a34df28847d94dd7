package backends

import "context"

// Runner runs one command to completion and captures its output. A
// backend's Observe uses it for its read-only queries (dry runs, version
// lists); the steps themselves are run by the caller's executor
// (executor.ExecRunner is the Runner that really executes).
type Runner interface {
	// Run runs argv with exactly env as its environment and stdin from
	// /dev/null. A non-zero exit is an error that wraps *exec.ExitError.
	Run(ctx context.Context, argv, env []string) (stdout, stderr []byte, err error)
}
