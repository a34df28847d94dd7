package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Identities and places that config/rbac grants rights to.
const (
	// Namespace holds the Leases agents use as rollout slots and for leader election.
	Namespace = "patchlet-system"
	// HostUserPrefix + host name is the user name of one agent; the
	// admission policy in config/rbac pins it to the Host of that name.
	HostUserPrefix = "system:patchlet:host:"
	// HostsGroup is the group every agent is in.
	HostsGroup = "system:patchlet:hosts"
	// LeadersGroup may write PatchPolicy status (the fleet leader).
	LeadersGroup = "system:patchlet:leaders"
	// AdminGroup is Kubernetes' superuser group.
	AdminGroup = "system:masters"
)

// Options configures Start. The zero value runs the binaries FindBinaries
// finds and installs <repo>/config/crd and <repo>/config/rbac.
type Options struct {
	// Binaries overrides FindBinaries.
	Binaries *Binaries
	// CRDDir and RBACDir hold YAML manifests applied in this order; ""
	// means <repo>/config/crd and <repo>/config/rbac; "-" skips one.
	CRDDir  string
	RBACDir string
	// ExtraAPIServerArgs are appended to kube-apiserver's command line
	// (a later flag wins), e.g. "--max-requests-inflight=2000".
	ExtraAPIServerArgs []string
	// Log receives the output of etcd and kube-apiserver (e.g.
	// GinkgoWriter); it is always kept in <Dir>/{etcd,kube-apiserver}.log.
	Log io.Writer
	// StartTimeout bounds the wait for /readyz; default 90s.
	StartTimeout time.Duration
	// AuditLog, when set, is a file the API server writes one JSON line per
	// request to (audit level Metadata: user, verb, resource, code), e.g.
	// to count requests per host in a benchmark.
	AuditLog string
}

// Env is a running etcd and kube-apiserver.
type Env struct {
	// Admin is a system:masters client configuration.
	Admin *rest.Config
	// Host is the API server's URL (https://127.0.0.1:PORT).
	Host string
	// Dir is the temporary directory with data, certificates and logs.
	Dir string
	// EtcdURL is etcd's client URL, for tests that inspect storage.
	EtcdURL string

	ca              *ca
	procs           []*proc // started order; stopped in reverse
	apiserver, etcd *proc
	stopOnce        sync.Once
}

// Start runs etcd and kube-apiserver, waits for /readyz, and installs the
// manifests of opts. It returns an error wrapping ErrNoBinaries when the
// binaries are absent; on any other failure nothing is left running.
func Start(ctx context.Context, opts Options) (env *Env, err error) {
	bins := opts.Binaries
	if bins == nil {
		b, err := FindBinaries()
		if err != nil {
			return nil, err
		}
		bins = &b
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 90 * time.Second
	}
	dir, err := os.MkdirTemp("", "patchlet-testenv-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	e := &Env{Dir: dir}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	if e.ca, err = newCA(); err != nil {
		return nil, err
	}
	if err := e.writeCerts(); err != nil {
		return nil, err
	}
	// A free port may be taken between picking and binding it: retry.
	for attempt := 1; ; attempt++ {
		err = e.startEtcd(ctx, bins.Etcd, opts)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		err = e.startAPIServer(ctx, bins.APIServer, opts)
		if err == nil || attempt == 3 || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	root, rootErr := RepoRoot()
	dirs := []struct{ opt, def string }{{opts.CRDDir, "crd"}, {opts.RBACDir, "rbac"}}
	for _, d := range dirs {
		path := d.opt
		if path == "-" {
			continue
		}
		if path == "" {
			if rootErr != nil {
				return nil, rootErr
			}
			path = filepath.Join(root, "config", d.def)
		}
		if err := e.ApplyDir(ctx, path); err != nil {
			return nil, err
		}
	}
	return e, nil
}

func (e *Env) path(name string) string { return filepath.Join(e.Dir, name) }

func (e *Env) writeCerts() error {
	if err := os.WriteFile(e.path("ca.crt"), e.ca.certPEM, 0o600); err != nil {
		return fmt.Errorf("write ca: %w", err)
	}
	cert, key, err := e.ca.issue("kube-apiserver", nil, true)
	if err != nil {
		return err
	}
	if err := os.WriteFile(e.path("apiserver.crt"), cert, 0o600); err != nil {
		return fmt.Errorf("write serving cert: %w", err)
	}
	if err := os.WriteFile(e.path("apiserver.key"), key, 0o600); err != nil {
		return fmt.Errorf("write serving key: %w", err)
	}
	return writeServiceAccountKey(e.path("sa.key"))
}

func (e *Env) startEtcd(ctx context.Context, bin string, opts Options) error {
	client, err := freePort()
	if err != nil {
		return err
	}
	peer, err := freePort()
	if err != nil {
		return err
	}
	data := e.path("etcd")
	if err := os.RemoveAll(data); err != nil {
		return fmt.Errorf("clean etcd data: %w", err)
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(client)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
	p, err := e.spawn(bin, "etcd", opts.Log,
		"--name=testenv",
		"--data-dir="+data,
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=testenv="+peerURL,
		"--initial-cluster-state=new",
		"--snapshot-count=100000",
		"--quota-backend-bytes=8589934592",
	)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, p, http.DefaultClient, clientURL+"/health", 30*time.Second); err != nil {
		e.kill(p)
		return err
	}
	e.EtcdURL = clientURL
	e.etcd = p
	return nil
}

func (e *Env) startAPIServer(ctx context.Context, bin string, opts Options) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	e.Host = "https://127.0.0.1:" + strconv.Itoa(port)
	args := []string{
		"--etcd-servers=" + e.EtcdURL,
		"--etcd-prefix=/registry",
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + e.path("certs"),
		"--tls-cert-file=" + e.path("apiserver.crt"),
		"--tls-private-key-file=" + e.path("apiserver.key"),
		"--client-ca-file=" + e.path("ca.crt"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + e.path("sa.key"),
		"--service-account-signing-key-file=" + e.path("sa.key"),
		"--service-cluster-ip-range=10.0.0.0/24",
		"--allow-privileged=true",
		"--disable-admission-plugins=ServiceAccount",
		"--profiling=false",
	}
	if opts.AuditLog != "" {
		policy := "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n"
		if err := os.WriteFile(e.path("audit-policy.yaml"), []byte(policy), 0o600); err != nil {
			return fmt.Errorf("write audit policy: %w", err)
		}
		args = append(args, "--audit-policy-file="+e.path("audit-policy.yaml"), "--audit-log-path="+opts.AuditLog,
			"--audit-log-format=json", "--audit-log-mode=batch", "--audit-log-maxsize=0")
	}
	p, err := e.spawn(bin, "kube-apiserver", opts.Log, append(args, opts.ExtraAPIServerArgs...)...)
	if err != nil {
		return err
	}
	admin, err := e.ConfigFor("patchlet-testenv-admin", AdminGroup)
	if err != nil {
		e.kill(p)
		return err
	}
	hc, err := rest.HTTPClientFor(admin)
	if err != nil {
		e.kill(p)
		return fmt.Errorf("admin http client: %w", err)
	}
	if err := waitHTTP(ctx, p, hc, e.Host+"/readyz", opts.StartTimeout); err != nil {
		e.kill(p)
		return err
	}
	e.Admin = admin
	e.apiserver = p
	return nil
}

// ConfigFor returns a client configuration authenticated as user in groups
// (a client certificate with CN=user and O=groups).
func (e *Env) ConfigFor(user string, groups ...string) (*rest.Config, error) {
	cert, key, err := e.ca.issue(user, groups, false)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: e.Host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   e.ca.certPEM,
			CertData: cert,
			KeyData:  key,
		},
		QPS:   -1, // no client-side throttling: tests measure the server
		Burst: -1,
	}, nil
}

