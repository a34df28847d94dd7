package executor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sh is a step running a shell script with a small, known environment.
func sh(script string) backends.Step {
	return backends.Step{
		Type:    v1alpha1.StepInstall,
		Argv:    []string{"/bin/sh", "-c", script},
		Env:     []string{"PATH=/usr/bin:/bin"},
		Timeout: time.Minute,
	}
}

func newExecutor(dir string, opts ...func(*Options)) *Executor {
	o := Options{Dir: dir, Mode: ModeDetached, Self: selfCommand(), Log: logr.Discard(), KillGrace: 200 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	e, err := New(o)
	Expect(err).NotTo(HaveOccurred())
	return e
}

func wait(e *Executor, id string) State {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := e.Wait(ctx, id)
	Expect(err).NotTo(HaveOccurred())
	return s
}

func tail(e *Executor, id string) string {
	GinkgoHelper()
	b, err := e.Tail(id, 1<<20)
	Expect(err).NotTo(HaveOccurred())
	return string(b)
}

// live is true while pid names a process that has not exited.
func live(pid int) bool {
	st, err := procFS{Root: "/proc"}.Stat(pid)
	return err == nil && !st.Exited()
}

// liveInGroup lists the processes of group pgid that have not exited.
func liveInGroup(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	Expect(err).NotTo(HaveOccurred())
	var pids []int
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		st, err := procFS{Root: "/proc"}.Stat(pid)
		if err == nil && st.PGRP == pgid && !st.Exited() {
			pids = append(pids, pid)
		}
	}
	return pids
}

func readPID(path string) int {
	GinkgoHelper()
	var pid int
	Eventually(func() error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err
	}).Should(Succeed())
	return pid
}

func lines(path string) []string {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	return strings.Fields(string(b))
}

// stopRunner sends SIGTERM to the step's runner.
func stopRunner(e *Executor, id string) {
	GinkgoHelper()
	s, err := e.Status(id)
	Expect(err).NotTo(HaveOccurred())
	Expect(s.PID).To(BeNumerically(">", 0)) // never kill(0): that is our own group
	Expect(syscall.Kill(s.PID, syscall.SIGTERM)).To(Succeed())
}

// runRunner runs the runner on a step directory in a process of its own
// and returns its exit code.
func runRunner(stepDir string) int {
	GinkgoHelper()
	self := selfCommand()
	cmd := osexec.Command(self[0], self[1], stepDir)
	err := cmd.Run()
	var exitErr *osexec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode()
	}
	Expect(err).NotTo(HaveOccurred())
	return 0
}

