package server_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

const kubectlPath = "/usr/bin/kubectl"

// The design card's example policy: defaults left out (packages[0].state) and
// durations written short (4h, 3h), as operators write them. The server
// stores a policy as written, so kubectl apply of the unchanged file says
// "unchanged".
const applyPolicy = `apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata:
  name: web
  labels: {role: web}
spec:
  hostSelector: {matchLabels: {role: web}}
  updates: {apply: Security, exclude: ["linux-image-*"]}
  packages:
  - {name: openssl, version: "3.0.15-1~deb12u1"}
  - {name: docker-ce, state: Held}
  cache: {maxAge: 4h}
  maintenanceWindow: {days: [Mon, Tue, Wed, Thu], start: "01:00", duration: 3h, timeZone: Europe/Berlin}
  reboot: {policy: IfRequired, window: {days: [Sun], start: "02:00", duration: 2h, timeZone: Europe/Berlin}}
`

var _ = Describe("kubectl against patchlet", Label("integration"), func() {
	var (
		st      *store.Store
		home    string
		dir     string
		kubectl func(args ...string) *gexec.Session
	)

	BeforeEach(func() {
		if _, err := os.Stat(kubectlPath); err != nil {
			Skip("kubectl is not installed")
		}
		c := newCerts()
		st = openStore()
		ln, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0", TLSCert: c.serverCert, TLSKey: c.serverKey, ClientCA: c.caFile})
		Expect(err).NotTo(HaveOccurred())
		startServer(server.Options{Store: st}, ln)

		home = GinkgoT().TempDir()
		dir = GinkgoT().TempDir()
		kubeconfig := filepath.Join(home, "kubeconfig")
		Expect(os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: patchlet
  cluster: {server: "https://%s", certificate-authority: %q}
users:
- name: admin
  user: {client-certificate: %q, client-key: %q}
contexts:
- name: patchlet
  context: {cluster: patchlet, user: admin}
current-context: patchlet
`, ln.Addr(), c.caFile, c.clientCert, c.clientKey)), 0o600)).To(Succeed())

		kubectl = func(args ...string) *gexec.Session {
			GinkgoHelper()
			cmd := exec.Command(kubectlPath, args...)
			cmd.Env = []string{"HOME=" + home, "KUBECONFIG=" + kubeconfig, "PATH=/usr/bin:/bin"}
			s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(func() { s.Kill().Wait(5 * time.Second) })
			return s
		}
	})

	run := func(s *gexec.Session, code int) string {
		GinkgoHelper()
		Eventually(s).WithTimeout(30*time.Second).Should(gexec.Exit(code), "stdout: %s\nstderr: %s", s.Out.Contents(), s.Err.Contents())
		return string(s.Out.Contents()) + string(s.Err.Contents())
	}

	writeFile := func(name, content string) string {
		GinkgoHelper()
		p := filepath.Join(dir, name)
		Expect(os.WriteFile(p, []byte(content), 0o600)).To(Succeed())
		return p
	}

	setReady := func(generation int64) {
		GinkgoHelper()
		o, err := st.Get(store.PatchPolicies, "web")
		Expect(err).NotTo(HaveOccurred())
		p := o.(*v1alpha1.PatchPolicy)
		p.Status.ObservedGeneration = generation
		apimeta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{
			Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Compliant",
			Message: "all packages in the declared state", ObservedGeneration: generation,
		})
		_, err = st.UpdateStatus(store.PatchPolicies, p)
		Expect(err).NotTo(HaveOccurred())
	}

	It("applies, re-applies unchanged, reconfigures, prints, waits for Ready and deletes", func() {
		f := writeFile("web.yaml", applyPolicy)
		Expect(run(kubectl("apply", "-f", f), 0)).To(ContainSubstring("patchpolicy.patchlet.io/web created"))
		Expect(run(kubectl("apply", "-f", f), 0)).To(ContainSubstring("patchpolicy.patchlet.io/web unchanged"))
		writeFile("web.yaml", applyPolicy+"  mode: Audit\n")
		Expect(run(kubectl("apply", "-f", f), 0)).To(ContainSubstring("patchpolicy.patchlet.io/web configured"))
		o, err := st.Get(store.PatchPolicies, "web")
		Expect(err).NotTo(HaveOccurred())
		Expect(o.(*v1alpha1.PatchPolicy).Spec.Mode).To(Equal(v1alpha1.ModeAudit))
		Expect(o.GetGeneration()).To(Equal(int64(2)))

		out := run(kubectl("get", "patchpolicies"), 0)
		Expect(out).To(MatchRegexp(`NAME\s+READY\s+MODE\s+PENDING\s+REBOOT\s+AGE\n`))
		Expect(out).To(MatchRegexp(`web\s+Unknown\s+Audit\s+0\s+False\s+\d+s\n`))
		Expect(run(kubectl("get", "pp", "-o", "wide"), 0)).To(MatchRegexp(`MATCHED\s+COMPLIANT\s+FAILED\s+WAVE\s+REASON\s+MESSAGE`))
		Expect(run(kubectl("get", "pp", "web", "-o", "yaml"), 0)).To(And(
			ContainSubstring("kind: PatchPolicy"),
			ContainSubstring("name: docker-ce"),
			ContainSubstring("generation: 2"),
		))

		// A Ready condition for an older generation does not satisfy wait.
		wait := kubectl("wait", "--for=condition=Ready", "--timeout=10s", "patchpolicy/web")
		time.Sleep(300 * time.Millisecond)
		setReady(1)
		Consistently(wait, "700ms").ShouldNot(gexec.Exit())
		setReady(2)
		Expect(run(wait, 0)).To(ContainSubstring("patchpolicy.patchlet.io/web condition met"))
		Expect(run(kubectl("get", "pp"), 0)).To(MatchRegexp(`web\s+True\s+Audit`))

		Expect(run(kubectl("delete", "-f", f), 0)).To(ContainSubstring(`patchpolicy.patchlet.io "web" deleted`))
		Expect(run(kubectl("get", "pp", "web"), 1)).To(ContainSubstring(`patchpolicies.patchlet.io "web" not found`))
	})

	It("streams changes with get -w", func() {
		Expect(run(kubectl("apply", "-f", writeFile("web.yaml", applyPolicy)), 0)).To(ContainSubstring("created"))
		watch := kubectl("get", "patchpolicies", "-w")
		Eventually(watch.Out).WithTimeout(10 * time.Second).Should(gbytes.Say(`NAME\s+READY\s+MODE`))
		Eventually(watch.Out).Should(gbytes.Say(`web\s+Unknown\s+Enforce`))
		setReady(1)
		Eventually(watch.Out).WithTimeout(10 * time.Second).Should(gbytes.Say(`web\s+True\s+Enforce`))
		watch.Terminate()
		Eventually(watch).WithTimeout(5 * time.Second).Should(gexec.Exit())
	})

	It("reports a conflict, a validation failure naming the fields, and a file-managed policy", func() {
		Expect(run(kubectl("apply", "-f", writeFile("web.yaml", applyPolicy)), 0)).To(ContainSubstring("created"))
		stale := writeFile("stale.yaml", applyPolicy[:len("apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata:\n")]+
			"  resourceVersion: \"1\"\n"+applyPolicy[len("apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata:\n"):])
		setReady(1) // moves the resourceVersion on
		Expect(run(kubectl("replace", "-f", stale), 1)).To(And(ContainSubstring("Conflict"), ContainSubstring("the object has been modified")))

		bad := writeFile("bad.yaml", `apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata: {name: bad}
spec:
  packages:
  - {name: "-oAPT::Update::Pre-Invoke::=touch /tmp/x"}
  - {name: "$(id)"}
`)
		out := run(kubectl("apply", "-f", bad), 1)
		Expect(out).To(ContainSubstring(`The PatchPolicy "bad" is invalid`))
		Expect(out).To(ContainSubstring(`spec.packages[0].name: Invalid value: "-oAPT::Update::Pre-Invoke::=touch /tmp/x"`))
		Expect(out).To(ContainSubstring(`spec.packages[1].name: Invalid value: "$(id)"`))

		unknown := writeFile("unknown.yaml", "apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata: {name: bad}\nspec: {foo: 1}\n")
		Expect(run(kubectl("apply", "-f", unknown), 1)).To(ContainSubstring("spec.foo"))

		_, err := st.Create(store.PatchPolicies, &v1alpha1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{
			Name: "base", Annotations: map[string]string{v1alpha1.AnnotationSourceFile: "/etc/patchlet/policies.d/base.yaml"}}})
		Expect(err).NotTo(HaveOccurred())
		Expect(run(kubectl("delete", "pp", "base"), 1)).To(ContainSubstring("is managed by file /etc/patchlet/policies.d/base.yaml; edit the file"))
		Expect(run(kubectl("label", "pp", "base", "x=y"), 1)).To(ContainSubstring("Forbidden"))
	})

	It("prints hosts and operations, and all of patchlet's kinds by category", func() {
		_, err := st.Create(store.Hosts, &v1alpha1.Host{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}, Status: v1alpha1.HostStatus{
			OS: v1alpha1.OSInfo{ID: "debian", VersionID: "12"}, Backend: &v1alpha1.BackendInfo{Name: "apt"},
			Cache: v1alpha1.CacheStatus{State: v1alpha1.CacheFresh}, Packages: v1alpha1.PackageCounts{Upgradable: 11, Security: 3},
		}})
		Expect(err).NotTo(HaveOccurred())
		_, err = st.Create(store.Operations, &v1alpha1.Operation{ObjectMeta: metav1.ObjectMeta{Name: "op-7f3a"},
			Spec:   v1alpha1.OperationSpec{Step: v1alpha1.StepRefresh, Policy: "web", Argv: []string{"apt-get", "update"}},
			Status: v1alpha1.OperationStatus{Phase: v1alpha1.OperationRunning}})
		Expect(err).NotTo(HaveOccurred())

		Expect(run(kubectl("get", "hosts"), 0)).To(MatchRegexp(`NAME\s+BACKEND\s+OS\s+CACHE\s+UPGRADABLE\s+SECURITY\s+REBOOT\s+AGE\nweb-1\s+apt\s+debian 12\s+fresh\s+11\s+3\s+False`))
		Expect(run(kubectl("get", "op"), 0)).To(MatchRegexp(`op-7f3a\s+Refresh\s+Running\s+web`))
		Expect(run(kubectl("get", "patchlet"), 0)).To(And(ContainSubstring("host.patchlet.io/web-1"), ContainSubstring("operation.patchlet.io/op-7f3a")))
		Expect(run(kubectl("delete", "host", "web-1"), 1)).To(ContainSubstring("hosts are written by the patchlet agent"))
	})
})
