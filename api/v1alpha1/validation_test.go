package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/patchlet/patchlet/api/v1alpha1"
)

// validPolicy is a small defaulted policy that validates; each test breaks one field.
func validPolicy() *v1.PatchPolicy {
	p := &v1.PatchPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.GroupVersion.String(), Kind: v1.KindPatchPolicy},
		ObjectMeta: metav1.ObjectMeta{Name: "web-security"},
		Spec: v1.PatchPolicySpec{
			HostSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"role": "web"}},
			Packages:     []v1.PackageSpec{{Name: "openssl", Version: "3.0.15-1~deb12u1"}},
			Updates:      &v1.UpdatesSpec{Apply: v1.UpdatesSecurity, Exclude: []string{"linux-image-*"}},
			MaintenanceWindow: &v1.TimeWindow{Days: []v1.Weekday{"Mon", "Tue"}, Start: "01:00",
				Duration: v1.NewDuration(3 * time.Hour), TimeZone: "Europe/Berlin"},
			Reboot: &v1.RebootSpec{Policy: v1.RebootIfRequired, Window: &v1.TimeWindow{Days: []v1.Weekday{"Sun"},
				Start: "02:00", Duration: v1.NewDuration(2 * time.Hour), TimeZone: "Europe/Berlin"}},
			Rollout: &v1.RolloutSpec{MaxConcurrent: ptr(intstr.FromString("10%")), MaxFailures: ptr(intstr.FromInt32(2))},
		},
	}
	p.SetDefaults()
	return p
}

func ptr[T any](v T) *T { return &v }

func execCheck(name string) *v1.HealthCheckSpec {
	return &v1.HealthCheckSpec{Exec: &v1.ExecCheck{Name: name}}
}

func httpCheck(url string) *v1.HealthCheckSpec {
	return &v1.HealthCheckSpec{HTTPGet: &v1.HTTPGetCheck{URL: url}}
}

// fieldsOf lists the field paths of errs.
func fieldsOf(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, e.Field)
	}
	return out
}

// expectRejectedAt asserts that errs is not empty and names only path.
func expectRejectedAt(errs field.ErrorList, path string) {
	GinkgoHelper()
	Expect(errs).NotTo(BeEmpty(), "expected an error at %s", path)
	Expect(fieldsOf(errs)).To(HaveEach(path), "errors: %v", errs)
	// The message stays short and on one line whatever the input was.
	msg := errs.ToAggregate().Error()
	Expect(len(msg)).To(BeNumerically("<", 1024))
	Expect(msg).NotTo(ContainSubstring("\n"))
}

// Hostile strings that must never reach a package manager's command line.
var hostileNames = []TableEntry{
	Entry("an apt option", "-oAPT::Update::Pre-Invoke::=touch /tmp/x"),
	Entry("a long option", "--allow-unauthenticated"),
	Entry("a lone dash", "-"),
	Entry("a trailing dash (apt: remove the package)", "openssl-"),
	Entry("a leading dot", ".hidden"),
	Entry("a relative path", "../etc"),
	Entry("dot dot", ".."),
	Entry("an absolute path", "/etc/passwd"),
	Entry("a slash (apt target release)", "openssl/bookworm-backports"),
	Entry("an equals sign (apt version syntax)", "openssl=3.0.0"),
	Entry("a command separator", "foo;rm -rf /"),
	Entry("command substitution", "$(id)"),
	Entry("backticks", "`id`"),
	Entry("a pipe", "foo|sh"),
	Entry("an ampersand", "foo&"),
	Entry("redirections", "foo>/etc/passwd"),
	Entry("an input redirection", "foo</etc/shadow"),
	Entry("single quotes", "'foo'"),
	Entry("double quotes", `"foo"`),
	Entry("a backslash", `foo\bar`),
	Entry("braces", "{a,b}"),
	Entry("a star glob", "lib*"),
	Entry("a question mark glob", "lib?"),
	Entry("a bracket glob", "lib[ab]"),
	Entry("a bang", "!foo"),
	Entry("a hash", "#foo"),
	Entry("a tilde", "~root"),
	Entry("a colon (architecture qualifier)", "libc6:amd64"),
	Entry("a space", "open ssl"),
	Entry("a leading space", " openssl"),
	Entry("a trailing space", "openssl "),
	Entry("a tab", "open\tssl"),
	Entry("a newline", "openssl\n--allow-downgrades"),
	Entry("a trailing newline", "openssl\n"),
	Entry("a carriage return", "openssl\r"),
	Entry("a NUL byte", "openssl\x00"),
	Entry("an escape sequence", "openssl\x1b[2J"),
	Entry("Cyrillic look-alikes", "ореnssl"),
	Entry("fullwidth letters", "ｏｐｅｎｓｓｌ"),
	Entry("a zero-width space", "open\u200bssl"),
	Entry("a soft hyphen", "open\u00adssl"),
	Entry("a right-to-left override", "openssl\u202e"),
	Entry("invalid UTF-8", "open\xffssl"),
	Entry("10 KiB", strings.Repeat("a", 10<<10)),
	Entry("one past the limit", strings.Repeat("a", v1.MaxPackageNameLength+1)),
	Entry("empty", ""),
}

