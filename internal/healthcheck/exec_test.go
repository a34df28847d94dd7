package healthcheck_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/healthcheck"
)

// execCheck is a health check of the named executable.
func execCheck(name string, timeout time.Duration) *v1alpha1.HealthCheckSpec {
	return &v1alpha1.HealthCheckSpec{Exec: &v1alpha1.ExecCheck{Name: name}, Timeout: v1alpha1.DurationPtr(timeout)}
}

// gone reports whether the process pid no longer runs (absent, or a
// zombie nobody reaped yet).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) STATE ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}

var _ = Describe("exec checks", func() {
	var (
		dir     string
		checker *healthcheck.Checker
		ctx     context.Context
	)
	// script writes an executable shell script into the checks directory.
	script := func(name, body string, mode os.FileMode) string {
		GinkgoHelper()
		p := filepath.Join(dir, name)
		Expect(os.WriteFile(p, []byte("#!/bin/sh\n"+body), mode)).To(Succeed())
		Expect(os.Chmod(p, mode)).To(Succeed())
		return p
	}
	BeforeEach(func() {
		dir = filepath.Join(GinkgoT().TempDir(), "checks.d")
		Expect(os.Mkdir(dir, 0o755)).To(Succeed())
		checker = healthcheck.New(healthcheck.Options{ChecksDir: dir, EUID: os.Geteuid(), Log: GinkgoLogr})
		ctx = context.Background()
	})

	It("passes when the check exits 0, running it in / with a minimal environment, no arguments and the policy's name", func() {
		p := script("web", `echo "policy=$PATCHLET_POLICY pwd=$(pwd) args=$# home=${HOME-unset} lc=$LC_ALL"`, 0o755)
		passed, msg := checker.Check(ctx, "web-policy", execCheck("web", 5*time.Second))
		Expect(passed).To(BeTrue(), msg)
		Expect(msg).To(ContainSubstring(p))
		Expect(msg).To(ContainSubstring("exit status 0"))
		Expect(msg).To(ContainSubstring("policy=web-policy pwd=/ args=0 home=unset lc=C"))
	})

	It("fails with the exit status and the end of the output", func() {
		p := script("db", "i=0; while [ $i -lt 300 ]; do echo line $i of noise; i=$((i+1)); done\necho 'db is down' >&2\nexit 3\n", 0o755)
		passed, msg := checker.Check(ctx, "pol", execCheck("db", 5*time.Second))
		Expect(passed).To(BeFalse())
		Expect(msg).To(ContainSubstring(p))
		Expect(msg).To(ContainSubstring("exit status 3"))
		Expect(msg).To(HaveSuffix("db is down"))
		Expect(len(msg)).To(BeNumerically("<", 400), "the output is clipped")
		Expect(msg).NotTo(ContainSubstring("\n"))
	})

	It("kills the whole process group when the timeout passes", func() {
		pidFile := filepath.Join(GinkgoT().TempDir(), "grandchild.pid")
		script("hang", "sleep 60 &\necho $! > "+pidFile+"\necho started\nsleep 60\n", 0o755)
		start := time.Now()
		passed, msg := checker.Check(ctx, "pol", execCheck("hang", 300*time.Millisecond))
		Expect(passed).To(BeFalse())
		Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second))
		Expect(msg).To(ContainSubstring("timed out after 300ms"))
		Expect(msg).To(ContainSubstring("started"))
		b, err := os.ReadFile(pidFile)
		Expect(err).NotTo(HaveOccurred())
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() bool { return gone(pid) }).WithTimeout(5*time.Second).Should(BeTrue(), "the grandchild sleep %d is gone", pid)
	})

	It("kills what a passing check left running in its group instead of waiting for it", func() {
		pidFile := filepath.Join(GinkgoT().TempDir(), "left.pid")
		script("leaves", "sleep 60 &\necho $! > "+pidFile+"\nexit 0\n", 0o755)
		start := time.Now()
		passed, msg := checker.Check(ctx, "pol", execCheck("leaves", 30*time.Second))
		Expect(passed).To(BeTrue(), msg)
		Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second))
		b, err := os.ReadFile(pidFile)
		Expect(err).NotTo(HaveOccurred())
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		Expect(err).NotTo(HaveOccurred())
		Eventually(func() bool { return gone(pid) }).WithTimeout(5 * time.Second).Should(BeTrue())
	})

	DescribeTable("refuses to run a check it cannot trust, saying why",
		func(prepare func() string, want string) {
			marker := filepath.Join(GinkgoT().TempDir(), "ran")
			name := prepare()
			// Whatever file the name reaches would leave a marker if it ran.
			for _, p := range []string{filepath.Join(dir, name), filepath.Join(dir, "target")} {
				if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() {
					Expect(os.WriteFile(p, []byte("#!/bin/sh\ntouch "+marker+"\n"), fi.Mode().Perm())).To(Succeed())
				}
			}
			passed, msg := checker.Check(ctx, "pol", execCheck(name, 5*time.Second))
			Expect(passed).To(BeFalse())
			Expect(msg).To(ContainSubstring("refused"))
			Expect(msg).To(ContainSubstring(want))
			Expect(marker).NotTo(BeAnExistingFile(), "nothing ran")
		},
		Entry("a missing file", func() string { return "absent" }, "no such file"),
		Entry("a symbolic link", func() string {
			script("target", "", 0o755)
			Expect(os.Symlink(filepath.Join(dir, "target"), filepath.Join(dir, "link"))).To(Succeed())
			return "link"
		}, "symbolic link"),
		Entry("a group-writable file", func() string { script("gw", "", 0o775); return "gw" }, "writable by group or others (mode 0775)"),
		Entry("a world-writable file", func() string { script("ww", "", 0o757); return "ww" }, "writable by group or others"),
		Entry("a file that is not executable", func() string { script("plain", "", 0o644); return "plain" }, "not executable"),
		Entry("a file owned by another user", func() string {
			p := script("theirs", "", 0o755)
			Expect(os.Chown(p, 4242, 4242)).To(Succeed())
			return "theirs"
		}, "owned by uid 4242"),
		Entry("a directory", func() string {
			Expect(os.Mkdir(filepath.Join(dir, "sub"), 0o755)).To(Succeed())
			return "sub"
		}, "not a regular file"),
		Entry("a group-writable checks directory", func() string {
			script("ok", "", 0o755)
			Expect(os.Chmod(dir, 0o775)).To(Succeed())
			return "ok"
		}, "the checks directory "),
		Entry("a path instead of a name", func() string {
			script("target", "", 0o755)
			return "../checks.d/target"
		}, "not a file name"),
		Entry("an option instead of a name", func() string { return "-rf" }, "not a file name"),
		Entry("a hidden file", func() string { script(".hidden", "", 0o755); return ".hidden" }, "not a file name"),
	)

	It("refuses everything when the checks directory does not exist", func() {
		c := healthcheck.New(healthcheck.Options{ChecksDir: filepath.Join(dir, "nope"), EUID: os.Geteuid()})
		passed, msg := c.Check(ctx, "pol", execCheck("web", time.Second))
		Expect(passed).To(BeFalse())
		Expect(msg).To(ContainSubstring("checks directory"))
	})

	It("uses /etc/patchlet/checks.d by default", func() {
		Expect(healthcheck.New(healthcheck.Options{}).ChecksDir()).To(Equal("/etc/patchlet/checks.d"))
	})
})
