package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/patchlet/patchlet/internal/pki"
	"github.com/patchlet/patchlet/server"
)

// Defaults of patchctl certs.
const (
	defaultCertsDir   = "/etc/patchlet/pki"
	defaultCAValidity = 10 * 365 * 24 * time.Hour
	defaultValidity   = 365 * 24 * time.Hour
	// backdate makes a certificate valid a little before it was made, for
	// clocks that lag.
	backdate = 5 * time.Minute
)

const certsLong = `Make the certificates of the agent's mutual TLS for a small fleet: a CA, the
agent's serving certificate and client certificates that carry a role. The
agent verifies clients against the CA (--client-ca) and takes the role from
the client certificate's Organization: O=patchlet:operators may write
policies, O=patchlet:viewers may read everything. Keys are ECDSA P-256;
private keys are written mode 0600. Nothing is sent to the agent.

Keep ca.key off the hosts if you can: whoever holds it can issue operator
certificates. A fleet that has a PKI already should use it instead.`

const certsExamples = `  # On the host: a CA and the agent's serving certificate, then start the agent
  sudo patchctl certs init --host-name web-1.example.org --san 10.0.0.5
  sudo patchlet --listen :8443 --tls-cert /etc/patchlet/pki/server.crt \
      --tls-key /etc/patchlet/pki/server.key --client-ca /etc/patchlet/pki/ca.crt

  # A certificate for an operator and one for a dashboard that only reads
  sudo patchctl certs issue alice --role operators
  sudo patchctl certs issue grafana --role viewers --validity 90d

  # Use it
  patchctl --server https://web-1.example.org:8443 --cert alice.crt \
      --key alice.key --ca ca.crt get hosts`

const certsInitLong = `Write a new CA (ca.crt, ca.key) and the agent's serving certificate
(server.crt, server.key) into --dir. The serving certificate names the host
(--host-name, default this host's name) and every --san (a DNS name or an IP
address; repeat the flag or separate with commas); its common name is the
host name. The CA is valid for --ca-validity (default 10 years), the serving
certificate for --validity (default 1 year); durations take h, m, s or d
(days).

An existing file is never overwritten without --force: then nothing is
written. Replacing the CA with --force invalidates every certificate it
issued.`

const certsInitExamples = `  sudo patchctl certs init
  sudo patchctl certs init --host-name web-1.example.org --san web-1,10.0.0.5 --san ::1
  patchctl certs init --dir ./pki --host-name localhost --san 127.0.0.1 --validity 30d`

const certsIssueLong = `Write a client certificate NAME.crt and its key NAME.key into --dir, signed
by the CA there (ca.crt, ca.key, as certs init wrote them). The common name
is NAME, the user the agent's audit log and error messages name; the
Organization is the role: --role operators (patchlet:operators: read
everything, create, update, patch and delete policies) or --role viewers
(patchlet:viewers: read everything, status and logs included). Valid for
--validity (default 1 year), never past the CA.

NAME is a file name: letters, digits, '.', '_', '@' and '-', not starting
with '.', and not ca or server. An existing file is never overwritten without
--force.`

const certsIssueExamples = `  sudo patchctl certs issue alice --role operators
  patchctl certs issue ci@build-1 --role viewers --dir ./pki --validity 720h`

// certName is what certs issue accepts as NAME: a plain file name.
var certName = regexp.MustCompile(`^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,127}$`)

// roles maps --role to the Organization the agent reads.
var roles = map[string]string{"operators": server.GroupOperators, "viewers": server.GroupViewers}

func newCertsCommand(s streams) *cobra.Command {
	cmd := newCommand(usage{"certs", "Make a CA, the agent's serving certificate and client certificates (mTLS)", certsLong, certsExamples},
		noArgs, func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		})
	cmd.AddCommand(newCertsInitCommand(s), newCertsIssueCommand(s))
	return cmd
}

