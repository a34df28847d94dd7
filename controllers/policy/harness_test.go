package policy_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/backends"
	"github.com/patchlet/patchlet/backends/apt"
	"github.com/patchlet/patchlet/controllers/policy"
	"github.com/patchlet/patchlet/executor"
	"github.com/patchlet/patchlet/internal/healthcheck"
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
	"github.com/patchlet/patchlet/metrics"
	"github.com/patchlet/patchlet/store"
)

// hostName is the Host every test controller manages.
const hostName = "h"

// slowSleep is how long the preinst of slow 2.0 sleeps: time enough to
// kill an agent or a runner while dpkg runs it.
const slowSleep = 3 * time.Second

// The packages of the shared repository.
var (
	helloPkg = func(v string) testrepo.Package {
		return testrepo.Package{Name: "hello", Version: v,
			Conffiles: map[string]string{"/etc/hello.conf": "# hello " + v + "\ngreeting=hi\n"},
			Files:     map[string]string{"/usr/share/hello/version": v + "\n"}}
	}
	kernelPkg = testrepo.Package{Name: "linux-image-test", Version: "1.0", RebootRequired: true}
	slowPkg   = func(v string, sleep time.Duration) testrepo.Package {
		return testrepo.Package{Name: "slow", Version: v, PreinstSleep: sleep,
			Files: map[string]string{"/usr/share/slow/version": v + "\n"}}
	}
	// bigPkg does not compress: its download does not fit a small tmpfs.
	bigPkg = testrepo.Package{Name: "big", Version: "1.0",
		Files: map[string]string{"/usr/share/big/blob": incompressible(512 << 10)}}
)

func incompressible(n int) string {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n*3/4)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return base64.StdEncoding.EncodeToString(b)
}

// repoFixture is a package builder and the repository most tests share.
type repoFixture struct {
	builder *testrepo.Builder
	repo    *testrepo.Repo
	dir     string
}

// refreshRetry is the first retry delay of a failed index refresh in the
// harness (10 s by default), short enough for a spec to see the retry.
const refreshRetry = 1500 * time.Millisecond

// sharedRepo is built once per suite (BeforeSuite) or benchmark run.
var sharedRepo *repoFixture

func buildRepo(dir string) (*repoFixture, error) {
	b, err := testrepo.NewBuilder(filepath.Join(dir, "build"))
	if err != nil {
		return nil, err
	}
	repo, err := testrepo.NewRepo(filepath.Join(dir, "main"), testrepo.Release{
		Origin: "Debian", Label: "Debian", Suite: "stable", Codename: "bookworm", Version: "12.5"})
	if err != nil {
		return nil, err
	}
	f := &repoFixture{builder: b, repo: repo, dir: dir}
	err = f.add(repo, helloPkg("1.0"), helloPkg("1.1"), helloPkg("2.0"), kernelPkg,
		slowPkg("1.0", 0), slowPkg("2.0", slowSleep), bigPkg)
	return f, err
}

// add builds pkgs into repo and publishes it.
func (f *repoFixture) add(repo *testrepo.Repo, pkgs ...testrepo.Package) error {
	for _, p := range pkgs {
		deb, err := f.builder.Build(p)
		if err != nil {
			return err
		}
		if err := repo.Add(deb); err != nil {
			return err
		}
	}
	return repo.Publish()
}

// countingRunner is apt's real runner, counting the processes it starts.
type countingRunner struct {
	n atomic.Int64
}

func (r *countingRunner) Run(ctx context.Context, argv, env []string) ([]byte, []byte, error) {
	r.n.Add(1)
	return executor.ExecRunner{}.Run(ctx, argv, env)
}

// harness is one isolated root with a Controller of its own: a real
// store, the real apt backend and a real detached executor whose runner
// is this test binary.
type harness struct {
	root     *testrepo.Root
	stateDir string
	store    *store.Store
	backend  *apt.Backend
	runner   *countingRunner
	executor *executor.Executor
	ctl      *policy.Controller
	metrics  *metrics.Metrics
	log      logr.Logger
	rebooter *fakeRebooter
	bootID   atomic.Value // string: the boot id the controller sees
	// checksDir is the health checks directory; checker runs checks from
	// it, counting the attempts.
	checksDir string
	checker   *countingChecker

	cancel context.CancelFunc
	done   chan error

	unwatch   context.CancelFunc
	mu        sync.Mutex
	createdRV map[string]uint64
}

