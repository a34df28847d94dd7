package server_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/audit"
	"github.com/patchlet/patchlet/server"
)

// roleCert writes a client certificate with organizations, valid until
// notAfter, signed by ca; it returns the certificate and key files.
func roleCert(dir, name string, orgs []string, notAfter time.Time, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (string, string) {
	GinkgoHelper()
	k := newKey()
	sn, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: name, Organization: orgs},
		NotBefore:    notAfter.Add(-48 * time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	Expect(err).NotTo(HaveOccurred())
	cert, key := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writePEM(cert, "CERTIFICATE", der)
	writeKey(key, k)
	return cert, key
}

// rolePKI is a server certificate, a client CA and clients of every kind.
type rolePKI struct {
	dir, caFile, serverCert, serverKey string
	caPool                             *x509.CertPool
	ca, other                          *x509.Certificate
	caKey, otherKey                    *ecdsa.PrivateKey
	// client certificate and key files
	operator, viewer, nobody, expired, alien [2]string
}

func newRolePKI() *rolePKI {
	GinkgoHelper()
	p := &rolePKI{dir: GinkgoT().TempDir(), caPool: x509.NewCertPool()}
	p.ca, p.caKey = newCA("patchlet client ca")
	p.other, p.otherKey = newCA("another ca")
	p.caFile = filepath.Join(p.dir, "ca.crt")
	writePEM(p.caFile, "CERTIFICATE", p.ca.Raw)
	p.caPool.AddCert(p.ca)
	p.serverCert, p.serverKey = leaf(p.dir, "server", x509.ExtKeyUsageServerAuth, p.ca, p.caKey)
	later := time.Now().Add(24 * time.Hour)
	pair := func(c, k string) [2]string { return [2]string{c, k} }
	p.operator = pair(roleCert(p.dir, "olivia", []string{server.GroupOperators}, later, p.ca, p.caKey))
	p.viewer = pair(roleCert(p.dir, "victor", []string{"acme", server.GroupViewers}, later, p.ca, p.caKey))
	p.nobody = pair(roleCert(p.dir, "nadia", []string{"acme"}, later, p.ca, p.caKey))
	p.expired = pair(roleCert(p.dir, "edgar", []string{server.GroupOperators}, time.Now().Add(-time.Hour), p.ca, p.caKey))
	p.alien = pair(roleCert(p.dir, "mallory", []string{server.GroupOperators}, later, p.other, p.otherKey))
	return p
}

// client trusts the CA and presents cert (none when empty).
func (p *rolePKI) client(cert [2]string) *testServer {
	GinkgoHelper()
	cfg := &tls.Config{RootCAs: p.caPool, MinVersion: tls.VersionTLS12}
	if cert[0] != "" {
		kp, err := tls.LoadX509KeyPair(cert[0], cert[1])
		Expect(err).NotTo(HaveOccurred())
		cfg.Certificates = []tls.Certificate{kp}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	DeferCleanup(tr.CloseIdleConnections)
	return &testServer{client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// memAudit collects the entries the server records.
type memAudit struct{ entries chan audit.Entry }

func (m *memAudit) Record(_ context.Context, e audit.Entry) error {
	m.entries <- e
	return nil
}

var _ = Describe("Authentication and authorization", func() {
	var (
		p     *rolePKI
		base  string
		st    *testServer
		audit *audit.Log
		adir  string
		as    func(cert [2]string) *testServer
	)

	BeforeEach(func() {
		p = newRolePKI()
		st = &testServer{store: openStore()}
		adir = filepath.Join(GinkgoT().TempDir(), "audit")
		var err error
		audit, err = auditOpen(adir)
		Expect(err).NotTo(HaveOccurred())
		ln, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0", TLSCert: p.serverCert, TLSKey: p.serverKey, ClientCA: p.caFile})
		Expect(err).NotTo(HaveOccurred())
		startServer(server.Options{Store: st.store, Authorizer: server.NewRoleAuthorizer(os.Getuid()), Audit: audit}, ln)
		base = "https://" + ln.Addr().String()
		as = func(cert [2]string) *testServer {
			c := p.client(cert)
			c.base, c.store = base, st.store
			return c
		}
		Expect(as(p.operator).create(webPolicy).code).To(Equal(http.StatusCreated))
	})

	// unchanged checks the policy is as the operator created it.
	unchanged := func() {
		GinkgoHelper()
		obj, err := st.store.Get("patchpolicies", "web")
		Expect(err).NotTo(HaveOccurred())
		Expect(obj.GetGeneration()).To(Equal(int64(1)))
		Expect(obj.GetLabels()).To(Equal(map[string]string{"role": "web"}))
	}
	patch := []byte(`{"metadata":{"labels":{"role":"db"}}}`)

	DescribeTable("refuses writes from clients that may not write, changing nothing",
		func(who func() [2]string, code int, reason metav1.StatusReason, says string) {
			c := as(who())
			for _, r := range []response{
				c.do(http.MethodPatch, api+"/patchpolicies/web", "application/merge-patch+json", patch),
				c.do(http.MethodDelete, api+"/patchpolicies/web", "", nil),
				c.do(http.MethodPost, api+"/patchpolicies", "application/yaml", []byte(strings.Replace(webPolicy, "name: web", "name: web2", 1))),
			} {
				Expect(r.code).To(Equal(code), "body: %s", r.body)
				Expect(r.status().Reason).To(Equal(reason))
				Expect(r.status().Message).To(ContainSubstring(says))
			}
			unchanged()
			_, err := st.store.Get("patchpolicies", "web2")
			Expect(err).To(HaveOccurred())
		},
		Entry("no certificate: 401", func() [2]string { return [2]string{} }, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "client certificate"),
		Entry("a certificate from another CA: 401", func() [2]string { return p.alien }, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "unknown authority"),
		Entry("an expired certificate: 401", func() [2]string { return p.expired }, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "expired"),
		Entry("a viewer: 403", func() [2]string { return p.viewer }, http.StatusForbidden, metav1.StatusReasonForbidden, `user "victor" cannot`),
		Entry("a certificate without a role: 403", func() [2]string { return p.nobody }, http.StatusForbidden, metav1.StatusReasonForbidden, "O=patchlet:operators"),
	)

	It("lets viewers read, watch and read status, and nobody without a role", func() {
		v := as(p.viewer)
		Expect(v.get(api + "/patchpolicies").code).To(Equal(http.StatusOK))
		Expect(v.get(api + "/patchpolicies/web").code).To(Equal(http.StatusOK))
		Expect(v.get(api + "/patchpolicies/web/status").code).To(Equal(http.StatusOK))
		Expect(v.get(api + "/patchpolicies?watch=true&timeoutSeconds=1").code).To(Equal(http.StatusOK))
		r := as(p.nobody).get(api + "/patchpolicies")
		Expect(r.code).To(Equal(http.StatusForbidden))
		Expect(as([2]string{}).get(api + "/hosts").code).To(Equal(http.StatusUnauthorized))
		Expect(as([2]string{}).get("/apis").code).To(Equal(http.StatusOK), "discovery is public")
	})

	It("lets operators change policies but not status, and audits who changed what from where", func() {
		o := as(p.operator)
		r := o.do(http.MethodPatch, api+"/patchpolicies/web", "application/merge-patch+json", []byte(`{"spec":{"updates":{"apply":"All"}}}`))
		Expect(r.code).To(Equal(http.StatusOK), "body: %s", r.body)
		Expect(r.policy().Generation).To(Equal(int64(2)))

		r = o.do(http.MethodPatch, api+"/patchpolicies/web/status", "application/merge-patch+json", []byte(`{"status":{"observedGeneration":2}}`))
		Expect(r.code).To(Equal(http.StatusForbidden))
		Expect(r.status().Message).To(ContainSubstring("written by the agent"))

		Expect(o.do(http.MethodDelete, api+"/patchpolicies/web", "", nil).code).To(Equal(http.StatusOK))

		Expect(audit.Close()).To(Succeed())
		b, err := os.ReadFile(filepath.Join(adir, "audit.log"))
		Expect(err).NotTo(HaveOccurred())
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e struct{ Change map[string]any }
			Expect(json.Unmarshal([]byte(line), &e)).To(Succeed())
			Expect(e.Change["user"]).To(Equal("olivia"))
			Expect(e.Change["from"]).To(HavePrefix("127.0.0.1:"))
			got = append(got, fmt.Sprintf("%s %s/%s %v->%v", e.Change["verb"], e.Change["resource"], e.Change["name"], e.Change["generationBefore"], e.Change["generationAfter"]))
		}
		Expect(got).To(Equal([]string{
			"create patchpolicies/web 0->1",
			"patch patchpolicies/web 1->2",
			"delete patchpolicies/web 2->0",
		}), "refused requests are not recorded")
		Expect(auditVerify(adir)).To(Succeed())
	})
})

var _ = Describe("The unix socket", func() {
	It("lets root do everything and audits the peer's uid", func() {
		path := filepath.Join(GinkgoT().TempDir(), "p.sock")
		ln, err := server.Listen(server.ListenConfig{Listen: "unix:" + path})
		Expect(err).NotTo(HaveOccurred())
		rec := &memAudit{entries: make(chan audit.Entry, 4)}
		startServer(server.Options{Store: openStore(), Authorizer: server.NewRoleAuthorizer(os.Getuid()), Audit: rec}, ln)
		c := &testServer{base: "http://patchlet", client: unixClient(path)}
		Expect(c.create(webPolicy).code).To(Equal(http.StatusCreated))
		var e audit.Entry
		Eventually(rec.entries).Should(Receive(&e))
		Expect(e.Change.User).To(Equal(fmt.Sprintf("uid=%d", os.Getuid())))
		Expect(e.Change.From).To(Equal("@"))
		Expect(e.Change.Verb).To(Equal("create"))
	})

	It("refuses a peer whose uid is not allowed", func() {
		path := filepath.Join(GinkgoT().TempDir(), "p.sock")
		ln, err := server.Listen(server.ListenConfig{Listen: "unix:" + path})
		Expect(err).NotTo(HaveOccurred())
		startServer(server.Options{Store: openStore(), Authorizer: &server.RoleAuthorizer{UnixUIDs: []int{4242}}}, ln)
		c := &testServer{base: "http://patchlet", client: unixClient(path)}
		r := c.get(api + "/patchpolicies")
		Expect(r.code).To(Equal(http.StatusForbidden))
		Expect(r.status().Message).To(ContainSubstring(fmt.Sprintf("uid=%d", os.Getuid())))
	})
})

var _ = Describe("The allow-list", func() {
	It("answers 403 to an address outside it before anything else, and serves one inside", func() {
		outside := newLoopbackServer(server.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
		r := outside.get("/healthz")
		Expect(r.code).To(Equal(http.StatusForbidden))
		Expect(r.status().Message).To(ContainSubstring("allow-list"))
		Expect(outside.create(webPolicy).code).To(Equal(http.StatusForbidden))
		Expect(outside.store.Get("patchpolicies", "web")).Error().To(HaveOccurred())

		inside := newLoopbackServer(server.Options{AllowCIDRs: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("127.0.0.0/8")}})
		Expect(inside.get("/healthz").code).To(Equal(http.StatusOK))
	})

	DescribeTable("ParseCIDRs",
		func(in []string, want []string, wantErr string) {
			got, err := server.ParseCIDRs(in)
			if wantErr != "" {
				Expect(err).To(MatchError(ContainSubstring(wantErr)))
				return
			}
			Expect(err).NotTo(HaveOccurred())
			var s []string
			for _, p := range got {
				s = append(s, p.String())
			}
			Expect(s).To(Equal(want))
		},
		Entry("networks, addresses, comma lists", []string{"10.1.2.3/8", "192.0.2.9,2001:db8::1"}, []string{"10.0.0.0/8", "192.0.2.9/32", "2001:db8::1/128"}, ""),
		Entry("garbage", []string{"10.0.0.0/33"}, nil, "--allow-cidr"),
	)
})

var _ = Describe("Limits", func() {
	It("rate-limits a client with 429 and Retry-After", func() {
		t := newLoopbackServer(server.Options{RateLimit: 1, RateBurst: 3})
		for range 3 {
			Expect(t.get(api + "/patchpolicies").code).To(Equal(http.StatusOK))
		}
		r := t.get(api + "/patchpolicies")
		Expect(r.code).To(Equal(http.StatusTooManyRequests))
		Expect(r.header.Get("Retry-After")).To(Equal("1"))
		Expect(r.status().Reason).To(Equal(metav1.StatusReasonTooManyRequests))
		Eventually(func() int { return t.get("/healthz").code }).WithTimeout(3 * time.Second).Should(Equal(http.StatusOK))
	})

	It("bounds concurrent watches with 429, and frees a slot when a watch ends", func() {
		t := newLoopbackServer(server.Options{MaxWatches: 2})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		open := func(ctx context.Context) *http.Response {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+api+"/patchpolicies?watch=true", nil)
			Expect(err).NotTo(HaveOccurred())
			resp, err := t.client.Do(req)
			Expect(err).NotTo(HaveOccurred())
			return resp
		}
		first := open(ctx)
		Expect(first.StatusCode).To(Equal(http.StatusOK))
		ctx2, cancel2 := context.WithCancel(context.Background())
		second := open(ctx2)
		Expect(second.StatusCode).To(Equal(http.StatusOK))
		r := t.get(api + "/patchpolicies?watch=true")
		Expect(r.code).To(Equal(http.StatusTooManyRequests))
		Expect(r.header.Get("Retry-After")).NotTo(BeEmpty())
		Expect(t.get(api+"/patchpolicies").code).To(Equal(http.StatusOK), "lists are not watches")
		cancel2()
		second.Body.Close()
		Eventually(func() int {
			ctx3, cancel3 := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel3()
			resp := open(ctx3)
			defer resp.Body.Close()
			return resp.StatusCode
		}).Should(Equal(http.StatusOK))
		first.Body.Close()
	})

	It("answers 408 to a body sent too slowly and closes the connection", func() {
		t := newLoopbackServer(server.Options{BodyTimeout: 300 * time.Millisecond})
		conn, err := net.Dial("tcp", strings.TrimPrefix(t.base, "http://"))
		Expect(err).NotTo(HaveOccurred())
		defer conn.Close()
		fmt.Fprintf(conn, "POST %s/patchpolicies HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/yaml\r\nContent-Length: 1000\r\n\r\napiVersion: ", api)
		Expect(conn.SetReadDeadline(time.Now().Add(5 * time.Second))).To(Succeed())
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(http.StatusRequestTimeout))
		Expect(t.store.Get("patchpolicies", "web")).Error().To(HaveOccurred())
	})

	It("closes connections that send their headers slowly, so they do not pin goroutines", func() {
		t := newLoopbackServer(server.Options{HeaderTimeout: 300 * time.Millisecond})
		Expect(t.get("/healthz").code).To(Equal(http.StatusOK))
		t.client.Transport.(*http.Transport).CloseIdleConnections()
		before := runtime.NumGoroutine()
		const n = 50
		conns := make([]net.Conn, n)
		for i := range conns {
			c, err := net.Dial("tcp", strings.TrimPrefix(t.base, "http://"))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(c.Close)
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
			conns[i] = c
		}
		start := time.Now()
		closed := make(chan int, n)
		for i, c := range conns {
			go func() {
				// One header byte every 50ms: never finishes in time.
				for range 100 {
					if _, err := c.Write([]byte("X")); err != nil {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				closed <- i
			}()
		}
		for range n {
			Eventually(closed).WithTimeout(5 * time.Second).Should(Receive())
		}
		Expect(time.Since(start)).To(BeNumerically("<", 4*time.Second))
		Eventually(runtime.NumGoroutine).WithTimeout(5 * time.Second).Should(BeNumerically("<=", before+2))
	})
})

var _ = Describe("Certificate reload", func() {
	It("serves a replaced server certificate and client CA on new handshakes without closing the listener", func() {
		p := newRolePKI()
		ln, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0", TLSCert: p.serverCert, TLSKey: p.serverKey, ClientCA: p.caFile})
		Expect(err).NotTo(HaveOccurred())
		startServer(server.Options{Store: openStore(), Authorizer: server.NewRoleAuthorizer(os.Getuid())}, ln)
		addr := ln.Addr().String()

		serverCN := func() string {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.caPool, ServerName: "localhost"})
			Expect(err).NotTo(HaveOccurred())
			defer c.Close()
			return c.ConnectionState().PeerCertificates[0].Subject.CommonName
		}
		Expect(serverCN()).To(Equal("server"))
		get := func(cert [2]string) int {
			c := p.client(cert)
			c.base = "https://" + addr
			return c.get(api + "/patchpolicies").code
		}
		Expect(get(p.viewer)).To(Equal(http.StatusOK))
		Expect(get(p.alien)).To(Equal(http.StatusUnauthorized))

		// Replace the server certificate (renamed over, as tools do) and
		// trust the other CA instead of the first.
		newCert, newKey := leaf(GinkgoT().TempDir(), "server-renewed", x509.ExtKeyUsageServerAuth, p.ca, p.caKey)
		for src, dst := range map[string]string{newCert: p.serverCert, newKey: p.serverKey} {
			b, err := os.ReadFile(src)
			Expect(err).NotTo(HaveOccurred())
			Expect(os.WriteFile(dst+".tmp", b, 0o600)).To(Succeed())
			Expect(os.Rename(dst+".tmp", dst)).To(Succeed())
		}
		Eventually(serverCN).WithTimeout(5 * time.Second).Should(Equal("server-renewed"))

		writePEM(p.caFile+".tmp", "CERTIFICATE", p.other.Raw)
		Expect(os.Rename(p.caFile+".tmp", p.caFile)).To(Succeed())
		Eventually(func() int { return get(p.alien) }).WithTimeout(5 * time.Second).Should(Equal(http.StatusOK))
		Expect(get(p.viewer)).To(Equal(http.StatusUnauthorized))
		Expect(ln.Addr().String()).To(Equal(addr))
	})

	It("reloads on SIGHUP and keeps the loaded files when the new ones are broken", func() {
		p := newRolePKI()
		ln, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0", TLSCert: p.serverCert, TLSKey: p.serverKey})
		Expect(err).NotTo(HaveOccurred())
		_, ok := ln.(server.Reloader)
		Expect(ok).To(BeTrue())
		startServer(server.Options{Store: openStore(), Log: logr.Discard()}, ln)
		addr := ln.Addr().String()
		serverCN := func() string {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: p.caPool, ServerName: "localhost"})
			if err != nil {
				return err.Error()
			}
			defer c.Close()
			return c.ConnectionState().PeerCertificates[0].Subject.CommonName
		}
		Expect(os.WriteFile(p.serverCert, []byte("garbage"), 0o600)).To(Succeed())
		Expect(ln.(server.Reloader).Reload()).To(MatchError(ContainSubstring("--tls-cert")))
		Consistently(serverCN, 300*time.Millisecond).Should(Equal("server"))

		newCert, newKey := leaf(GinkgoT().TempDir(), "server-hup", x509.ExtKeyUsageServerAuth, p.ca, p.caKey)
		Expect(syscall.Kill(os.Getpid(), syscall.SIGHUP)).To(Succeed(), "a failing reload keeps the loaded files")
		Consistently(serverCN, 300*time.Millisecond).Should(Equal("server"))
		b, _ := os.ReadFile(newCert)
		k, _ := os.ReadFile(newKey)
		Expect(os.WriteFile(p.serverKey, k, 0o600)).To(Succeed())
		Expect(os.WriteFile(p.serverCert, b, 0o600)).To(Succeed())
		Expect(syscall.Kill(os.Getpid(), syscall.SIGHUP)).To(Succeed())
		Eventually(serverCN).WithTimeout(5 * time.Second).Should(Equal("server-hup"))
	})
})

func auditOpen(dir string) (*audit.Log, error) {
	return audit.Open(audit.Options{Dir: dir, Log: logr.Discard()})
}

func auditVerify(dir string) error { return audit.Verify(dir) }
