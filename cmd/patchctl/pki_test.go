package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/gomega"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	dir                   string
	caCert                string
	serverCert, serverKey string
	clientCert, clientKey string
	caDER                 []byte
	caKey                 *ecdsa.PrivateKey
	caTemplate            *x509.Certificate
}

func newTestPKI(dir string) *testPKI {
	p := &testPKI{dir: dir}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	p.caKey = key
	p.caTemplate = &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "patchctl test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	p.caDER, err = x509.CreateCertificate(rand.Reader, p.caTemplate, p.caTemplate, &key.PublicKey, key)
	Expect(err).NotTo(HaveOccurred())
	p.caTemplate, err = x509.ParseCertificate(p.caDER)
	Expect(err).NotTo(HaveOccurred())
	p.caCert = p.write("ca.crt", "CERTIFICATE", p.caDER)
	p.serverCert, p.serverKey = p.issue("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = p.issue("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func (p *testPKI) write(name, typ string, der []byte) string {
	path := filepath.Join(p.dir, name)
	Expect(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)).To(Succeed())
	return path
}

func (p *testPKI) issue(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caTemplate, &key.PublicKey, p.caKey)
	Expect(err).NotTo(HaveOccurred())
	keyDER, err := x509.MarshalECPrivateKey(key)
	Expect(err).NotTo(HaveOccurred())
	return p.write(name+".crt", "CERTIFICATE", der), p.write(name+".key", "EC PRIVATE KEY", keyDER)
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
