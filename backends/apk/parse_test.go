package apk_test

import (
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apk"
)

// golden reads a recorded output; it panics when the file is missing, so
// that benchmarks (outside Ginkgo) can use it too.
func golden(name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err)
	}
	return b
}

// An Alpine-like root recorded from real apk (integration_test.go,
// describeAlpineLike): five packages, libcrypto3 from openssl, nginx held.
var _ = DescribeTable("parsers on a recorded Alpine-like root",
	func(version string) {
		g := func(name string) []byte { return golden("apk-" + version + ".alpine-like." + name) }
		db := apk.ParseInstalled(g("installed"))
		Expect(db).To(HaveLen(5))
		Expect(db["busybox"]).To(Equal(backends.Package{Name: "busybox", Version: "1.36.1-r29", Arch: "x86_64"}))
		Expect(db["linux-lts"].Version).To(Equal("6.6.36-r0"))
		Expect(apk.ParseWorld(g("world"))).To(Equal(map[string]string{"nginx": "1.26.1-r0"}))
		ups := apk.ParseListUpgradable(g("list-u.stdout"))
		Expect(ups).To(HaveLen(5))
		Expect(ups["linux-lts"]).To(Equal(backends.Upgrade{Name: "linux-lts", From: "6.6.36-r0", To: "6.6.41-r0", Source: "linux-lts"}))
		Expect(ups["libcrypto3"]).To(Equal(backends.Upgrade{Name: "libcrypto3", From: "3.3.0-r2", To: "3.3.1-r3", Source: "openssl"}))
		Expect(ups["curl"].To).To(Equal("8.10.0-r0"), "the newest of the versions apk list -u lists")
		Expect(apk.ParsePolicy(g("policy.stdout"))).To(Equal(map[string][]string{
			"curl":  {"8.9.0-r0", "8.9.1-r0", "8.10.0-r0"},
			"nginx": {"1.26.1-r0", "1.26.2-r0"},
		}))
	},
	Entry("apk 2.14.10", "2.14.10"),
	Entry("apk 3.0.6", "3.0.6"),
)

var _ = Describe("ParseWorld", func() {
	It("finds the exact-version constraints in world (holds) among other constraints", func() {
		Expect(apk.ParseWorld([]byte("alpine-base\ncurl\nnginx=1.26.1-r0\nbusybox<2\n!bash\nfoo~1.0-r0\n"))).To(Equal(map[string]string{"nginx": "1.26.1-r0"}))
		Expect(apk.ParseWorld([]byte("curl=8.9.0-r0@edge\n"))).To(Equal(map[string]string{"curl": "8.9.0-r0"}))
	})
})

// The same parsers on real apk output, recorded by integration_test.go:
// foo 1.0-r0 installed (pinned foo~1.0-r0), 1.1-r0 in the repository.
var _ = DescribeTable("parsers on real apk output",
	func(version string) {
		g := func(name string) []byte { return golden("apk-" + version + "." + name) }
		db := apk.ParseInstalled(g("installed"))
		Expect(db).To(Equal(map[string]backends.Package{"foo": {Name: "foo", Version: "1.0-r0", Arch: "x86_64"}}))
		Expect(apk.ParseWorld(g("world-pinned"))).To(BeEmpty(), "a ~ pin is no hold")
		Expect(apk.WorldConstrained(g("world-pinned"))).To(HaveKeyWithValue("foo", true))
		foo := backends.Upgrade{Name: "foo", From: "1.0-r0", To: "1.1-r0", Source: "foo"}
		Expect(apk.ParseListUpgradable(g("list-u.stdout"))).To(Equal(map[string]backends.Upgrade{"foo": foo}))
		foo.Source = ""
		Expect(apk.ParseVersionLess(g("version-l-lt.stdout"), db)).To(Equal(map[string]backends.Upgrade{"foo": foo}), "apk version -l '<' the same way")
		Expect(apk.ParsePolicy(g("policy.stdout"))).To(Equal(map[string][]string{"foo": {"1.0-r0", "1.1-r0"}}), "repository versions only")
	},
	Entry("apk 2.14.10", "2.14.10"),
	Entry("apk 3.0.6", "3.0.6"),
)

var _ = DescribeTable("VersionCompare",
	func(a, b string, want int) {
		Expect(apk.VersionCompare(a, b)).To(Equal(want))
		Expect(apk.VersionCompare(b, a)).To(Equal(-want))
	},
	Entry("equal", "1.2.3-r0", "1.2.3-r0", 0),
	Entry("revision", "1.2.3-r1", "1.2.3-r10", -1),
	Entry("numbers, not strings", "8.9.1-r0", "8.10.0-r0", -1),
	Entry("more components", "1.2-r0", "1.2.1-r0", -1),
	Entry("letter", "1.2a-r0", "1.2b-r0", -1),
	Entry("pre-release before release", "1.2_rc1-r0", "1.2-r0", -1),
	Entry("alpha before beta", "1.2_alpha1-r0", "1.2_beta1-r0", -1),
	Entry("patch after release", "1.2_p1-r0", "1.2-r0", 1),
	Entry("git after release", "1.2_git20240101-r0", "1.2-r0", 1),
)