func newHarness(dir string, log logr.Logger, repos ...*testrepo.Repo) (*harness, error) {
	root, err := testrepo.NewRoot(filepath.Join(dir, "root"), repos...)
	if err != nil {
		return nil, err
	}
	h := &harness{root: root, stateDir: filepath.Join(dir, "state"), runner: &countingRunner{}, log: log,
		createdRV: map[string]uint64{}, metrics: metrics.NewWithOptions(metrics.Options{NoRuntimeCollectors: true}),
		rebooter: &fakeRebooter{}, checksDir: filepath.Join(dir, "checks.d")}
	h.bootID.Store("boot-1")
	if err := os.MkdirAll(h.stateDir, 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(h.checksDir, 0o755); err != nil {
		return nil, err
	}
	h.checker = &countingChecker{real: healthcheck.New(healthcheck.Options{ChecksDir: h.checksDir, EUID: os.Geteuid(), Log: log.WithName("healthcheck")})}
	if err := h.open(); err != nil {
		return nil, err
	}
	if err := h.watchOperations(); err != nil {
		return nil, err
	}
	return h, nil
}

// open builds the store, backend, executor and controller on the harness's
// directories (again, after stop: as a restarted agent would).
func (h *harness) open() error {
	var err error
	h.store, err = store.Open(h.stateDir, store.Options{Log: h.log.WithName("store")})
	if err != nil {
		return err
	}
	h.backend, err = apt.New(apt.Options{Settings: backends.Settings{Root: h.root.Dir, StateDir: h.stateDir, Runner: h.runner, Log: h.log.WithName("apt")}})
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	h.executor, err = executor.New(executor.Options{Dir: filepath.Join(h.stateDir, "steps"), Mode: executor.ModeDetached,
		Self: []string{self, "run-step"}, Log: h.log.WithName("executor")})
	if err != nil {
		return err
	}
	h.ctl = policy.New(policy.Options{
		Store:         h.store,
		Backend:       h.backend,
		Executor:      h.executor,
		Log:           h.log.WithName("controller"),
		HostName:      hostName,
		BackendInfo:   v1alpha1.BackendInfo{Name: "apt", Reason: "test"},
		Root:          h.root.Dir,
		StateDir:      h.stateDir,
		Metrics:       h.metrics,
		Rebooter:      h.rebooter,
		BootID:        func() (string, error) { return h.bootID.Load().(string), nil },
		HealthChecker: h.checker,
		RefreshRetry:  refreshRetry,
	})
	return nil
}

// start runs the controller's loop until stop.
func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.ctl.Run(ctx) }()
}

// close stops the loop and the harness's own watch.
func (h *harness) close() error {
	if h.unwatch != nil {
		h.unwatch()
	}
	return h.stop()
}

// stop ends the loop and waits for it.
func (h *harness) stop() error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	case <-time.After(10 * time.Second):
		return errors.New("controller did not stop within 10s")
	}
}

// apply stores a policy, defaulted.
func (h *harness) apply(pol *v1alpha1.PatchPolicy) error {
	pol = pol.DeepCopy()
	pol.SetDefaults()
	_, err := h.store.Create(store.PatchPolicies, pol)
	return err
}

func (h *harness) policy(name string) (*v1alpha1.PatchPolicy, error) {
	obj, err := h.store.Get(store.PatchPolicies, name)
	if err != nil {
		return nil, err
	}
	return obj.(*v1alpha1.PatchPolicy), nil
}

func (h *harness) host() (*v1alpha1.Host, error) {
	obj, err := h.store.Get(store.Hosts, hostName)
	if err != nil {
		return nil, err
	}
	return obj.(*v1alpha1.Host), nil
}

