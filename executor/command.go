package executor

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// ExecRunner runs one command to completion in the foreground and captures
// its output: the backends.Runner of a backend's read-only queries. Steps
// that change the host go through Executor instead.
type ExecRunner struct{}

// Run implements backends.Runner.
func (ExecRunner) Run(ctx context.Context, argv, env []string) ([]byte, []byte, error) {
	if len(argv) == 0 {
		return nil, nil, fmt.Errorf("run: empty command line")
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), stderr.Bytes(), fmt.Errorf("%s %s: %w (stderr: %q)",
			argv[0], strings.Join(argv[1:], " "), err, stderrTail(stderr.Bytes(), 512))
	}
	return stdout.Bytes(), stderr.Bytes(), nil
}

// stderrTail returns at most n bytes from the end of b, without surrounding space.
func stderrTail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
