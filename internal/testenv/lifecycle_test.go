package testenv_test

import (
	"context"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/discovery"

	"github.com/patchlet/patchlet/internal/testenv"
)

var _ = Describe("Stop", Label("integration"), func() {
	It("ends etcd and kube-apiserver and removes the directory", func(ctx context.Context) {
		bins, err := testenv.FindBinaries()
		Expect(err).NotTo(HaveOccurred())
		second, err := testenv.Start(ctx, testenv.Options{Binaries: &bins, CRDDir: "-", RBACDir: "-"})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(second.Stop)
		Expect(second.Host).NotTo(Equal(env.Host), "a second environment gets its own ports")
		Expect(second.Dir).To(BeADirectory())

		dc, err := discovery.NewDiscoveryClientForConfig(second.Admin)
		Expect(err).NotTo(HaveOccurred())
		_, err = dc.ServerVersion()
		Expect(err).NotTo(HaveOccurred())

		second.Stop()
		second.Stop() // idempotent
		Expect(second.Dir).NotTo(BeAnExistingFile())
		_, err = dc.ServerVersion()
		Expect(err).To(HaveOccurred(), "kube-apiserver is gone")
		_, err = (&http.Client{Timeout: time.Second}).Get(second.EtcdURL + "/health")
		Expect(err).To(HaveOccurred(), "etcd is gone")
	}, NodeTimeout(2*time.Minute))
})
