package testenv_test

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/internal/testsupport/testenv"
)

var _ = Describe("FindBinaries", func() {
	It("reports what is missing and names the make target", func() {
		dir := GinkgoT().TempDir()
		GinkgoT().Setenv("PATCHLET_KUBE_APISERVER", filepath.Join(dir, "absent"))
		_, err := testenv.FindBinaries()
		Expect(err).To(MatchError(testenv.ErrNoBinaries))
		Expect(err.Error()).To(ContainSubstring("make kube-apiserver"))
		Expect(err.Error()).To(ContainSubstring("kube-apiserver"))
	})

	It("takes the binaries from KUBEBUILDER_ASSETS", func() {
		dir := GinkgoT().TempDir()
		for _, name := range []string{"kube-apiserver", "etcd"} {
			Expect(os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755)).To(Succeed())
		}
		Expect(os.WriteFile(filepath.Join(dir, "not-executable"), nil, 0o644)).To(Succeed())
		GinkgoT().Setenv("KUBEBUILDER_ASSETS", dir)
		GinkgoT().Setenv("PATCHLET_KUBE_APISERVER", "")
		GinkgoT().Setenv("PATCHLET_ETCD", "")
		b, err := testenv.FindBinaries()
		Expect(err).NotTo(HaveOccurred())
		Expect(b).To(Equal(testenv.Binaries{APIServer: filepath.Join(dir, "kube-apiserver"), Etcd: filepath.Join(dir, "etcd")}))
	})

	It("ignores a file that is not executable", func() {
		dir := GinkgoT().TempDir()
		p := filepath.Join(dir, "kube-apiserver")
		Expect(os.WriteFile(p, nil, 0o644)).To(Succeed())
		GinkgoT().Setenv("PATCHLET_KUBE_APISERVER", p)
		_, err := testenv.FindBinaries()
		Expect(err).To(MatchError(testenv.ErrNoBinaries))
	})
})

var _ = Describe("DecodeManifests", func() {
	It("splits documents and skips empty ones", func() {
		objs, err := testenv.DecodeManifests([]byte("---\n# only a comment\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {name: b, namespace: a}\n"))
		Expect(err).NotTo(HaveOccurred())
		Expect(objs).To(HaveLen(2))
		Expect(objs[0].GetKind()).To(Equal("Namespace"))
		Expect(objs[1].GetNamespace()).To(Equal("a"))
	})

	It("fails on YAML that is not a mapping", func() {
		_, err := testenv.DecodeManifests([]byte("- a\n- b\n"))
		Expect(err).To(HaveOccurred())
	})

	It("reads every manifest of config/rbac", func() {
		root, err := testenv.RepoRoot()
		Expect(err).NotTo(HaveOccurred())
		objs, err := testenv.ReadManifests(filepath.Join(root, "config", "rbac", "host_pinning.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(objs).To(HaveLen(2))
	})
})