var _ = Describe("Executor", func() {
	var (
		dir  string
		work string
		e    *Executor
		ctx  context.Context
	)

	BeforeEach(func() {
		dir = filepath.Join(GinkgoT().TempDir(), "steps")
		work = GinkgoT().TempDir()
		e = newExecutor(dir)
		ctx = context.Background()
	})

	When("a step succeeds", func() {
		It("reports Succeeded with exit code 0 and its stdout and stderr in the log", func() {
			Expect(e.Start(ctx, "ok", sh("echo out; echo err >&2; echo more"))).To(Succeed())
			s := wait(e, "ok")
			Expect(s.Phase).To(Equal(PhaseSucceeded))
			Expect(s.ExitCode).To(Equal(0))
			Expect(s.Reason).To(BeEmpty())
			Expect(s.PID).To(BeNumerically(">", 0))
			Expect(s.StartedAt).NotTo(BeZero())
			Expect(s.FinishedAt).To(BeTemporally(">=", s.StartedAt))
			Expect(s.Step.Argv).To(Equal([]string{"/bin/sh", "-c", "echo out; echo err >&2; echo more"}))
			Expect(s.Step.Type).To(Equal(v1alpha1.StepInstall))
			Expect(s.Step.Timeout).To(Equal(time.Minute))
			Expect(tail(e, "ok")).To(Equal("out\nerr\nmore\n"))

			f, err := e.OpenLog("ok")
			Expect(err).NotTo(HaveOccurred())
			defer func() { _ = f.Close() }()
			b, err := io.ReadAll(f)
			Expect(err).NotTo(HaveOccurred())
			Expect(string(b)).To(Equal("out\nerr\nmore\n"))
			Expect(f.Name()).To(Equal(e.LogPath("ok")))
		})

		It("reaps the runner, leaving no zombie while the agent lives", func() {
			Expect(e.Start(ctx, "reaped", sh("true"))).To(Succeed())
			s := wait(e, "reaped")
			Eventually(func() error {
				_, err := os.Stat(fmt.Sprintf("/proc/%d", s.PID))
				return err
			}).Should(MatchError(os.ErrNotExist))
		})

		It("streams output to the log while the step runs", func() {
			gate := filepath.Join(work, "go")
			Expect(e.Start(ctx, "stream", sh(fmt.Sprintf("echo first; while [ ! -e %s ]; do sleep 0.02; done; echo second", gate)))).To(Succeed())
			Eventually(func() string { return tail(e, "stream") }).Should(Equal("first\n"))
			s, err := e.Status("stream")
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Phase).To(Equal(PhaseRunning))
			Expect(os.WriteFile(gate, nil, 0o600)).To(Succeed())
			Expect(wait(e, "stream").Phase).To(Equal(PhaseSucceeded))
			Expect(tail(e, "stream")).To(Equal("first\nsecond\n"))
		})
	})

	When("a step exits non-zero", func() {
		It("reports Failed with the exit code", func() {
			Expect(e.Start(ctx, "three", sh("echo 'E: nope' >&2; exit 3"))).To(Succeed())
			s := wait(e, "three")
			Expect(s.Phase).To(Equal(PhaseFailed))
			Expect(s.ExitCode).To(Equal(3))
			Expect(s.Reason).To(Equal(v1alpha1.FailureFailed))
			Expect(tail(e, "three")).To(Equal("E: nope\n"))
		})
	})

	When("a step exits with one of its own success codes", func() {
		It("reports Succeeded with that exit code (zypper's 102: done, reboot needed)", func() {
			step := sh("exit 102")
			step.SuccessExitCodes = []int{102, 103}
			Expect(e.Start(ctx, "zypper-ok", step)).To(Succeed())
			s := wait(e, "zypper-ok")
			Expect(s.Phase).To(Equal(PhaseSucceeded))
			Expect(s.ExitCode).To(Equal(102))
			Expect(s.Reason).To(BeEmpty())
			Expect(s.Step.SuccessExitCodes).To(Equal([]int{102, 103}), "kept in the step record for a re-attaching agent")

			Expect(e.Start(ctx, "zypper-other", sh("exit 104"))).To(Succeed())
			Expect(wait(e, "zypper-other").Phase).To(Equal(PhaseFailed))
		})
	})

	When("a step's command does not exist", func() {
		It("reports Failed with exit code 127 and says why", func() {
			Expect(e.Start(ctx, "missing", backends.Step{Argv: []string{"/nonexistent/apt-get"}})).To(Succeed())
			s := wait(e, "missing")
			Expect(s.Phase).To(Equal(PhaseFailed))
			Expect(s.ExitCode).To(Equal(127))
			Expect(s.Message).To(ContainSubstring("/nonexistent/apt-get"))
			Expect(tail(e, "missing")).To(ContainSubstring("/nonexistent/apt-get"))
		})
	})

	When("a step runs past its timeout", func() {
		It("kills its whole process group and reports Timeout", func() {
			pgidFile := filepath.Join(work, "pgid")
			step := sh(fmt.Sprintf("echo $$ > %s; sleep 30 & sleep 30 & wait", pgidFile))
			step.Timeout = 300 * time.Millisecond
			began := time.Now()
			Expect(e.Start(ctx, "slow", step)).To(Succeed())
			pgid := readPID(pgidFile)
			Eventually(func() []int { return liveInGroup(pgid) }).Should(HaveLen(3))
			s := wait(e, "slow")
			Expect(time.Since(began)).To(BeNumerically("<", 10*time.Second))
			Expect(s.Phase).To(Equal(PhaseFailed))
			Expect(s.Reason).To(Equal(v1alpha1.FailureTimeout))
			Expect(s.Message).To(ContainSubstring("300ms"))
			Expect(s.ExitCode).To(BeNumerically(">", 128))
			Eventually(func() []int { return liveInGroup(pgid) }).Should(BeEmpty())
		})

		It("uses SIGKILL when the step ignores SIGTERM", func() {
			pgidFile := filepath.Join(work, "pgid")
			step := sh(fmt.Sprintf("trap '' TERM; echo $$ > %s; sleep 30", pgidFile))
			step.Timeout = 200 * time.Millisecond
			Expect(e.Start(ctx, "stubborn", step)).To(Succeed())
			pgid := readPID(pgidFile)
			s := wait(e, "stubborn")
			Expect(s.Reason).To(Equal(v1alpha1.FailureTimeout))
			Expect(s.ExitCode).To(Equal(128 + int(syscall.SIGKILL)))
			Eventually(func() []int { return liveInGroup(pgid) }).Should(BeEmpty())
		})
	})

	When("the agent that started the step is killed", func() {
		It("lets the step finish, and a new agent on the same directory reads its result", func() {
			gate := filepath.Join(work, "go")
			step, err := json.Marshal(sh(fmt.Sprintf("echo begun; while [ ! -e %s ]; do sleep 0.02; done; echo finished", gate)))
			Expect(err).NotTo(HaveOccurred())
			self := selfCommand()
			agent := osexec.Command(self[0], "agent-start", dir, "survivor", string(step))
			agent.Stderr = GinkgoWriter
			agent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			stdout, err := agent.StdoutPipe()
			Expect(err).NotTo(HaveOccurred())
			Expect(agent.Start()).To(Succeed())
			line, err := bufio.NewReader(stdout).ReadString('\n')
			Expect(err).NotTo(HaveOccurred())
			Expect(line).To(Equal("started\n"))

			// Kill the agent's whole process group, as a supervisor or a
			// Ctrl-C on a terminal does.
			Expect(syscall.Kill(-agent.Process.Pid, syscall.SIGKILL)).To(Succeed())
			Expect(agent.Wait()).To(MatchError(ContainSubstring("killed")))

			restarted := newExecutor(dir)
			s, err := restarted.Status("survivor")
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Phase).To(BeElementOf(PhasePending, PhaseRunning))
			Eventually(func() Phase {
				s, _ := restarted.Status("survivor")
				return s.Phase
			}).Should(Equal(PhaseRunning))

			Expect(os.WriteFile(gate, nil, 0o600)).To(Succeed())
			s = wait(restarted, "survivor")
			Expect(s.Phase).To(Equal(PhaseSucceeded))
			Expect(tail(restarted, "survivor")).To(Equal("begun\nfinished\n"))
		})
	})

	When("the runner itself is killed mid-step", func() {
		It("reports Lost, reason Interrupted, and the step's command dies with it", func() {
			pidFile := filepath.Join(work, "pid")
			Expect(e.Start(ctx, "orphan", sh(fmt.Sprintf("echo $$ > %s; exec sleep 30", pidFile)))).To(Succeed())
			child := readPID(pidFile)
			s, err := e.Status("orphan")
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Phase).To(Equal(PhaseRunning))

			Expect(s.PID).To(BeNumerically(">", 0))
			Expect(syscall.Kill(s.PID, syscall.SIGKILL)).To(Succeed())
			s = wait(e, "orphan")
			Expect(s.Phase).To(Equal(PhaseLost))
			Expect(s.Reason).To(Equal(v1alpha1.FailureInterrupted))
			Expect(s.Message).To(ContainSubstring(strconv.Itoa(s.PID)))
			Eventually(func() bool { return live(child) }).Should(BeFalse())
		})
	})

	When("the runner is asked to stop", func() {
		It("stops the step and records Interrupted", func() {
			pgidFile := filepath.Join(work, "pgid")
			Expect(e.Start(ctx, "stopped", sh(fmt.Sprintf("echo $$ > %s; sleep 30", pgidFile)))).To(Succeed())
			pgid := readPID(pgidFile)
			stopRunner(e, "stopped")
			s := wait(e, "stopped")
			Expect(s.Phase).To(Equal(PhaseFailed))
			Expect(s.Reason).To(Equal(v1alpha1.FailureInterrupted))
			Eventually(func() []int { return liveInGroup(pgid) }).Should(BeEmpty())
		})
	})

	Describe("re-attaching by pid", func() {
		var (
			stepDir string
			self    ProcStat
			boot    string
		)

		BeforeEach(func() {
			Expect(e.create("attach", stepRecord{ID: "attach", Argv: []string{"/bin/true"}, Env: []string{}, CreatedAt: time.Now()})).To(Succeed())
			stepDir = filepath.Join(dir, "attach")
			var err error
			self, err = procFS{Root: "/proc"}.Stat(os.Getpid())
			Expect(err).NotTo(HaveOccurred())
			boot, err = procFS{Root: "/proc"}.BootID()
			Expect(err).NotTo(HaveOccurred())
		})

		DescribeTable("tells the recorded runner from another process",
			func(mutate func(*runnerRecord), want Phase) {
				r := runnerRecord{PID: os.Getpid(), StartTime: self.StartTime, BootID: boot, StartedAt: time.Now()}
				mutate(&r)
				Expect(writeJSONAtomic(stepDir, runnerFile, r)).To(Succeed())
				s, err := e.Status("attach")
				Expect(err).NotTo(HaveOccurred())
				Expect(s.Phase).To(Equal(want))
				if want == PhaseLost {
					Expect(s.Reason).To(Equal(v1alpha1.FailureInterrupted))
				}
			},
			Entry("same pid, start time and boot: running", func(*runnerRecord) {}, PhaseRunning),
			Entry("pid reused by a process started at another time: lost", func(r *runnerRecord) { r.StartTime++ }, PhaseLost),
			Entry("recorded in an earlier boot: lost", func(r *runnerRecord) { r.BootID = "00000000-0000-0000-0000-000000000000" }, PhaseLost),
			Entry("pid gone: lost", func(r *runnerRecord) { r.PID = 1 << 30 }, PhaseLost),
		)

		It("does not count a zombie as running", func() {
			cmd := osexec.Command("/bin/true")
			Expect(cmd.Start()).To(Succeed())
			DeferCleanup(func() { _ = cmd.Wait() })
			var st ProcStat
			Eventually(func() byte {
				st, _ = procFS{Root: "/proc"}.Stat(cmd.Process.Pid)
				return st.State
			}).Should(Equal(byte('Z')))
			r := runnerRecord{PID: cmd.Process.Pid, StartTime: st.StartTime, BootID: boot}
			Expect(writeJSONAtomic(stepDir, runnerFile, r)).To(Succeed())
			s, err := e.Status("attach")
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Phase).To(Equal(PhaseLost))
		})
	})

	// In a container the agent's sandboxed /proc (ProtectKernelTunables)
	// can show another boot id than the step's runner sees (nspawn mounts
	// its own over it): the runner records the agent's, so the agent does
	// not take its own running step for one of an earlier boot.
	It("follows a step whose runner sees another boot id than the agent", func() {
		agent := newExecutor(dir, func(o *Options) { o.Proc = otherBoot{procFS{Root: "/proc"}} })
		marker := filepath.Join(work, "ran")
		Expect(agent.Start(ctx, "boots", sh(fmt.Sprintf("sleep 0.5; echo ran >> %s", marker)))).To(Succeed())
		Eventually(func() Phase {
			s, err := agent.Status("boots")
			Expect(err).NotTo(HaveOccurred())
			return s.Phase
		}).WithTimeout(5 * time.Second).Should(Equal(PhaseRunning))
		Expect(wait(agent, "boots").Phase).To(Equal(PhaseSucceeded))
		Expect(lines(marker)).To(Equal([]string{"ran"}))
	})

	When("the same step is started twice", func() {
		It("runs it once", func() {
			count := filepath.Join(work, "count")
			step := sh(fmt.Sprintf("echo run >> %s", count))
			Expect(e.Start(ctx, "once", step)).To(Succeed())
			Expect(e.Start(ctx, "once", step)).To(MatchError(ErrExists))
			Expect(wait(e, "once").Phase).To(Equal(PhaseSucceeded))
			Expect(newExecutor(dir).Start(ctx, "once", step)).To(MatchError(ErrExists))
			Expect(runRunner(filepath.Join(dir, "once"))).To(Equal(RunnerClaimed))
			Consistently(func() []string { return lines(count) }, "200ms").Should(Equal([]string{"run"}))
		})

		It("refuses an id whose directory is in the way", func() {
			Expect(os.Mkdir(filepath.Join(dir, "taken"), 0o700)).To(Succeed())
			Expect(e.Start(ctx, "taken", sh("true"))).To(MatchError(ErrExists))
			Expect(os.ReadDir(filepath.Join(dir, "taken"))).To(BeEmpty())
		})

		It("runs it once when agents race to start it", func() {
			count := filepath.Join(work, "count")
			step := sh(fmt.Sprintf("echo run >> %s", count))
			executors := []*Executor{e, newExecutor(dir), newExecutor(dir)}
			errs := make([]error, 9)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() { errs[i] = executors[i%3].Start(ctx, "race", step) })
			}
			wg.Wait()
			started := 0
			for _, err := range errs {
				if err == nil {
					started++
				} else {
					Expect(err).To(MatchError(ErrExists))
				}
			}
			Expect(started).To(Equal(1))
			Expect(wait(e, "race").Phase).To(Equal(PhaseSucceeded))
			Consistently(func() []string { return lines(count) }, "200ms").Should(Equal([]string{"run"}))
		})
	})

	When("a runner never claims the step", func() {
		It("is Pending for the start grace, then Lost, and a late runner does not run it", func() {
			clock := &fakeClock{t: time.Now()}
			e = newExecutor(dir, func(o *Options) { o.Clock = clock; o.StartGrace = time.Minute })
			count := filepath.Join(work, "count")
			rec := stepRecord{ID: "late", Argv: []string{"/bin/sh", "-c", "echo run >> " + count}, Env: []string{}, CreatedAt: clock.Now()}
			Expect(e.create("late", rec)).To(Succeed())

			s, err := e.Status("late")
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Phase).To(Equal(PhasePending))

			clock.Add(2 * time.Minute)
			s, err = e.Status("late")
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Phase).To(Equal(PhaseLost))
			Expect(s.Reason).To(Equal(v1alpha1.FailureInterrupted))

			Expect(runRunner(filepath.Join(dir, "late"))).To(Equal(RunnerClaimed))
			Expect(lines(count)).To(BeEmpty())
			s, err = e.Status("late")
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Phase).To(Equal(PhaseLost))
		})
	})

	When("the runner cannot be launched", func() {
		It("returns an error and the step is Lost at once", func() {
			e = newExecutor(dir, func(o *Options) { o.Self = []string{"/nonexistent/patchlet", "run-step"} })
			err := e.Start(ctx, "nolaunch", sh("true"))
			Expect(err).To(MatchError(ContainSubstring("/nonexistent/patchlet")))
			s, err := e.Status("nolaunch")
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Phase).To(Equal(PhaseLost))
			Expect(s.Message).To(ContainSubstring("/nonexistent/patchlet"))
		})
	})

	Describe("the step's environment", func() {
		BeforeEach(func() {
			GinkgoT().Setenv("PATCHLET_TEST_LEAK", "leaked")
		})

		It("is exactly the step's Env", func() {
			Expect(e.Start(ctx, "env", backends.Step{Argv: []string{"/usr/bin/env"}, Env: []string{"A=1", "B=two words"}})).To(Succeed())
			Expect(wait(e, "env").Phase).To(Equal(PhaseSucceeded))
			Expect(tail(e, "env")).To(Equal("A=1\nB=two words\n"))
		})

		It("is empty when a hand-written step.json has none", func() {
			rec := stepRecord{ID: "nullenv", Argv: []string{"/usr/bin/env"}, CreatedAt: time.Now()}
			Expect(e.create("nullenv", rec)).To(Succeed())
			Expect(os.ReadFile(filepath.Join(dir, "nullenv", stepFile))).To(ContainSubstring(`"env": null`))
			Expect(runRunner(filepath.Join(dir, "nullenv"))).To(Equal(RunnerOK))
			Expect(wait(e, "nullenv").Phase).To(Equal(PhaseSucceeded))
			Expect(tail(e, "nullenv")).To(BeEmpty())
		})

		It("is empty when the step has none", func() {
			Expect(e.Start(ctx, "noenv", backends.Step{Argv: []string{"/usr/bin/env"}})).To(Succeed())
			Expect(wait(e, "noenv").Phase).To(Equal(PhaseSucceeded))
			Expect(tail(e, "noenv")).To(BeEmpty())
		})
	})

	Describe("Wait", func() {
		It("returns the context's error when the context ends first", func() {
			pgidFile := filepath.Join(work, "pgid")
			Expect(e.Start(ctx, "long", sh(fmt.Sprintf("echo $$ > %s; sleep 30", pgidFile)))).To(Succeed())
			readPID(pgidFile) // the runner has claimed the step
			DeferCleanup(func() {
				stopRunner(e, "long")
				wait(e, "long")
			})
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			began := time.Now()
			_, err := e.Wait(short, "long")
			Expect(err).To(MatchError(context.DeadlineExceeded))
			Expect(time.Since(began)).To(BeNumerically("<", 2*time.Second))
		})

		It("returns promptly when the step ends, also for an agent that did not start it", func() {
			gate := filepath.Join(work, "go")
			Expect(e.Start(ctx, "prompt", sh(fmt.Sprintf("while [ ! -e %s ]; do sleep 0.01; done", gate)))).To(Succeed())
			other := newExecutor(dir)
			done := make(chan time.Time, 1)
			go func() {
				defer GinkgoRecover()
				wait(other, "prompt")
				done <- time.Now()
			}()
			Eventually(func() Phase { s, _ := e.Status("prompt"); return s.Phase }).Should(Equal(PhaseRunning))
			Expect(os.WriteFile(gate, nil, 0o600)).To(Succeed())
			var ended time.Time
			Eventually(done, 5*time.Second).Should(Receive(&ended))
			s, err := e.Status("prompt")
			Expect(err).NotTo(HaveOccurred())
			Expect(ended.Sub(s.FinishedAt)).To(BeNumerically("<", time.Second))
		})

		It("reports an unknown step", func() {
			_, err := e.Wait(ctx, "nobody")
			Expect(err).To(MatchError(ErrNotFound))
		})
	})

	Describe("Tail", func() {
		It("returns the last n bytes of the output", func() {
			Expect(e.Start(ctx, "digits", sh("printf 0123456789"))).To(Succeed())
			wait(e, "digits")
			Expect(e.Tail("digits", 4)).To(Equal([]byte("6789")))
			Expect(e.Tail("digits", 100)).To(Equal([]byte("0123456789")))
		})

		It("reports an unknown step", func() {
			_, err := e.OpenLog("nobody")
			Expect(err).To(MatchError(ErrNotFound))
		})
	})

	Describe("List and Prune", func() {
		It("removes the oldest finished steps and keeps running ones", func() {
			for _, id := range []string{"a", "b", "c"} {
				Expect(e.Start(ctx, id, sh("true"))).To(Succeed())
				wait(e, id)
			}
			gate := filepath.Join(work, "go")
			Expect(e.Start(ctx, "0-running", sh(fmt.Sprintf("while [ ! -e %s ]; do sleep 0.01; done", gate)))).To(Succeed())
			DeferCleanup(func() {
				Expect(os.WriteFile(gate, nil, 0o600)).To(Succeed())
				wait(e, "0-running")
			})
			Expect(e.List()).To(Equal([]string{"0-running", "a", "b", "c"}))

			Expect(e.Prune(1)).To(Equal([]string{"a", "b"}))
			Expect(e.List()).To(Equal([]string{"0-running", "c"}))
			_, err := e.Status("a")
			Expect(err).To(MatchError(ErrNotFound))
			Expect(e.Prune(1)).To(BeEmpty())
		})
	})

	DescribeTable("Start refuses a bad step and creates nothing",
		func(id string, step backends.Step) {
			Expect(e.Start(ctx, id, step)).NotTo(Succeed())
			entries, err := os.ReadDir(dir)
			Expect(err).NotTo(HaveOccurred())
			Expect(entries).To(BeEmpty())
		},
		Entry("empty id", "", sh("true")),
		Entry("id escaping the directory", "../x", sh("true")),
		Entry("hidden id", ".x", sh("true")),
		Entry("id with a slash", "a/b", sh("true")),
		Entry("id with a space", "a b", sh("true")),
		Entry("id too long", strings.Repeat("x", 129), sh("true")),
		Entry("no argv", "x", backends.Step{}),
		Entry("relative command", "x", backends.Step{Argv: []string{"sh", "-c", "true"}}),
	)
})

