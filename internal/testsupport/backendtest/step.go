package backendtest

import (
	"bytes"
	"context"
	"errors"
	"os/exec"

	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
)

// RunStep runs a backend's step as the executor would (its argv, its
// complete environment) and returns its exit code and combined output.
func RunStep(ctx context.Context, s backends.Step) (int, []byte) {
	Expect(s.Argv).NotTo(BeEmpty(), "the step was refused")
	cmd := exec.CommandContext(ctx, s.Argv[0], s.Argv[1:]...)
	cmd.Env = s.Env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), out.Bytes()
	}
	Expect(err).NotTo(HaveOccurred())
	return 0, out.Bytes()
}

// MustRun is RunStep of a step that must exit 0.
func MustRun(ctx context.Context, s backends.Step) []byte {
	code, out := RunStep(ctx, s)
	ExpectWithOffset(1, code).To(BeZero(), "%v: %s", s.Argv, out)
	return out
}
