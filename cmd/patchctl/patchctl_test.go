package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

const webPolicy = `apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata:
  name: web
  labels: {role: web}
spec:
  updates: {apply: Security}
  packages:
  - {name: openssl}
`

const dbPolicy = `apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata:
  name: db
spec:
  mode: Audit
`

func writeFile(dir, name, content string) string {
	p := filepath.Join(dir, name)
	Expect(os.WriteFile(p, []byte(content), 0o600)).To(Succeed())
	return p
}

func getPolicy(st *store.Store, name string) *v1alpha1.PatchPolicy {
	obj, err := st.Get(store.PatchPolicies, name)
	Expect(err).NotTo(HaveOccurred())
	return obj.(*v1alpha1.PatchPolicy)
}

// setPolicyStatus changes a policy's status as the agent would.
func setPolicyStatus(st *store.Store, name string, mutate func(p *v1alpha1.PatchPolicy)) {
	p := getPolicy(st, name)
	mutate(p)
	p.ResourceVersion = ""
	_, err := st.UpdateStatus(store.PatchPolicies, p)
	Expect(err).NotTo(HaveOccurred())
}

func readyCondition(status metav1.ConditionStatus, gen int64, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: v1alpha1.ConditionReady, Status: status, ObservedGeneration: gen,
		Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(time.Now().Add(-3 * time.Minute))}
}

func createHost(st *store.Store) {
	_, err := st.Create(store.Hosts, &v1alpha1.Host{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{"role": "web"}},
		Status: v1alpha1.HostStatus{
			OS:       v1alpha1.OSInfo{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)", Kernel: "6.1.0-26-amd64"},
			Backend:  &v1alpha1.BackendInfo{Name: "apt", Reason: "ID=debian in /etc/os-release"},
			Cache:    v1alpha1.CacheStatus{State: v1alpha1.CacheFresh, LastRefresh: &metav1.Time{Time: time.Now().Add(-10 * time.Minute)}},
			Packages: v1alpha1.PackageCounts{Installed: 856, Upgradable: 11, Security: 3},
			Upgradable: []v1alpha1.UpgradablePackage{
				{Name: "openssl", From: "3.0.14-1~deb12u1", To: "3.0.15-1~deb12u1", Security: true},
				{Name: "curl", From: "7.88.1-10", To: "7.88.1-10+deb12u8"},
			},
			RebootRequired: v1alpha1.RebootStatus{Required: true, Packages: []string{"linux-image-6.1.0-27-amd64"}},
			Policies:       []v1alpha1.HostPolicyStatus{{Name: "web", State: "WaitingForWindow", Pending: 3}},
		},
	})
	Expect(err).NotTo(HaveOccurred())
}

func createOperation(st *store.Store, name string, phase v1alpha1.OperationPhase, exit *int32) {
	_, err := st.Create(store.Operations, &v1alpha1.Operation{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1alpha1.LabelPolicy: "web"}},
		Spec: v1alpha1.OperationSpec{Policy: "web", Host: "web-1", Step: v1alpha1.StepUpgrade, Backend: "apt",
			Argv: []string{"apt-get", "-y", "install", "openssl=3.0.15-1~deb12u1"}, Packages: []string{"openssl"}},
		Status: v1alpha1.OperationStatus{Phase: phase, ExitCode: exit, Attempts: 1,
			OutputTail: "Setting up openssl (3.0.15-1~deb12u1) ...\nProcessing triggers for man-db"},
	})
	Expect(err).NotTo(HaveOccurred())
}

// fields splits a table line into its columns.
func columns(line string) []string {
	return regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(line), -1)
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

