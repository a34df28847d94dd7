package apt_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/backends/apt"
)

// holdLock takes a POSIX write lock on path, as apt and dpkg do, and
// returns its release.
func holdLock(path string) func() {
	GinkgoHelper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	Expect(err).NotTo(HaveOccurred())
	Expect(syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &syscall.Flock_t{Type: syscall.F_WRLCK})).To(Succeed())
	return func() { Expect(f.Close()).To(Succeed()) }
}

var _ = Describe("LockHolder", func() {
	var (
		root string
		b    *apt.Backend
	)
	BeforeEach(func() {
		root = GinkgoT().TempDir()
		Expect(os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755)).To(Succeed())
		b = newBackend(root, nil)
	})

	It("reports nothing held when the lock files are missing or free", func() {
		_, _, held, err := b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse())
		writeFile(filepath.Join(root, "var/lib/dpkg/lock-frontend"), "")
		writeFile(filepath.Join(root, "var/lib/dpkg/lock"), "")
		_, _, held, err = b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse())
	})

	DescribeTable("names the process holding a lock, even when it is this process",
		func(lock string) {
			release := holdLock(filepath.Join(root, "var/lib/dpkg", lock))
			pid, cmd, held, err := b.LockHolder()
			Expect(err).NotTo(HaveOccurred())
			Expect(held).To(BeTrue())
			Expect(pid).To(Equal(os.Getpid()))
			comm, err := os.ReadFile("/proc/self/comm")
			Expect(err).NotTo(HaveOccurred())
			Expect(cmd).To(Equal(strings.TrimSpace(string(comm))))

			_, _, held, err = b.LockHolder()
			Expect(err).NotTo(HaveOccurred())
			Expect(held).To(BeTrue(), "asking twice does not drop this process's lock")

			release()
			_, _, held, err = b.LockHolder()
			Expect(err).NotTo(HaveOccurred())
			Expect(held).To(BeFalse())
		},
		Entry("the frontend lock (apt-get, unattended-upgrades)", "lock-frontend"),
		Entry("dpkg's database lock (a dpkg whose frontend died)", "lock"),
	)

	It("follows a lock file that was replaced", func() {
		path := filepath.Join(root, "var/lib/dpkg/lock-frontend")
		writeFile(path, "")
		_, _, held, err := b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeFalse())
		Expect(os.Remove(path)).To(Succeed())
		release := holdLock(path)
		defer release()
		pid, _, held, err := b.LockHolder()
		Expect(err).NotTo(HaveOccurred())
		Expect(held).To(BeTrue())
		Expect(pid).To(Equal(os.Getpid()))
	})
})
