package apt_test

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apt"
)

// The golden files are real outputs recorded by the integration tests
// (PATCHLET_UPDATE_GOLDEN=1) on Debian 12, apt 2.6.1, dpkg 1.21.22.
var _ = DescribeTable("Classify on real apt outputs",
	func(file string, typ v1alpha1.StepType, exitCode int, check func(backends.Failure)) {
		out, err := os.ReadFile(filepath.Join("testdata", file))
		Expect(err).NotTo(HaveOccurred())
		b := newBackend("/", nil)
		check(b.Classify(backends.Step{Type: typ}, exitCode, out))
	},
	Entry("lock held by another process", "debian-12.apt-get-install.lock-held.out", v1alpha1.StepInstall, 100,
		func(f backends.Failure) {
			Expect(f.Reason).To(Equal(v1alpha1.FailureLockHeld))
			Expect(f.LockHolderPID).To(Equal(4242))
			Expect(f.LockHolder).To(Equal("apt.test"))
			Expect(f.Message).To(Equal("Could not get lock /srv/root/var/lib/dpkg/lock-frontend. It is held by process 4242 (apt.test)"))
		}),
	Entry("dpkg interrupted", "debian-12.apt-get-install.dpkg-interrupted.out", v1alpha1.StepInstall, 100,
		func(f backends.Failure) {
			Expect(f).To(Equal(backends.Failure{Reason: v1alpha1.FailureInterrupted,
				Message: "dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem."}))
		}),
	Entry("disk full while unpacking", "debian-12.apt-get-install.disk-full.out", v1alpha1.StepInstall, 100,
		func(f backends.Failure) {
			Expect(f.Reason).To(Equal(v1alpha1.FailureDiskFull))
			Expect(f.Message).To(HaveSuffix("failed to write (No space left on device)"))
		}),
	Entry("unknown package", "debian-12.apt-get-install.unknown-package.out", v1alpha1.StepInstall, 100,
		func(f backends.Failure) {
			Expect(f).To(Equal(backends.Failure{Reason: v1alpha1.FailureNotFound, Message: "Unable to locate package no-such-package"}))
		}),
	Entry("unknown version", "debian-12.apt-get-install.unknown-version.out", v1alpha1.StepInstall, 100,
		func(f backends.Failure) {
			Expect(f).To(Equal(backends.Failure{Reason: v1alpha1.FailureNotFound, Message: "Version '9.9' for 'hello' was not found"}))
		}),
	Entry("apt-mark on an unknown package", "debian-12.apt-mark-hold.unknown-package.out", v1alpha1.StepHold, 100,
		func(f backends.Failure) {
			Expect(f).To(Equal(backends.Failure{Reason: v1alpha1.FailureNotFound, Message: "Unable to locate package no-such-package"}))
		}),
	Entry("package gone from the repository since the refresh", "debian-12.apt-get-install.stale-index.out", v1alpha1.StepInstall, 100,
		func(f backends.Failure) {
			Expect(f.Reason).To(Equal(v1alpha1.FailureStaleIndex))
			Expect(f.Message).To(HavePrefix("Failed to fetch file:/srv/repo/stale/./hello_2.0_all.deb  File not found"))
		}),
	Entry("a failing maintainer script", "debian-12.apt-get-install.postinst-failed.out", v1alpha1.StepInstall, 100,
		func(f backends.Failure) {
			Expect(f).To(Equal(backends.Failure{Reason: v1alpha1.FailureFailed,
				Message: "Sub-process /usr/bin/dpkg returned an error code (1)"}))
		}),
)

var _ = DescribeTable("Classify on other outputs of apt and dpkg",
	func(typ v1alpha1.StepType, out string, want backends.Failure) {
		Expect(apt.ClassifyOutput(typ, 100, []byte(out))).To(Equal(want))
	},
	Entry("a lock without a known holder", v1alpha1.StepInstall,
		"E: Could not get lock /var/lib/dpkg/lock-frontend - open (11: Resource temporarily unavailable)\n",
		backends.Failure{Reason: v1alpha1.FailureLockHeld, Message: "Could not get lock /var/lib/dpkg/lock-frontend - open (11: Resource temporarily unavailable)"}),
	Entry("the lists lock during a refresh", v1alpha1.StepRefresh,
		"E: Could not get lock /var/lib/apt/lists/lock. It is held by process 812 (apt-get)\nE: Unable to lock directory /var/lib/apt/lists/\n",
		backends.Failure{Reason: v1alpha1.FailureLockHeld, LockHolderPID: 812, LockHolder: "apt-get",
			Message: "Could not get lock /var/lib/apt/lists/lock. It is held by process 812 (apt-get)"}),
	Entry("dpkg's own frontend lock", v1alpha1.StepRecover,
		"dpkg: error: dpkg frontend lock was locked by another process with pid 4242\nNote: removing the lock file is always wrong\n",
		backends.Failure{Reason: v1alpha1.FailureLockHeld, LockHolderPID: 4242,
			Message: "dpkg: error: dpkg frontend lock was locked by another process with pid 4242"}),
	Entry("no room to download", v1alpha1.StepUpgrade,
		"Need to get 52.1 MB of archives.\nE: You don't have enough free space in /var/cache/apt/archives/.\n",
		backends.Failure{Reason: v1alpha1.FailureDiskFull, Message: "You don't have enough free space in /var/cache/apt/archives/."}),
	Entry("a 404 from a mirror", v1alpha1.StepUpgrade,
		"Err:1 http://deb.debian.org/debian bookworm/main amd64 openssl amd64 3.0.11-1~deb12u1\n  404  Not Found [IP: 151.101.2.132 80]\n"+
			"E: Failed to fetch http://deb.debian.org/debian/pool/main/o/openssl/openssl_3.0.11-1~deb12u1_amd64.deb  404  Not Found [IP: 151.101.2.132 80]\n"+
			"E: Unable to fetch some archives, maybe run apt-get update or try with --fix-missing?\n",
		backends.Failure{Reason: v1alpha1.FailureStaleIndex,
			Message: "Failed to fetch http://deb.debian.org/debian/pool/main/o/openssl/openssl_3.0.11-1~deb12u1_amd64.deb  404  Not Found [IP: 151.101.2.132 80]"}),
	Entry("a fetch failure while refreshing is no stale index", v1alpha1.StepRefresh,
		"Err:1 http://deb.example.invalid stable InRelease\n  Could not resolve 'deb.example.invalid'\n"+
			"E: Failed to fetch http://deb.example.invalid/dists/stable/InRelease  Could not resolve 'deb.example.invalid'\n"+
			"E: Some index files failed to download. They have been ignored, or old ones used instead.\n",
		backends.Failure{Reason: v1alpha1.FailureFailed,
			Message: "Failed to fetch http://deb.example.invalid/dists/stable/InRelease  Could not resolve 'deb.example.invalid'; Some index files failed to download. They have been ignored, or old ones used instead."}),
	Entry("no E: line at all", v1alpha1.StepInstall, "something odd\n\n",
		backends.Failure{Reason: v1alpha1.FailureFailed, Message: "something odd"}),
	Entry("no output at all", v1alpha1.StepInstall, "",
		backends.Failure{Reason: v1alpha1.FailureFailed, Message: "exit code 100"}),
)
