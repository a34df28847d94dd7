package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/internal/testsupport/testrepo"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

// wsWatch is a watch over WebSocket read with the library's own client.
type wsWatch struct {
	conn   *websocket.Conn
	events chan event
	// end receives the error that ended reading: the server's close.
	end chan error
}

// dialWatch opens a WebSocket to path; header pairs are sent with the
// handshake. The response is the handshake's answer when it was refused.
func (t *testServer) dialWatch(path string, header ...string) (*websocket.Conn, *http.Response, error) {
	GinkgoHelper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{}
	for i := 0; i+1 < len(header); i += 2 {
		h.Set(header[i], header[i+1])
	}
	c, resp, err := websocket.Dial(ctx, t.base+path, &websocket.DialOptions{HTTPClient: t.client, HTTPHeader: h})
	if c != nil {
		DeferCleanup(func() { _ = c.CloseNow() }) // an error: closed already
	}
	return c, resp, err
}

// wsWatch opens a WebSocket watch that must be accepted and reads its
// events; each must be a text message holding one JSON event.
func (t *testServer) wsWatch(path string, header ...string) *wsWatch {
	GinkgoHelper()
	c, resp, err := t.dialWatch(path, header...)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(http.StatusSwitchingProtocols))
	c.SetReadLimit(4 << 20)
	w := &wsWatch{conn: c, events: make(chan event, 100), end: make(chan error, 1)}
	go func() {
		defer GinkgoRecover()
		defer close(w.events)
		for {
			typ, b, err := c.Read(context.Background())
			if err != nil {
				w.end <- err
				return
			}
			Expect(typ).To(Equal(websocket.MessageText))
			var ev event
			Expect(json.Unmarshal(b, &ev)).To(Succeed(), "message: %s", b)
			w.events <- ev
		}
	}()
	return w
}

// closedWith is the close code the server ended the watch with.
func (w *wsWatch) closedWith() websocket.StatusCode {
	GinkgoHelper()
	var err error
	Eventually(w.end).WithTimeout(10 * time.Second).Should(Receive(&err))
	return websocket.CloseStatus(err)
}

// refusedStatus is the metav1.Status of a refused handshake.
func refusedStatus(resp *http.Response) metav1.Status {
	GinkgoHelper()
	Expect(resp).NotTo(BeNil())
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return response{code: resp.StatusCode, body: b}.status()
}

