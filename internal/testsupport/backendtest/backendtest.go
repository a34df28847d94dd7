// Package backendtest holds test helpers the backends' suites share: a
// Runner that counts (and optionally fakes) the commands a backend runs,
// and golden files of real package-manager output under testdata/.
package backendtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/executor"
)

// CountingRunner records the commands it runs (argv and environment), and
// runs them for real unless Fake is set: the one fake runner of every
// backend's tests. Fake answers a command with its stdout and error; each
// suite writes its own answers.
type CountingRunner struct {
	Fake func(argv []string) ([]byte, error)

	mu    sync.Mutex
	argvs [][]string
	envs  [][]string
}

// Run implements backends.Runner.
func (c *CountingRunner) Run(ctx context.Context, argv, env []string) ([]byte, []byte, error) {
	c.mu.Lock()
	c.argvs = append(c.argvs, slices.Clone(argv))
	c.envs = append(c.envs, slices.Clone(env))
	c.mu.Unlock()
	if c.Fake != nil {
		out, err := c.Fake(argv)
		return out, nil, err
	}
	return executor.ExecRunner{}.Run(ctx, argv, env)
}

// Count is how many commands ran.
func (c *CountingRunner) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.argvs)
}

// Envs are the environments of the commands that ran, oldest first.
func (c *CountingRunner) Envs() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]string(nil), c.envs...)
}

// Argvs are the commands that ran, oldest first.
func (c *CountingRunner) Argvs() [][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]string(nil), c.argvs...)
}

// UpdateGoldenEnv, when set, makes RecordGolden write real outputs into testdata/.
const UpdateGoldenEnv = "PATCHLET_UPDATE_GOLDEN"

// GoldenNames replaces machine-specific strings (temporary paths, pids) in
// recorded outputs.
var GoldenNames = map[string]string{}

// RecordGolden writes out to testdata/name when UpdateGoldenEnv is set.
func RecordGolden(name string, out []byte) {
	if os.Getenv(UpdateGoldenEnv) == "" {
		return
	}
	text := string(out)
	for from, to := range GoldenNames {
		text = strings.ReplaceAll(text, from, to)
	}
	Expect(os.WriteFile(filepath.Join("testdata", name), []byte(text), 0o644)).To(Succeed())
}

// Golden reads testdata/name.
func Golden(name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	Expect(err).NotTo(HaveOccurred(), fmt.Sprintf("golden file %s", name))
	return b
}
