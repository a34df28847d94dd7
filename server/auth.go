package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Roles a client certificate carries in its subject's Organization (O=).
const (
	// GroupViewers may get, list and watch every resource, read the status
	// subresources and the logs of operations.
	GroupViewers = "patchlet:viewers"
	// GroupOperators may also create, update, patch and delete policies.
	GroupOperators = "patchlet:operators"
)

// Via says how a client reached the API.
type Via string

const (
	// ViaUnix is the unix socket; the peer's uid is known.
	ViaUnix Via = "unix"
	// ViaTLS is a TLS listener.
	ViaTLS Via = "tls"
	// ViaInsecure is the plain-HTTP loopback listener (--insecure).
	ViaInsecure Via = "insecure"
	// ViaUnknown is a request that did not come through Serve.
	ViaUnknown Via = ""
)

// Identity is who sent a request, as far as the listener can tell.
type Identity struct {
	// Via is the kind of listener.
	Via Via
	// Name is the common name of a verified client certificate, "uid=N"
	// on the unix socket, "insecure-loopback" on the plain-HTTP listener,
	// empty when anonymous.
	Name string
	// Groups are the organizations of a verified client certificate.
	Groups []string
	// UID is the unix socket peer's uid; -1 elsewhere.
	UID int
	// Authenticated: a verified client certificate, or a unix socket peer.
	Authenticated bool
	// Reason says why a presented client certificate was not accepted.
	Reason string
	// From is the remote address; "@" on the unix socket.
	From string
}

// String names the identity for logs and messages.
func (id Identity) String() string {
	if id.Name == "" {
		return "anonymous"
	}
	return id.Name
}

type identityKey struct{}

// IdentityOf returns the identity the server resolved for r.
func IdentityOf(r *http.Request) Identity {
	if id, ok := r.Context().Value(identityKey{}).(Identity); ok {
		return id
	}
	return Identity{UID: -1, From: r.RemoteAddr}
}

type connKey struct{}

// connInfo is what Serve learns of a connection when it is accepted.
type connInfo struct {
	via  Via
	uid  int
	tls  *tlsSource // nil unless TLS
	from string

	// The identity of a TLS connection is verified once per connection
	// and configuration generation.
	mu     sync.Mutex
	gen    uint64
	cached *Identity
}

// connContext records the kind of listener and the unix peer credentials.
func connContext(ctx context.Context, c net.Conn, src *tlsSource) context.Context {
	ci := &connInfo{uid: -1, from: c.RemoteAddr().String()}
	switch conn := c.(type) {
	case *net.UnixConn:
		ci.via, ci.from = ViaUnix, "@"
		ci.uid = peerUID(conn)
	case *net.TCPConn:
		ci.via = ViaInsecure
	default:
		if src != nil {
			ci.via, ci.tls = ViaTLS, src
		}
	}
	return context.WithValue(ctx, connKey{}, ci)
}

// peerUID reads SO_PEERCRED; -1 when it cannot.
func peerUID(c *net.UnixConn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1
	}
	uid := -1
	_ = raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			uid = int(cred.Uid)
		}
	})
	return uid
}

// resolveIdentity works out who sent r.
func resolveIdentity(r *http.Request) Identity {
	ci, _ := r.Context().Value(connKey{}).(*connInfo)
	if ci == nil {
		return Identity{UID: -1, From: r.RemoteAddr}
	}
	switch ci.via {
	case ViaUnix:
		return Identity{Via: ViaUnix, Name: "uid=" + strconv.Itoa(ci.uid), UID: ci.uid, Authenticated: ci.uid >= 0, From: "@"}
	case ViaInsecure:
		return Identity{Via: ViaInsecure, Name: "insecure-loopback", UID: -1, From: ci.from}
	}
	cfg, gen := ci.tls.current()
	ci.mu.Lock()
	defer ci.mu.Unlock()
	if ci.cached != nil && ci.gen == gen {
		return *ci.cached
	}
	id := Identity{Via: ViaTLS, UID: -1, From: ci.from}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		if cfg.clientCAs == nil {
			id.Reason = "this listener has no client CA (--client-ca) to verify certificates against"
		} else if err := verifyClient(r.TLS.PeerCertificates, cfg.clientCAs); err != nil {
			id.Reason = err.Error()
		} else {
			leaf := r.TLS.PeerCertificates[0]
			id.Name, id.Groups, id.Authenticated = leaf.Subject.CommonName, slices.Clone(leaf.Subject.Organization), true
		}
	}
	ci.cached, ci.gen = &id, gen
	return id
}

