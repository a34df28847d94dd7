package executor

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/patchlet/patchlet/api/v1alpha1"
)

var _ = Describe("parseStat", func() {
	DescribeTable("reads state, process group and start time",
		func(line string, want ProcStat) {
			Expect(parseStat([]byte(line))).To(Equal(want))
		},
		Entry("a plain command",
			"7886 (cat) R 7878 7878 6305 0 -1 4194304 99 0 0 0 0 0 0 0 20 0 1 0 32753 3133440 359 18446744073709551615\n",
			ProcStat{State: 'R', PGRP: 7878, StartTime: 32753}),
		Entry("a command name with spaces and parentheses",
			"42 (a) b (c) Z 1 40 40 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 987654321 0 0 0\n",
			ProcStat{State: 'Z', PGRP: 40, StartTime: 987654321}),
	)

	DescribeTable("rejects what is not a stat line",
		func(line string) {
			_, err := parseStat([]byte(line))
			Expect(err).To(HaveOccurred())
		},
		Entry("empty", ""),
		Entry("no command name", "7886 cat R 7878"),
		Entry("truncated", "7886 (cat) R 7878 7878 6305"),
		Entry("bad start time", "1 (x) S 0 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 soon 0"),
	)

	It("reads this process", func() {
		st, err := procFS{Root: "/proc"}.Stat(0)
		Expect(err).NotTo(HaveOccurred())
		Expect(st.StartTime).To(BeNumerically(">", 0))
		Expect(st.Exited()).To(BeFalse())
	})
})

var _ = Describe("resolveMode", func() {
	DescribeTable("picks how steps are launched",
		func(m Mode, pid1, systemdRun string, want Mode) {
			Expect(resolveMode(m, pid1, systemdRun)).To(Equal(want))
		},
		Entry("auto under systemd", ModeAuto, "systemd\n", "/usr/bin/systemd-run", ModeSystemd),
		Entry("empty means auto", Mode(""), "systemd\n", "/usr/bin/systemd-run", ModeSystemd),
		Entry("auto without systemd as PID 1", ModeAuto, "process_api\n", "/usr/bin/systemd-run", ModeDetached),
		Entry("auto without systemd-run", ModeAuto, "systemd\n", "", ModeDetached),
		Entry("detached under systemd", ModeDetached, "systemd\n", "/usr/bin/systemd-run", ModeDetached),
		Entry("systemd under systemd", ModeSystemd, "systemd\n", "/usr/bin/systemd-run", ModeSystemd),
	)

	DescribeTable("refuses what cannot work",
		func(m Mode, pid1, systemdRun string) {
			_, err := resolveMode(m, pid1, systemdRun)
			Expect(err).To(HaveOccurred())
		},
		Entry("systemd without systemd as PID 1", ModeSystemd, "init\n", "/usr/bin/systemd-run"),
		Entry("systemd without systemd-run", ModeSystemd, "systemd\n", ""),
		Entry("an unknown mode", Mode("nohup"), "systemd\n", "/usr/bin/systemd-run"),
	)
})

var _ = Describe("systemdRunArgv", func() {
	It("runs the runner on the step directory in a collected transient service", func() {
		Expect(systemdRunArgv("/usr/bin/systemd-run", "op-1", []string{"/usr/bin/patchlet", "run-step"}, "/var/lib/patchlet/steps/op-1")).To(Equal([]string{
			"/usr/bin/systemd-run",
			"--unit=patchlet-step-op-1.service",
			"--description=patchlet step op-1",
			"--collect",
			"--quiet",
			"--no-ask-password",
			"--service-type=exec",
			"-p", "KillMode=control-group",
			"-p", "WorkingDirectory=/",
			"-p", "StandardInput=null",
			"-p", "StandardOutput=null",
			"--",
			"/usr/bin/patchlet", "run-step", "/var/lib/patchlet/steps/op-1",
		}))
	})

	It("keeps a dotted id from reading as a unit type", func() {
		Expect(unitName("web.1")).To(Equal("patchlet-step-web.1.service"))
	})

	It("does not share the runner command's backing array", func() {
		self := make([]string, 2, 10)
		self[0], self[1] = "/usr/bin/patchlet", "run-step"
		a := systemdRunArgv("/usr/bin/systemd-run", "a", self, "/a")
		b := systemdRunArgv("/usr/bin/systemd-run", "b", self, "/b")
		Expect(a[len(a)-1]).To(Equal("/a"))
		Expect(b[len(b)-1]).To(Equal("/b"))
		Expect(self[:cap(self)][2]).To(BeEmpty())
	})
})

var _ = Describe("stateFrom", func() {
	created := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	step := stepRecord{ID: "s", Argv: []string{"/usr/bin/apt-get", "update"}, Timeout: "5m", CreatedAt: created}
	runner := &runnerRecord{PID: 100, StartTime: 5, BootID: "b", StartedAt: created.Add(time.Second)}

	DescribeTable("derives the phase from the records",
		func(o observed, now time.Time, phase Phase, reason string) {
			s := stateFrom("s", o, now, 30*time.Second)
			Expect(s.Phase).To(Equal(phase))
			Expect(string(s.Reason)).To(Equal(reason))
			Expect(s.Step.Timeout).To(Equal(5 * time.Minute))
		},
		Entry("no runner yet, within the grace: pending",
			observed{step: step}, created.Add(10*time.Second), PhasePending, ""),
		Entry("no runner after the grace: lost",
			observed{step: step}, created.Add(time.Minute), PhaseLost, string(v1alpha1.FailureInterrupted)),
		Entry("abandoned: lost",
			observed{step: step, runner: &runnerRecord{Abandoned: true}}, created, PhaseLost, string(v1alpha1.FailureInterrupted)),
		Entry("runner alive: running",
			observed{step: step, runner: runner, alive: true}, created.Add(time.Hour), PhaseRunning, ""),
		Entry("runner gone without a result: lost",
			observed{step: step, runner: runner}, created.Add(time.Hour), PhaseLost, string(v1alpha1.FailureInterrupted)),
		Entry("exit 0: succeeded",
			observed{step: step, runner: runner, result: &resultRecord{}}, created, PhaseSucceeded, ""),
		Entry("exit 100: failed",
			observed{step: step, runner: runner, result: &resultRecord{ExitCode: 100, Reason: v1alpha1.FailureFailed}}, created, PhaseFailed, string(v1alpha1.FailureFailed)),
		Entry("timed out: failed",
			observed{step: step, runner: runner, result: &resultRecord{ExitCode: 143, Reason: v1alpha1.FailureTimeout}}, created, PhaseFailed, string(v1alpha1.FailureTimeout)),
	)
})