func newCertsInitCommand(s streams) *cobra.Command {
	var (
		dir, host          string
		sans               []string
		caValidity, leafOK validity
		force              bool
	)
	caValidity, leafOK = validity(defaultCAValidity), validity(defaultValidity)
	cmd := newCommand(usage{"init [--dir DIR] [--host-name NAME] [--san NAME|IP]... [--force]",
		"Write a CA and the agent's serving certificate", certsInitLong, certsInitExamples},
		noArgs, func(cmd *cobra.Command, args []string) error {
			if host == "" {
				h, err := os.Hostname()
				if err != nil {
					return usagef("--host-name not given and this host's name is unknown: %w", err)
				}
				host = strings.ToLower(h)
			}
			dnsNames, ips, err := parseSANs(host, sans)
			if err != nil {
				return err
			}
			now := time.Now()
			ca, err := pki.NewCA("patchlet CA "+host, now.Add(-backdate), now.Add(time.Duration(caValidity)))
			if err != nil {
				return err
			}
			cert, key, err := ca.Issue(pki.Request{
				CommonName: host, DNSNames: dnsNames, IPAddresses: ips, Server: true,
				NotBefore: now.Add(-backdate), NotAfter: notAfter(ca, now, time.Duration(leafOK)),
			})
			if err != nil {
				return err
			}
			caKey, err := pki.KeyPEM(ca.Key)
			if err != nil {
				return err
			}
			srvKey, err := pki.KeyPEM(key)
			if err != nil {
				return err
			}
			paths, err := writeCerts(dir, force, []pki.File{
				{Name: "ca.crt", Data: pki.CertPEM(ca.Cert), Mode: 0o644},
				{Name: "ca.key", Data: caKey, Mode: 0o600},
				{Name: "server.crt", Data: pki.CertPEM(cert), Mode: 0o644},
				{Name: "server.key", Data: srvKey, Mode: 0o600},
			})
			for _, p := range paths {
				fmt.Fprintf(s.out, "wrote %s\n", p)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "CA %q valid until %s; server certificate for %s valid until %s\n",
				ca.Cert.Subject.CommonName, ca.Cert.NotAfter.UTC().Format(time.RFC3339),
				strings.Join(append(slices.Clone(dnsNames), ipStrings(ips)...), ", "), cert.NotAfter.UTC().Format(time.RFC3339))
			fmt.Fprintf(s.out, "start the agent with:\n  patchlet --listen :8443 --tls-cert %s --tls-key %s --client-ca %s\n",
				filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.crt"))
			return nil
		})
	f := cmd.Flags()
	f.StringVar(&dir, "dir", defaultCertsDir, "directory to write ca.crt, ca.key, server.crt and server.key into (created 0700)")
	f.StringVar(&host, "host-name", "", "the agent's host name: the serving certificate's common name and first SAN (default: this host's name)")
	f.StringSliceVar(&sans, "san", nil, "another DNS name or IP address of the agent (repeatable, comma-separated)")
	f.Var(&caValidity, "ca-validity", "how long the CA is valid (e.g. 87600h, 3650d)")
	f.Var(&leafOK, "validity", "how long the serving certificate is valid (e.g. 8760h, 365d)")
	f.BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}

func newCertsIssueCommand(s streams) *cobra.Command {
	var (
		dir, role string
		leafOK    = validity(defaultValidity)
		force     bool
	)
	cmd := newCommand(usage{"issue NAME --role operators|viewers [--dir DIR] [--force]",
		"Write a client certificate with a role, signed by the CA", certsIssueLong, certsIssueExamples},
		rangeArgs(1, 1, "NAME"), func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !certName.MatchString(name) || name == "ca" || name == "server" {
				return usagef("NAME %q: use letters, digits, '.', '_', '@' and '-', not starting with '.', and not ca or server", name)
			}
			org, ok := roles[role]
			switch {
			case role == "":
				return usagef("--role is required: operators or viewers")
			case !ok:
				return usagef("--role %q: must be operators or viewers", role)
			}
			ca, err := pki.LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
			if err != nil {
				return fmt.Errorf("--dir %s: %w (make one with patchctl certs init --dir %s)", dir, err, dir)
			}
			now := time.Now()
			cert, key, err := ca.Issue(pki.Request{
				CommonName: name, Organizations: []string{org}, Client: true,
				NotBefore: now.Add(-backdate), NotAfter: notAfter(ca, now, time.Duration(leafOK)),
			})
			if err != nil {
				return err
			}
			keyPEM, err := pki.KeyPEM(key)
			if err != nil {
				return err
			}
			paths, err := writeCerts(dir, force, []pki.File{
				{Name: name + ".crt", Data: pki.CertPEM(cert), Mode: 0o644},
				{Name: name + ".key", Data: keyPEM, Mode: 0o600},
			})
			for _, p := range paths {
				fmt.Fprintf(s.out, "wrote %s\n", p)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(s.out, "client certificate CN=%s, O=%s, valid until %s\n", name, org, cert.NotAfter.UTC().Format(time.RFC3339))
			return nil
		})
	f := cmd.Flags()
	f.StringVar(&dir, "dir", defaultCertsDir, "directory with ca.crt and ca.key; NAME.crt and NAME.key are written there")
	f.StringVar(&role, "role", "", "operators or viewers (required)")
	f.Var(&leafOK, "validity", "how long the certificate is valid (e.g. 8760h, 90d)")
	f.BoolVar(&force, "force", false, "overwrite existing files")
	return cmd
}

// parseSANs sorts the host name and --san values into DNS names and IPs,
// in order, without repeats.
func parseSANs(host string, sans []string) ([]string, []net.IP, error) {
	var dnsNames []string
	var ips []net.IP
	add := func(flag, v string) error {
		dns, ip, err := pki.ParseSAN(strings.TrimSpace(v))
		if err != nil {
			return usagef("%s: %w", flag, err)
		}
		switch {
		case ip != nil && !slices.ContainsFunc(ips, ip.Equal):
			ips = append(ips, ip)
		case dns != "" && !slices.Contains(dnsNames, dns):
			dnsNames = append(dnsNames, dns)
		}
		return nil
	}
	if err := add("--host-name", host); err != nil {
		return nil, nil, err
	}
	for _, v := range sans {
		if err := add("--san", v); err != nil {
			return nil, nil, err
		}
	}
	return dnsNames, ips, nil
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// notAfter is now+d, but never past the CA's own end.
func notAfter(ca *pki.CA, now time.Time, d time.Duration) time.Time {
	end := now.Add(d)
	if end.After(ca.Cert.NotAfter) {
		return ca.Cert.NotAfter
	}
	return end
}

// writeCerts writes the files, saying which flag lets an existing one be
// replaced.
func writeCerts(dir string, force bool, files []pki.File) ([]string, error) {
	paths, err := pki.WriteFiles(dir, files, force)
	if errors.Is(err, pki.ErrExists) {
		return paths, fmt.Errorf("%w; nothing was written (pass --force to overwrite)", err)
	}
	return paths, err
}

// validity is a duration flag that also takes days ("90d").
type validity time.Duration

func (v *validity) String() string {
	d := time.Duration(*v)
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func (v *validity) Set(s string) error {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 32)
		if err != nil {
			return fmt.Errorf("%q: not a whole number of days", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return fmt.Errorf("%q: not a duration (e.g. 8760h or 365d)", s)
		}
	}
	if d < time.Minute {
		return fmt.Errorf("%q: must be at least a minute", s)
	}
	*v = validity(d)
	return nil
}

func (v *validity) Type() string { return "duration" }
