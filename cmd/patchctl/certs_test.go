package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/version"

	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

// startRoleAgent serves a fresh store over TLS with the certificate files
// in dir and the agent's own RoleAuthorizer; it returns https://ADDR.
func startRoleAgent(dir string) string {
	GinkgoHelper()
	st, err := store.Open(GinkgoT().TempDir(), store.Options{})
	Expect(err).NotTo(HaveOccurred())
	srv := server.New(server.Options{
		Store: st, Log: logr.Discard(), Authorizer: server.NewRoleAuthorizer(os.Getuid()),
		Version: version.Info{Major: "1", Minor: "32", GitVersion: "v1.32.0-patchlet+test"},
	})
	ln, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0",
		TLSCert: filepath.Join(dir, "server.crt"), TLSKey: filepath.Join(dir, "server.key"), ClientCA: filepath.Join(dir, "ca.crt")})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	DeferCleanup(func() {
		cancel()
		Eventually(done).WithTimeout(15 * time.Second).Should(Receive(Satisfy(func(err error) bool {
			return err == nil || errors.Is(err, context.Canceled)
		})))
	})
	return "https://" + ln.Addr().String()
}

func readCert(path string) *x509.Certificate {
	GinkgoHelper()
	b, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	blk, _ := pem.Decode(b)
	Expect(blk).NotTo(BeNil())
	c, err := x509.ParseCertificate(blk.Bytes)
	Expect(err).NotTo(HaveOccurred())
	return c
}

func mode(path string) os.FileMode {
	GinkgoHelper()
	fi, err := os.Stat(path)
	Expect(err).NotTo(HaveOccurred())
	return fi.Mode().Perm()
}