// HostConfig is the identity of the agent of host name: user
// HostUserPrefix+name in HostsGroup (plus extra groups, e.g. LeadersGroup).
func (e *Env) HostConfig(name string, extraGroups ...string) (*rest.Config, error) {
	return e.ConfigFor(HostUserPrefix+name, append([]string{HostsGroup}, extraGroups...)...)
}

// Impersonate returns the admin configuration acting as user in groups
// (Impersonate-User and Impersonate-Group headers). Authorization and
// admission see exactly that identity, as with ConfigFor, but all such
// configurations share the admin's TLS transport and connections: use it
// for hundreds or thousands of simulated agents in one process.
func (e *Env) Impersonate(user string, groups ...string) *rest.Config {
	cfg := rest.CopyConfig(e.Admin)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups}
	return cfg
}

// ImpersonatedHostConfig is HostConfig through Impersonate.
func (e *Env) ImpersonatedHostConfig(name string, extraGroups ...string) *rest.Config {
	return e.Impersonate(HostUserPrefix+name, append([]string{HostsGroup}, extraGroups...)...)
}

// WriteKubeconfig writes cfg (from ConfigFor, HostConfig or Admin) as a
// kubeconfig file, for agents run as processes with --kubeconfig.
func WriteKubeconfig(cfg *rest.Config, path string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["testenv"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: cfg.CAData,
	}
	kc.AuthInfos["testenv"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Token:                 cfg.BearerToken,
	}
	kc.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: "testenv"}
	kc.CurrentContext = "testenv"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}

// PIDs returns the process ids of kube-apiserver and etcd, e.g. to read
// their CPU time and memory from /proc in a benchmark.
func (e *Env) PIDs() (apiserver, etcd int) {
	return e.apiserver.cmd.Process.Pid, e.etcd.cmd.Process.Pid
}

// Stop ends kube-apiserver and etcd (SIGTERM, then SIGKILL after 10s) and
// removes Dir. It is safe to call more than once and on a nil Env.
func (e *Env) Stop() {
	if e == nil {
		return
	}
	e.stopOnce.Do(func() {
		for i := len(e.procs) - 1; i >= 0; i-- {
			e.kill(e.procs[i])
		}
		_ = os.RemoveAll(e.Dir)
	})
}

// proc is one child process and its log.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error // after done
}

func (e *Env) spawn(bin, name string, extra io.Writer, args ...string) (*proc, error) {
	logf, err := os.OpenFile(e.path(name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	var out io.Writer = logf
	if extra != nil {
		out = io.MultiWriter(logf, extra)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = e.Dir
	// Die with the test binary even when it is killed; own process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s %s: %w", bin, strings.Join(args, " "), err)
	}
	p := &proc{name: name, cmd: cmd, log: logf, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	e.procs = append(e.procs, p)
	return p, nil
}

func (e *Env) kill(p *proc) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// waitHTTP polls url until it answers 200, p exits, or the timeout passes.
func waitHTTP(ctx context.Context, p *proc, c *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last string
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("request %s: %w", url, err)
		}
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before %s was ready: %v; log tail:\n%s", p.name, url, p.err, tail(p.log.Name(), 3000))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s after %s (last answer: %s); log tail:\n%s",
				p.name, url, timeout, last, tail(p.log.Name(), 3000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("no free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
