package policy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/executor"
)

// TestMain lets the test binary serve as the detached step runner: the
// Executor of every in-process Controller re-executes it as
// `policy.test run-step DIR`.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "run-step" {
		os.Exit(executor.RunnerMain(os.Args[2]))
	}
	code := m.Run()
	for _, f := range atExit {
		f()
	}
	os.Exit(code)
}

func TestPolicy(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Policy Suite")
}

// agentBin is the real agent, built once when integration tests run.
var agentBin string

var _ = BeforeSuite(func() {
	if !Label("integration").MatchesLabelFilter(GinkgoLabelFilter()) {
		return
	}
	dir := GinkgoT().TempDir()
	var err error
	sharedRepo, err = buildRepo(filepath.Join(dir, "repo"))
	Expect(err).NotTo(HaveOccurred())

	agentBin = filepath.Join(dir, "patchlet")
	build := exec.Command("go", "build", "-o", agentBin, "./cmd/patchlet")
	build.Dir = filepath.Join("..", "..")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build ./cmd/patchlet: %s", out)
})
