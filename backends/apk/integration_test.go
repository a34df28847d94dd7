package apk_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apk"
	"github.com/patchlet/patchlet/internal/testsupport/backendtest"
	"github.com/patchlet/patchlet/internal/testsupport/testapk"
)

var (
	runStep = backendtest.RunStep
	mustRun = backendtest.MustRun
)

// The apk backend against real apk-tools 2.14.10 (Alpine <= 3.22) and
// 3.0.6 (Alpine >= 3.23), each in an isolated root with a signed repository
// (v2 packages built by testapk for apk 2, apk mkpkg for apk 3).
// Regenerate the apk-<version>.* golden files with
// PATCHLET_UPDATE_GOLDEN=1 go test -count=1 ./backends/apk/.
var _ = describeReal("2.14.10")
var _ = describeReal("3.0.6")
var _ = describeAlpineLike("2.14.10")
var _ = describeAlpineLike("3.0.6")

// describeAlpineLike records the outputs the unit tests' "recorded Alpine
// root" reads: five packages one release behind, one from another origin
// (libcrypto3 from openssl), a kernel, and nginx held at its version.
func describeAlpineLike(version string) bool {
	return Describe("an Alpine-like root on real apk-tools "+version, Label("integration"), func() {
		It("records its database, world, apk list -u and apk policy", func(ctx context.Context) {
			bin := testapk.Binary(version)
			tmp := GinkgoT().TempDir()
			root, err := testapk.NewRoot(ctx, bin, tmp)
			Expect(err).NotTo(HaveOccurred())
			backendtest.GoldenNames[root.Repo] = "/srv/repo"
			pkg := func(name, ver, origin string) testapk.Package {
				return testapk.Package{Name: name, Version: ver, Origin: origin, Files: map[string]string{"usr/share/" + name + "/" + ver: ver + "\n"}}
			}
			old := []testapk.Package{pkg("busybox", "1.36.1-r29", ""), pkg("libcrypto3", "3.3.0-r2", "openssl"), pkg("curl", "8.9.0-r0", ""), pkg("linux-lts", "6.6.36-r0", ""), pkg("nginx", "1.26.1-r0", "")}
			Expect(root.Publish(ctx, old...)).To(Succeed())
			args := []string{"add"}
			for _, p := range old {
				args = append(args, p.Name+"~"+p.Version)
			}
			_, err = root.Run(ctx, args...)
			Expect(err).NotTo(HaveOccurred())
			// Unpin all but nginx, which is held as apk writes a hold.
			_, err = root.Run(ctx, "add", "busybox", "libcrypto3", "curl", "linux-lts", "nginx=1.26.1-r0")
			Expect(err).NotTo(HaveOccurred())
			Expect(root.Publish(ctx, pkg("busybox", "1.36.1-r30", ""), pkg("libcrypto3", "3.3.1-r3", "openssl"), pkg("curl", "8.9.1-r0", ""), pkg("curl", "8.10.0-r0", ""),
				pkg("linux-lts", "6.6.41-r0", ""), pkg("nginx", "1.26.2-r0", ""))).To(Succeed())

			for name, file := range map[string]string{"installed": "lib/apk/db/installed", "world": "etc/apk/world"} {
				data, err := os.ReadFile(root.Path(file))
				Expect(err).NotTo(HaveOccurred())
				backendtest.RecordGolden("apk-"+version+".alpine-like."+name, data)
			}
			for name, args := range map[string][]string{"list-u.stdout": {"list", "-u"}, "policy.stdout": {"policy", "curl", "nginx"}} {
				out, err := root.Stdout(ctx, args...)
				Expect(err).NotTo(HaveOccurred())
				backendtest.RecordGolden("apk-"+version+".alpine-like."+name, out)
			}
			out, err := root.Stdout(ctx, "list", "-u")
			Expect(err).NotTo(HaveOccurred())
			Expect(string(out)).To(ContainSubstring("libcrypto3-3.3.1-r3 x86_64 {openssl}"))
		})
	})
}