var _ = Describe("Watch over WebSocket", func() {
	var t *testServer
	BeforeEach(func() {
		t = newLoopbackServer(server.Options{WebSocketOrigins: []string{"https://hub.example.com"}})
	})

	It("streams ADDED, MODIFIED and DELETED as text messages, each the JSON event of the chunked watch", func() {
		Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
		w := t.wsWatch(api + "/patchpolicies?watch=true")
		var ev event
		Eventually(w.events).Should(Receive(&ev))
		Expect(ev.String()).To(Equal("ADDED web"))
		stored, err := t.store.GetJSON(store.PatchPolicies, "web")
		Expect(err).NotTo(HaveOccurred())
		Expect(ev.Object).To(MatchJSON(stored))

		setPolicyLabel(t.store, "web", "tier", "1")
		Eventually(w.events).Should(Receive(&ev))
		Expect(ev.String()).To(Equal("MODIFIED web"))
		var p v1alpha1.PatchPolicy
		Expect(json.Unmarshal(ev.Object, &p)).To(Succeed())
		Expect(p.Labels).To(HaveKeyWithValue("tier", "1"))

		Expect(t.do(http.MethodDelete, api+"/patchpolicies/web", "", nil).code).To(Equal(http.StatusOK))
		Eventually(w.events).Should(Receive(HaveField("String()", "DELETED web")))
	})

	It("resumes after a resourceVersion and applies the field selector", func() {
		p := t.create(webPolicy).policy()
		setPolicyLabel(t.store, "web", "tier", "1") // after the version the watch starts from
		w := t.wsWatch(api + "/patchpolicies?watch=true&fieldSelector=metadata.name%3Dweb&resourceVersion=" + p.ResourceVersion)
		Eventually(w.events).Should(Receive(HaveField("String()", "MODIFIED web")))

		Expect(t.create("apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata: {name: other}\n").code).To(Equal(http.StatusCreated))
		setPolicyLabel(t.store, "web", "tier", "2")
		var ev event
		Eventually(w.events).Should(Receive(&ev))
		Expect(ev.String()).To(Equal("MODIFIED web"), "the event of 'other' is filtered out")
	})

	It("sends an object that stops matching the label selector as DELETED", func() {
		Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
		w := t.wsWatch(api + "/patchpolicies?watch=true&labelSelector=role%3Dweb")
		Eventually(w.events).Should(Receive(HaveField("String()", "ADDED web")))
		setPolicyLabel(t.store, "web", "role", "db")
		Eventually(w.events).Should(Receive(HaveField("String()", "DELETED web")))
	})

	It("closes normally after timeoutSeconds", func() {
		w := t.wsWatch(api + "/hosts?watch=true&timeoutSeconds=1")
		Expect(w.closedWith()).To(Equal(websocket.StatusNormalClosure))
	})

	It("answers a resourceVersion older than the store's history with a 410 ERROR event, then closes", func() {
		Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
		setPolicyLabel(t.store, "web", "tier", "1")
		st, err := store.Open(t.store.Dir(), store.Options{})
		Expect(err).NotTo(HaveOccurred())
		t = newLoopbackServer(server.Options{Store: st})
		w := t.wsWatch(api + "/patchpolicies?watch=true&resourceVersion=1")
		var ev event
		Eventually(w.events).Should(Receive(&ev))
		Expect(ev.Type).To(Equal("ERROR"))
		var status metav1.Status
		Expect(json.Unmarshal(ev.Object, &status)).To(Succeed())
		Expect(status.Code).To(Equal(int32(http.StatusGone)))
		Expect(w.closedWith()).To(Equal(websocket.StatusNormalClosure))
	})

	It("answers a bad request before the upgrade with a Status", func() {
		_, resp, err := t.dialWatch(api + "/patchpolicies?watch=true&timeoutSeconds=soon")
		Expect(err).To(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
		Expect(refusedStatus(resp).Message).To(ContainSubstring("timeoutSeconds"))
	})

	DescribeTable("checks a browser's Origin",
		func(origin string, accepted bool) {
			c, resp, err := t.dialWatch(api+"/patchpolicies?watch=true", "Origin", strings.ReplaceAll(origin, "SELF", strings.TrimPrefix(t.base, "http://")))
			if accepted {
				Expect(err).NotTo(HaveOccurred())
				Expect(c.Close(websocket.StatusNormalClosure, "")).To(Succeed())
				return
			}
			Expect(err).To(HaveOccurred())
			Expect(resp.StatusCode).To(Equal(http.StatusForbidden))
			Expect(refusedStatus(resp).Message).To(ContainSubstring("--websocket-origin"))
		},
		Entry("the agent's own origin", "http://SELF", true),
		Entry("an allowed origin", "https://hub.example.com", true),
		Entry("another origin", "https://evil.example.net", false),
		Entry("the allowed host on another scheme", "http://hub.example.com", false),
		Entry("an opaque origin (a sandboxed page)", "null", false),
	)

	It("holds a watch slot until the client closes or stops answering pings", func() {
		t = newLoopbackServer(server.Options{MaxWatches: 1})
		server.SetPingInterval(t.server, 100*time.Millisecond)
		w := t.wsWatch(api + "/patchpolicies?watch=true")
		Expect(t.get(api + "/patchpolicies?watch=true").code).To(Equal(http.StatusTooManyRequests))
		_, resp, err := t.dialWatch(api + "/hosts?watch=true")
		Expect(err).To(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(http.StatusTooManyRequests))
		Expect(resp.Header.Get("Retry-After")).NotTo(BeEmpty())

		Consistently(w.end, "300ms").ShouldNot(Receive(), "a client that reads answers pings and keeps its watch")
		Expect(w.conn.Close(websocket.StatusNormalClosure, "done")).To(Succeed())

		// A client that never reads never answers a ping: the server drops it.
		Eventually(func() error {
			_, _, err := t.dialWatch(api + "/patchpolicies?watch=true")
			return err
		}).Should(Succeed(), "the closed watch freed its slot")
		Eventually(func() int { return t.get(api + "/patchpolicies?watch=true&timeoutSeconds=1").code }).
			WithTimeout(10*time.Second).Should(Equal(http.StatusOK), "the unresponsive client lost its slot")
	})

	It("closes with 1001 when the server shuts down", func() {
		s, stop := stoppableServer()
		w := s.wsWatch(api + "/patchpolicies?watch=true")
		Consistently(w.end, "100ms").ShouldNot(Receive())
		done := stop()
		Expect(w.closedWith()).To(Equal(websocket.StatusGoingAway))
		Eventually(done).WithTimeout(5 * time.Second).Should(Receive(BeNil()))
	})

	When("the agent asks for client certificates", func() {
		var (
			p  *rolePKI
			as func(cert [2]string) *testServer
		)
		BeforeEach(func() {
			p = newRolePKI()
			st := openStore()
			ln, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0", TLSCert: p.serverCert, TLSKey: p.serverKey, ClientCA: p.caFile})
			Expect(err).NotTo(HaveOccurred())
			startServer(server.Options{Store: st, Authorizer: server.NewRoleAuthorizer(os.Getuid())}, ln)
			as = func(cert [2]string) *testServer {
				c := p.client(cert)
				c.base, c.store = "https://"+ln.Addr().String(), st
				return c
			}
			Expect(as(p.operator).create(webPolicy).code).To(Equal(http.StatusCreated))
		})

		It("lets a viewer watch", func() {
			w := as(p.viewer).wsWatch(api + "/patchpolicies?watch=true")
			Eventually(w.events).Should(Receive(HaveField("String()", "ADDED web")))
		})

		DescribeTable("refuses the upgrade of a client without a role",
			func(who func() [2]string, code int) {
				_, resp, err := as(who()).dialWatch(api + "/patchpolicies?watch=true")
				Expect(err).To(HaveOccurred())
				Expect(resp.StatusCode).To(Equal(code))
				Expect(refusedStatus(resp).Code).To(Equal(int32(code)))
			},
			Entry("no certificate: 401", func() [2]string { return [2]string{} }, http.StatusUnauthorized),
			Entry("a certificate without a role: 403", func() [2]string { return p.nobody }, http.StatusForbidden),
		)
	})
})

var _ = Describe("--websocket-origin", func() {
	It("takes origins only", func() {
		got, err := server.ParseWebSocketOrigins([]string{"https://Hub.Example.com:8443", "http://localhost:3000/"})
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(Equal([]string{"https://hub.example.com:8443", "http://localhost:3000"}))
		for _, bad := range []string{"hub.example.com", "*", "https://hub.example.com/app", "ftp://hub", "https://u@hub"} {
			_, err := server.ParseWebSocketOrigins([]string{bad})
			Expect(err).To(HaveOccurred(), bad)
		}
	})
})

var _ = Describe("Watch over WebSocket on the real agent", Label("integration"), func() {
	It("streams the agent's own writes and a dropped-in policy, checks Origin by the flag, and closes with 1001 on SIGTERM", func() {
		if _, err := exec.LookPath("apt-get"); err != nil {
			Skip("apt-get is not installed")
		}
		// Short: a unix socket path must fit in 108 bytes.
		dir, err := os.MkdirTemp("", "pws-")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(os.RemoveAll, dir)
		bin := filepath.Join(dir, "patchlet")
		build := exec.Command("go", "build", "-o", bin, "./cmd/patchlet")
		build.Dir = ".."
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build ./cmd/patchlet: %s", out)
		root, err := testrepo.NewRoot(filepath.Join(dir, "root"))
		Expect(err).NotTo(HaveOccurred())
		policies, sock := filepath.Join(dir, "policies"), filepath.Join(dir, "api.sock")
		Expect(os.MkdirAll(policies, 0o755)).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("{}\n"), 0o644)).To(Succeed())
		agentLog, err := os.Create(filepath.Join(dir, "agent.log"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(agentLog.Close)
		cmd := exec.Command(bin, "--root", root.Dir, "--state-dir", filepath.Join(dir, "state"), "--listen", "unix:"+sock,
			"--policy-dir", policies, "--backend", "apt", "--executor", "detached", "--host-name", "h",
			"--log-format", "json", "--config", filepath.Join(dir, "config.yaml"),
			"--websocket-origin", "https://hub.example.com")
		cmd.Stdout, cmd.Stderr = agentLog, agentLog
		cmd.Env = []string{"PATH=" + testrepo.DefaultPath}
		Expect(cmd.Start()).To(Succeed())
		DeferCleanup(stopAgent, cmd)
		DeferCleanup(func() {
			if CurrentSpecReport().Failed() {
				b, _ := os.ReadFile(agentLog.Name())
				GinkgoWriter.Printf("agent log:\n%s\n", b)
			}
		})

		t := &testServer{base: "http://patchlet", client: unixClient(sock)}
		Eventually(func() error {
			code, _, err := getBody(t.client, t.base+"/healthz")
			if err == nil && code != http.StatusOK {
				err = fmt.Errorf("healthz: %d", code)
			}
			return err
		}).WithTimeout(30*time.Second).Should(Succeed(), "the agent serves")
		hosts := t.wsWatch(api + "/hosts?watch=true")
		Eventually(hosts.events).WithTimeout(30*time.Second).Should(Receive(HaveField("String()", "ADDED h")), "the Host the agent wrote")
		pols := t.wsWatch(api+"/patchpolicies?watch=true&labelSelector=role%3Dweb", "Origin", "https://hub.example.com")
		Expect(os.WriteFile(filepath.Join(policies, "web.yaml"), []byte(webPolicy), 0o644)).To(Succeed())
		Eventually(pols.events).WithTimeout(30 * time.Second).Should(Receive(HaveField("String()", "ADDED web")))

		_, resp, err := t.dialWatch(api+"/hosts?watch=true", "Origin", "https://evil.example.net")
		Expect(err).To(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(http.StatusForbidden))

		Expect(cmd.Process.Signal(syscall.SIGTERM)).To(Succeed())
		Expect(hosts.closedWith()).To(Equal(websocket.StatusGoingAway))
		Expect(pols.closedWith()).To(Equal(websocket.StatusGoingAway))
	})
})