var _ = Describe("patchctl", func() {
	var a *agent
	var dir string

	BeforeEach(func() {
		a, _ = startAgent()
		dir = GinkgoT().TempDir()
	})

	Describe("apply", func() {
		It("creates, then leaves unchanged, then configures a policy", func() {
			f := writeFile(dir, "web.yaml", webPolicy)
			r := a.run("apply", "-f", f)
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("patchpolicy/web created\n"))
			Expect(getPolicy(a.store, "web").Spec.Updates.Apply).To(Equal(v1alpha1.UpdatesSecurity))

			r = a.run("apply", "-f", f)
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("patchpolicy/web unchanged\n"))
			Expect(getPolicy(a.store, "web").Generation).To(Equal(int64(1)))

			writeFile(dir, "web.yaml", strings.Replace(webPolicy, "apply: Security", "apply: All", 1))
			r = a.run("apply", "-f", f)
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("patchpolicy/web configured\n"))
			p := getPolicy(a.store, "web")
			Expect(p.Spec.Updates.Apply).To(Equal(v1alpha1.UpdatesAll))
			Expect(p.Generation).To(Equal(int64(2)))
		})

		It("applies every document of a multi-document stream from standard input, keeping the status", func() {
			Expect(a.run("apply", "-f", writeFile(dir, "web.yaml", webPolicy)).code).To(Equal(0))
			setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) { p.Status.Pending = 7 })

			r := a.runIn(strings.Replace(webPolicy, "openssl", "curl", 1)+"---\n"+dbPolicy, "apply", "-f", "-")
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("patchpolicy/web configured\npatchpolicy/db created\n"))
			p := getPolicy(a.store, "web")
			Expect(p.Spec.Packages[0].Name).To(Equal("curl"))
			Expect(p.Status.Pending).To(Equal(int32(7)), "apply must not wipe the agent's status")
			Expect(getPolicy(a.store, "db").Spec.Mode).To(Equal(v1alpha1.ModeAudit))
		})

		It("applies the manifests of a directory in name order", func() {
			writeFile(dir, "b-web.yaml", webPolicy)
			writeFile(dir, "a-db.json", `{"apiVersion":"patchlet.io/v1alpha1","kind":"PatchPolicy","metadata":{"name":"db"},"spec":{}}`)
			writeFile(dir, "README.md", "not a manifest")
			r := a.run("apply", "-f", dir)
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("patchpolicy/db created\npatchpolicy/web created\n"))
		})

		It("applies the output of get -o yaml again, item by item", func() {
			Expect(a.runIn(webPolicy+"---\n"+dbPolicy, "apply", "-f", "-").code).To(Equal(0))
			setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) { p.Status.Pending = 2 })
			backup := a.run("get", "pp", "-o", "yaml")
			Expect(backup.code).To(Equal(0), backup.stderr)
			f := writeFile(dir, "backup.yaml", backup.stdout)

			r := a.run("apply", "-f", f)
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("patchpolicy/db unchanged\npatchpolicy/web unchanged\n"))

			Expect(a.run("delete", "pp", "web", "db").code).To(Equal(0))
			r = a.run("apply", "-f", f)
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("patchpolicy/db created\npatchpolicy/web created\n"))
			Expect(getPolicy(a.store, "web").Status.Pending).To(BeZero(), "status is the agent's, not the file's")

			writeFile(dir, "bad.yaml", strings.Replace(backup.stdout, "  spec:\n", "  spec:\n    colour: red\n", 1))
			r = a.run("apply", "-f", filepath.Join(dir, "bad.yaml"))
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(ContainSubstring("bad.yaml: document 1, item 1: spec.colour: Forbidden: unknown field"))
		})

		It("names the file, document and field of a bad document and sends nothing", func() {
			f := writeFile(dir, "bad.yaml", dbPolicy+"---\n"+strings.Replace(webPolicy, "packages:", "pakages:", 1))
			r := a.run("apply", "-f", f)
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(ContainSubstring(f + ": document 2: spec.pakages: Forbidden: unknown field"))
			Expect(r.stdout).To(BeEmpty())
			_, err := a.store.Get(store.PatchPolicies, "db")
			Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the good document must not have been sent either")
		})

		It("validates before sending: a bad value is named with its field", func() {
			f := writeFile(dir, "bad.yaml", strings.Replace(webPolicy, "{name: openssl}", "{name: openssl, state: Sometimes}", 1))
			r := a.run("apply", "-f", f)
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(ContainSubstring("document 1 (patchpolicy/web): spec.packages[0].state: Unsupported value: \"Sometimes\""))
			_, err := a.store.Get(store.PatchPolicies, "web")
			Expect(apierrors.IsNotFound(err)).To(BeTrue())
		})

		It("prints the agent's validation causes one per line", func() {
			bad := strings.Replace(webPolicy, "{name: openssl}", "{name: openssl, state: Sometimes}\n  - {name: -rf}", 1)
			r := a.run("apply", "--validate=false", "-f", writeFile(dir, "bad.yaml", bad))
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(MatchRegexp(`(?m)^error: .*PatchPolicy.patchlet.io "web" is invalid:$`))
			Expect(r.stderr).To(MatchRegexp(`(?m)^  spec\.packages\[0\]\.state: Unsupported value: "Sometimes"`))
			Expect(r.stderr).To(MatchRegexp(`(?m)^  spec\.packages\[1\]\.name: Invalid value: "-rf"`))
		})

		It("refuses a missing -f as a usage error", func() {
			r := a.run("apply")
			Expect(r.code).To(Equal(2))
			Expect(r.stderr).To(ContainSubstring("missing -f"))
		})
	})

	Describe("usage errors", func() {
		DescribeTable("exit with status 2 and say what is wrong",
			func(want string, args ...string) {
				r := a.run(args...)
				Expect(r.code).To(Equal(2), r.stderr)
				Expect(r.stderr).To(HavePrefix("error: "))
				Expect(r.stderr).To(ContainSubstring(want))
				Expect(r.stderr).To(ContainSubstring("--help' for usage"))
			},
			Entry("unknown command", `unknown command "frobnicate"`, "frobnicate"),
			Entry("unknown flag", "unknown flag: --colour", "get", "pp", "--colour"),
			Entry("missing resource type", "missing resource type", "get"),
			Entry("unknown resource type", `unknown resource type "pods"`, "get", "pods"),
			Entry("describe without a type", "missing resource type", "describe"),
			Entry("wait without a name", "missing the name of the patchpolicy", "wait", "pp", "--for=delete"),
			Entry("wait without --for", "missing --for", "wait", "pp/web"),
			Entry("bad --for", "want condition=TYPE", "wait", "pp/web", "--for=ready"),
			Entry("bad output format", `unsupported output format "xml"`, "get", "pp", "-o", "xml"),
			Entry("too many arguments", "too many arguments", "logs", "op", "a", "b"),
		)

		It("prints help with examples for every command", func() {
			for _, c := range []string{"apply", "get", "describe", "wait", "delete", "logs", "version"} {
				r := a.run(c, "--help")
				Expect(r.code).To(Equal(0), c)
				Expect(r.stdout).To(ContainSubstring("Examples:"), c)
				Expect(r.stdout).To(ContainSubstring("patchctl "+c), c)
			}
			r := a.run("--help")
			Expect(r.stdout).To(ContainSubstring("Exit status: 0 on success, 1 when"))
		})
	})

	Describe("get", func() {
		BeforeEach(func() {
			Expect(a.runIn(webPolicy+"---\n"+dbPolicy, "apply", "-f", "-").code).To(Equal(0))
			setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) {
				p.Status.ObservedGeneration = 1
				p.Status.Pending = 3
				p.Status.LastOperation = "op-1"
				p.Status.Hosts = v1alpha1.HostCounts{Matched: 1, RebootRequired: 1}
				p.Status.Conditions = []metav1.Condition{
					readyCondition(metav1.ConditionFalse, 1, "WaitingForWindow", "3 security updates pending"),
					{Type: v1alpha1.ConditionRebootRequired, Status: metav1.ConditionTrue, Reason: "KernelUpdated", LastTransitionTime: metav1.Now()},
				}
			})
		})

		It("prints policies as a table with kubectl's columns", func() {
			r := a.run("get", "policies")
			Expect(r.code).To(Equal(0), r.stderr)
			ls := lines(r.stdout)
			Expect(ls).To(HaveLen(3))
			Expect(columns(ls[0])).To(Equal([]string{"NAME", "READY", "MODE", "PENDING", "REBOOT", "AGE"}))
			// The server's table: Reboot is False with no RebootRequired condition and no host to reboot.
			Expect(columns(ls[1])).To(HaveExactElements("db", "Unknown", "Audit", "0", "False", MatchRegexp(`^\d+s$`)))
			Expect(columns(ls[2])).To(HaveExactElements("web", "False", "Enforce", "3", "True", MatchRegexp(`^\d+s$`)))
		})

		It("adds the Ready message with -o wide", func() {
			r := a.run("get", "pp", "web", "-o", "wide")
			Expect(r.code).To(Equal(0), r.stderr)
			ls := lines(r.stdout)
			Expect(columns(ls[0])).To(Equal([]string{"NAME", "READY", "MODE", "PENDING", "REBOOT", "AGE", "MATCHED", "COMPLIANT", "FAILED", "WAVE", "REASON", "MESSAGE"}))
			Expect(columns(ls[1])[6:]).To(Equal([]string{"1", "0", "0", "<none>", "WaitingForWindow", "3 security updates pending"}))
		})

		It("selects by label", func() {
			r := a.run("get", "pp", "-l", "role=web", "-o", "name")
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("patchpolicy/web\n"))
		})

		It("prints hosts and operations tables", func() {
			createHost(a.store)
			exit := int32(0)
			createOperation(a.store, "op-1", v1alpha1.OperationSucceeded, &exit)
			createOperation(a.store, "op-2", v1alpha1.OperationRunning, nil)

			r := a.run("get", "hosts")
			Expect(r.code).To(Equal(0), r.stderr)
			ls := lines(r.stdout)
			Expect(columns(ls[0])).To(Equal([]string{"NAME", "BACKEND", "OS", "CACHE", "UPGRADABLE", "SECURITY", "REBOOT", "AGE"}))
			Expect(columns(ls[1])[:7]).To(Equal([]string{"web-1", "apt", "debian 12", "fresh", "11", "3", "True"}))

			r = a.run("get", "ops")
			Expect(r.code).To(Equal(0), r.stderr)
			ls = lines(r.stdout)
			Expect(columns(ls[0])).To(Equal([]string{"NAME", "STEP", "PHASE", "EXIT", "POLICY", "AGE"}))
			Expect(columns(ls[1])[:5]).To(Equal([]string{"op-1", "Upgrade", "Succeeded", "0", "web"}))
			Expect(columns(ls[2])[:5]).To(Equal([]string{"op-2", "Upgrade", "Running", "<none>", "web"}))
		})

		It("prints one object as YAML or JSON, and a list for several", func() {
			r := a.run("get", "pp", "web", "-o", "yaml")
			Expect(r.code).To(Equal(0), r.stderr)
			var p v1alpha1.PatchPolicy
			Expect(yaml.UnmarshalStrict([]byte(r.stdout), &p)).To(Succeed())
			Expect(p.Kind).To(Equal("PatchPolicy"))
			Expect(p.Status.Pending).To(Equal(int32(3)))
			Expect(meta.IsStatusConditionFalse(p.Status.Conditions, v1alpha1.ConditionReady)).To(BeTrue())

			r = a.run("get", "pp/web", "-o", "json")
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(json.Unmarshal([]byte(r.stdout), &p)).To(Succeed())
			Expect(p.Name).To(Equal("web"))

			r = a.run("get", "pp", "-o", "json")
			Expect(r.code).To(Equal(0), r.stderr)
			var l v1alpha1.PatchPolicyList
			Expect(json.Unmarshal([]byte(r.stdout), &l)).To(Succeed())
			Expect(l.Kind).To(Equal("PatchPolicyList"))
			Expect(l.Items).To(HaveLen(2))
		})

		It("prints the fields a JSONPath template picks", func() {
			r := a.run("get", "pp", "web", "-o", "jsonpath={.status.lastOperation}")
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("op-1"))
			r = a.run("get", "pp", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.pending}{"\n"}{end}`)
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("db 0\nweb 3\n"))
		})

		It("reports a missing object with the server's message and exit status 1", func() {
			r := a.run("get", "pp", "nope")
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(Equal("error: patchpolicies.patchlet.io \"nope\" not found\n"))
		})

		It("says so when there is nothing to list", func() {
			r := a.run("get", "hosts")
			Expect(r.code).To(Equal(0))
			Expect(r.stdout).To(BeEmpty())
			Expect(r.stderr).To(Equal("No resources found\n"))
		})

		It("watches: prints a row for every change", func() {
			w := a.start("get", "pp", "-w")
			Eventually(w.out.String).Should(ContainSubstring("web"))
			setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) {
				p.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionTrue, 1, "Compliant", "")}
				p.Status.Pending = 0
			})
			Eventually(func() []string { return lines(w.out.String()) }).Should(ContainElement(
				MatchRegexp(`^web\s+True\s+Enforce\s+0\s`)))
			Expect(w.exited()).To(BeFalse())
		})
	})

	It("watches one object by name, including its deletion", func() {
		Expect(a.runIn(webPolicy+"---\n"+dbPolicy, "apply", "-f", "-").code).To(Equal(0))
		w := a.start("get", "pp", "web", "-w", "-o", "name")
		Eventually(w.out.String).Should(Equal("patchpolicy/web\n"))
		setPolicyStatus(a.store, "db", func(p *v1alpha1.PatchPolicy) { p.Status.Pending = 1 })
		setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) { p.Status.Pending = 1 })
		Eventually(w.out.String).Should(Equal("patchpolicy/web\npatchpolicy/web\n"))
		Expect(a.run("delete", "pp", "web").code).To(Equal(0))
		Eventually(w.out.String).Should(Equal("patchpolicy/web\npatchpolicy/web\npatchpolicy/web\n"))
	})

	Describe("describe", func() {
		It("shows a policy's spec, conditions, plan and host counts", func() {
			Expect(a.runIn(webPolicy, "apply", "-f", "-").code).To(Equal(0))
			setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) {
				p.Status.ObservedGeneration = 1
				p.Status.Hosts = v1alpha1.HostCounts{Matched: 1, RebootRequired: 1}
				p.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionFalse, 1, "WaitingForWindow", "3 security updates pending")}
				p.Status.Plan = []v1alpha1.PlanItem{{Package: "openssl", Action: v1alpha1.ActionUpgrade, From: "3.0.14", To: "3.0.15", Reason: "SecurityUpdate"}}
			})
			r := a.run("describe", "policy", "web")
			Expect(r.code).To(Equal(0), r.stderr)
			out := r.stdout
			Expect(out).To(MatchRegexp(`(?m)^Name:\s+web$`))
			Expect(out).To(MatchRegexp(`(?m)^Labels:\s+role=web$`))
			Expect(out).To(MatchRegexp(`(?m)^  Updates:\s+Security$`))
			Expect(out).To(MatchRegexp(`(?m)^    openssl\s+Present\s+<none>$`))
			Expect(out).To(MatchRegexp(`(?m)^  Hosts:\s+1 matched, 0 compliant, 0 progressing, 0 failed, 1 reboot required$`))
			Expect(out).To(MatchRegexp(`(?m)^    TYPE\s+STATUS\s+REASON\s+MESSAGE\s+LAST-TRANSITION$`))
			Expect(out).To(MatchRegexp(`(?m)^    Ready\s+False\s+WaitingForWindow\s+3 security updates pending\s+\S+Z \(3m\d*s? ago\)$`))
			Expect(out).To(MatchRegexp(`(?m)^    openssl\s+Upgrade\s+3.0.14\s+3.0.15\s+SecurityUpdate\s+<none>$`))
		})

		It("shows a policy's health check and its last result", func() {
			Expect(a.runIn(webPolicy+"  healthCheck: {exec: {name: web}, failureThreshold: 2}\n", "apply", "-f", "-").code).To(Equal(0))
			setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) {
				t := metav1.NewTime(time.Now().Add(-2 * time.Minute))
				p.Status.HealthCheck = &v1alpha1.HealthCheckStatus{Result: v1alpha1.HealthFailed, ConsecutiveFailures: 2,
					LastChecked: &t, Message: "exec check /etc/patchlet/checks.d/web failed: exit status 3; output: db is down"}
			})
			r := a.run("describe", "policy", "web")
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(MatchRegexp(`(?m)^  Health Check:\s+exec web \(timeout 10s, every 10s while failing, failed after 2\)$`))
			Expect(r.stdout).To(MatchRegexp(`(?m)^  Health Check:\s+Failed, 2 in a row, at \S+Z \(2m\d*s? ago\): exec check /etc/patchlet/checks.d/web failed: exit status 3; output: db is down$`))
		})

		It("shows a policy's rollout waves and their progress", func() {
			Expect(a.runIn(webPolicy+"  rollout: {maxConcurrent: 2, waves: [{hosts: 1, soak: 10m}, {selector: {matchLabels: {zone: a}}}]}\n", "apply", "-f", "-").code).To(Equal(0))
			setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) {
				t := metav1.NewTime(time.Now().Add(-5 * time.Minute))
				cur := int32(0)
				p.Status.CurrentWave, p.Status.WavesGeneration = &cur, 1
				p.Status.Waves = []v1alpha1.WaveStatus{{Index: 0, LastHost: "web-01", Hosts: 1, Succeeded: 1, FinishedAt: &t},
					{Index: 1, Hosts: 3}, {Index: 2, Hosts: 6}}
			})
			r := a.run("describe", "policy", "web")
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(MatchRegexp(`(?m)^  Wave 1:\s+hosts 1, soak 10m$`))
			Expect(r.stdout).To(MatchRegexp(`(?m)^  Wave 2:\s+selector zone=a$`))
			Expect(r.stdout).To(MatchRegexp(`(?m)^  Current Wave:\s+1 of 3 \(waves assigned at generation 1\)$`))
			Expect(r.stdout).To(MatchRegexp(`(?m)^    WAVE\s+HOSTS\s+SUCCEEDED\s+FAILED\s+LAST-HOST\s+FINISHED$`))
			Expect(r.stdout).To(MatchRegexp(`(?m)^    1\s+1\s+1\s+0\s+web-01\s+\S+Z \(5m\d*s? ago\)$`))
			Expect(r.stdout).To(MatchRegexp(`(?m)^    3\s+6\s+0\s+0\s+<none>\s+<none>$`))
		})

		It("shows a host's OS, backend, upgradable packages, reboot and policies", func() {
			createHost(a.store)
			r := a.run("describe", "host/web-1")
			Expect(r.code).To(Equal(0), r.stderr)
			out := r.stdout
			Expect(out).To(MatchRegexp(`(?m)^  OS:\s+Debian GNU/Linux 12 \(bookworm\)$`))
			Expect(out).To(MatchRegexp(`(?m)^  Backend:\s+apt \(ID=debian in /etc/os-release\)$`))
			Expect(out).To(MatchRegexp(`(?m)^  Packages:\s+856 installed, 11 upgradable, 3 security$`))
			Expect(out).To(MatchRegexp(`(?m)^  Reboot Required:\s+True, for linux-image-6.1.0-27-amd64$`))
			Expect(out).To(MatchRegexp(`(?m)^    openssl\s+3.0.14-1~deb12u1\s+3.0.15-1~deb12u1\s+yes`))
			Expect(out).To(MatchRegexp(`(?m)^    web\s+WaitingForWindow\s+3\s`))
		})

		It("shows an operation's command line, phase, exit code and output tail", func() {
			exit := int32(100)
			createOperation(a.store, "op-1", v1alpha1.OperationFailed, &exit)
			r := a.run("describe", "op", "op-1")
			Expect(r.code).To(Equal(0), r.stderr)
			out := r.stdout
			Expect(out).To(MatchRegexp(`(?m)^  Argv:\s+apt-get -y install openssl=3.0.15-1~deb12u1$`))
			Expect(out).To(MatchRegexp(`(?m)^  Phase:\s+Failed$`))
			Expect(out).To(MatchRegexp(`(?m)^  Exit Code:\s+100$`))
			Expect(out).To(MatchRegexp(`(?m)^    Processing triggers for man-db$`))
		})
	})

	Describe("wait", func() {
		BeforeEach(func() {
			Expect(a.runIn(webPolicy, "apply", "-f", "-").code).To(Equal(0))
		})

		It("returns as soon as the agent reports Ready for the current generation", func() {
			w := a.start("wait", "patchpolicy/web", "--for=condition=Ready", "--timeout=20s")
			Consistently(w.exited, "300ms").Should(BeFalse())
			setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) {
				p.Status.ObservedGeneration = 1
				p.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionTrue, 1, "Compliant", "")}
			})
			Eventually(w.exited, "5s").Should(BeTrue())
			Expect(w.exitCode()).To(Equal(0), w.errOut.String())
			Expect(w.out.String()).To(Equal("patchpolicy/web condition met\n"))
		})

		It("does not count a Ready of an older generation", func() {
			writeFile(dir, "web.yaml", strings.Replace(webPolicy, "apply: Security", "apply: All", 1))
			Expect(a.run("apply", "-f", filepath.Join(dir, "web.yaml")).stdout).To(ContainSubstring("configured"))
			setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) {
				p.Status.ObservedGeneration = 1
				p.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionTrue, 1, "Compliant", "")}
			})
			r := a.run("wait", "pp", "web", "--for=condition=Ready", "--timeout=500ms")
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(ContainSubstring("timed out waiting for the condition on patchpolicy/web: status.observedGeneration is 1, metadata.generation 2"))
		})

		It("times out with exit status 1, saying the condition's state", func() {
			setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) {
				p.Status.ObservedGeneration = 1
				p.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionFalse, 1, "WaitingForWindow", "window opens Mon 01:00")}
			})
			start := time.Now()
			r := a.run("wait", "pp/web", "--for=condition=Ready", "--timeout=1s")
			Expect(time.Since(start)).To(BeNumerically(">=", time.Second))
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(Equal("error: timed out waiting for the condition on patchpolicy/web: Ready=False (WaitingForWindow: window opens Mon 01:00)\n"))
		})

		It("waits for a False status when asked", func() {
			setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) {
				p.Status.ObservedGeneration = 1
				p.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionFalse, 1, "Failed", "")}
			})
			r := a.run("wait", "pp/web", "--for=condition=Ready=false", "--timeout=5s")
			Expect(r.code).To(Equal(0), r.stderr)
		})

		It("fails at once for an object that does not exist", func() {
			r := a.run("wait", "pp/nope", "--for=condition=Ready", "--timeout=20s")
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(ContainSubstring(`"nope" not found`))
		})

		It("waits for an operation's phase with a JSONPath", func() {
			createOperation(a.store, "op-1", v1alpha1.OperationRunning, nil)
			w := a.start("wait", "op/op-1", "--for=jsonpath={.status.phase}=Succeeded", "--timeout=20s")
			Consistently(w.exited, "300ms").Should(BeFalse())
			obj, err := a.store.Get(store.Operations, "op-1")
			Expect(err).NotTo(HaveOccurred())
			op := obj.(*v1alpha1.Operation)
			op.Status.Phase = v1alpha1.OperationSucceeded
			_, err = a.store.UpdateStatus(store.Operations, op)
			Expect(err).NotTo(HaveOccurred())
			Eventually(w.exited, "5s").Should(BeTrue())
			Expect(w.exitCode()).To(Equal(0), w.errOut.String())

			r := a.run("wait", "op/op-1", "--for=jsonpath={.status.phase}=Failed", "--timeout=0")
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(ContainSubstring(`{.status.phase} is "Succeeded"`))
		})

		It("waits for a deletion", func() {
			w := a.start("wait", "pp/web", "--for=delete", "--timeout=20s")
			Consistently(w.exited, "300ms").Should(BeFalse())
			_, err := a.store.Delete(store.PatchPolicies, "web", "")
			Expect(err).NotTo(HaveOccurred())
			Eventually(w.exited, "5s").Should(BeTrue())
			Expect(w.exitCode()).To(Equal(0), w.errOut.String())
		})
	})

	Describe("delete", func() {
		BeforeEach(func() {
			Expect(a.runIn(webPolicy+"---\n"+dbPolicy, "apply", "-f", "-").code).To(Equal(0))
		})

		It("deletes by name and by file", func() {
			r := a.run("delete", "pp", "web")
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("patchpolicy \"web\" deleted\n"))
			_, err := a.store.Get(store.PatchPolicies, "web")
			Expect(apierrors.IsNotFound(err)).To(BeTrue())

			r = a.run("delete", "-f", writeFile(dir, "db.yaml", dbPolicy))
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("patchpolicy \"db\" deleted\n"))
		})

		It("fails for a missing object unless told to ignore it", func() {
			r := a.run("delete", "pp/nope")
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(Equal("error: patchpolicies.patchlet.io \"nope\" not found\n"))
			Expect(a.run("delete", "pp/nope", "--ignore-not-found").code).To(Equal(0))
		})

		It("shows the agent's refusal to delete a host verbatim", func() {
			createHost(a.store)
			r := a.run("delete", "host", "web-1")
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(HavePrefix("error: "))
			Expect(r.stderr).To(ContainSubstring("hosts"))
			_, err := a.store.Get(store.Hosts, "web-1")
			Expect(err).NotTo(HaveOccurred())
		})
	})

	Describe("logs", func() {
		It("prints the full log", func() {
			exit := int32(0)
			createOperation(a.store, "op-1", v1alpha1.OperationSucceeded, &exit)
			full := "Reading package lists...\nSetting up openssl (3.0.15-1~deb12u1) ...\n"
			a.setLog("op-1", full)
			r := a.run("logs", "op-1")
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal(full))
			Expect(a.run("logs", "operation/op-1").stdout).To(Equal(full))
		})

		It("follows a running step until it finishes", func() {
			createOperation(a.store, "op-2", v1alpha1.OperationRunning, nil)
			a.setLog("op-2", "line 1\n")
			w := a.start("logs", "-f", "op-2")
			Eventually(w.out.String).Should(Equal("line 1\n"))
			a.setLog("op-2", "line 1\nline 2\n")
			Eventually(w.out.String, "5s").Should(Equal("line 1\nline 2\n"))
			Expect(w.exited()).To(BeFalse())

			obj, err := a.store.Get(store.Operations, "op-2")
			Expect(err).NotTo(HaveOccurred())
			op := obj.(*v1alpha1.Operation)
			op.Status.Phase = v1alpha1.OperationSucceeded
			op.ResourceVersion = ""
			a.setLog("op-2", "line 1\nline 2\ndone\n")
			_, err = a.store.UpdateStatus(store.Operations, op)
			Expect(err).NotTo(HaveOccurred())
			Eventually(w.exited, "5s").Should(BeTrue())
			Expect(w.out.String()).To(Equal("line 1\nline 2\ndone\n"))
			Expect(w.exitCode()).To(Equal(0))
		})

		It("fails for an operation without a log", func() {
			createOperation(a.store, "op-3", v1alpha1.OperationPending, nil)
			r := a.run("logs", "op-3")
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(ContainSubstring(`no log recorded for operation "op-3"`))
		})
	})

	Describe("version", func() {
		It("prints client and server versions", func() {
			r := a.run("version")
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(MatchRegexp(`^Client Version: \S+\nServer Version: v1.32.0-patchlet\+test\n$`))
		})
	})

	Describe("reaching the agent", func() {
		It("takes the server from PATCHLET_SERVER", func() {
			Expect(a.runIn(dbPolicy, "apply", "-f", "-").code).To(Equal(0))
			r := ctl("", []string{"PATCHLET_SERVER=" + a.server()}, "get", "pp", "-o", "name")
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(r.stdout).To(Equal("patchpolicy/db\n"))
		})

		It("gives up on a request after --request-timeout", func() {
			release := make(chan struct{})
			hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}))
			defer hung.Close()
			defer close(release)
			start := time.Now()
			r := ctl("", nil, "--server", hung.URL, "--request-timeout", "300ms", "get", "pp")
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(ContainSubstring("no answer from the agent at " + hung.URL + " in time"))
			Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
		})

		It("fails with exit status 1 naming the address when nothing listens", func() {
			r := ctl("", nil, "--server", "unix:"+filepath.Join(dir, "none.sock"), "get", "pp")
			Expect(r.code).To(Equal(1))
			Expect(r.stderr).To(ContainSubstring("cannot reach the agent at unix:" + filepath.Join(dir, "none.sock")))
		})
	})
})

var _ = Describe("patchctl over TCP", func() {
	var a *agent
	var pki *testPKI
	var tlsAddr, plainAddr string

	BeforeEach(func() {
		pki = newTestPKI(GinkgoT().TempDir())
		var addrs []string
		a, addrs = startAgent(
			server.ListenConfig{Listen: "127.0.0.1:0", TLSCert: pki.serverCert, TLSKey: pki.serverKey, ClientCA: pki.caCert},
			server.ListenConfig{Listen: "127.0.0.1:0", Insecure: true},
		)
		tlsAddr, plainAddr = addrs[0], addrs[1]
		Expect(a.runIn(dbPolicy, "apply", "-f", "-").code).To(Equal(0))
	})

	It("speaks mutual TLS with --cert, --key and --ca", func() {
		r := ctl("", nil, "--server", "https://"+tlsAddr, "--cert", pki.clientCert, "--key", pki.clientKey, "--ca", pki.caCert, "get", "pp", "-o", "name")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("patchpolicy/db\n"))
		r = ctl(webPolicy, nil, "--server", "https://"+tlsAddr, "--cert", pki.clientCert, "--key", pki.clientKey, "--ca", pki.caCert, "apply", "-f", "-")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("patchpolicy/web created\n"))
	})

	It("is refused without a client certificate, and refuses an unknown server CA", func() {
		r := ctl("", nil, "--server", "https://"+tlsAddr, "--ca", pki.caCert, "get", "pp")
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(HavePrefix("error: "))
		r = ctl("", nil, "--server", "https://"+tlsAddr, "--cert", pki.clientCert, "--key", pki.clientKey, "get", "pp")
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(ContainSubstring("certificate"))
	})

	// patchctl get prints the server's Table, as kubectl does: the same
	// columns and cells (an empty cell is <none> in patchctl's).
	It("prints the tables kubectl prints", func() {
		if _, err := os.Stat("/usr/bin/kubectl"); err != nil {
			Skip("kubectl is not installed")
		}
		Expect(a.runIn(webPolicy, "apply", "-f", "-").code).To(Equal(0))
		setPolicyStatus(a.store, "web", func(p *v1alpha1.PatchPolicy) {
			p.Status.Pending = 3
			p.Status.Hosts = v1alpha1.HostCounts{Matched: 2, Compliant: 1}
			p.Status.Conditions = []metav1.Condition{readyCondition(metav1.ConditionFalse, 1, "WaitingForWindow", "3 security updates pending")}
		})
		createHost(a.store)
		exit := int32(100)
		createOperation(a.store, "op-1", v1alpha1.OperationFailed, &exit)
		createOperation(a.store, "op-2", v1alpha1.OperationRunning, nil)

		// cells slices the lines of a table at the columns of its header,
		// leaving out AGE (it may tick between the two runs).
		cells := func(out string) [][]string {
			ls := lines(out)
			starts := regexp.MustCompile(`\S+`).FindAllStringIndex(ls[0], -1)
			var rows [][]string
			for _, l := range ls {
				var row []string
				for i, st := range starts {
					if strings.TrimSpace(ls[0][st[0]:st[1]]) == "AGE" {
						continue
					}
					end := len(l)
					if i+1 < len(starts) {
						end = min(starts[i+1][0], len(l))
					}
					c := ""
					if st[0] < len(l) {
						c = strings.TrimSpace(l[st[0]:end])
					}
					if c == "<none>" {
						c = ""
					}
					row = append(row, c)
				}
				rows = append(rows, row)
			}
			return rows
		}
		for _, args := range [][]string{{"get", "pp"}, {"get", "pp", "-o", "wide"}, {"get", "hosts", "-o", "wide"}, {"get", "operations", "-o", "wide"}, {"get", "op", "op-2"}} {
			kubectl := exec.Command("/usr/bin/kubectl", append([]string{"--server", "http://" + plainAddr}, args...)...)
			kubectl.Env = []string{"HOME=" + GinkgoT().TempDir(), "PATH=/usr/bin:/bin"}
			want, err := kubectl.CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "%s", want)
			r := ctl("", nil, append([]string{"--server", "http://" + plainAddr}, args...)...)
			Expect(r.code).To(Equal(0), r.stderr)
			Expect(cells(r.stdout)).To(Equal(cells(string(want))), "%v\npatchctl:\n%s\nkubectl:\n%s", args, r.stdout, want)
		}
	})

	It("speaks plain HTTP to an --insecure loopback agent", func() {
		r := ctl("", nil, "--server", "http://"+plainAddr, "get", "pp", "-o", "name")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("patchpolicy/db\n"))
	})

	It("takes server and credentials from a kubeconfig, with --context", func() {
		kc := pki.kubeconfig("https://"+tlsAddr, "http://"+plainAddr)
		r := ctl("", nil, "--kubeconfig", kc, "get", "pp", "-o", "name")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("patchpolicy/db\n"))

		r = ctl("", nil, "--kubeconfig", kc, "--context", "plain", "get", "pp", "-o", "name")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("patchpolicy/db\n"))

		r = ctl("", nil, "--kubeconfig", kc, "--context", "nosuch", "get", "pp")
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(ContainSubstring("nosuch"))
	})
})
