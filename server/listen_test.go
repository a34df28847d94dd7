package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/server"
)

func unixClient(path string) *http.Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	DeferCleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func getBody(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

var _ = Describe("Listen", func() {
	When("listening on a unix socket", func() {
		It("creates the directory, restricts the socket to its owner and serves the API", func() {
			path := filepath.Join(GinkgoT().TempDir(), "run", "patchlet", "patchlet.sock")
			ln, err := server.Listen(server.ListenConfig{Listen: "unix:" + path})
			Expect(err).NotTo(HaveOccurred())
			fi, err := os.Stat(path)
			Expect(err).NotTo(HaveOccurred())
			Expect(fi.Mode() & os.ModeSocket).NotTo(BeZero())
			Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)))
			di, err := os.Stat(filepath.Dir(path))
			Expect(err).NotTo(HaveOccurred())
			Expect(di.Mode().Perm()).To(Equal(os.FileMode(0o755)))

			startServer(server.Options{Store: openStore()}, ln)
			code, body, err := getBody(unixClient(path), "http://patchlet/healthz")
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusOK))
			Expect(body).To(Equal("ok"))
		})

		It("replaces a stale socket left by a crashed agent", func() {
			path := filepath.Join(GinkgoT().TempDir(), "patchlet.sock")
			old, err := net.Listen("unix", path)
			Expect(err).NotTo(HaveOccurred())
			old.(*net.UnixListener).SetUnlinkOnClose(false)
			Expect(old.Close()).To(Succeed())
			Expect(path).To(BeAnExistingFile())

			ln, err := server.Listen(server.ListenConfig{Listen: "unix:" + path})
			Expect(err).NotTo(HaveOccurred())
			startServer(server.Options{Store: openStore()}, ln)
			code, _, err := getBody(unixClient(path), "http://patchlet/livez")
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusOK))
		})

		It("refuses a socket another process is serving on, and a path that is not a socket", func() {
			path := filepath.Join(GinkgoT().TempDir(), "patchlet.sock")
			busy, err := net.Listen("unix", path)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(busy.Close)
			_, err = server.Listen(server.ListenConfig{Listen: "unix:" + path})
			Expect(err).To(MatchError(ContainSubstring("another process is serving on " + path)))

			file := filepath.Join(GinkgoT().TempDir(), "precious")
			Expect(os.WriteFile(file, []byte("data"), 0o644)).To(Succeed())
			_, err = server.Listen(server.ListenConfig{Listen: "unix:" + file})
			Expect(err).To(MatchError(ContainSubstring("is not a socket")))
			Expect(os.ReadFile(file)).To(Equal([]byte("data")))
		})
	})

	DescribeTable("refuses unsafe or incomplete TCP configurations, naming the flag",
		func(c server.ListenConfig, want string) {
			ln, err := server.Listen(c)
			if ln != nil {
				ln.Close()
			}
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("plain HTTP on every interface", server.ListenConfig{Listen: ":0", Insecure: true}, "--insecure is allowed on a loopback address only"),
		Entry("plain HTTP on a routable address", server.ListenConfig{Listen: "192.0.2.1:8443", Insecure: true}, "--insecure is allowed on a loopback address only"),
		Entry("TCP without a certificate", server.ListenConfig{Listen: "127.0.0.1:0"}, "needs --tls-cert and --tls-key"),
		Entry("a key without a certificate", server.ListenConfig{Listen: "127.0.0.1:0", TLSKey: "/nonexistent.key"}, "needs --tls-cert and --tls-key"),
		Entry("a certificate file that does not exist", server.ListenConfig{Listen: "127.0.0.1:0", TLSCert: "/nonexistent.crt", TLSKey: "/nonexistent.key"}, "--tls-cert"),
		Entry("--insecure with TLS flags", server.ListenConfig{Listen: "127.0.0.1:0", Insecure: true, TLSCert: "a", TLSKey: "b"}, "do not combine it with --tls-cert"),
		Entry("a malformed address", server.ListenConfig{Listen: "patchlet.sock"}, "--listen"),
		Entry("TLS flags on a unix socket", server.ListenConfig{Listen: "unix:/tmp/x.sock", TLSCert: "a"}, "apply to a TCP address only"),
	)

	It("refuses a --client-ca file without certificates", func() {
		c := newCerts()
		empty := filepath.Join(c.dir, "empty.pem")
		Expect(os.WriteFile(empty, []byte("not pem"), 0o600)).To(Succeed())
		_, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0", TLSCert: c.serverCert, TLSKey: c.serverKey, ClientCA: empty})
		Expect(err).To(MatchError(ContainSubstring("--client-ca")))
	})

	When("serving TLS on loopback", func() {
		It("serves clients that trust the CA, with TLS 1.2 at least", func() {
			c := newCerts()
			ln, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0", TLSCert: c.serverCert, TLSKey: c.serverKey})
			Expect(err).NotTo(HaveOccurred())
			startServer(server.Options{Store: openStore()}, ln)
			url := "https://" + ln.Addr().String()

			code, body, err := getBody(c.tlsClient("", ""), url+"/version")
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusOK))
			Expect(body).To(ContainSubstring(`"gitVersion":"v1.32.0-patchlet+test"`))

			old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
				RootCAs: c.caPool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11,
			}}}
			_, _, err = getBody(old, url+"/version")
			Expect(err).To(HaveOccurred())
		})
	})

	When("serving mutual TLS", func() {
		var (
			c   *certs
			url string
		)
		BeforeEach(func() {
			c = newCerts()
			ln, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0", TLSCert: c.serverCert, TLSKey: c.serverKey, ClientCA: c.caFile})
			Expect(err).NotTo(HaveOccurred())
			startServer(server.Options{Store: openStore()}, ln)
			url = "https://" + ln.Addr().String() + api + "/patchpolicies"
		})

		It("serves a client with a certificate from the client CA", func() {
			code, body, err := getBody(c.tlsClient(c.clientCert, c.clientKey), url)
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusOK))
			Expect(body).To(ContainSubstring(`"kind":"PatchPolicyList"`))
		})

		It("answers 401 without a client certificate, and serves health checks", func() {
			code, body, err := getBody(c.tlsClient("", ""), url)
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusUnauthorized))
			Expect(body).To(ContainSubstring(`"reason":"Unauthorized"`))
			code, _, err = getBody(c.tlsClient("", ""), strings.TrimSuffix(url, api+"/patchpolicies")+"/healthz")
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusOK))
		})

		It("answers 401 to a client certificate from another CA, saying why", func() {
			code, body, err := getBody(c.tlsClient(c.otherClientCert, c.otherClientKey), url)
			Expect(err).NotTo(HaveOccurred())
			Expect(code).To(Equal(http.StatusUnauthorized))
			Expect(body).To(ContainSubstring("unknown authority"))
		})
	})
})
