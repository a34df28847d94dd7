package toolkit_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/sys/unix"

	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/internal/toolkit"
)

// selfName is this process's /proc/PID/comm.
func selfName() string {
	GinkgoHelper()
	comm, err := os.ReadFile("/proc/self/comm")
	Expect(err).NotTo(HaveOccurred())
	return strings.TrimSpace(string(comm))
}

// deadPID is the pid of a process that has exited.
func deadPID() int {
	GinkgoHelper()
	cmd := exec.Command("true")
	Expect(cmd.Run()).To(Succeed())
	return cmd.Process.Pid
}

var _ = Describe("process lookups", func() {
	It("names a process by its /proc/PID/comm, and no process by nothing", func() {
		Expect(toolkit.ProcessName(os.Getpid())).To(Equal(selfName()))
		Expect(toolkit.ProcessName(0)).To(BeEmpty())
		Expect(toolkit.ProcessName(deadPID())).To(BeEmpty())
	})
	It("reads the running kernel's release", func() {
		want, err := os.ReadFile("/proc/sys/kernel/osrelease")
		Expect(err).NotTo(HaveOccurred())
		Expect(toolkit.KernelRelease()).To(Equal(strings.TrimSpace(string(want))))
	})
	It("reads a command's exit code, and -1 for anything else", func() {
		err := exec.Command("sh", "-c", "exit 3").Run()
		Expect(toolkit.ExitCode(err)).To(Equal(3))
		Expect(toolkit.ExitCode(errors.New("no exit"))).To(Equal(-1))
		Expect(toolkit.ExitCode(nil)).To(Equal(-1))
	})
})

var _ = Describe("lock holders", func() {
	var dir string
	BeforeEach(func() { dir = GinkgoT().TempDir() })
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		Expect(os.WriteFile(p, []byte(content), 0o644)).To(Succeed())
		return p
	}

	It("reports the first pid file whose process lives", func() {
		missing := filepath.Join(dir, "missing.pid")
		garbage := write("garbage.pid", "not a pid\n")
		dead := write("dead.pid", strconv.Itoa(deadPID())+"\n")
		_, _, held, err := toolkit.PIDFileHolder(missing, garbage, dead)
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse())
		live := write("zypp.pid", strconv.Itoa(os.Getpid())+"\n")
		pid, cmd, held, err := toolkit.PIDFileHolder(missing, dead, live)
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue())
		Expect(pid).To(Equal(os.Getpid()))
		Expect(cmd).To(Equal(selfName()))
		_, _, _, err = toolkit.PIDFileHolder(dir) // a directory cannot be read
		Expect(err).To(MatchError(ContainSubstring("read lock " + dir)))
	})

	It("finds fcntl locks, this process's own included, without dropping them", func() {
		var locks toolkit.FcntlLocks
		free, lock := write("lock", ""), write("lock-frontend", "")
		_, _, held, err := locks.Holder(filepath.Join(dir, "missing"), free, lock)
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse())

		f, err := os.OpenFile(lock, os.O_RDWR, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &syscall.Flock_t{Type: syscall.F_WRLCK})).To(Succeed())
		for range 2 { // asking again does not drop the lock
			pid, cmd, held, err := locks.Holder(free, lock)
			Expect(err).NotTo(HaveOccurred())
			Expect(held).To(BeTrue())
			Expect(pid).To(Equal(os.Getpid()))
			Expect(cmd).To(Equal(selfName()))
		}
		Expect(f.Close()).To(Succeed())
		_, held, err = locks.Owner(lock)
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse())

		// A lock file replaced (dpkg recreates it) is opened again.
		Expect(os.Remove(lock)).To(Succeed())
		write("lock-frontend", "")
		g, err := os.OpenFile(lock, os.O_RDWR, 0)
		Expect(err).NotTo(HaveOccurred())
		defer g.Close()
		Expect(syscall.FcntlFlock(g.Fd(), syscall.F_SETLK, &syscall.Flock_t{Type: syscall.F_WRLCK})).To(Succeed())
		_, held, err = locks.Owner(lock)
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue())
	})

	It("finds a flock in /proc/locks", func() {
		lock := write("lock", "")
		_, _, held, err := toolkit.ProcLocksHolder(lock, "/proc/locks")
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse())
		_, _, held, err = toolkit.ProcLocksHolder(filepath.Join(dir, "missing"), "/proc/locks")
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse())

		f, err := os.Open(lock)
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		Expect(syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)).To(Succeed())
		pid, cmd, held, err := toolkit.ProcLocksHolder(lock, "/proc/locks")
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue())
		Expect(pid).To(Equal(os.Getpid()))
		Expect(cmd).To(Equal(selfName()))
	})

	It("skips waiters and other files in the lock table", func() {
		lock := write("lock", "")
		fi, err := os.Stat(lock)
		Expect(err).NotTo(HaveOccurred())
		st := fi.Sys().(*syscall.Stat_t)
		id := func(ino uint64) string {
			return fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), ino)
		}
		table := write("locks", "1: FLOCK  ADVISORY  WRITE 11 "+id(st.Ino+1)+" 0 EOF\n"+
			"2: -> FLOCK  ADVISORY  WRITE 12 "+id(st.Ino)+" 0 EOF\n")
		_, _, held, err := toolkit.ProcLocksHolder(lock, table)
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse())
		table = write("locks", "1: FLOCK  ADVISORY  WRITE -1 "+id(st.Ino)+" 0 EOF\n")
		pid, _, held, err := toolkit.ProcLocksHolder(lock, table)
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue())
		Expect(pid).To(Equal(0), "an unknown holder")
	})

	It("finds the process that has a file open, and no one for a file nobody opened", func() {
		lock := write("db.lck", "")
		Expect(toolkit.OpenedBy("/proc", lock)).To(BeZero())
		f, err := os.Open(lock)
		Expect(err).NotTo(HaveOccurred())
		defer f.Close()
		Expect(toolkit.OpenedBy("/proc", lock)).To(Equal(os.Getpid()))
		Expect(toolkit.OpenedBy(filepath.Join(dir, "noproc"), lock)).To(BeZero())
	})
})

var _ = Describe("KernelReboot", func() {
	installed := map[string]backends.Package{"linux": {Name: "linux", Version: "2"}}
	newer := func(release string, installed map[string]backends.Package) (bool, string) {
		return installed["linux"].Version > release, "linux"
	}

	It("asks the backend's rule about the running kernel", func() {
		req, pkgs := toolkit.KernelReboot(func() (string, error) { return "1", nil }, logr.Discard(), installed, newer)
		Expect(req).To(BeTrue())
		Expect(pkgs).To(Equal([]string{"linux"}))
		req, pkgs = toolkit.KernelReboot(func() (string, error) { return "2", nil }, logr.Discard(), installed, newer)
		Expect(req).To(BeFalse())
		Expect(pkgs).To(BeNil())
	})

	It("takes a release it cannot read for no reboot", func() {
		req, _ := toolkit.KernelReboot(func() (string, error) { return "", errors.New("no uname") }, logr.Discard(), installed, newer)
		Expect(req).To(BeFalse())
	})
})
