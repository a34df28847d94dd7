package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

func TestPatchlet(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "cmd/patchlet")
}

var bin string

var _ = BeforeSuite(func() {
	var err error
	bin, err = gexec.Build("github.com/patchlet/patchlet/cmd/patchlet")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(gexec.CleanupBuildArtifacts)
})

func patchlet(args ...string) *gexec.Session {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HOME="+GinkgoT().TempDir())
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	return s
}

var _ = Describe("patchlet", func() {
	It("prints a manual with --help and exits 0", func() {
		s := patchlet("--help")
		Eventually(s).Should(gexec.Exit(0))
		out := string(s.Out.Contents())
		for _, want := range []string{"--listen", "--state-dir", "--policy-dir", "--root", "--backend", "--executor", "--host-labels", "--reboot-command", "--config", "--checks-dir", "/etc/patchlet/checks.d", "Exit status"} {
			Expect(out).To(ContainSubstring(want))
		}
	})

	It("prints its version", func() {
		s := patchlet("version")
		Eventually(s).Should(gexec.Exit(0))
		Expect(string(s.Out.Contents())).To(HavePrefix("patchlet "))
	})

	DescribeTable("exits 2 with a message naming the problem on bad usage",
		func(want string, args ...string) {
			s := patchlet(args...)
			Eventually(s).Should(gexec.Exit(2))
			Expect(string(s.Err.Contents())).To(ContainSubstring(want))
		},
		Entry("unknown flag", "--frobnicate", "--frobnicate"),
		Entry("bad backend", "--backend", "--backend", "brew"),
		Entry("missing explicit config file", "nope.yaml", "--config", "nope.yaml"),
	)

	It("exits 2 on an unknown key in the config file", func() {
		p := filepath.Join(GinkgoT().TempDir(), "c.yaml")
		Expect(os.WriteFile(p, []byte("lisen: :80\n"), 0o600)).To(Succeed())
		s := patchlet("--config", p)
		Eventually(s).Should(gexec.Exit(2))
		Expect(string(s.Err.Contents())).To(ContainSubstring(`unknown key "lisen"`))
	})

	It("refuses --insecure on a non-loopback address", func() {
		d := GinkgoT().TempDir()
		s := patchlet("--config", "/dev/null", "--listen", "0.0.0.0:0", "--insecure", "--state-dir", d, "--policy-dir", d+"/p", "--backend", "apt", "--host-name", "t", "--log-format", "json")
		Eventually(s, "20s").Should(gexec.Exit(1))
		Expect(string(s.Err.Contents())).To(ContainSubstring("loopback"))
	})
})
