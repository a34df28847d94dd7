package pacman_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends/pacman"
)

var _ = DescribeTable("ClassifyOutput on recorded pacman output",
	func(file string, typ v1alpha1.StepType, reason v1alpha1.FailureReason, message string) {
		f := pacman.ClassifyOutput(typ, 1, golden(file))
		Expect(f.Reason).To(Equal(reason))
		Expect(f.Message).To(Equal(message))
	},
	Entry("lock held", "pacman-6.0.2.pacman-S.lock-held.out", v1alpha1.StepInstall,
		v1alpha1.FailureLockHeld, "failed to init transaction (unable to lock database)"),
	Entry("lock held while refreshing", "pacman-6.0.2.pacman-Syy.lock-held.out", v1alpha1.StepRefresh,
		v1alpha1.FailureLockHeld, "failed to synchronize all databases (unable to lock database)"),
	Entry("unknown package", "pacman-6.0.2.pacman-S.unknown-package.out", v1alpha1.StepInstall,
		v1alpha1.FailureNotFound, "target not found: nosuch"),
	Entry("unknown version", "pacman-6.0.2.pacman-S.unknown-version.out", v1alpha1.StepInstall,
		v1alpha1.FailureNotFound, "target not found: foo=1.0-1"),
	Entry("package file gone from the mirror", "pacman-6.0.2.pacman-S.stale-index.out", v1alpha1.StepUpgrade,
		v1alpha1.FailureStaleIndex, "failed retrieving file 'foo-1.1-1-any.pkg.tar.zst' from mirror.example.org : The requested URL returned error: 404"),
	Entry("disk full (CheckSpace)", "pacman-6.0.2.pacman-S.disk-full-checkspace.out", v1alpha1.StepInstall,
		v1alpha1.FailureDiskFull, "Partition /var too full: 502 blocks needed, 246 blocks free"),
	Entry("disk full while extracting", "pacman-6.0.2.pacman-S.disk-full-extract.out", v1alpha1.StepInstall,
		v1alpha1.FailureDiskFull, "could not extract /usr/blob (Write failed)"),
	Entry("disk full while downloading", "pacman-6.0.2.pacman-S.disk-full-download.out", v1alpha1.StepInstall,
		v1alpha1.FailureDiskFull, "failed retrieving file 'big-1.0-1-any.pkg.tar.zst' from disk : Failure writing output to destination"),
	Entry("a removal that breaks a dependency", "pacman-6.0.2.pacman-R.breaks-dependency.out", v1alpha1.StepRemove,
		v1alpha1.FailureFailed, "failed to prepare transaction (could not satisfy dependencies)"),
	Entry("a .pacnew is no failure; the scriptlet error is", "pacman-6.0.2.pacman-S.pacnew-failed-scriptlet.out", v1alpha1.StepUpgrade,
		v1alpha1.FailureFailed, "command failed to execute correctly"),
)

var _ = Describe("ClassifyOutput", func() {
	It("does not call a fetch failure while refreshing a stale index", func() {
		f := pacman.ClassifyOutput(v1alpha1.StepRefresh, 1,
			[]byte("error: failed retrieving file 'core.db' from mirror : The requested URL returned error: 404\n"))
		Expect(f.Reason).To(Equal(v1alpha1.FailureFailed))
	})
	It("falls back to the output's tail, then the exit code", func() {
		Expect(pacman.ClassifyOutput(v1alpha1.StepInstall, 1, []byte("something odd\n")).Message).To(Equal("something odd"))
		Expect(pacman.ClassifyOutput(v1alpha1.StepInstall, 3, nil).Message).To(Equal("exit code 3"))
	})
})
