package server_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	_ "github.com/patchlet/patchlet/backends/apt" // backends.Open("apt")
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

// healthDoc is GET /health decoded loosely, as a hub reads it.
type healthDoc struct {
	Status          string     `json:"status"`
	Version         string     `json:"version"`
	UptimeSeconds   *int64     `json:"uptimeSeconds"`
	HostName        string     `json:"hostName"`
	Backend         string     `json:"backend"`
	LastCacheUpdate *time.Time `json:"lastCacheUpdate"`
	CacheStatus     string     `json:"cacheStatus"`
	RebootRequired  *bool      `json:"rebootRequired"`
	Reasons         []string   `json:"reasons"`
}

func getHealth(g Gomega, c *http.Client, base string) healthDoc {
	resp, err := c.Get(base + "/health")
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
	g.Expect(resp.Header.Get("Content-Type")).To(HavePrefix("application/json"))
	var h healthDoc
	g.Expect(json.NewDecoder(resp.Body).Decode(&h)).To(Succeed())
	return h
}

// hostAsWritten stores the Host a pass wrote at some time: index state
// and last refresh as the loop recorded them then.
func hostAsWritten(st *store.Store, state v1alpha1.CacheState, refreshed time.Time, degraded *metav1.Condition) {
	GinkgoHelper()
	h := &v1alpha1.Host{}
	h.Name = "h"
	h.Labels = map[string]string{"role": "web"}
	h.Status.Backend = &v1alpha1.BackendInfo{Name: "apt"}
	t := metav1.NewTime(refreshed)
	h.Status.Cache = v1alpha1.CacheStatus{LastRefresh: &t, State: state}
	if degraded != nil {
		h.Status.Conditions = []metav1.Condition{*degraded}
	}
	_, err := st.Create(store.Hosts, h)
	Expect(err).NotTo(HaveOccurred())
}

var _ = Describe("GET /health between passes", func() {
	var t *testServer
	var st *store.Store

	BeforeEach(func() {
		st = openStore()
		t = newLoopbackServer(server.Options{Store: st, Health: server.HealthOptions{
			HostName: "h", Version: "1.2.3", Started: time.Now().Add(-90 * time.Second), Backend: "apt",
		}})
	})

	It("is healthy with an unknown index before the loop created the Host, and is public", func() {
		h := getHealth(Default, t.client, t.base)
		Expect(h.Status).To(Equal("healthy"))
		Expect(h.CacheStatus).To(Equal("unknown"))
		Expect(h.LastCacheUpdate).To(BeNil())
		Expect(h.Version).To(Equal("1.2.3"))
		Expect(h.Backend).To(Equal("apt"))
		Expect(h.HostName).To(Equal("h"))
		Expect(h.UptimeSeconds).To(HaveValue(BeNumerically(">=", 90)))
		Expect(h.RebootRequired).To(HaveValue(BeFalse()))
	})

	// The pass judged the index fresh; the rule at request time does not.
	It("reports stale once the index aged past the default maxAge, though the last pass said fresh", func() {
		refreshed := time.Now().Add(-5 * time.Hour).Truncate(time.Second)
		hostAsWritten(st, v1alpha1.CacheFresh, refreshed, nil)
		h := getHealth(Default, t.client, t.base)
		Expect(h.CacheStatus).To(Equal("stale"))
		Expect(h.Status).To(Equal("healthy"))
		Expect(h.LastCacheUpdate).To(HaveValue(BeTemporally("==", refreshed)))
	})

	It("judges by the smallest maxAge of the selected, active Enforce policies", func() {
		hostAsWritten(st, v1alpha1.CacheFresh, time.Now().Add(-2*time.Hour), nil)
		Expect(getHealth(Default, t.client, t.base).CacheStatus).To(Equal("fresh"), "within the default 4h")
		Expect(t.create(`{"apiVersion":"patchlet.io/v1alpha1","kind":"PatchPolicy","metadata":{"name":"elsewhere"},
			"spec":{"hostSelector":{"matchLabels":{"role":"db"}},"cache":{"maxAge":"1h"},"packages":[{"name":"curl"}]}}`).code).To(Equal(http.StatusCreated))
		Expect(getHealth(Default, t.client, t.base).CacheStatus).To(Equal("fresh"), "an unselected policy sets no maxAge")
		Expect(t.create(`{"apiVersion":"patchlet.io/v1alpha1","kind":"PatchPolicy","metadata":{"name":"web"},
			"spec":{"hostSelector":{"matchLabels":{"role":"web"}},"cache":{"maxAge":"1h"},"packages":[{"name":"curl"}]}}`).code).To(Equal(http.StatusCreated))
		Expect(getHealth(Default, t.client, t.base).CacheStatus).To(Equal("stale"))
	})

	It("keeps failed until a refresh succeeds, and is degraded, still 200", func() {
		hostAsWritten(st, v1alpha1.CacheFailed, time.Now().Add(-time.Minute), nil)
		h := getHealth(Default, t.client, t.base)
		Expect(h.CacheStatus).To(Equal("failed"))
		Expect(h.Status).To(Equal("degraded"))
		Expect(h.Reasons).To(ConsistOf(HavePrefix("package index refresh failed")))
	})

	It("is degraded while the Host's Degraded condition is True", func() {
		hostAsWritten(st, v1alpha1.CacheFresh, time.Now(), &metav1.Condition{
			Type: v1alpha1.ConditionDegraded, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonHealthCheckFailed,
			Message: "check web exited 1", LastTransitionTime: metav1.Now(),
		})
		h := getHealth(Default, t.client, t.base)
		Expect(h.CacheStatus).To(Equal("fresh"))
		Expect(h.Status).To(Equal("degraded"))
		Expect(h.Reasons).To(ConsistOf("HealthCheckFailed: check web exited 1"))
	})
})