var hostileVersions = []TableEntry{
	Entry("an option", "--force-yes"),
	Entry("a leading dash", "-1.0"),
	Entry("a leading dot", ".1"),
	Entry("a leading tilde", "~1.0"),
	Entry("a leading colon", ":1.0"),
	Entry("a command separator", "1.0;id"),
	Entry("command substitution", "$(id)"),
	Entry("backticks", "1.0`id`"),
	Entry("a pipe", "1.0|sh"),
	Entry("a slash", "1.0/../../etc"),
	Entry("a star", "1.*"),
	Entry("a space", "1.0 -y"),
	Entry("a trailing newline", "1.0\n"),
	Entry("a tab", "1.0\t"),
	Entry("a NUL byte", "1.0\x00"),
	Entry("single quotes", "1.0'"),
	Entry("fullwidth digits", "１.０"),
	Entry("Cyrillic look-alikes", "1.0-о1"),
	Entry("10 KiB", strings.Repeat("1", 10<<10)),
	Entry("one past the limit", strings.Repeat("1", v1.MaxVersionLength+1)),
}

var _ = Describe("PatchPolicy validation", func() {
	It("accepts the policy every rejection test starts from", func() {
		Expect(validPolicy().Validate()).To(BeEmpty())
	})

	It("accepts every sample policy shipped in config/samples", func() {
		files, err := filepath.Glob("../../config/samples/*patchpolicy*.yaml")
		Expect(err).NotTo(HaveOccurred())
		if len(files) == 0 {
			Skip("no samples in config/samples")
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			Expect(err).NotTo(HaveOccurred())
			docs, err := v1.SplitDocuments(b)
			Expect(err).NotTo(HaveOccurred())
			for _, d := range docs {
				obj, err := v1.Decode(d)
				Expect(err).NotTo(HaveOccurred(), f)
				p, ok := obj.(*v1.PatchPolicy)
				Expect(ok).To(BeTrue(), f)
				p.SetDefaults()
				Expect(p.Validate()).To(BeEmpty(), f)
			}
		}
	})

	DescribeTable("rejects a hostile package name at spec.packages[i].name",
		func(name string) {
			p := validPolicy()
			p.Spec.Packages = append(p.Spec.Packages, v1.PackageSpec{Name: name, State: v1.PackagePresent})
			expectRejectedAt(p.Validate(), "spec.packages[1].name")
			Expect(v1.IsPackageName("", name)).To(BeFalse())
			for _, fam := range []string{v1.FamilyDebian, v1.FamilyRPM, v1.FamilyPacman, v1.FamilyAPK} {
				Expect(v1.IsPackageName(fam, name)).To(BeFalse(), fam)
			}
		},
		hostileNames,
	)

	DescribeTable("rejects a hostile version at spec.packages[i].version",
		func(version string) {
			p := validPolicy()
			p.Spec.Packages[0].Version = version
			expectRejectedAt(p.Validate(), "spec.packages[0].version")
			Expect(v1.IsPackageVersion("", version)).To(BeFalse())
			for _, fam := range []string{v1.FamilyDebian, v1.FamilyRPM, v1.FamilyPacman, v1.FamilyAPK} {
				Expect(v1.IsPackageVersion(fam, version)).To(BeFalse(), fam)
			}
		},
		hostileVersions,
	)

	DescribeTable("accepts real package names",
		func(name string, families ...string) {
			p := validPolicy()
			p.Spec.Packages = []v1.PackageSpec{{Name: name, State: v1.PackagePresent}}
			Expect(p.Validate()).To(BeEmpty())
			Expect(v1.IsPackageName("", name)).To(BeTrue())
			for _, fam := range families {
				Expect(v1.IsPackageName(fam, name)).To(BeTrue(), fam)
			}
		},
		Entry("Debian libstdc++6", "libstdc++6", v1.FamilyDebian, v1.FamilyRPM, v1.FamilyPacman, v1.FamilyAPK),
		Entry("Debian g++-12", "g++-12", v1.FamilyDebian, v1.FamilyRPM, v1.FamilyPacman, v1.FamilyAPK),
		Entry("Debian g++", "g++", v1.FamilyDebian),
		Entry("Debian kernel image", "linux-image-6.1.0-27-amd64", v1.FamilyDebian),
		Entry("Debian 0ad", "0ad", v1.FamilyDebian),
		Entry("RPM NetworkManager", "NetworkManager", v1.FamilyRPM),
		Entry("RPM perl-Net-SSLeay", "perl-Net-SSLeay", v1.FamilyRPM),
		Entry("RPM python3.11", "python3.11", v1.FamilyDebian, v1.FamilyRPM, v1.FamilyPacman, v1.FamilyAPK),
		Entry("RPM glibc-langpack-en", "glibc-langpack-en", v1.FamilyRPM),
		Entry("RPM with an underscore", "xorg-x11-drv-libinput_compat", v1.FamilyRPM),
		Entry("pacman lib32-glibc", "lib32-glibc", v1.FamilyPacman),
		Entry("apk py3-pip", "py3-pip", v1.FamilyAPK),
		Entry("a single letter (RPM R)", "R", v1.FamilyRPM),
		Entry("exactly the length limit", strings.Repeat("a", v1.MaxPackageNameLength)),
	)

	DescribeTable("knows the differences between families",
		func(family, name string, ok bool) {
			Expect(v1.IsPackageName(family, name)).To(Equal(ok))
		},
		Entry("Debian names are lowercase", v1.FamilyDebian, "NetworkManager", false),
		Entry("Debian names have at least two characters", v1.FamilyDebian, "R", false),
		Entry("Debian names have no underscore", v1.FamilyDebian, "foo_bar", false),
		Entry("pacman names are lowercase", v1.FamilyPacman, "NetworkManager", false),
		Entry("pacman names may contain @", v1.FamilyPacman, "foo@bar", true),
		Entry("pacman names do not start with a dot", v1.FamilyPacman, ".foo", false),
		Entry("apk names are lowercase", v1.FamilyAPK, "Foo", false),
		Entry("RPM names may be uppercase", v1.FamilyRPM, "NetworkManager", true),
	)

	DescribeTable("accepts real versions",
		func(version string, families ...string) {
			p := validPolicy()
			p.Spec.Packages[0].Version = version
			Expect(p.Validate()).To(BeEmpty())
			for _, fam := range families {
				Expect(v1.IsPackageVersion(fam, version)).To(BeTrue(), fam)
			}
		},
		Entry("Debian epoch and tilde", "1:2.3-4~deb12u1", v1.FamilyDebian, v1.FamilyRPM),
		Entry("Debian security update", "3.0.15-1~deb12u1", v1.FamilyDebian, v1.FamilyRPM),
		Entry("Debian plus", "2:8.2.2434-3+deb11u1", v1.FamilyDebian, v1.FamilyRPM),
		Entry("Debian Ubuntu", "2.35-0ubuntu3.8", v1.FamilyDebian, v1.FamilyRPM),
		Entry("RHEL release", "2.34-100.el9_4.2", v1.FamilyRPM),
		Entry("RHEL letter version", "1.0.2k-26.el7_9", v1.FamilyRPM),
		Entry("RPM caret snapshot", "0.9.8-1^20230101git", v1.FamilyRPM),
		Entry("Alpine", "1.2.3-r0", v1.FamilyAPK, v1.FamilyDebian),
		Entry("pacman epoch", "1:1.2.3-1", v1.FamilyPacman),
		Entry("exactly the length limit", strings.Repeat("1", v1.MaxVersionLength), v1.FamilyDebian),
	)

	It("knows that a Debian version starts with a digit", func() {
		Expect(v1.IsPackageVersion(v1.FamilyDebian, "a1.0")).To(BeFalse())
		Expect(v1.IsPackageVersion(v1.FamilyDebian, "2.34-100.el9_4.2")).To(BeFalse(), "no underscore in Debian versions")
	})

	DescribeTable("rejects a bad field at exactly its path",
		func(mutate func(p *v1.PatchPolicy), path string) {
			p := validPolicy()
			mutate(p)
			expectRejectedAt(p.Validate(), path)
		},
		// packages
		Entry("a duplicate package", func(p *v1.PatchPolicy) {
			p.Spec.Packages = []v1.PackageSpec{{Name: "openssl"}, {Name: "curl"}, {Name: "openssl", State: v1.PackageHeld}}
		}, "spec.packages[2].name"),
		Entry("a pin with Latest", func(p *v1.PatchPolicy) { p.Spec.Packages[0].State = v1.PackageLatest }, "spec.packages[0].version"),
		Entry("a pin with Absent", func(p *v1.PatchPolicy) { p.Spec.Packages[0].State = v1.PackageAbsent }, "spec.packages[0].version"),
		Entry("an unknown state", func(p *v1.PatchPolicy) { p.Spec.Packages[0].State = "Installed" }, "spec.packages[0].state"),
		Entry("a lowercase state", func(p *v1.PatchPolicy) { p.Spec.Packages[0].State = "present" }, "spec.packages[0].state"),
		Entry("too many packages", func(p *v1.PatchPolicy) {
			p.Spec.Packages = nil
			for i := range v1.MaxPackages + 1 {
				p.Spec.Packages = append(p.Spec.Packages, v1.PackageSpec{Name: fmt.Sprintf("pkg%d", i), State: v1.PackagePresent})
			}
		}, "spec.packages"),
		// updates
		Entry("an unknown update class", func(p *v1.PatchPolicy) { p.Spec.Updates.Apply = "Everything" }, "spec.updates.apply"),
		Entry("an exclude glob that is an option", func(p *v1.PatchPolicy) { p.Spec.Updates.Exclude = []string{"*", "-oFoo=bar"} }, "spec.updates.exclude[1]"),
		Entry("an exclude glob with a leading dot", func(p *v1.PatchPolicy) { p.Spec.Updates.Exclude = []string{".*"} }, "spec.updates.exclude[0]"),
		Entry("an exclude glob with a path", func(p *v1.PatchPolicy) { p.Spec.Updates.Exclude = []string{"../*"} }, "spec.updates.exclude[0]"),
		Entry("an exclude glob with a command", func(p *v1.PatchPolicy) { p.Spec.Updates.Exclude = []string{"linux-*;reboot"} }, "spec.updates.exclude[0]"),
		Entry("an exclude glob with substitution", func(p *v1.PatchPolicy) { p.Spec.Updates.Exclude = []string{"$(id)*"} }, "spec.updates.exclude[0]"),
		Entry("an exclude glob with a space", func(p *v1.PatchPolicy) { p.Spec.Updates.Exclude = []string{"linux-* "} }, "spec.updates.exclude[0]"),
		Entry("an exclude glob with a newline", func(p *v1.PatchPolicy) { p.Spec.Updates.Exclude = []string{"linux-*\n"} }, "spec.updates.exclude[0]"),
		Entry("an exclude glob with look-alikes", func(p *v1.PatchPolicy) { p.Spec.Updates.Exclude = []string{"ｌinux-*"} }, "spec.updates.exclude[0]"),
		Entry("an empty exclude glob", func(p *v1.PatchPolicy) { p.Spec.Updates.Exclude = []string{""} }, "spec.updates.exclude[0]"),
		Entry("a 10 KiB exclude glob", func(p *v1.PatchPolicy) { p.Spec.Updates.Exclude = []string{strings.Repeat("*", 10<<10)} }, "spec.updates.exclude[0]"),
		Entry("a malformed exclude glob", func(p *v1.PatchPolicy) { p.Spec.Updates.Exclude = []string{"linux-image-[0-9"} }, "spec.updates.exclude[0]"),
		Entry("too many exclude globs", func(p *v1.PatchPolicy) {
			p.Spec.Updates.Exclude = make([]string, v1.MaxExcludes+1)
			for i := range p.Spec.Updates.Exclude {
				p.Spec.Updates.Exclude[i] = fmt.Sprintf("pkg%d*", i)
			}
		}, "spec.updates.exclude"),
		// cache, mode, reboot
		Entry("a negative cache maxAge", func(p *v1.PatchPolicy) { p.Spec.Cache.MaxAge = v1.DurationPtr(-time.Hour) }, "spec.cache.maxAge"),
		Entry("a cache maxAge that is not a duration", func(p *v1.PatchPolicy) { *p.Spec.Cache.MaxAge = "4 hours" }, "spec.cache.maxAge"),
		Entry("a window duration that is not a duration", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.Duration = "two hours" }, "spec.reboot.window.duration"),
		Entry("an unknown mode", func(p *v1.PatchPolicy) { p.Spec.Mode = "DryRun" }, "spec.mode"),
		Entry("an unknown reboot policy", func(p *v1.PatchPolicy) { p.Spec.Reboot.Policy = "Always" }, "spec.reboot.policy"),
		// windows
		Entry("a reboot window starting at 24:00", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.Start = "24:00" }, "spec.reboot.window.start"),
		Entry("a reboot window starting at 1:00", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.Start = "1:00" }, "spec.reboot.window.start"),
		Entry("a reboot window starting at 01:60", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.Start = "01:60" }, "spec.reboot.window.start"),
		Entry("a reboot window start with a newline", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.Start = "01:00\n" }, "spec.reboot.window.start"),
		Entry("a reboot window without a start", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.Start = "" }, "spec.reboot.window.start"),
		Entry("a zero reboot window", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.Duration = v1.NewDuration(0) }, "spec.reboot.window.duration"),
		Entry("a negative reboot window", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.Duration = v1.NewDuration(-time.Hour) }, "spec.reboot.window.duration"),
		Entry("a reboot window longer than a week", func(p *v1.PatchPolicy) {
			p.Spec.Reboot.Window.Duration = v1.NewDuration(v1.MaxWindowDuration + time.Minute)
		}, "spec.reboot.window.duration"),
		Entry("a long day name", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.Days = []v1.Weekday{"Sunday"} }, "spec.reboot.window.days[0]"),
		Entry("a lowercase day name", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.Days = []v1.Weekday{"Sun", "mon"} }, "spec.reboot.window.days[1]"),
		Entry("a duplicate day", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.Days = []v1.Weekday{"Sun", "Mon", "Sun"} }, "spec.reboot.window.days[2]"),
		Entry("an unknown time zone", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.TimeZone = "Mars/Olympus_Mons" }, "spec.reboot.window.timeZone"),
		Entry("a time zone that is a path", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.TimeZone = "/etc/localtime" }, "spec.reboot.window.timeZone"),
		Entry("a time zone that climbs", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.TimeZone = "../../../etc/passwd" }, "spec.reboot.window.timeZone"),
		Entry("a time zone that climbs inside", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.TimeZone = "Europe/../../etc/passwd" }, "spec.reboot.window.timeZone"),
		Entry("a time zone with a space", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.TimeZone = "Europe/Berlin " }, "spec.reboot.window.timeZone"),
		Entry("the agent's local time zone", func(p *v1.PatchPolicy) { p.Spec.Reboot.Window.TimeZone = "Local" }, "spec.reboot.window.timeZone"),
		Entry("a maintenance window starting at 25:00", func(p *v1.PatchPolicy) { p.Spec.MaintenanceWindow.Start = "25:00" }, "spec.maintenanceWindow.start"),
		Entry("a zero maintenance window", func(p *v1.PatchPolicy) { p.Spec.MaintenanceWindow.Duration = v1.NewDuration(0) }, "spec.maintenanceWindow.duration"),
		Entry("a maintenance window on Funday", func(p *v1.PatchPolicy) { p.Spec.MaintenanceWindow.Days = []v1.Weekday{"Mon", "Fun"} }, "spec.maintenanceWindow.days[1]"),
		Entry("a maintenance window in no time zone", func(p *v1.PatchPolicy) { p.Spec.MaintenanceWindow.TimeZone = "CEST" }, "spec.maintenanceWindow.timeZone"),
		// rollout
		Entry("maxConcurrent 0", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromInt32(0)) }, "spec.rollout.maxConcurrent"),
		Entry("maxConcurrent -1", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromInt32(-1)) }, "spec.rollout.maxConcurrent"),
		Entry("maxConcurrent 0%", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromString("0%")) }, "spec.rollout.maxConcurrent"),
		Entry("maxConcurrent 101%", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromString("101%")) }, "spec.rollout.maxConcurrent"),
		Entry("maxConcurrent as a string without %", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromString("10")) }, "spec.rollout.maxConcurrent"),
		Entry("maxConcurrent 10 %", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromString("10 %")) }, "spec.rollout.maxConcurrent"),
		Entry("maxConcurrent +10%", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromString("+10%")) }, "spec.rollout.maxConcurrent"),
		Entry("maxConcurrent 010%", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromString("010%")) }, "spec.rollout.maxConcurrent"),
		Entry("maxConcurrent 1.5%", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromString("1.5%")) }, "spec.rollout.maxConcurrent"),
		Entry("maxConcurrent 10%;id", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromString("10%;id")) }, "spec.rollout.maxConcurrent"),
		Entry("maxFailures -1", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxFailures = ptr(intstr.FromInt32(-1)) }, "spec.rollout.maxFailures"),
		Entry("maxFailures -1%", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxFailures = ptr(intstr.FromString("-1%")) }, "spec.rollout.maxFailures"),
		Entry("maxFailures 200%", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxFailures = ptr(intstr.FromString("200%")) }, "spec.rollout.maxFailures"),
		// metadata and selector
		Entry("no name", func(p *v1.PatchPolicy) { p.Name = "" }, "metadata.name"),
		Entry("an uppercase name", func(p *v1.PatchPolicy) { p.Name = "Web" }, "metadata.name"),
		Entry("a name that is a path", func(p *v1.PatchPolicy) { p.Name = "../web" }, "metadata.name"),
		Entry("a name with a slash", func(p *v1.PatchPolicy) { p.Name = "a/b" }, "metadata.name"),
		Entry("a 300-character name", func(p *v1.PatchPolicy) { p.Name = strings.Repeat("a", 300) }, "metadata.name"),
		Entry("a namespace", func(p *v1.PatchPolicy) { p.Namespace = "default" }, "metadata.namespace"),
		Entry("a bad label", func(p *v1.PatchPolicy) { p.Labels = map[string]string{"role": "web server"} }, "metadata.labels"),
		Entry("a bad selector value", func(p *v1.PatchPolicy) {
			p.Spec.HostSelector.MatchLabels = map[string]string{"role": "$(id)"}
		}, "spec.hostSelector.matchLabels"),
		// health check
		Entry("a health check with neither httpGet nor exec", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = &v1.HealthCheckSpec{} }, "spec.healthCheck"),
		Entry("a health check with both", func(p *v1.PatchPolicy) {
			p.Spec.HealthCheck = &v1.HealthCheckSpec{HTTPGet: &v1.HTTPGetCheck{URL: "http://127.0.0.1/"}, Exec: &v1.ExecCheck{Name: "web"}}
		}, "spec.healthCheck"),
		Entry("an exec check that is a command line", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = execCheck("curl -f localhost") }, "spec.healthCheck.exec.name"),
		Entry("an exec check that is a path", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = execCheck("/bin/sh") }, "spec.healthCheck.exec.name"),
		Entry("an exec check that leaves the directory", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = execCheck("../../bin/sh") }, "spec.healthCheck.exec.name"),
		Entry("an exec check named ..", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = execCheck("..") }, "spec.healthCheck.exec.name"),
		Entry("an exec check that is an option", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = execCheck("-rf") }, "spec.healthCheck.exec.name"),
		Entry("an exec check with command substitution", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = execCheck("$(id)") }, "spec.healthCheck.exec.name"),
		Entry("an exec check with a semicolon", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = execCheck("web;id") }, "spec.healthCheck.exec.name"),
		Entry("an empty exec check name", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = execCheck("") }, "spec.healthCheck.exec.name"),
		Entry("a 300-character exec check name", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = execCheck(strings.Repeat("a", 300)) }, "spec.healthCheck.exec.name"),
		Entry("a file URL", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = httpCheck("file:///etc/shadow") }, "spec.healthCheck.httpGet.url"),
		Entry("a URL without a host", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = httpCheck("http:///healthz") }, "spec.healthCheck.httpGet.url"),
		Entry("a URL with a space", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = httpCheck("http://localhost/ health") }, "spec.healthCheck.httpGet.url"),
		Entry("a URL with credentials", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = httpCheck("http://admin:secret@localhost/") }, "spec.healthCheck.httpGet.url"),
		Entry("a relative URL", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = httpCheck("/healthz") }, "spec.healthCheck.httpGet.url"),
		Entry("an empty URL", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = httpCheck("") }, "spec.healthCheck.httpGet.url"),
		Entry("a 3000-character URL", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = httpCheck("http://h/" + strings.Repeat("a", 3000)) }, "spec.healthCheck.httpGet.url"),
		Entry("a timeout of 0s", func(p *v1.PatchPolicy) {
			p.Spec.HealthCheck = execCheck("web")
			p.Spec.HealthCheck.Timeout = v1.DurationPtr(0)
		}, "spec.healthCheck.timeout"),
		Entry("a timeout of 1h", func(p *v1.PatchPolicy) {
			p.Spec.HealthCheck = execCheck("web")
			p.Spec.HealthCheck.Timeout = v1.DurationPtr(time.Hour)
		}, "spec.healthCheck.timeout"),
		Entry("a timeout that is not a duration", func(p *v1.PatchPolicy) {
			p.Spec.HealthCheck = execCheck("web")
			d := v1.Duration("ten seconds")
			p.Spec.HealthCheck.Timeout = &d
		}, "spec.healthCheck.timeout"),
		Entry("a negative interval", func(p *v1.PatchPolicy) {
			p.Spec.HealthCheck = execCheck("web")
			p.Spec.HealthCheck.Interval = v1.DurationPtr(-time.Second)
		}, "spec.healthCheck.interval"),
		Entry("a failure threshold of 101", func(p *v1.PatchPolicy) {
			p.Spec.HealthCheck = execCheck("web")
			p.Spec.HealthCheck.FailureThreshold = 101
		}, "spec.healthCheck.failureThreshold"),
		Entry("a negative failure threshold", func(p *v1.PatchPolicy) {
			p.Spec.HealthCheck = execCheck("web")
			p.Spec.HealthCheck.FailureThreshold = -1
		}, "spec.healthCheck.failureThreshold"),
	)

	DescribeTable("accepts good edge values",
		func(mutate func(p *v1.PatchPolicy)) {
			p := validPolicy()
			mutate(p)
			Expect(p.Validate()).To(BeEmpty())
		},
		Entry("maxConcurrent 1", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromInt32(1)) }),
		Entry("an exec check", func(p *v1.PatchPolicy) { p.Spec.HealthCheck = execCheck("nginx_ok-2.sh") }),
		Entry("an https check with a port and query", func(p *v1.PatchPolicy) {
			p.Spec.HealthCheck = httpCheck("https://[::1]:8443/healthz?verbose=1")
			p.Spec.HealthCheck.Timeout = v1.DurationPtr(v1.MaxHealthTimeout)
			p.Spec.HealthCheck.FailureThreshold = 100
		}),
		Entry("maxConcurrent 100%", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxConcurrent = ptr(intstr.FromString("100%")) }),
		Entry("maxFailures 0", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxFailures = ptr(intstr.FromInt32(0)) }),
		Entry("maxFailures 0%", func(p *v1.PatchPolicy) { p.Spec.Rollout.MaxFailures = ptr(intstr.FromString("0%")) }),
		Entry("a window at 23:59 over midnight", func(p *v1.PatchPolicy) {
			p.Spec.Reboot.Window.Start = "23:59"
			p.Spec.Reboot.Window.Duration = v1.NewDuration(6 * time.Hour)
		}),
		Entry("a window of exactly a week", func(p *v1.PatchPolicy) { p.Spec.MaintenanceWindow.Duration = v1.NewDuration(v1.MaxWindowDuration) }),
		Entry("a window on every day", func(p *v1.PatchPolicy) { p.Spec.MaintenanceWindow.Days = nil }),
		Entry("time zone UTC", func(p *v1.PatchPolicy) { p.Spec.MaintenanceWindow.TimeZone = "UTC" }),
		Entry("time zone America/Argentina/Buenos_Aires", func(p *v1.PatchPolicy) {
			p.Spec.MaintenanceWindow.TimeZone = "America/Argentina/Buenos_Aires"
		}),
		Entry("time zone Etc/GMT+5", func(p *v1.PatchPolicy) { p.Spec.MaintenanceWindow.TimeZone = "Etc/GMT+5" }),
		Entry("cache maxAge 0 (always refresh)", func(p *v1.PatchPolicy) { p.Spec.Cache.MaxAge = v1.DurationPtr(0) }),
		Entry("Held with a version", func(p *v1.PatchPolicy) { p.Spec.Packages[0].State = v1.PackageHeld }),
		Entry("Latest and Absent without a version", func(p *v1.PatchPolicy) {
			p.Spec.Packages = []v1.PackageSpec{{Name: "curl", State: v1.PackageLatest}, {Name: "telnet", State: v1.PackageAbsent}}
		}),
		Entry("exclude globs of every shape", func(p *v1.PatchPolicy) {
			p.Spec.Updates.Exclude = []string{"linux-image-*", "kernel*", "python3.1?", "lib[xy]z", "*", "g++-1[0-9]"}
		}),
		Entry("Audit mode", func(p *v1.PatchPolicy) { p.Spec.Mode = v1.ModeAudit }),
		Entry("an empty spec", func(p *v1.PatchPolicy) {
			p.Spec = v1.PatchPolicySpec{}
			p.SetDefaults()
		}),
	)

	It("reports every bad field of a policy at once", func() {
		p := validPolicy()
		p.Spec.Packages[0].Name = "-x"
		p.Spec.Packages[0].Version = "$(id)"
		p.Spec.Mode = "Yolo"
		p.Spec.Reboot.Window.Start = "noon"
		Expect(fieldsOf(p.Validate())).To(ConsistOf(
			"spec.packages[0].name", "spec.packages[0].version", "spec.mode", "spec.reboot.window.start"))
	})
})

var _ = Describe("Host and Operation validation", func() {
	It("accepts a host with a DNS name and rejects a bad one at metadata.name", func() {
		h := &v1.Host{ObjectMeta: metav1.ObjectMeta{Name: "web-1.example.com"}}
		Expect(h.Validate()).To(BeEmpty())
		h.Name = "web_1"
		expectRejectedAt(h.Validate(), "metadata.name")
	})

	It("requires an operation to run a command", func() {
		o := &v1.Operation{ObjectMeta: metav1.ObjectMeta{Name: "op-7f3a"}}
		expectRejectedAt(o.Validate(), "spec.argv")
		o.Spec.Argv = []string{"/usr/bin/apt-get", "-y", "upgrade"}
		Expect(o.Validate()).To(BeEmpty())
	})
})
