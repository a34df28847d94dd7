package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends"
)

// The test binary doubles as the runner and as a throw-away agent:
//
//	<test binary> run-step DIR                  RunnerMain(DIR)
//	<test binary> agent-start STEPS ID STEPJSON  Start one step, print "started", then hang
func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "run-step":
			os.Exit(RunnerMain(os.Args[2]))
		case "agent-start":
			os.Exit(agentStart(os.Args[2], os.Args[3], os.Args[4]))
		}
	}
	// Race-enabled runners otherwise linger a second after they are done.
	if os.Getenv("GORACE") == "" {
		_ = os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

func agentStart(dir, id, stepJSON string) int {
	var step backends.Step
	if err := json.Unmarshal([]byte(stepJSON), &step); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	e, err := New(Options{Dir: dir, Mode: ModeDetached, Self: selfCommand(), Log: logr.Discard()})
	if err == nil {
		err = e.Start(context.Background(), id, step)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("started")
	time.Sleep(time.Minute) // until the test kills us
	return 0
}

func selfCommand() []string {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return []string{exe, "run-step"}
}

// No goroutine of ours outlives the runners it waits for.
var _ = AfterSuite(func() {
	Eventually(func() string {
		buf := make([]byte, 1<<20)
		return string(buf[:runtime.Stack(buf, true)])
	}).ShouldNot(ContainSubstring("patchlet/executor.(*Executor)"))
})

func TestExec(t *testing.T) {
	RegisterFailHandler(Fail)
	// Generous for a loaded 2-core CI machine; Eventually returns as soon
	// as it can.
	SetDefaultEventuallyTimeout(10 * time.Second)
	RunSpecs(t, "executor")
}
