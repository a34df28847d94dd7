package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

const api = "/apis/patchlet.io/v1alpha1"

// testServer is a server on a real listener and a client for it.
type testServer struct {
	store  *store.Store
	server *server.Server
	base   string
	client *http.Client
}

// startServer serves opts (Store filled in) on ln until the spec ends.
func startServer(opts server.Options, ln net.Listener) *server.Server {
	GinkgoHelper()
	if opts.Log.GetSink() == nil {
		opts.Log = logr.Discard()
	}
	if opts.Version.Major == "" {
		opts.Version = version.Info{Major: "1", Minor: "32", GitVersion: "v1.32.0-patchlet+test"}
	}
	srv := server.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	DeferCleanup(func() {
		cancel()
		Eventually(done).WithTimeout(15 * time.Second).Should(Receive(BeNil()))
	})
	return srv
}

func openStore() *store.Store {
	GinkgoHelper()
	st, err := store.Open(GinkgoT().TempDir(), store.Options{})
	Expect(err).NotTo(HaveOccurred())
	return st
}

// newLoopbackServer serves plain HTTP on 127.0.0.1 with a fresh store.
func newLoopbackServer(opts server.Options) *testServer {
	GinkgoHelper()
	if opts.Store == nil {
		opts.Store = openStore()
	}
	ln, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0", Insecure: true})
	Expect(err).NotTo(HaveOccurred())
	srv := startServer(opts, ln)
	tr := &http.Transport{}
	DeferCleanup(tr.CloseIdleConnections)
	return &testServer{store: opts.Store, server: srv, base: "http://" + ln.Addr().String(), client: &http.Client{Transport: tr, Timeout: 20 * time.Second}}
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) status() metav1.Status {
	GinkgoHelper()
	var st metav1.Status
	Expect(json.Unmarshal(r.body, &st)).To(Succeed(), "body: %s", r.body)
	Expect(st.Kind).To(Equal("Status"))
	Expect(st.APIVersion).To(Equal("v1"))
	return st
}

func (r response) policy() *v1alpha1.PatchPolicy {
	GinkgoHelper()
	p := &v1alpha1.PatchPolicy{}
	Expect(json.Unmarshal(r.body, p)).To(Succeed(), "body: %s", r.body)
	return p
}

// causeFields lists the fields of a Status' causes.
func causeFields(st metav1.Status) []string {
	var out []string
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			out = append(out, c.Field)
		}
	}
	return out
}

// do sends a request; header pairs follow the body.
func (t *testServer) do(method, path, contentType string, body []byte, header ...string) response {
	GinkgoHelper()
	req, err := http.NewRequest(method, t.base+path, bytes.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	if body == nil {
		req.Body = nil
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == "Host" {
			req.Host = header[i+1]
		}
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := t.client.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

func (t *testServer) get(path string, header ...string) response {
	GinkgoHelper()
	return t.do(http.MethodGet, path, "", nil, header...)
}

func (t *testServer) create(yaml string) response {
	GinkgoHelper()
	return t.do(http.MethodPost, api+"/patchpolicies", "application/yaml", []byte(yaml))
}

func mustJSON(v any) []byte {
	GinkgoHelper()
	b, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	return b
}

// certs is a test PKI written to files.
type certs struct {
	dir                             string
	caFile, serverCert, serverKey   string
	clientCert, clientKey           string
	otherClientCert, otherClientKey string
	caPool                          *x509.CertPool
}

func newKey() *ecdsa.PrivateKey {
	GinkgoHelper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	return k
}

func signCert(tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) *x509.Certificate {
	GinkgoHelper()
	sn, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	Expect(err).NotTo(HaveOccurred())
	tmpl.SerialNumber = sn
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	Expect(err).NotTo(HaveOccurred())
	c, err := x509.ParseCertificate(der)
	Expect(err).NotTo(HaveOccurred())
	return c
}

func writePEM(path, typ string, der []byte) {
	GinkgoHelper()
	Expect(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)).To(Succeed())
}

func writeKey(path string, k *ecdsa.PrivateKey) {
	GinkgoHelper()
	der, err := x509.MarshalECPrivateKey(k)
	Expect(err).NotTo(HaveOccurred())
	writePEM(path, "EC PRIVATE KEY", der)
}

func newCA(cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	GinkgoHelper()
	k := newKey()
	c := signCert(&x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}, k, nil, nil)
	return c, k
}

func leaf(dir, name string, usage x509.ExtKeyUsage, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (string, string) {
	GinkgoHelper()
	k := newKey()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	if usage == x509.ExtKeyUsageServerAuth {
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	}
	c := signCert(tmpl, k, ca, caKey)
	cert, key := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writePEM(cert, "CERTIFICATE", c.Raw)
	writeKey(key, k)
	return cert, key
}

func newCerts() *certs {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	ca, caKey := newCA("patchlet test ca")
	other, otherKey := newCA("some other ca")
	c := &certs{dir: dir, caFile: filepath.Join(dir, "ca.crt"), caPool: x509.NewCertPool()}
	writePEM(c.caFile, "CERTIFICATE", ca.Raw)
	c.caPool.AddCert(ca)
	c.serverCert, c.serverKey = leaf(dir, "server", x509.ExtKeyUsageServerAuth, ca, caKey)
	c.clientCert, c.clientKey = leaf(dir, "client", x509.ExtKeyUsageClientAuth, ca, caKey)
	c.otherClientCert, c.otherClientKey = leaf(dir, "intruder", x509.ExtKeyUsageClientAuth, other, otherKey)
	return c
}

// tlsClient trusts the test CA and presents certFile/keyFile when given.
func (c *certs) tlsClient(certFile, keyFile string) *http.Client {
	GinkgoHelper()
	cfg := &tls.Config{RootCAs: c.caPool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		Expect(err).NotTo(HaveOccurred())
		cfg.Certificates = []tls.Certificate{kp}
	}
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	DeferCleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

const webPolicy = `apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata:
  name: web
  labels: {role: web}
spec:
  packages:
  - {name: openssl, version: "3.0.15-1~deb12u1"}
  updates: {apply: Security}
`