// The real agent on a real apt in an isolated root, its repository served
// over HTTP so that the test decides when the first refresh may finish.
var _ = Describe("GET /health of the real agent", Ordered, Label("integration"), func() {
	var (
		dir, bin, sock, state, policies string
		repo                            *testrepo.Repo
		root                            *testrepo.Root
		gate                            chan struct{}
		cmd                             *exec.Cmd
		c                               *http.Client
	)

	BeforeAll(func() {
		if _, err := exec.LookPath("apt-get"); err != nil {
			Skip("apt-get is not installed")
		}
		var err error
		// Short: a unix socket path must fit in 108 bytes.
		dir, err = os.MkdirTemp("", "phealth-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dir)
		bin = filepath.Join(dir, "patchlet")
		build := exec.Command("go", "build", "-o", bin, "./cmd/patchlet")
		build.Dir = ".."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build ./cmd/patchlet: %s", out)

		repo, err = testrepo.NewRepo(filepath.Join(dir, "repo"), testrepo.Release{Origin: "health"})
		Expect(err).NotTo(HaveOccurred())
		root, err = testrepo.NewRoot(filepath.Join(dir, "root"))
		Expect(err).NotTo(HaveOccurred())
		gate = make(chan struct{})
		files := http.FileServer(http.Dir(repo.Dir))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-gate:
				files.ServeHTTP(w, r)
			case <-r.Context().Done():
			}
		})}
		go func() { _ = srv.Serve(ln) }()
		DeferCleanup(srv.Close)
		Expect(os.WriteFile(root.Path("etc/apt/sources.list"),
			[]byte(fmt.Sprintf("deb [trusted=yes] http://%s/ ./\n", ln.Addr())), 0o644)).To(Succeed())

		state, policies = filepath.Join(dir, "state"), filepath.Join(dir, "policies")
		sock = filepath.Join(dir, "api.sock")
		Expect(os.MkdirAll(policies, 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("{}\n"), 0o644)).To(Succeed())
		c = unixClient(sock)
	})

	start := func() {
		GinkgoHelper()
		log, err := os.OpenFile(filepath.Join(dir, "agent.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(log.Close)
		cmd = exec.Command(bin, "--root", root.Dir, "--state-dir", state, "--listen", "unix:"+sock,
			"--policy-dir", policies, "--backend", "apt", "--executor", "detached", "--host-name", "h",
			"--log-format", "json", "--config", filepath.Join(dir, "config.yaml"))
		cmd.Stdout, cmd.Stderr = log, log
		cmd.Env = []string{"PATH=" + testrepo.DefaultPath}
		Expect(cmd.Start()).To(Succeed())
		DeferCleanup(stopAgent, cmd)
	}
	// recordRefresh writes the backend's own record of the last refresh, as
	// a refresh at t would have.
	recordRefresh := func(t time.Time) {
		GinkgoHelper()
		b, err := backends.Open("apt", backends.Settings{Root: root.Dir, StateDir: state, Log: logr.Discard()})
		Expect(err).NotTo(HaveOccurred())
		Expect(b.RecordRefresh(t)).To(Succeed())
	}
	health := func(g Gomega) healthDoc { return getHealth(g, c, "http://patchlet") }
	dumpLog := func() {
		if CurrentSpecReport().Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "agent.log"))
			GinkgoWriter.Printf("agent log:\n%s\n", b)
		}
	}
	JustAfterEach(dumpLog)

	It("is unknown while the first refresh runs, then fresh after it", func() {
		start()
		var h healthDoc
		Eventually(func(g Gomega) {
			h = health(g)
			g.Expect(h.HostName).To(Equal("h"))
			// The Host exists: the loop created it and its first pass waits in
			// apt-get update on the gated repository.
			obj, err := getHost(c)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(obj.Status.Backend).NotTo(BeNil())
		}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
		h = health(Default)
		Expect(h.CacheStatus).To(Equal("unknown"))
		Expect(h.LastCacheUpdate).To(BeNil())
		Expect(h.Status).To(Equal("healthy"))
		Expect(h.Backend).To(Equal("apt"))
		Expect(h.Version).To(Equal("dev"))
		Expect(h.RebootRequired).To(HaveValue(BeFalse()))

		close(gate)
		Eventually(func(g Gomega) string { return health(g).CacheStatus }).
			WithTimeout(60 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal("fresh"))
		h = health(Default)
		Expect(h.Status).To(Equal("healthy"))
		Expect(h.LastCacheUpdate).To(HaveValue(BeTemporally("~", time.Now(), time.Minute)))
	})

	It("is failed and degraded, still 200, after a refresh against a broken repository", func() {
		stopAgent(cmd)
		Expect(os.Remove(filepath.Join(repo.Dir, "Release"))).To(Succeed())
		Expect(os.Remove(filepath.Join(repo.Dir, "Packages"))).To(Succeed())
		recordRefresh(time.Now().Add(-5 * time.Hour)) // due again
		start()
		Eventually(func(g Gomega) string { return health(g).CacheStatus }).
			WithTimeout(60 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal("failed"))
		h := health(Default)
		Expect(h.Status).To(Equal("degraded"))
		Expect(h.Reasons).To(ConsistOf(ContainSubstring("package index refresh failed")))
		Expect(h.LastCacheUpdate).To(HaveValue(BeTemporally("~", time.Now().Add(-5*time.Hour), time.Minute)))

		// For the next spec: a policy the store holds when the agent starts,
		// so that its first pass plans with it.
		Expect(os.WriteFile(filepath.Join(policies, "before-change.yaml"), []byte(`apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata: {name: before-change}
spec:
  cache: {maxAge: 0s}
  packages:
  - {name: hello, state: Absent}
`), 0o644)).To(Succeed())
		Eventually(func() int {
			resp, err := c.Get("http://patchlet" + api + "/patchpolicies/before-change")
			if err != nil {
				return 0
			}
			resp.Body.Close()
			return resp.StatusCode
		}).WithTimeout(30 * time.Second).WithPolling(50 * time.Millisecond).Should(Equal(http.StatusOK))
	})

	// A maxAge-0 policy (stored by the previous spec) with nothing to
	// change refreshes only before a change: the loop leaves an old index
	// alone and reports it stale.
	It("is stale past maxAge when no refresh is due", func() {
		stopAgent(cmd)
		Expect(repo.Publish()).To(Succeed())
		recordRefresh(time.Now().Add(-5 * time.Hour))
		start()
		Eventually(func(g Gomega) string { return health(g).CacheStatus }).
			WithTimeout(60 * time.Second).WithPolling(100 * time.Millisecond).Should(Equal("stale"))
		h := health(Default)
		Expect(h.Status).To(Equal("healthy"))
		obj, err := getHost(c)
		Expect(err).NotTo(HaveOccurred())
		Expect(obj.Status.Cache.State).To(Equal(v1alpha1.CacheStale), "the loop's own verdict agrees")
	})
})

func getHost(c *http.Client) (*v1alpha1.Host, error) {
	resp, err := c.Get("http://patchlet" + api + "/hosts/h")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET host h: %s", resp.Status)
	}
	var h v1alpha1.Host
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return nil, err
	}
	return &h, nil
}

// stopAgent SIGTERMs the agent and waits for it (once).
func stopAgent(cmd *exec.Cmd) {
	if cmd == nil || cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