var _ = Describe("patchctl certs", func() {
	var dir string

	BeforeEach(func() {
		dir = filepath.Join(GinkgoT().TempDir(), "pki")
	})

	certs := func(args ...string) result { return ctl("", nil, append([]string{"certs"}, args...)...) }

	It("init writes a CA and a serving certificate for the host name and every --san", func() {
		r := certs("init", "--dir", dir, "--host-name", "web-1.example.org", "--san", "127.0.0.1,web-1", "--san", "::1")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(ContainSubstring("wrote " + filepath.Join(dir, "ca.key")))
		Expect(mode(dir)).To(Equal(os.FileMode(0o700)))
		Expect(mode(filepath.Join(dir, "ca.key"))).To(Equal(os.FileMode(0o600)))
		Expect(mode(filepath.Join(dir, "server.key"))).To(Equal(os.FileMode(0o600)))
		Expect(mode(filepath.Join(dir, "ca.crt"))).To(Equal(os.FileMode(0o644)))

		ca := readCert(filepath.Join(dir, "ca.crt"))
		Expect(ca.IsCA).To(BeTrue())
		Expect(ca.NotAfter).To(BeTemporally("~", time.Now().Add(10*365*24*time.Hour), time.Hour))
		srv := readCert(filepath.Join(dir, "server.crt"))
		Expect(srv.CheckSignatureFrom(ca)).To(Succeed())
		Expect(srv.Subject.CommonName).To(Equal("web-1.example.org"))
		Expect(srv.DNSNames).To(Equal([]string{"web-1.example.org", "web-1"}))
		Expect(srv.IPAddresses).To(HaveLen(2))
		Expect(srv.IPAddresses[0].String()).To(Equal("127.0.0.1"))
		Expect(srv.IPAddresses[1].String()).To(Equal("::1"))
		Expect(srv.ExtKeyUsage).To(Equal([]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}))
		Expect(srv.NotAfter).To(BeTemporally("~", time.Now().Add(365*24*time.Hour), time.Hour))
		pub, ok := srv.PublicKey.(*ecdsa.PublicKey)
		Expect(ok).To(BeTrue())
		Expect(pub.Curve).To(Equal(elliptic.P256()))
	})

	It("takes --validity and --ca-validity in hours or days", func() {
		Expect(certs("init", "--dir", dir, "--host-name", "h", "--validity", "48h", "--ca-validity", "30d").code).To(Equal(0))
		Expect(readCert(filepath.Join(dir, "server.crt")).NotAfter).To(BeTemporally("~", time.Now().Add(48*time.Hour), time.Hour))
		Expect(readCert(filepath.Join(dir, "ca.crt")).NotAfter).To(BeTemporally("~", time.Now().Add(30*24*time.Hour), time.Hour))
		r := certs("issue", "bob", "--role", "viewers", "--dir", dir, "--validity", "90d")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(readCert(filepath.Join(dir, "bob.crt")).NotAfter).To(BeTemporally("~", time.Now().Add(30*24*time.Hour), time.Hour), "never past the CA")
	})

	// The real agent's TLS listener and RoleAuthorizer.
	It("writes certificates the agent accepts with the role they carry", func() {
		Expect(certs("init", "--dir", dir, "--host-name", "localhost", "--san", "127.0.0.1").code).To(Equal(0))
		r := certs("issue", "alice", "--role", "operators", "--dir", dir)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(ContainSubstring("CN=alice, O=patchlet:operators"))
		Expect(mode(filepath.Join(dir, "alice.key"))).To(Equal(os.FileMode(0o600)))
		Expect(certs("issue", "victor", "--role", "viewers", "--dir", dir).code).To(Equal(0))
		other := filepath.Join(GinkgoT().TempDir(), "other")
		Expect(certs("init", "--dir", other, "--host-name", "localhost").code).To(Equal(0))
		Expect(certs("issue", "mallory", "--role", "operators", "--dir", other).code).To(Equal(0))
		url := startRoleAgent(dir)

		as := func(d, name string, stdin string, args ...string) result {
			return ctl(stdin, nil, append([]string{"--server", url, "--ca", filepath.Join(dir, "ca.crt"),
				"--cert", filepath.Join(d, name+".crt"), "--key", filepath.Join(d, name+".key")}, args...)...)
		}
		r = as(dir, "alice", dbPolicy, "apply", "-f", "-")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("patchpolicy/db created\n"))

		r = as(dir, "victor", webPolicy, "apply", "-f", "-")
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(ContainSubstring("forbidden"))
		Expect(r.stderr).To(ContainSubstring("victor"))
		r = as(dir, "victor", "", "get", "pp", "-o", "name")
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(Equal("patchpolicy/db\n"))

		r = as(other, "mallory", "", "get", "pp")
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(ContainSubstring("Unauthorized"))
	})

	It("refuses to overwrite without --force, and writes nothing then", func() {
		Expect(certs("init", "--dir", dir, "--host-name", "h").code).To(Equal(0))
		before, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
		Expect(err).NotTo(HaveOccurred())
		Expect(os.Remove(filepath.Join(dir, "server.key"))).To(Succeed())
		r := certs("init", "--dir", dir, "--host-name", "h")
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(ContainSubstring(filepath.Join(dir, "ca.crt") + ": file exists"))
		Expect(r.stderr).To(ContainSubstring("--force"))
		Expect(filepath.Join(dir, "server.key")).NotTo(BeAnExistingFile())
		after, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(Equal(before))

		Expect(certs("issue", "alice", "--role", "operators", "--dir", dir).code).To(Equal(0))
		r = certs("issue", "alice", "--role", "viewers", "--dir", dir)
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(ContainSubstring("--force"))
		Expect(readCert(filepath.Join(dir, "alice.crt")).Subject.Organization).To(Equal([]string{"patchlet:operators"}))
		Expect(certs("issue", "alice", "--role", "viewers", "--dir", dir, "--force").code).To(Equal(0))
		Expect(readCert(filepath.Join(dir, "alice.crt")).Subject.Organization).To(Equal([]string{"patchlet:viewers"}))

		r = certs("init", "--dir", dir, "--host-name", "h", "--force")
		Expect(r.code).To(Equal(0), r.stderr)
		after, err = os.ReadFile(filepath.Join(dir, "ca.crt"))
		Expect(err).NotTo(HaveOccurred())
		Expect(after).NotTo(Equal(before))
		Expect(filepath.Join(dir, "server.key")).To(BeAnExistingFile())
	})

	DescribeTable("rejects a bad command line with exit status 2, naming the flag",
		func(want string, args ...string) {
			Expect(certs("init", "--dir", dir, "--host-name", "h").code).To(Equal(0))
			r := certs(args...)
			Expect(r.code).To(Equal(2), r.stdout)
			Expect(r.stderr).To(ContainSubstring(want))
		},
		Entry("a role that is none", `--role "admin": must be operators or viewers`, "issue", "bob", "--role", "admin"),
		Entry("no role", "--role is required", "issue", "bob"),
		Entry("a path as NAME", `NAME "../bob"`, "issue", "../bob", "--role", "viewers"),
		Entry("the CA's name as NAME", `NAME "ca"`, "issue", "ca", "--role", "viewers"),
		Entry("no NAME", "missing NAME", "issue", "--role", "viewers"),
		Entry("a SAN that is neither name nor address", `--san: "web 1" is neither an IP address nor a DNS name`, "init", "--san", "web 1", "--force"),
		Entry("a bad host name", `--host-name: "-h" is neither`, "init", "--host-name", "-h", "--force"),
		Entry("a validity that is no duration", `"a year": not a duration`, "init", "--validity", "a year", "--force"),
	)

	It("issue without a CA says which directory and how to make one", func() {
		r := certs("issue", "bob", "--role", "viewers", "--dir", dir)
		Expect(r.code).To(Equal(1))
		Expect(r.stderr).To(ContainSubstring("--dir " + dir))
		Expect(r.stderr).To(ContainSubstring("patchctl certs init --dir " + dir))
	})

	It("documents itself with examples", func() {
		r := ctl("", nil, "certs", "init", "--help")
		Expect(r.code).To(Equal(0))
		Expect(r.stdout).To(ContainSubstring("--san"))
		Expect(r.stdout).To(ContainSubstring("Examples:"))
		r = ctl("", nil, "certs", "--help")
		Expect(r.stdout).To(ContainSubstring("patchlet:operators"))
		Expect(r.stdout).To(ContainSubstring("certs issue alice --role operators"))
	})
})
