package systemd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
)

const nfpmVersion = "v2.41.3"

// Where the test's files appear inside the container (a read-only bind
// mount): the .deb of patchlet and a flat apt repository of test packages.
const (
	share     = "/srv/patchlet-test"
	repoLine  = "deb [trusted=yes] file:" + share + "/repo ./"
	agentUnit = "patchlet.service"
)

// Test packages. probe writes /usr, /etc and /boot, which the agent's own
// ProtectSystem=strict unit cannot; the slow ones keep a step in flight
// (their preinst sleeps) while the agent is restarted or stopped.
var (
	probe = testrepo.Package{Name: "patchlet-probe", Version: "1.0", Files: map[string]string{
		"/usr/share/patchlet-probe/probe": "usr\n",
		"/etc/patchlet-probe.conf":        "etc\n",
		"/boot/patchlet-probe":            "boot\n",
	}}
	slowRestart = testrepo.Package{Name: "patchlet-slow-restart", Version: "1.0", PreinstSleep: 6 * time.Second}
	slowStop    = testrepo.Package{Name: "patchlet-slow-stop", Version: "1.0", PreinstSleep: 8 * time.Second}
)

var _ = Describe("the shipped patchlet.service under a real systemd", Label("integration"), Ordered, func() {
	var (
		c        *container
		patchctl string
		started  time.Time
	)

	BeforeAll(func(ctx SpecContext) {
		tree, nspawn, nfpm := prerequisites()
		started = time.Now()
		repoRoot, err := filepath.Abs("../..")
		Expect(err).NotTo(HaveOccurred())
		tmp := GinkgoT().TempDir()
		shareDir := filepath.Join(tmp, "share")
		Expect(os.MkdirAll(shareDir, 0o755)).To(Succeed())
		Expect(os.Chmod(shareDir, 0o755)).To(Succeed())

		By("building patchlet, patchctl and the .deb as make packages does")
		bin := filepath.Join(tmp, "bin")
		for _, cmd := range []string{"patchlet", "patchctl"} {
			_, err := command(ctx, repoRoot, []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath",
				"-ldflags", "-s -w", "-o", filepath.Join(bin, cmd), "./cmd/"+cmd)
			Expect(err).NotTo(HaveOccurred())
		}
		patchctl = filepath.Join(bin, "patchctl")
		_, err = command(ctx, repoRoot, []string{"NFPM=" + nfpm, "PKG_BIN_DIR=" + bin, "PKG_OUT=" + shareDir},
			"hack/packages/build.sh", "deb")
		Expect(err).NotTo(HaveOccurred())
		debs, err := filepath.Glob(filepath.Join(shareDir, "patchlet_*.deb"))
		Expect(err).NotTo(HaveOccurred())
		Expect(debs).To(HaveLen(1))

		By("building the apt repository of test packages")
		b, err := testrepo.NewBuilder(filepath.Join(tmp, "debs"))
		Expect(err).NotTo(HaveOccurred())
		repo, err := testrepo.NewRepo(filepath.Join(shareDir, "repo"), testrepo.Release{Suite: "stable"})
		Expect(err).NotTo(HaveOccurred())
		for _, p := range []testrepo.Package{probe, slowRestart, slowStop} {
			deb, err := b.Build(p)
			Expect(err).NotTo(HaveOccurred())
			Expect(repo.Add(deb)).To(Succeed())
		}
		Expect(repo.Publish()).To(Succeed())

		By("booting systemd in a container")
		booting := time.Now()
		c, err = boot(ctx, nspawn, tree, shareDir)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() || os.Getenv("PATCHLET_SYSTEMD_LOG") != "" {
				dumpJournal(c, started)
			}
			Expect(c.stop()).To(Succeed())
		})
		GinkgoWriter.Printf("container %s booted in %s\n", c.name, time.Since(booting).Round(time.Millisecond))
		// nspawn binds a per-container boot id over the kernel's. Steps, in
		// units of their own, see it; the agent, whose ProtectKernelTunables
		// gives it another view of /proc, sees the kernel's. The fake stays:
		// the executor records the agent's boot id in the step, so that the
		// agent does not take its running steps for ones of an earlier boot
		// (before that, every step here was reported Interrupted).
		// PATCHLET_SYSTEMD_UMOUNT_BOOT_ID=1 removes it, as a real host has none.
		if os.Getenv("PATCHLET_SYSTEMD_UMOUNT_BOOT_ID") != "" {
			c.mustRun("umount", "/proc/sys/kernel/random/boot_id")
		}

		By("installing the .deb and starting patchlet.service as shipped")
		c.mustRun("dpkg", "-i", share+"/"+filepath.Base(debs[0]))
		Expect(c.writeFile("/etc/apt/sources.list", repoLine+"\n")).To(Succeed())
		c.mustRun("systemctl", "start", agentUnit)
		waitForAgent(c, patchctl)
	})

	It("runs the unit exactly as packaged: no drop-ins, --executor=systemd, ProtectSystem=strict", func() {
		shipped, err := os.ReadFile("../../packaging/systemd/patchlet.service")
		Expect(err).NotTo(HaveOccurred())
		installed, err := os.ReadFile(c.path("/usr/lib/systemd/system/patchlet.service"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(installed)).To(Equal(string(shipped)))
		props := c.unit(agentUnit)
		Expect(props["DropInPaths"]).To(BeEmpty())
		Expect(props["ExecStart"]).To(ContainSubstring("--executor=systemd"))
		Expect(props["ProtectSystem"]).To(Equal("strict"))
		By("the agent's own mount namespace refuses writes to /usr, /etc and /boot")
		for _, dir := range []string{"/usr", "/etc", "/boot"} {
			out, err := c.run("nsenter", "-t", props["MainPID"], "-m", "--", "touch", dir+"/patchlet-sandbox-probe")
			Expect(err).To(HaveOccurred(), "the agent could write %s", dir)
			Expect(out).To(ContainSubstring("Read-only file system"))
		}
	})

	It("converges a policy, every step in its own patchlet-step-* unit, writing /usr, /etc and /boot", func() {
		apply(patchctl, c, "probe", probe.Name)
		waitReady(patchctl, c, "probe", 45*time.Second)
		ops := operations(patchctl, c, "probe")
		Expect(ops).NotTo(BeEmpty())
		Expect(slices.ContainsFunc(ops, func(o v1alpha1.Operation) bool { return o.Spec.Step == v1alpha1.StepInstall })).To(BeTrue())
		for _, op := range ops {
			Expect(op.Status.Phase).To(Equal(v1alpha1.OperationSucceeded), "operation %s", op.Name)
			Expect(c.unitStarts(stepUnit(op))).To(Equal(1), "transient unit of %s", op.Name)
		}
		for path := range probe.Files {
			Expect(c.path(path)).To(BeARegularFile())
		}
		Expect(c.mustRun("dpkg-query", "-W", "-f=${Status}", probe.Name)).To(Equal("install ok installed"))
	})

	It("survives systemctl restart patchlet during a step: the step is neither killed nor run twice", func() {
		apply(patchctl, c, "restart", slowRestart.Name)
		op := waitRunning(patchctl, c, "restart")
		unit := stepUnit(op)
		before := c.unit(unit)
		Expect(before["ActiveState"]).To(Equal("active"))
		agentBefore := c.unit(agentUnit)["MainPID"]

		c.mustRun("systemctl", "restart", agentUnit)
		Expect(c.unit(agentUnit)["MainPID"]).NotTo(Equal(agentBefore))
		after := c.unit(unit)
		Expect(after["ActiveState"]).To(Equal("active"), "the step's unit went on running")
		Expect(after["InvocationID"]).To(Equal(before["InvocationID"]))
		Expect(after["MainPID"]).To(Equal(before["MainPID"]))
		waitForAgent(c, patchctl)

		waitReady(patchctl, c, "restart", 60*time.Second)
		expectOneSucceededInstall(patchctl, c, "restart", op.Name)
		Expect(c.agentLog()).To(MatchRegexp(`re-attaching[^\n]*%s`, op.Name))
	})

	It("leaves a step running on systemctl stop, and the next start re-attaches to it", func() {
		apply(patchctl, c, "stop", slowStop.Name)
		op := waitRunning(patchctl, c, "stop")
		unit := stepUnit(op)
		before := c.unit(unit)

		c.mustRun("systemctl", "stop", agentUnit)
		Expect(c.unit(agentUnit)["ActiveState"]).To(Equal("inactive"))
		after := c.unit(unit)
		Expect(after["ActiveState"]).To(Equal("active"), "the step's unit went on running without the agent")
		Expect(after["InvocationID"]).To(Equal(before["InvocationID"]))

		c.mustRun("systemctl", "start", agentUnit)
		waitForAgent(c, patchctl)
		Expect(c.unit(unit)["ActiveState"]).To(Equal("active"), "the step should still run when the agent is back")
		Eventually(c.agentLog).WithTimeout(10 * time.Second).Should(MatchRegexp(`re-attaching to a running step[^\n]*%s`, op.Name))

		waitReady(patchctl, c, "stop", 60*time.Second)
		expectOneSucceededInstall(patchctl, c, "stop", op.Name)
	})

	It("keeps the systemd-analyze security exposure at or below 3.0", func() {
		out := c.mustRun("systemd-analyze", "security", "--no-pager", agentUnit)
		m := regexp.MustCompile(`Overall exposure level for patchlet\.service: ([0-9.]+) (\S+)`).FindStringSubmatch(out)
		Expect(m).NotTo(BeNil(), out)
		score, err := strconv.ParseFloat(m[1], 64)
		Expect(err).NotTo(HaveOccurred())
		AddReportEntry("systemd-analyze security patchlet.service", m[0])
		GinkgoWriter.Println(m[0])
		Expect(score).To(BeNumerically("<=", 3.0))
	})
})

