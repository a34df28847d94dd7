package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/executor"
	"github.com/patchlet/patchlet/store"
)

// The test binary doubles as the executor's step runner:
//
//	<test binary> run-step DIR    executor.RunnerMain(DIR)
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "run-step" {
		os.Exit(executor.RunnerMain(os.Args[2]))
	}
	// Race-enabled runners otherwise linger a second after they are done.
	if os.Getenv("GORACE") == "" {
		_ = os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

var _ = Describe("logs -f of a real step", func() {
	DescribeTable("prints the output while the step runs and exits as its Operation ended",
		func(exitCode int, want int) {
			a, _ := startAgent()
			self, err := os.Executable()
			Expect(err).NotTo(HaveOccurred())
			ex, err := executor.New(executor.Options{Dir: filepath.Join(a.dir, "steps"), Mode: executor.ModeDetached,
				Self: []string{self, "run-step"}, Log: logr.Discard()})
			Expect(err).NotTo(HaveOccurred())
			a.mu.Lock()
			a.openLog = func(name string) (io.ReadCloser, error) { return ex.OpenLog(name) }
			a.mu.Unlock()

			// The step prints a line, waits for the spec's word, prints another.
			gate := filepath.Join(a.dir, "go-on")
			script := fmt.Sprintf("echo first; while [ ! -e %s ]; do sleep 0.05; done; echo second; exit %d", gate, exitCode)
			createOperation(a.store, "op-1", v1alpha1.OperationRunning, nil)
			Expect(ex.Start(context.Background(), "op-1", backends.Step{Type: v1alpha1.StepRefresh,
				Argv: []string{"/bin/sh", "-c", script}, Timeout: time.Minute})).To(Succeed())

			w := a.start("logs", "-f", "op-1")
			Eventually(w.out.String).WithTimeout(10 * time.Second).Should(Equal("first\n"))
			Consistently(w.exited, "300ms").Should(BeFalse(), "the step still runs")

			Expect(os.WriteFile(gate, nil, 0o600)).To(Succeed())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			st, err := ex.Wait(ctx, "op-1")
			Expect(err).NotTo(HaveOccurred())
			recordStep(a.store, st) // what the controller does when a step ends

			Eventually(w.exited).WithTimeout(10 * time.Second).Should(BeTrue())
			Expect(w.out.String()).To(Equal("first\nsecond\n"))
			Expect(w.exitCode()).To(Equal(want), w.errOut.String())
			if want != 0 {
				Expect(w.errOut.String()).To(ContainSubstring(fmt.Sprintf(`operation "op-1" failed: Failed (exit code %d)`, exitCode)))
			}
		},
		Entry("Succeeded: 0", 0, 0),
		Entry("Failed: 1", 3, 1),
	)
})

// recordStep writes the end of a step into its Operation.
func recordStep(st *store.Store, s executor.State) {
	GinkgoHelper()
	obj, err := st.Get(store.Operations, s.ID)
	Expect(err).NotTo(HaveOccurred())
	op := obj.(*v1alpha1.Operation)
	code := int32(s.ExitCode)
	op.Status.Phase, op.Status.ExitCode, op.Status.Reason = v1alpha1.OperationPhase(s.Phase), &code, string(s.Reason)
	_, err = st.UpdateStatus(store.Operations, op)
	Expect(err).NotTo(HaveOccurred())
}