// verifyClient checks a client chain against the client CA, as
// RequireAndVerifyClientCert would, at request time so that a failure is a
// 401 that says why rather than a TLS alert.
func verifyClient(chain []*x509.Certificate, roots *x509.CertPool) error {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("client certificate %q: %w", chain[0].Subject.CommonName, err)
	}
	return nil
}

// requiresClientCert: the request came over a TLS listener with a client CA.
func requiresClientCert(r *http.Request) bool {
	ci, _ := r.Context().Value(connKey{}).(*connInfo)
	if ci == nil || ci.tls == nil {
		return false
	}
	cfg, _ := ci.tls.current()
	return cfg.clientCAs != nil
}

// errUnauthorized is the 401 for a request without a verified identity.
func errUnauthorized(id Identity) error {
	msg := "Unauthorized: present a client certificate signed by the agent's client CA (--client-ca)"
	if id.Reason != "" {
		msg = "Unauthorized: " + id.Reason
	}
	return apierrors.NewUnauthorized(msg)
}

// RoleAuthorizer is patchlet's Authorizer:
//
//   - the unix socket (mode 0600, so only root connects): peers with uid 0
//     or the agent's own uid may do everything, others nothing;
//   - the plain-HTTP loopback listener (--insecure): everything; it is a
//     development mode the operator chose;
//   - TLS: a verified client certificate with O=patchlet:viewers may get,
//     list and watch (objects, status, operation logs); with
//     O=patchlet:operators it may also create, update, patch and delete
//     policies. Nobody writes a status subresource over TLS: status is the
//     agent's own report. A certificate with neither organization is 403;
//     no verified certificate is 401.
type RoleAuthorizer struct {
	// UnixUIDs may do everything over the unix socket.
	UnixUIDs []int
}

// NewRoleAuthorizer allows root and uid over the unix socket.
func NewRoleAuthorizer(uid int) *RoleAuthorizer {
	uids := []int{0}
	if uid != 0 {
		uids = append(uids, uid)
	}
	return &RoleAuthorizer{UnixUIDs: uids}
}

func isRead(verb string) bool { return verb == "get" || verb == "list" || verb == "watch" }

// Authorize implements Authorizer.
func (a *RoleAuthorizer) Authorize(r *http.Request, verb, resource, name string) error {
	id := IdentityOf(r)
	switch id.Via {
	case ViaUnix:
		if slices.Contains(a.UnixUIDs, id.UID) {
			return nil
		}
		return fmt.Errorf("unix socket peer %s may not %s %s", id, verb, resource)
	case ViaInsecure:
		return nil
	}
	if !id.Authenticated {
		return errUnauthorized(id)
	}
	operator := slices.Contains(id.Groups, GroupOperators)
	viewer := operator || slices.Contains(id.Groups, GroupViewers)
	switch {
	case isRead(verb) && viewer:
		return nil
	case isRead(verb):
		return fmt.Errorf("user %q cannot %s %s: the client certificate needs O=%s or O=%s", id.Name, verb, resource, GroupViewers, GroupOperators)
	case operator && isStatus(resource):
		return fmt.Errorf("user %q cannot %s %s: the status is written by the agent only", id.Name, verb, resource)
	case operator:
		return nil
	default:
		return fmt.Errorf("user %q cannot %s %s: the client certificate needs O=%s", id.Name, verb, resource, GroupOperators)
	}
}

func isStatus(resource string) bool {
	return len(resource) > len("/status") && resource[len(resource)-len("/status"):] == "/status"
}