// prerequisites returns the container tree, systemd-nspawn and nfpm, or
// skips saying what is missing.
func prerequisites() (tree, nspawn, nfpm string) {
	GinkgoHelper()
	if os.Geteuid() != 0 {
		Skip("booting a container needs root")
	}
	cache := os.Getenv("PATCHLET_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		Expect(err).NotTo(HaveOccurred())
		cache = filepath.Join(home, ".cache", "patchlet")
	}
	dir := filepath.Join(cache, "systemd")
	if reason, err := os.ReadFile(filepath.Join(dir, "skip")); err == nil {
		Skip("hack/systemd/build-tree.sh: " + strings.TrimSpace(string(reason)))
	}
	tree, nspawn = filepath.Join(dir, "tree"), filepath.Join(dir, "nspawn")
	for _, p := range []string{filepath.Join(tree, "lib/systemd/systemd"), nspawn} {
		if _, err := os.Stat(p); err != nil {
			Skip(fmt.Sprintf("%s is missing: run make test-tools (hack/systemd/build-tree.sh)", p))
		}
	}
	if _, err := exec.LookPath("nsenter"); err != nil {
		Skip("nsenter is not installed")
	}
	nfpm = os.Getenv("NFPM")
	if nfpm == "" {
		nfpm, _ = filepath.Abs(filepath.Join("../../bin", "nfpm-"+nfpmVersion))
	}
	if _, err := os.Stat(nfpm); err != nil {
		Skip(fmt.Sprintf("no nfpm at %s: set NFPM or run make test", nfpm))
	}
	return tree, nspawn, nfpm
}

