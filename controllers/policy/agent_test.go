package policy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/client"
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
)

// agentProcess is the real patchlet agent run on an isolated root.
type agentProcess struct {
	args []string
	log  *os.File
	cmd  *exec.Cmd
}

func (a *agentProcess) start() {
	GinkgoHelper()
	a.cmd = exec.Command(agentBin, a.args...)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	a.cmd.Env = []string{"PATH=" + testrepo.DefaultPath}
	Expect(a.cmd.Start()).To(Succeed())
}

// kill SIGKILLs the agent and reaps it.
func (a *agentProcess) kill() {
	GinkgoHelper()
	Expect(a.cmd.Process.Signal(syscall.SIGKILL)).To(Succeed())
	_ = a.cmd.Wait()
}

// stop asks the agent to stop (SIGTERM) and waits for it.
func (a *agentProcess) stop() {
	if a.cmd == nil || a.cmd.ProcessState != nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
}

var _ = Describe("the agent SIGKILLed while a step runs", Label("integration"), func() {
	It("lets the step finish, and the restarted agent records it Succeeded once without running it again", func() {
		dir := GinkgoT().TempDir()
		root, err := testrepo.NewRoot(filepath.Join(dir, "root"), sharedRepo.repo)
		Expect(err).NotTo(HaveOccurred())
		state, policies := filepath.Join(dir, "state"), filepath.Join(dir, "policies")
		Expect(os.MkdirAll(policies, 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(policies, "slow.yaml"), []byte(
			"apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata:\n  name: slow\nspec:\n  packages:\n  - name: slow\n"), 0o644)).To(Succeed())
		log, err := os.Create(filepath.Join(dir, "agent.log"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(log.Close)
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() {
				b, _ := os.ReadFile(log.Name())
				GinkgoWriter.Printf("agent log:\n%s\n", b)
			}
		})

		Expect(os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("{}\n"), 0o644)).To(Succeed())
		sock := filepath.Join(state, "sock")
		agent := &agentProcess{log: log, args: []string{
			"--root", root.Dir, "--state-dir", state, "--listen", "unix:" + sock, "--policy-dir", policies,
			"--backend", "apt", "--executor", "detached", "--host-name", "h", "--log-format", "json",
			"--config", filepath.Join(dir, "config.yaml"),
		}}
		agent.start()
		DeferCleanup(agent.stop)
		c, err := client.New(client.Options{Server: "unix:" + sock})
		Expect(err).NotTo(HaveOccurred())
		ctx := context.Background()

		// Wait until dpkg runs the preinst of slow (it sleeps), then kill the agent.
		var op *v1alpha1.Operation
		Eventually(func(g Gomega) {
			list, err := c.Operations().List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			var installs []v1alpha1.Operation
			for _, o := range list.Items {
				if o.Spec.Step == v1alpha1.StepInstall {
					installs = append(installs, o)
				}
			}
			g.Expect(installs).To(HaveLen(1))
			op = &installs[0]
			g.Expect(op.Status.Phase).To(Equal(v1alpha1.OperationRunning))
			dpkgLog, _ := os.ReadFile(root.Path("var/log/dpkg.log"))
			g.Expect(string(dpkgLog)).To(ContainSubstring(" install slow:all <none> 2.0"))
		}).WithTimeout(30 * time.Second).WithPolling(poll).Should(Succeed())
		agent.kill()

		// The step goes on without the agent.
		status, _ := os.ReadFile(root.Path("var/lib/dpkg/status"))
		Expect(string(status)).NotTo(ContainSubstring("Package: slow\nStatus: install ok installed"), "still running")
		_, err = os.Stat(filepath.Join(state, "steps", op.Name, "result.json"))
		Expect(err).To(MatchError(os.ErrNotExist), "the step has not finished when the agent dies")

		agent.start()
		Eventually(func(g Gomega) {
			pol, err := c.PatchPolicies().Get(ctx, "slow")
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(isReady(pol)).To(BeTrue(), "conditions: %+v", pol.Status.Conditions)
		}).WithTimeout(30 * time.Second).WithPolling(poll).Should(Succeed())

		list, err := c.Operations().List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		var installs []v1alpha1.Operation
		for _, o := range list.Items {
			if o.Spec.Step == v1alpha1.StepInstall {
				installs = append(installs, o)
			}
		}
		Expect(installs).To(HaveLen(1), "the step is not run again")
		Expect(installs[0].Name).To(Equal(op.Name))
		Expect(installs[0].Status.Phase).To(Equal(v1alpha1.OperationSucceeded))
		Expect(installs[0].Status.ExitCode).To(HaveValue(BeZero()))
		Expect(installs[0].Status.Attempts).To(BeEquivalentTo(1))

		agentLog, err := os.ReadFile(log.Name())
		Expect(err).NotTo(HaveOccurred())
		Expect(string(agentLog)).To(ContainSubstring(`"msg":"re-attaching to a running step"`), "the step was still running")

		dpkgLog, err := os.ReadFile(root.Path("var/log/dpkg.log"))
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(string(dpkgLog), " install slow:")).To(Equal(1), "dpkg installed slow once:\n%s", dpkgLog)
		Expect(string(dpkgLog)).To(ContainSubstring(" status installed slow:all 2.0"))
	})
})
