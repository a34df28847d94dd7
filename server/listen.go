package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ListenConfig says where and how the API listens.
type ListenConfig struct {
	// Listen is "unix:/run/patchlet/patchlet.sock" or "host:port".
	Listen string
	// TLSCert and TLSKey are PEM files; required for a TCP address unless Insecure.
	TLSCert, TLSKey string
	// ClientCA is a PEM bundle; when set, clients must present a certificate it signed.
	ClientCA string
	// Insecure serves plain HTTP on a TCP address; only on loopback.
	Insecure bool
}

// Reloader is implemented by the TLS listener Listen returns: Reload
// re-reads the certificate, key and client CA; handshakes after it use them,
// connections already open keep theirs, the listener stays up. Serve calls
// it on SIGHUP and when one of the files changes.
type Reloader interface {
	Reload() error
}

// Listen opens the listener of c. A unix socket gets its parent directory
// (0755) created, a stale socket removed and mode 0600. A TCP address needs
// --tls-cert and --tls-key (TLS 1.2 or newer; with --client-ca, clients must
// present a certificate signed by it, see RoleAuthorizer) unless --insecure, which is refused for
// an address that is not loopback.
func Listen(c ListenConfig) (net.Listener, error) {
	if path, ok := strings.CutPrefix(c.Listen, "unix:"); ok {
		return listenUnix(path, c)
	}
	return listenTCP(c)
}

func listenUnix(path string, c ListenConfig) (net.Listener, error) {
	if path == "" {
		return nil, fmt.Errorf("--listen %q: the socket path is empty", c.Listen)
	}
	if c.TLSCert != "" || c.TLSKey != "" || c.ClientCA != "" {
		return nil, fmt.Errorf("--listen %q is a unix socket: --tls-cert, --tls-key and --client-ca apply to a TCP address only", c.Listen)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("--listen %q: creating the socket directory: %w", c.Listen, err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("--listen %q: %s exists and is not a socket", c.Listen, path)
		}
		if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = conn.Close()
			return nil, fmt.Errorf("--listen %q: another process is serving on %s", c.Listen, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("--listen %q: removing the stale socket: %w", c.Listen, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("--listen %q: %w", c.Listen, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", c.Listen, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("--listen %q: restricting the socket to its owner: %w", c.Listen, err)
	}
	return ln, nil
}

func listenTCP(c ListenConfig) (net.Listener, error) {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: want unix:/path/to/socket or host:port: %w", c.Listen, err)
	}
	if c.Insecure {
		if c.TLSCert != "" || c.TLSKey != "" || c.ClientCA != "" {
			return nil, fmt.Errorf("--insecure serves plain HTTP: do not combine it with --tls-cert, --tls-key or --client-ca")
		}
		if !isLoopback(host) {
			return nil, fmt.Errorf("--insecure is allowed on a loopback address only (127.0.0.1, ::1, localhost), not --listen %q: use --tls-cert and --tls-key", c.Listen)
		}
		ln, err := net.Listen("tcp", c.Listen)
		if err != nil {
			return nil, fmt.Errorf("--listen %q: %w", c.Listen, err)
		}
		return ln, nil
	}
	if c.TLSCert == "" || c.TLSKey == "" {
		return nil, fmt.Errorf("--listen %q is a TCP address: it needs --tls-cert and --tls-key (or --insecure on a loopback address)", c.Listen)
	}
	src := &tlsSource{cert: c.TLSCert, key: c.TLSKey, clientCA: c.ClientCA}
	if err := src.Reload(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %q: %w", c.Listen, err)
	}
	return &tlsListener{Listener: tls.NewListener(ln, src.config()), src: src}, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