// container is a systemd booted by systemd-nspawn on a volatile overlay of
// the cached tree: nothing it writes reaches the tree or the host.
type container struct {
	name    string
	cmd     *exec.Cmd
	exited  chan struct{}
	pid1    int
	cgroups []string
	output  bytes.Buffer
}

// boot starts nspawn in cgroup directories of its own (there is no host
// systemd to make a scope) and waits until systemd in it is up.
func boot(ctx context.Context, nspawn, tree, shareDir string) (*container, error) {
	c := &container{name: fmt.Sprintf("patchlet-test-%d", os.Getpid()), exited: make(chan struct{})}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		c.cgroups = []string{filepath.Join("/sys/fs/cgroup", c.name)}
	} else {
		for _, h := range []string{"systemd", "unified"} {
			if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", h)); err == nil {
				c.cgroups = append(c.cgroups, filepath.Join("/sys/fs/cgroup", h, c.name))
			}
		}
	}
	for _, dir := range c.cgroups {
		if err := os.Mkdir(dir, 0o755); err != nil {
			c.removeCgroups()
			return nil, fmt.Errorf("create cgroup for the container: %w", err)
		}
	}
	// The shell moves itself into the cgroups, then becomes nspawn.
	script := `for d in $CGROUPS; do echo $$ >"$d/cgroup.procs" || exit 1; done; exec "$@"`
	args := []string{"-c", script, "sh", nspawn, "--boot", "--register=no", "--keep-unit", "--volatile=overlay",
		"--console=passive", "--machine=" + c.name, "-D", tree, "--bind-ro=" + shareDir + ":" + share}
	c.cmd = exec.Command("/bin/sh", args...)
	c.cmd.Env = append(os.Environ(), "CGROUPS="+strings.Join(c.cgroups, " "))
	c.cmd.Stdout, c.cmd.Stderr = &c.output, &c.output
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		c.removeCgroups()
		return nil, fmt.Errorf("start %s: %w", nspawn, err)
	}
	go func() { _ = c.cmd.Wait(); close(c.exited) }()

	deadline := time.Now().Add(30 * time.Second)
	for c.pid1 == 0 || !exists(c.path("/run/systemd/private")) {
		select {
		case <-c.exited:
			_ = c.stop()
			return nil, fmt.Errorf("systemd-nspawn exited: %s (output: %q)", c.cmd.ProcessState, c.output.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = c.stop()
			return nil, fmt.Errorf("systemd did not come up in the container within 30s (nspawn output: %q)", c.output.String())
		}
		if c.pid1 == 0 {
			c.pid1 = childNamed(c.cmd.Process.Pid, "systemd")
		}
	}
	out, err := c.runContext(ctx, "systemctl", "is-system-running", "--wait")
	if state := strings.TrimSpace(out); err != nil && state != "degraded" {
		_ = c.stop()
		return nil, fmt.Errorf("container system state %q: %w", state, err)
	}
	return c, nil
}

