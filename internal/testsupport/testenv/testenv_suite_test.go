package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/internal/testsupport/testenv"
)

func TestTestenv(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "testenv suite")
}

// env is one API server for the whole suite; nil when the integration
// specs do not run, with skipReason saying why.
var (
	env        *testenv.Env
	skipReason string
)

var _ = BeforeSuite(func(ctx context.Context) {
	if !Label("integration").MatchesLabelFilter(GinkgoLabelFilter()) {
		skipReason = "integration specs filtered out"
		return
	}
	start := time.Now()
	var err error
	env, err = testenv.Start(ctx, testenv.Options{Log: GinkgoWriter})
	if errors.Is(err, testenv.ErrNoBinaries) {
		skipReason = err.Error()
		return
	}
	Expect(err).NotTo(HaveOccurred())
	fmt.Fprintf(GinkgoWriter, "etcd and kube-apiserver ready with CRDs and RBAC in %s\n", time.Since(start).Round(time.Millisecond))
}, NodeTimeout(3*time.Minute))

var _ = AfterSuite(func() {
	env.Stop()
})

// requireEnv skips a spec that needs the API server when there is none.
func requireEnv() {
	if env == nil {
		if os.Getenv("PATCHLET_REQUIRE_KUBE") != "" && skipReason != "integration specs filtered out" {
			Fail("PATCHLET_REQUIRE_KUBE is set: " + skipReason)
		}
		Skip(skipReason)
	}
}
