package backends

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Runner runs one command to completion and captures its output. A
// backend's Observe uses it for its read-only queries (dry runs, version
// lists); the steps themselves are run by the caller's executor.
type Runner interface {
	// Run runs argv with exactly env as its environment and stdin from
	// /dev/null. A non-zero exit is an error that wraps *exec.ExitError.
	Run(ctx context.Context, argv, env []string) (stdout, stderr []byte, err error)
}

// ExecRunner is the Runner that really executes commands.
type ExecRunner struct{}

// Run implements Runner.
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
			argv[0], strings.Join(argv[1:], " "), err, Tail(stderr.Bytes(), 512))
	}
	return stdout.Bytes(), stderr.Bytes(), nil
}

// Tail returns at most n bytes from the end of b, without surrounding space.
func Tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// LookPath finds a program in the directories of pathEnv (not the
// process's own PATH): the first regular, executable file of that name in
// an absolute directory.
func LookPath(name, pathEnv string) (string, error) {
	for _, dir := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(dir) {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("find %s in %s: %w", name, pathEnv, exec.ErrNotFound)
}