// childNamed is the pid of a child of pid whose command is comm, or 0.
func childNamed(pid int, comm string) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			name, _ := os.ReadFile("/proc/" + f + "/comm")
			if strings.TrimSpace(string(name)) == comm {
				n, _ := strconv.Atoi(f)
				return n
			}
		}
	}
	return 0
}

// stop asks nspawn to shut the container down (one SIGTERM: systemd
// powers off), kills it after 20 seconds, and removes the cgroups.
func (c *container) stop() error {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.exited
		}
	}
	return c.removeCgroups()
}

// removeCgroups removes the container's cgroup trees, deepest first
// (systemd in the container made its slices below them).
func (c *container) removeCgroups() error {
	var errs []error
	for _, root := range c.cgroups {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for _, d := range slices.Backward(dirs) {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// path is a path inside the container as seen from the host.
func (c *container) path(p string) string {
	return fmt.Sprintf("/proc/%d/root%s", c.pid1, p)
}

func (c *container) writeFile(p, content string) error {
	return os.WriteFile(c.path(p), []byte(content), 0o644)
}

// run runs a command in all of the container's namespaces and returns
// its combined output.
func (c *container) run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.runContext(ctx, args...)
}

func (c *container) runContext(ctx context.Context, args ...string) (string, error) {
	argv := append([]string{"-t", strconv.Itoa(c.pid1), "-a", "-r", "-w", "--"}, args...)
	cmd := exec.CommandContext(ctx, "nsenter", argv...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in container %s: %s: %w (output: %q)", c.name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (c *container) mustRun(args ...string) string {
	GinkgoHelper()
	out, err := c.run(args...)
	Expect(err).NotTo(HaveOccurred())
	return strings.TrimSpace(out)
}

// unit returns properties of a unit (systemctl show).
func (c *container) unit(name string) map[string]string {
	GinkgoHelper()
	props := map[string]string{}
	out := c.mustRun("systemctl", "show", "-p", "ActiveState,SubState,MainPID,InvocationID,DropInPaths,ExecStart,ProtectSystem", name)
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			props[k] = v
		}
	}
	return props
}

// unitStarts counts how often systemd started the unit in this boot.
func (c *container) unitStarts(unit string) int {
	GinkgoHelper()
	out := c.mustRun("journalctl", "--no-pager", "-o", "cat", "_PID=1", "UNIT="+unit)
	return strings.Count(out, "Started "+unit)
}

// agentLog is everything patchlet.service logged in this boot.
func (c *container) agentLog() string {
	GinkgoHelper()
	return c.mustRun("journalctl", "--no-pager", "-o", "cat", "_SYSTEMD_UNIT="+agentUnit)
}

// dumpJournal writes what systemd and the agent logged about patchlet to
// GinkgoWriter and, when PATCHLET_SYSTEMD_LOG names a file, to it.
func dumpJournal(c *container, since time.Time) {
	out, err := c.run("journalctl", "--no-pager", "-o", "short-precise", "_PID=1", "+", "_SYSTEMD_UNIT="+agentUnit)
	if err != nil {
		GinkgoWriter.Printf("journal: %v\n", err)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "journal of container %s (test started %s):\n", c.name, since.Format(time.RFC3339))
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "patchlet") {
			if len(line) > 300 {
				line = line[:300] + "…"
			}
			b.WriteString(line + "\n")
		}
	}
	GinkgoWriter.Print(b.String())
	if f := os.Getenv("PATCHLET_SYSTEMD_LOG"); f != "" {
		_ = os.WriteFile(f, []byte(b.String()), 0o644)
	}
}

