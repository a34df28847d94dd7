package main

import (
	"net"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/gomega"

	"github.com/patchlet/patchlet/internal/pki"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files by internal/pki (what patchctl certs
// writes).
type testPKI struct {
	dir                   string
	caCert                string
	serverCert, serverKey string
	clientCert, clientKey string
	ca                    *pki.CA
}

func newTestPKI(dir string) *testPKI {
	p := &testPKI{dir: dir}
	ca, err := pki.NewCA("patchctl test CA", time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	Expect(err).NotTo(HaveOccurred())
	p.ca = ca
	p.caCert = p.write("ca.crt", pki.CertPEM(ca.Cert))
	p.serverCert, p.serverKey = p.issue(pki.Request{CommonName: "server", Server: true, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}})
	p.clientCert, p.clientKey = p.issue(pki.Request{CommonName: "client", Client: true})
	return p
}

func (p *testPKI) write(name string, data []byte) string {
	path := filepath.Join(p.dir, name)
	Expect(os.WriteFile(path, data, 0o600)).To(Succeed())
	return path
}

func (p *testPKI) issue(r pki.Request) (string, string) {
	r.NotBefore, r.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	cert, key, err := p.ca.Issue(r)
	Expect(err).NotTo(HaveOccurred())
	keyPEM, err := pki.KeyPEM(key)
	Expect(err).NotTo(HaveOccurred())
	return p.write(r.CommonName+".crt", pki.CertPEM(cert)), p.write(r.CommonName+".key", keyPEM)
}

// kubeconfig writes a kubeconfig whose current context "tls" reaches
// tlsServer with the client certificate, and whose context "plain"
// reaches plainServer without credentials.
func (p *testPKI) kubeconfig(tlsServer, plainServer string) string {
	content := `apiVersion: v1
kind: Config
current-context: tls
clusters:
- name: tls
  cluster:
    server: ` + tlsServer + `
    certificate-authority: ` + p.caCert + `
- name: plain
  cluster:
    server: ` + plainServer + `
users:
- name: me
  user:
    client-certificate: ` + p.clientCert + `
    client-key: ` + p.clientKey + `
- name: nobody
  user: {}
contexts:
- name: tls
  context: {cluster: tls, user: me}
- name: plain
  context: {cluster: plain, user: nobody}
`
	path := filepath.Join(p.dir, "kubeconfig")
	Expect(os.WriteFile(path, []byte(content), 0o600)).To(Succeed())
	return path
}
