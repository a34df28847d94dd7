package fleet_test

import (
	"context"
	"errors"
	"os"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/internal/testsupport/testenv"
)

func TestFleet(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Fleet Suite")
}

// env is the real API server the integration specs run against; nil when
// its binaries are missing or only pure specs run.
var (
	env       *testenv.Env
	envErr    error
	suiteDone context.CancelFunc
)

var _ = BeforeSuite(func() {
	f := GinkgoLabelFilter()
	if !Label("integration").MatchesLabelFilter(f) && !Label("integration", "benchmark").MatchesLabelFilter(f) {
		return // only pure specs run
	}
	ctx, cancel := context.WithCancel(context.Background())
	suiteDone = cancel
	env, envErr = testenv.Start(ctx, testenv.Options{Log: GinkgoWriter,
		ExtraAPIServerArgs: []string{"--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000"}})
	if errors.Is(envErr, testenv.ErrNoBinaries) {
		env = nil
		return
	}
	Expect(envErr).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if env != nil {
		env.Stop()
	}
	if suiteDone != nil {
		suiteDone()
	}
})

// needEnv skips a spec when the API server binaries are missing.
func needEnv() {
	if env == nil {
		if os.Getenv("PATCHLET_REQUIRE_KUBE") != "" {
			Fail("kube-apiserver binaries missing: " + envErr.Error())
		}
		Skip("kube-apiserver binaries missing (make kube-apiserver)")
	}
}
