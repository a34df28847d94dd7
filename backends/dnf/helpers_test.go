package dnf_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
)

// countingRunner counts the commands it runs (and runs them for real
// unless fake is set).
type countingRunner struct {
	mu    sync.Mutex
	argvs [][]string
	fake  func(argv []string) ([]byte, error)
}

func (c *countingRunner) Run(ctx context.Context, argv, env []string) ([]byte, []byte, error) {
	c.mu.Lock()
	c.argvs = append(c.argvs, argv)
	c.mu.Unlock()
	if c.fake != nil {
		out, err := c.fake(argv)
		return out, nil, err
	}
	return backends.ExecRunner{}.Run(ctx, argv, env)
}

func (c *countingRunner) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.argvs)
}

// Set PATCHLET_UPDATE_GOLDEN=1 to record real outputs into testdata/.
const updateGoldenEnv = "PATCHLET_UPDATE_GOLDEN"

var goldenNames = map[string]string{}

func recordGolden(name string, out []byte) {
	if os.Getenv(updateGoldenEnv) == "" {
		return
	}
	text := string(out)
	for from, to := range goldenNames {
		text = strings.ReplaceAll(text, from, to)
	}
	Expect(os.WriteFile(filepath.Join("testdata", name), []byte(text), 0o644)).To(Succeed())
}

func golden(name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	Expect(err).NotTo(HaveOccurred(), fmt.Sprintf("golden file %s", name))
	return b
}