var _ = DescribeTable("KernelRebootRequired",
	func(release string, installed []backends.Package, want bool, pkg string) {
		m := map[string]backends.Package{}
		for _, p := range installed {
			m[p.Name] = p
		}
		got, name := apk.KernelRebootRequired(release, m)
		Expect(got).To(Equal(want))
		Expect(name).To(Equal(pkg))
	},
	Entry("running the installed lts", "6.6.36-0-lts", []backends.Package{{Name: "linux-lts", Version: "6.6.36-r0"}}, false, ""),
	Entry("lts upgraded", "6.6.36-0-lts", []backends.Package{{Name: "linux-lts", Version: "6.6.41-r0"}}, true, "linux-lts"),
	Entry("virt revision bump", "6.6.41-0-virt", []backends.Package{{Name: "linux-virt", Version: "6.6.41-r1"}}, true, "linux-virt"),
	Entry("other flavour upgraded only", "6.6.41-0-virt", []backends.Package{{Name: "linux-virt", Version: "6.6.41-r0"}, {Name: "linux-lts", Version: "6.6.50-r0"}}, false, ""),
	Entry("container on a Debian kernel", "6.1.0-18-amd64", []backends.Package{{Name: "busybox", Version: "1.36.1-r29"}}, false, ""),
	Entry("no release", "", nil, false, ""),
)

var _ = DescribeTable("ClassifyOutput on samples of apk output",
	func(file string, typ v1alpha1.StepType, reason v1alpha1.FailureReason, message string) {
		out := []byte("ERROR: unable to select packages:\n  curl-8.9.1-r0:\n    breaks: world[curl=8.0.0-r0]\n") // a hold (N=V) no repository has
		if file != "" {
			out = golden(file)
		}
		f := apk.ClassifyOutput(typ, 1, out)
		Expect(f.Reason).To(Equal(reason))
		Expect(f.Message).To(Equal(message))
	},
	Entry("lock held (apk 2)", "apk-2.14.10.add.lock-held.out", v1alpha1.StepInstall,
		v1alpha1.FailureLockHeld, "Unable to lock database: temporary error (try again later)"),
	Entry("lock held (apk 3)", "apk-3.0.6.add.lock-held.out", v1alpha1.StepInstall,
		v1alpha1.FailureLockHeld, "Unable to lock database: Resource temporarily unavailable"),
	Entry("unknown package (apk 2)", "apk-2.14.10.add.unknown-package.out", v1alpha1.StepInstall,
		v1alpha1.FailureNotFound, "unable to select packages: nosuch (no such package)"),
	Entry("unknown package (apk 3)", "apk-3.0.6.add.unknown-package.out", v1alpha1.StepInstall,
		v1alpha1.FailureNotFound, "unable to select packages: nosuch (no such package)"),
	Entry("unknown pinned version (apk 2)", "apk-2.14.10.add.unknown-version.out", v1alpha1.StepInstall,
		v1alpha1.FailureNotFound, "unable to select packages: bar-2.0-r0 breaks: world[bar~9.9-r0]"),
	Entry("unknown pinned version (apk 3)", "apk-3.0.6.add.unknown-version.out", v1alpha1.StepInstall,
		v1alpha1.FailureNotFound, "unable to select packages: bar-2.0-r0 breaks: world[bar~9.9-r0]"),
	Entry("a held version gone from the repository", "", v1alpha1.StepInstall,
		v1alpha1.FailureNotFound, "unable to select packages: curl-8.9.1-r0 breaks: world[curl=8.0.0-r0]"),
	Entry("disk full (apk 2)", "apk-2.14.10.add.disk-full.out", v1alpha1.StepInstall,
		v1alpha1.FailureDiskFull, "Failed to create usr/share/big/blob: No space left on device"),
	Entry("disk full (apk 3)", "apk-3.0.6.add.disk-full.out", v1alpha1.StepInstall,
		v1alpha1.FailureDiskFull, "big-1.0-r0: failed to extract usr/share/big/blob: No space left on device"),
	Entry("package gone from the mirror (apk 2)", "apk-2.14.10.add.stale-index.out", v1alpha1.StepInstall,
		v1alpha1.FailureStaleIndex, "baz-1.0-r0: package mentioned in index not found (try 'apk update')"),
	Entry("package gone from the mirror (apk 3)", "apk-3.0.6.add.stale-index.out", v1alpha1.StepInstall,
		v1alpha1.FailureStaleIndex, "baz-1.0-r0: HTTP 404: Not Found"),
	Entry("an unsatisfiable dependency is a plain failure (apk 2)", "apk-2.14.10.add.conflict.out", v1alpha1.StepInstall,
		v1alpha1.FailureFailed, "unable to select packages: libx-1.0-r0: breaks: needy-1.0-r0[so:libx.so.1>=2]"),
	Entry("an unsatisfiable dependency is a plain failure (apk 3)", "apk-3.0.6.add.conflict.out", v1alpha1.StepInstall,
		v1alpha1.FailureFailed, "unable to select packages: libx-1.0-r0: breaks: needy-1.0-r0[so:libx.so.1>=2]"),
)