// waitForAgent waits for the API socket (Type=exec: systemctl start returns
// before the agent listens).
func waitForAgent(c *container, patchctl string) {
	GinkgoHelper()
	Eventually(func() error {
		_, err := ctl(patchctl, c, "version")
		return err
	}).WithTimeout(20 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())
}

// ctl runs patchctl on the host against the agent's unix socket in the
// container.
func ctl(patchctl string, c *container, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return command(ctx, "/", nil, patchctl, append([]string{"--server", "unix:" + c.path("/run/patchlet/patchlet.sock")}, args...)...)
}

// apply posts a policy that installs the named packages on every host.
func apply(patchctl string, c *container, name string, packages ...string) {
	GinkgoHelper()
	var spec strings.Builder
	fmt.Fprintf(&spec, "apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata:\n  name: %s\nspec:\n  packages:\n", name)
	for _, p := range packages {
		fmt.Fprintf(&spec, "  - name: %s\n", p)
	}
	f := filepath.Join(GinkgoT().TempDir(), name+".yaml")
	Expect(os.WriteFile(f, []byte(spec.String()), 0o644)).To(Succeed())
	_, err := ctl(patchctl, c, "apply", "-f", f)
	Expect(err).NotTo(HaveOccurred())
}

func waitReady(patchctl string, c *container, policy string, timeout time.Duration) {
	GinkgoHelper()
	_, err := ctl(patchctl, c, "wait", "policy/"+policy, "--for=condition=Ready", "--timeout="+timeout.String())
	Expect(err).NotTo(HaveOccurred())
}

// operations lists the policy's operations.
func operations(patchctl string, c *container, policy string) []v1alpha1.Operation {
	GinkgoHelper()
	out, err := ctl(patchctl, c, "get", "operations", "-o", "json")
	Expect(err).NotTo(HaveOccurred())
	var list v1alpha1.OperationList
	Expect(json.Unmarshal([]byte(out), &list)).To(Succeed())
	return slices.DeleteFunc(list.Items, func(o v1alpha1.Operation) bool { return o.Spec.Policy != policy })
}

// waitRunning waits until the policy's Install step runs in its unit.
func waitRunning(patchctl string, c *container, policy string) v1alpha1.Operation {
	GinkgoHelper()
	var op v1alpha1.Operation
	Eventually(func() bool {
		for _, o := range operations(patchctl, c, policy) {
			if o.Spec.Step == v1alpha1.StepInstall && o.Status.Phase == v1alpha1.OperationRunning {
				op = o
				return c.unit(stepUnit(o))["SubState"] == "running"
			}
		}
		return false
	}).WithTimeout(30 * time.Second).WithPolling(100 * time.Millisecond).Should(BeTrue())
	return op
}

// expectOneSucceededInstall: the policy has exactly one Install operation,
// the one given, it succeeded, and its unit was started exactly once.
func expectOneSucceededInstall(patchctl string, c *container, policy, name string) {
	GinkgoHelper()
	var installs []v1alpha1.Operation
	for _, o := range operations(patchctl, c, policy) {
		if o.Spec.Step == v1alpha1.StepInstall {
			installs = append(installs, o)
		}
	}
	Expect(installs).To(HaveLen(1))
	Expect(installs[0].Name).To(Equal(name))
	Expect(installs[0].Status.Phase).To(Equal(v1alpha1.OperationSucceeded), "%s: %s", name, installs[0].Status.Message)
	Expect(installs[0].Status.ExitCode).To(HaveValue(BeEquivalentTo(0)))
	Expect(c.unitStarts(stepUnit(installs[0]))).To(Equal(1))
}

// stepUnit is the transient unit of an operation (executor.unitName).
func stepUnit(o v1alpha1.Operation) string { return "patchlet-step-" + o.Name + ".service" }

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// command runs name in dir with env added to this process's environment;
// the error names the command and carries its output.
func command(ctx context.Context, dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w (output: %q)", name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