// operations returns the Operations of one step type (all for ""),
// oldest first.
func (h *harness) operations(step v1alpha1.StepType) []*v1alpha1.Operation {
	items, _, err := h.store.List(store.Operations)
	if err != nil {
		return nil
	}
	var ops []*v1alpha1.Operation
	for _, it := range items {
		op := it.Object.(*v1alpha1.Operation)
		if step == "" || op.Spec.Step == step {
			ops = append(ops, op)
		}
	}
	// Creation timestamps have whole seconds; the store's resourceVersion
	// at creation, seen by the watch, orders them.
	deadline := time.Now().Add(time.Second)
	for {
		h.mu.Lock()
		missing := slices.IndexFunc(ops, func(op *v1alpha1.Operation) bool { return h.createdRV[op.Name] == 0 }) >= 0
		h.mu.Unlock()
		if !missing || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	sort.SliceStable(ops, func(i, j int) bool { return h.createdRV[ops[i].Name] < h.createdRV[ops[j].Name] })
	return ops
}

// watchOperations records the resourceVersion each Operation was created at.
func (h *harness) watchOperations() error {
	ctx, cancel := context.WithCancel(context.Background())
	h.unwatch = cancel
	events, err := h.store.Watch(ctx, store.Operations, 0)
	if err != nil {
		cancel()
		return err
	}
	go func() {
		for ev := range events {
			if ev.Type != watch.Added {
				continue
			}
			h.mu.Lock()
			if _, seen := h.createdRV[ev.Object.GetName()]; !seen {
				h.createdRV[ev.Object.GetName()] = ev.RV
			}
			h.mu.Unlock()
		}
	}()
	return nil
}

// statusFile is the root's dpkg status file.
func (h *harness) statusFile() []byte {
	b, _ := os.ReadFile(h.root.Path("var/lib/dpkg/status"))
	return b
}

// installed is what the root's dpkg status file says.
func (h *harness) installed() apt.StatusDB {
	return apt.ParseStatus(h.statusFile(), "amd64")
}

// dpkgLog is the root's dpkg log.
func (h *harness) dpkgLog() string {
	b, _ := os.ReadFile(h.root.Path("var/log/dpkg.log"))
	return string(b)
}

// aptGet runs apt-get on the root directly, as an operator would.
func (h *harness) aptGet(args ...string) error {
	cmd := exec.Command("apt-get", append([]string{"-y", "-q"}, args...)...)
	cmd.Env = h.root.Env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get %s: %w (output: %s)", strings.Join(args, " "), err, out.String())
	}
	return nil
}

// copySources points the root at repos through apt's copy: method, which
// copies the index and every package into the root (into
// var/cache/apt/archives) as a download would, where file: uses them in
// place.
func (h *harness) copySources(repos ...*testrepo.Repo) error {
	var b strings.Builder
	for _, r := range repos {
		fmt.Fprintf(&b, "deb [trusted=yes] copy:%s ./\n", r.Dir)
	}
	return os.WriteFile(h.root.Path("etc/apt/sources.list"), []byte(b.String()), 0o644)
}

// preinstall refreshes the root's index and installs packages directly.
func (h *harness) preinstall(pkgs ...string) error {
	if err := h.aptGet("update"); err != nil {
		return err
	}
	return h.aptGet(append([]string{"install"}, pkgs...)...)
}

// newPolicy is an Enforce policy selecting every host.
func newPolicy(name string, pkgs ...v1alpha1.PackageSpec) *v1alpha1.PatchPolicy {
	p := &v1alpha1.PatchPolicy{}
	p.Name = name
	p.Spec.Packages = pkgs
	return p
}

// condition returns the condition of type typ (zero if missing).
func condition(conds []metav1.Condition, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// isReady reports whether the policy is Ready for its current generation.
func isReady(p *v1alpha1.PatchPolicy) bool {
	c := condition(p.Status.Conditions, "Ready")
	return c.Status == metav1.ConditionTrue && c.ObservedGeneration == p.Generation && p.Status.ObservedGeneration == p.Generation
}

// version returns the installed version of a package ("" if not installed).
func version(db apt.StatusDB, name string) string {
	return db.Installed[name].Version
}

// countingChecker is the real health checker, counting its attempts.
type countingChecker struct {
	real *healthcheck.Checker
	n    atomic.Int64
}

func (c *countingChecker) Check(ctx context.Context, policy string, spec *v1alpha1.HealthCheckSpec) (bool, string) {
	c.n.Add(1)
	return c.real.Check(ctx, policy, spec)
}

// fakeRebooter counts the reboots the controller asks for (a real one
// would end the test).
type fakeRebooter struct{ calls atomic.Int32 }

func (r *fakeRebooter) Reboot(context.Context) error {
	r.calls.Add(1)
	return nil
}
