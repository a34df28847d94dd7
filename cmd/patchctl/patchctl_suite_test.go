package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/version"

	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

func TestPatchctl(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "patchctl")
}

// binary is the patchctl built once for the suite.
var binary string

var _ = BeforeSuite(func() {
	dir, err := os.MkdirTemp("", "patchctl-bin-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	binary = filepath.Join(dir, "patchctl")
	cmd := exec.Command("go", "build", "-o", binary, ".")
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), string(out))
})

// agent is a real API server over a real store, listening on a unix socket.
type agent struct {
	store  *store.Store
	dir    string
	socket string

	mu   sync.Mutex
	logs map[string]string
	// openLog, when set, serves the logs instead of logs (a real executor).
	openLog func(name string) (io.ReadCloser, error)
}

// startAgent serves the API of a fresh store on a unix socket (and on the
// listener extra returns, when given) until the spec ends.
func startAgent(extra ...server.ListenConfig) (*agent, []string) {
	// Short paths: a unix socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "pctl-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	st, err := store.Open(filepath.Join(dir, "state"), store.Options{})
	Expect(err).NotTo(HaveOccurred())
	a := &agent{store: st, dir: dir, socket: filepath.Join(dir, "api.sock"), logs: map[string]string{}}
	srv := server.New(server.Options{
		Store:   st,
		Log:     logr.Discard(),
		Version: version.Info{Major: "1", Minor: "32", GitVersion: "v1.32.0-patchlet+test"},
		OperationLogs: func(name string) (io.ReadCloser, error) {
			a.mu.Lock()
			defer a.mu.Unlock()
			if a.openLog != nil {
				return a.openLog(name)
			}
			l, ok := a.logs[name]
			if !ok {
				return nil, os.ErrNotExist
			}
			return io.NopCloser(strings.NewReader(l)), nil
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	serve := func(lc server.ListenConfig) string {
		ln, err := server.Listen(lc)
		Expect(err).NotTo(HaveOccurred())
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer GinkgoRecover()
			err := srv.Serve(ctx, ln)
			if err != nil && !errors.Is(err, context.Canceled) {
				Expect(err).NotTo(HaveOccurred())
			}
		}()
		return ln.Addr().String()
	}
	serve(server.ListenConfig{Listen: "unix:" + a.socket})
	var addrs []string
	for _, lc := range extra {
		addrs = append(addrs, serve(lc))
	}
	DeferCleanup(func() {
		cancel()
		wg.Wait()
	})
	return a, addrs
}

func (a *agent) setLog(name, text string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.logs[name] = text
}

// server is the --server value of the agent's socket.
func (a *agent) server() string { return "unix:" + a.socket }

// result is one run of patchctl.
type result struct {
	stdout, stderr string
	code           int
}

// ctl runs patchctl with args against nothing in particular (pass --server).
func ctl(stdin string, env []string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		Expect(err).NotTo(HaveOccurred())
	}
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// run runs patchctl against the agent.
func (a *agent) run(args ...string) result {
	return ctl("", nil, append([]string{"--server", a.server()}, args...)...)
}

// runIn runs patchctl against the agent with stdin.
func (a *agent) runIn(stdin string, args ...string) result {
	return ctl(stdin, nil, append([]string{"--server", a.server()}, args...)...)
}

// started is a patchctl running in the background.
type started struct {
	cmd         *exec.Cmd
	out, errOut *syncBuffer
	done        chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs patchctl against the agent in the background; it is killed
// when the spec ends.
func (a *agent) start(args ...string) *started {
	cmd := exec.Command(binary, append([]string{"--server", a.server()}, args...)...)
	s := &started{cmd: cmd, out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.errOut
	Expect(cmd.Start()).To(Succeed())
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	DeferCleanup(func() {
		_ = cmd.Process.Kill()
		<-s.done
	})
	return s
}

func (s *started) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *started) exitCode() int { return s.cmd.ProcessState.ExitCode() }