var _ = Describe("the runner's footprint", func() {
	It("stays small while the step runs", func() {
		dir := filepath.Join(GinkgoT().TempDir(), "steps")
		gate := filepath.Join(GinkgoT().TempDir(), "go")
		e := newExecutor(dir)
		Expect(e.Start(context.Background(), "rss", sh(fmt.Sprintf("while [ ! -e %s ]; do sleep 0.01; done", gate)))).To(Succeed())
		DeferCleanup(func() {
			Expect(os.WriteFile(gate, nil, 0o600)).To(Succeed())
			wait(e, "rss")
		})
		Eventually(func() Phase { s, _ := e.Status("rss"); return s.Phase }).Should(Equal(PhaseRunning))
		s, err := e.Status("rss")
		Expect(err).NotTo(HaveOccurred())
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.PID))
		Expect(err).NotTo(HaveOccurred())
		field := func(name string) int {
			for _, l := range strings.Split(string(status), "\n") {
				if v, ok := strings.CutPrefix(l, name+":"); ok {
					n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
					Expect(err).NotTo(HaveOccurred())
					return n
				}
			}
			Fail("no " + name + " in /proc/<pid>/status")
			return 0
		}
		AddReportEntry("runner", fmt.Sprintf("VmRSS %d KiB, RssAnon %d KiB, %d threads", field("VmRSS"), field("RssAnon"), field("Threads")))
		// Private memory; the race detector's shadow memory counts too.
		Expect(field("RssAnon")).To(BeNumerically("<", 32<<10))
	})

	It("streams a large output to the log without holding it", func() {
		dir := filepath.Join(GinkgoT().TempDir(), "steps")
		e := newExecutor(dir)
		Expect(e.Start(context.Background(), "big", sh("head -c 67108864 /dev/zero"))).To(Succeed())
		Expect(wait(e, "big").Phase).To(Equal(PhaseSucceeded))
		fi, err := os.Stat(e.LogPath("big"))
		Expect(err).NotTo(HaveOccurred())
		Expect(fi.Size()).To(Equal(int64(64 << 20)))
		Expect(e.Tail("big", 3)).To(Equal([]byte{0, 0, 0}))
	})
})

var _ = Describe("systemd mode", Label("systemd"), func() {
	It("runs a step in a transient unit that reports like a detached one", func() {
		comm, err := os.ReadFile("/proc/1/comm")
		Expect(err).NotTo(HaveOccurred())
		if strings.TrimSpace(string(comm)) != "systemd" {
			Skip("systemd is not PID 1 here")
		}
		dir := filepath.Join(GinkgoT().TempDir(), "steps")
		e := newExecutor(dir, func(o *Options) { o.Mode = ModeSystemd })
		Expect(e.Mode()).To(Equal(ModeSystemd))
		Expect(e.Start(context.Background(), "unit", sh("echo in-unit; exit 4"))).To(Succeed())
		s := wait(e, "unit")
		Expect(s.Phase).To(Equal(PhaseFailed))
		Expect(s.ExitCode).To(Equal(4))
		Expect(s.Unit).To(Equal("patchlet-step-unit.service"))
		Expect(tail(e, "unit")).To(Equal("in-unit\n"))
	})
})

// otherBoot is /proc with another boot id, as the agent's sandboxed view
// in a container can be.
type otherBoot struct{ procFS }

func (otherBoot) BootID() (string, error) { return "11111111-2222-3333-4444-555555555555", nil }