func describeReal(version string) bool {
	return Describe("the apk backend against real apk-tools "+version, Ordered, Label("integration"), func() {
		var (
			root *testapk.Root
			b    *apk.Backend
		)
		foo10 := testapk.Package{Name: "foo", Version: "1.0-r0", Files: map[string]string{"etc/foo.conf": "one\n"}, Provides: []string{"vfoo=1.0", "cmd:foo=1.0-r0"}}
		foo11 := testapk.Package{Name: "foo", Version: "1.1-r0", Files: map[string]string{"etc/foo.conf": "two\n"}, Provides: []string{"vfoo=1.1", "cmd:foo=1.1-r0"}}
		bar := testapk.Package{Name: "bar", Version: "2.0-r0", Files: map[string]string{"usr/share/bar/x": "x\n"}}

		observe := func(ctx context.Context, names ...string) *backends.Observation {
			GinkgoHelper()
			obs, err := b.Observe(ctx, names)
			Expect(err).NotTo(HaveOccurred())
			return obs
		}

		BeforeAll(func(ctx context.Context) {
			bin := testapk.Binary(version)
			tmp := GinkgoT().TempDir()
			var err error
			root, err = testapk.NewRoot(ctx, bin, tmp)
			Expect(err).NotTo(HaveOccurred())
			Expect(root.Publish(ctx, foo10, foo11, bar)).To(Succeed())
			backendtest.GoldenNames[root.Repo] = "/srv/repo"
			b, err = apk.New(apk.Options{Settings: backends.Settings{Root: root.Dir, StateDir: filepath.Join(tmp, "state"), Log: GinkgoLogr},
				Apk: bin, KernelRelease: func() (string, error) { return "6.6.36-0-lts", nil }})
			Expect(err).NotTo(HaveOccurred())
			mustRun(ctx, b.RefreshStep())
		})

		It("installs a pinned version without reading it back as held", func(ctx context.Context) {
			mustRun(ctx, built(b.InstallStep([]backends.PackageRef{{Name: "foo", Version: "1.0-r0"}})))
			obs := observe(ctx, "foo")
			Expect(obs.Installed).To(HaveKeyWithValue("foo", backends.Package{Name: "foo", Version: "1.0-r0", Arch: "x86_64"}))
			Expect(obs.Available["foo"]).To(Equal([]string{"1.1-r0", "1.0-r0"}))
			data, err := os.ReadFile(root.Path("lib/apk/db/installed"))
			Expect(err).NotTo(HaveOccurred())
			backendtest.RecordGolden("apk-"+version+".installed", data)
			world, err := os.ReadFile(root.Path("etc/apk/world"))
			Expect(err).NotTo(HaveOccurred())
			backendtest.RecordGolden("apk-"+version+".world-pinned", world)
		})

		It("counts the upgrade apk list -u lists for a pinned package", func(ctx context.Context) {
			out, err := root.Stdout(ctx, "list", "-u")
			Expect(err).NotTo(HaveOccurred())
			backendtest.RecordGolden("apk-"+version+".list-u.stdout", out)
			Expect(string(out)).To(ContainSubstring("[upgradable from: foo-1.0-r0]"))
			Expect(observe(ctx).Upgrades).To(Equal(map[string]backends.Upgrade{"foo": {Name: "foo", From: "1.0-r0", To: "1.1-r0", Source: "foo"}}))
			for name, args := range map[string][]string{"policy.stdout": {"policy", "foo"}, "version-l-lt.stdout": {"version", "-l", "<"}} {
				out, err := root.Stdout(ctx, args...)
				Expect(err).NotTo(HaveOccurred())
				backendtest.RecordGolden("apk-"+version+"."+name, out)
			}
		})

		It("reports what the installed package provides", func(ctx context.Context) {
			Expect(observe(ctx).Provides).To(Equal(map[string][]string{"vfoo": {"foo"}, "cmd:foo": {"foo"}}))
		})

		It("moves a pinned package to Latest, keeping a locally edited conffile and landing the new one as .apk-new", func(ctx context.Context) {
			conf := root.Path("etc/foo.conf")
			Expect(os.WriteFile(conf, []byte("edited\n"), 0o644)).To(Succeed())
			mustRun(ctx, built(b.UpgradeStep([]string{"foo"})))
			obs := observe(ctx)
			Expect(obs.Installed["foo"].Version).To(Equal("1.1-r0"), "apk upgrade alone keeps the world pin")
			Expect(obs.Upgrades).To(BeEmpty())
			Expect(os.ReadFile(conf)).To(BeEquivalentTo("edited\n"))
			Expect(os.ReadFile(conf + ".apk-new")).To(BeEquivalentTo("two\n"))
		})

		It("holds and releases through world", func(ctx context.Context) {
			mustRun(ctx, built(b.InstallStep([]backends.PackageRef{{Name: "bar"}})))
			mustRun(ctx, built(b.HoldStep([]string{"bar"}, true)))
			Expect(observe(ctx).Installed["bar"].Held).To(BeTrue())
			mustRun(ctx, built(b.HoldStep([]string{"bar"}, false)))
			Expect(observe(ctx).Installed["bar"].Held).To(BeFalse())
			world, err := os.ReadFile(root.Path("etc/apk/world"))
			Expect(err).NotTo(HaveOccurred())
			Expect(strings.Fields(string(world))).To(ConsistOf("bar", "foo"))
		})

		It("removes a package (Absent)", func(ctx context.Context) {
			mustRun(ctx, built(b.RemoveStep([]string{"bar"})))
			Expect(observe(ctx).Installed).NotTo(HaveKey("bar"))
		})

		It("names the holder of apk's lock and classifies an install run while it is held as LockHeld", func(ctx context.Context) {
			// flock(1) takes the same flock apk takes on lib/apk/db/lock and
			// keeps it while sleep runs.
			// sleep inherits the lock, so the whole process group ends.
			holder := exec.Command("flock", "--nonblock", root.Path("lib/apk/db/lock"), "sleep", "30")
			holder.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			Expect(holder.Start()).To(Succeed())
			DeferCleanup(func() { _ = syscall.Kill(-holder.Process.Pid, syscall.SIGKILL); _ = holder.Wait() })
			Eventually(func() bool { _, _, held, _ := b.LockHolder(); return held }).Should(BeTrue())
			pid, command, held, err := b.LockHolder()
			Expect(err).NotTo(HaveOccurred())
			Expect(held).To(BeTrue())
			Expect(pid).To(Equal(holder.Process.Pid))
			Expect(command).To(Equal("flock"))

			step := built(b.InstallStep([]backends.PackageRef{{Name: "bar"}}))
			code, out := runStep(ctx, step)
			backendtest.RecordGolden("apk-"+version+".add.lock-held.out", out)
			Expect(code).NotTo(BeZero(), "%s", out)
			f := b.Classify(step, code, out)
			Expect(f.Reason).To(Equal(v1alpha1.FailureLockHeld), "%s", out)
			Expect(observe(ctx).Installed).NotTo(HaveKey("bar"))
		})

		It("classifies an unknown package and an unknown version as NotFound", func(ctx context.Context) {
			for name, ref := range map[string]backends.PackageRef{"unknown-package": {Name: "nosuch"}, "unknown-version": {Name: "bar", Version: "9.9-r0"}} {
				step := built(b.InstallStep([]backends.PackageRef{ref}))
				code, out := runStep(ctx, step)
				backendtest.RecordGolden("apk-"+version+".add."+name+".out", out)
				Expect(code).NotTo(BeZero(), "%s", out)
				Expect(b.Classify(step, code, out).Reason).To(Equal(v1alpha1.FailureNotFound), "%s: %s", name, out)
			}
			Expect(observe(ctx).Installed).NotTo(HaveKey("bar"))
		})

		It("classifies an unsatisfiable virtual dependency as a plain failure", func(ctx context.Context) {
			libx := testapk.Package{Name: "libx", Version: "1.0-r0", Files: map[string]string{"usr/lib/libx.so.1": "x\n"}, Provides: []string{"so:libx.so.1=1"}}
			needy := testapk.Package{Name: "needy", Version: "1.0-r0", Files: map[string]string{"usr/bin/needy": "n\n"}, Depends: []string{"so:libx.so.1>=2"}}
			Expect(root.Publish(ctx, libx, needy)).To(Succeed())
			step := built(b.InstallStep([]backends.PackageRef{{Name: "needy"}}))
			code, out := runStep(ctx, step)
			backendtest.RecordGolden("apk-"+version+".add.conflict.out", out)
			Expect(code).NotTo(BeZero(), "%s", out)
			Expect(b.Classify(step, code, out).Reason).To(Equal(v1alpha1.FailureFailed), "%s", out)
		})

		It("classifies a full filesystem as DiskFull", func(ctx context.Context) {
			if os.Geteuid() != 0 {
				Skip("mounting a small tmpfs needs root")
			}
			// A 64 KiB tmpfs at usr/share/big, mounted in a private mount
			// namespace (unshare -m) that ends with the step.
			Expect(os.MkdirAll(root.Path("usr/share/big"), 0o755)).To(Succeed())
			big := testapk.Package{Name: "big", Version: "1.0-r0", Files: map[string]string{"usr/share/big/blob": strings.Repeat("x", 256<<10)}}
			Expect(root.Publish(ctx, big)).To(Succeed())
			step := built(b.InstallStep([]backends.PackageRef{{Name: "big"}}))
			inner := step
			inner.Argv = append([]string{"unshare", "-m", "sh", "-c", `mount -t tmpfs -o size=64k tmpfs "$0" && exec "$@"`, root.Path("usr/share/big")}, step.Argv...)
			code, out := runStep(ctx, inner)
			backendtest.RecordGolden("apk-"+version+".add.disk-full.out", out)
			Expect(code).NotTo(BeZero(), "%s", out)
			Expect(b.Classify(step, code, out).Reason).To(Equal(v1alpha1.FailureDiskFull), "%s", out)
			Expect(observe(ctx).Installed).NotTo(HaveKey("big"))
		})

		It("reports a reboot for a newer installed kernel package than the running kernel", func(ctx context.Context) {
			// KernelRelease says 6.6.36-0-lts runs: linux-lts 6.6.36-r0.
			kernel := func(ver, release string) testapk.Package {
				return testapk.Package{Name: "linux-lts", Version: ver, Files: map[string]string{"lib/modules/" + release + "/modules.dep": release + "\n"}}
			}
			Expect(root.Publish(ctx, kernel("6.6.36-r0", "6.6.36-0-lts"), kernel("6.6.40-r0", "6.6.40-0-lts"))).To(Succeed())
			mustRun(ctx, built(b.InstallStep([]backends.PackageRef{{Name: "linux-lts", Version: "6.6.36-r0"}})))
			obs := observe(ctx)
			Expect(obs.Installed["linux-lts"].Version).To(Equal("6.6.36-r0"))
			Expect(obs.RebootRequired).To(BeFalse(), "the running kernel is the installed one")

			mustRun(ctx, built(b.UpgradeStep([]string{"linux-lts"})))
			obs = observe(ctx)
			Expect(obs.Installed["linux-lts"].Version).To(Equal("6.6.40-r0"))
			Expect(root.Path("lib/modules/6.6.40-0-lts/modules.dep")).To(BeAnExistingFile())
			Expect(obs.RebootRequired).To(BeTrue())
			Expect(obs.RebootPackages).To(Equal([]string{"linux-lts"}))
			mustRun(ctx, built(b.RemoveStep([]string{"linux-lts"})))
		})

		It("classifies a package file gone from the mirror as StaleIndex, and apk update mends it", func(ctx context.Context) {
			// A remote repository, so that apk works from the index apk
			// update cached rather than the repository's current one.
			// The mirror ignores If-Modified-Since: apk 2 asks with its
			// cached index's mtime, and the test rewrites the index within
			// the same second, which would get a 304.
			files := http.FileServer(http.Dir(root.Repo))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.Header.Del("If-Modified-Since")
				files.ServeHTTP(w, r)
			}))
			DeferCleanup(srv.Close)
			backendtest.GoldenNames[srv.URL] = "http://mirror.example"
			repos := root.Path("etc/apk/repositories")
			local, err := os.ReadFile(repos)
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(repos, []byte(srv.URL+"\n"), 0o644)).To(Succeed())
			DeferCleanup(func() { Expect(os.WriteFile(repos, local, 0o644)).To(Succeed()) })

			baz10 := testapk.Package{Name: "baz", Version: "1.0-r0", Files: map[string]string{"usr/share/baz/x": "1\n"}}
			baz11 := testapk.Package{Name: "baz", Version: "1.1-r0", Files: map[string]string{"usr/share/baz/x": "2\n"}}
			Expect(root.Publish(ctx, baz10)).To(Succeed())
			mustRun(ctx, b.RefreshStep())
			// The mirror replaces baz 1.0 by 1.1 after the root's refresh.
			Expect(os.Remove(filepath.Join(root.Repo, "x86_64", "baz-1.0-r0.apk"))).To(Succeed())
			Expect(root.Publish(ctx, baz11)).To(Succeed())

			step := built(b.InstallStep([]backends.PackageRef{{Name: "baz"}}))
			code, out := runStep(ctx, step)
			backendtest.RecordGolden("apk-"+version+".add.stale-index.out", out)
			Expect(code).NotTo(BeZero(), "%s", out)
			Expect(b.Classify(step, code, out).Reason).To(Equal(v1alpha1.FailureStaleIndex), "%s", out)
			Expect(observe(ctx).Installed).NotTo(HaveKey("baz"))

			mustRun(ctx, b.RefreshStep())
			mustRun(ctx, built(b.InstallStep([]backends.PackageRef{{Name: "baz"}})))
			Expect(observe(ctx).Installed["baz"].Version).To(Equal("1.1-r0"))
		})
	})
}
