package testenv_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/discovery"

	"github.com/patchlet/patchlet/internal/testsupport/testenv"
)

var _ = Describe("Stop", Label("integration"), func() {
	BeforeEach(requireEnv)

	It("ends etcd and kube-apiserver and removes the directory", func(ctx context.Context) {
		bins, err := testenv.FindBinaries()
		Expect(err).NotTo(HaveOccurred())
		audit := filepath.Join(GinkgoT().TempDir(), "audit.log")
		second, err := testenv.Start(ctx, testenv.Options{Binaries: &bins, CRDDir: "-", RBACDir: "-", AuditLog: audit})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(second.Stop)
		Expect(second.Host).NotTo(Equal(env.Host), "a second environment gets its own ports")
		Expect(second.Dir).To(BeADirectory())

		dc, err := discovery.NewDiscoveryClientForConfig(second.Admin)
		Expect(err).NotTo(HaveOccurred())
		_, err = dc.ServerVersion()
		Expect(err).NotTo(HaveOccurred())
		apiserverPID, etcdPID := second.PIDs()
		Expect(fmt.Sprintf("/proc/%d", apiserverPID)).To(BeADirectory())
		Expect(fmt.Sprintf("/proc/%d", etcdPID)).To(BeADirectory())

		stopStart := time.Now()
		second.Stop()
		fmt.Fprintf(GinkgoWriter, "stopped in %s\n", time.Since(stopStart))
		data, err := os.ReadFile(audit)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(data)).To(ContainSubstring(`"username":"patchlet-testenv-admin"`), "the audit log records requests")
		second.Stop() // idempotent
		Expect(second.Dir).NotTo(BeAnExistingFile())
		_, err = dc.ServerVersion()
		Expect(err).To(HaveOccurred(), "kube-apiserver is gone")
		_, err = (&http.Client{Timeout: time.Second}).Get(second.EtcdURL + "/health")
		Expect(err).To(HaveOccurred(), "etcd is gone")
	}, NodeTimeout(2*time.Minute))
})
