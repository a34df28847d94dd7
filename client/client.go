// Package client is a small typed client for one patchlet agent's REST API
// (group patchlet.io, version v1alpha1): Get, List, Create, Update,
// UpdateStatus, Delete and Watch of PatchPolicies, Hosts and Operations, an
// Operation's log, and the server's version.
//
// It speaks the agent's Kubernetes-style API over a unix socket, over HTTPS
// with client certificates, over plain HTTP on loopback, or through a
// kubeconfig (loaded by k8s.io/client-go's clientcmd and turned into an
// http.Client by rest.HTTPClientFor, so that every kind of credential a
// kubeconfig can hold works). Errors from the server are apimachinery
// StatusErrors built from the metav1.Status body, so apierrors.IsNotFound,
// IsConflict, IsInvalid and friends work on them.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// DefaultServer is where a local agent listens by default.
const DefaultServer = "unix:/run/patchlet/patchlet.sock"

// APIPath is the path prefix of every resource of the API.
const APIPath = "/apis/" + v1alpha1.Group + "/" + v1alpha1.Version

// Resource names as they appear in URLs (the registry v1alpha1.Resources).
const (
	PatchPolicies = v1alpha1.ResourcePatchPolicies
	Hosts         = v1alpha1.ResourceHosts
	Operations    = v1alpha1.ResourceOperations
)

// tableAccept asks for a meta.k8s.io/v1 Table, the columns and rows that
// kubectl get prints, as kubectl asks for it (with JSON as the fallback of
// a server that serves no tables).
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

// maxErrorBody bounds how much of an error response is read.
const maxErrorBody = 1 << 20

// Options says how to reach an agent.
type Options struct {
	// Server is "unix:/path/to/socket", "https://host:port" or
	// "http://127.0.0.1:port" (plain HTTP, for an agent started with
	// --insecure on loopback). Default DefaultServer.
	Server string
	// CertFile and KeyFile are a client certificate for HTTPS (mutual TLS).
	CertFile, KeyFile string
	// CAFile verifies the server's certificate; default the system pool.
	CAFile string
	// RequestTimeout bounds every request that is not a stream (watch,
	// log); 0 means no bound.
	RequestTimeout time.Duration
	// UserAgent is sent with every request.
	UserAgent string
}

// Client talks to one agent. It is safe for concurrent use.
type Client struct {
	// server names the agent in connection errors.
	server    string
	base      *url.URL
	http      *http.Client
	timeout   time.Duration
	userAgent string
}

// New returns a client for the agent that opts names.
func New(opts Options) (*Client, error) {
	server := opts.Server
	if server == "" {
		server = DefaultServer
	}
	if path, ok := strings.CutPrefix(server, "unix:"); ok {
		path = strings.TrimPrefix(path, "//")
		if path == "" {
			return nil, fmt.Errorf("server %q: empty socket path", server)
		}
		tr := &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
			MaxIdleConns:    4,
			IdleConnTimeout: 30 * time.Second,
		}
		base := &url.URL{Scheme: "http", Host: "localhost"}
		return &Client{server: server, base: base, http: &http.Client{Transport: tr}, timeout: opts.RequestTimeout, userAgent: opts.UserAgent}, nil
	}
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("parsing server %q: %w", server, err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("server %q: want unix:/path, https://host:port or http://host:port", server)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if u.Scheme == "https" {
		cfg, err := tlsConfig(opts)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = cfg
	} else if opts.CertFile != "" || opts.CAFile != "" {
		return nil, fmt.Errorf("server %q: --cert, --key and --ca need an https:// server", server)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{server: server, base: u, http: &http.Client{Transport: tr}, timeout: opts.RequestTimeout, userAgent: opts.UserAgent}, nil
}

func tlsConfig(opts Options) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, errors.New("a client certificate needs both --cert and --key")
	}
	if opts.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(opts.CertFile, opts.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate %s: %w", opts.CertFile, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("no PEM certificate in %s", opts.CAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// LoadKubeconfig loads a kubeconfig file with client-go's clientcmd, using
// context if it is not empty and the file's current context otherwise. An
// empty path follows the usual rules ($KUBECONFIG, then ~/.kube/config).
func LoadKubeconfig(path, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig: %w", err)
	}
	return cfg, nil
}

// NewForConfig returns a client for the server of a client-go rest.Config
// (from a kubeconfig), with the transport rest.HTTPClientFor builds:
// client certificates, bearer tokens, exec plugins and CA bundles all work
// as they do for kubectl.
func NewForConfig(cfg *rest.Config, requestTimeout time.Duration, userAgent string) (*Client, error) {
	c := rest.CopyConfig(cfg)
	c.Timeout = 0 // streams must not be cut; requestTimeout bounds the rest
	hc, err := rest.HTTPClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("building HTTP client from kubeconfig: %w", err)
	}
	base, _, err := rest.DefaultServerUrlFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig server: %w", err)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	return &Client{server: base.String(), base: base, http: hc, timeout: requestTimeout, userAgent: userAgent}, nil
}

// NewForHTTPClient returns a client that reaches server (scheme://host[:port])
// through hc, for tests and embedding.
func NewForHTTPClient(server string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(server)
	if err != nil {
		return nil, fmt.Errorf("parsing server %q: %w", server, err)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return &Client{server: server, base: u, http: hc}, nil
}

// Server returns the base URL requests go to ("http://localhost" for a
// unix socket).
func (c *Client) Server() string { return c.base.String() }

// request is one HTTP exchange.
type request struct {
	method string
	path   string
	query  url.Values
	body   any
	// accept is the Accept header; default application/json.
	accept string
	// stream: no request timeout, the caller reads and closes the body.
	stream bool
	// for error messages of non-Status error bodies
	resource, name string
}

// send performs r and returns the response of a 2xx status; any other
// status becomes an error. The caller closes the body.
func (c *Client) send(ctx context.Context, r request) (*http.Response, context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	if c.timeout > 0 && !r.stream {
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
	}
	u := *c.base
	u.Path = c.base.Path + r.path
	u.RawQuery = r.query.Encode()
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			cancel()
			return nil, nil, fmt.Errorf("encoding request body: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("building request: %w", err)
	}
	accept := r.accept
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return nil, nil, fmt.Errorf("%s %s: no answer from the agent at %s in time: %w", r.method, r.path, c.server, err)
		}
		return nil, nil, fmt.Errorf("%s %s: cannot reach the agent at %s: %w", r.method, r.path, c.server, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer cancel()
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, nil, errorFromBody(resp.StatusCode, r.method, r.resource, r.name, b)
	}
	return resp, cancel, nil
}

// do performs r and decodes a JSON response into out (unless out is nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, cancel, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading response of %s %s: %w", r.method, r.path, err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding response of %s %s: %w", r.method, r.path, err)
	}
	return nil
}

// errorFromBody turns an error response into an apimachinery StatusError:
// the server's metav1.Status when the body is one, a generic error for the
// HTTP status code otherwise.
func errorFromBody(code int, method, resource, name string, body []byte) error {
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err == nil && (st.Kind == "Status" || st.Status == metav1.StatusFailure) {
		if st.Code == 0 {
			st.Code = int32(code)
		}
		return apierrors.FromObject(&st)
	}
	gr := schema.GroupResource{Group: v1alpha1.Group, Resource: resource}
	msg := strings.TrimSpace(string(body))
	se := apierrors.NewGenericServerResponse(code, method, gr, name, msg, 0, true)
	if msg != "" {
		if len(msg) > 512 {
			msg = msg[:512] + "…"
		}
		se.ErrStatus.Message += ": " + msg
	}
	return se
}

// ServerVersion returns the agent's build information from /version.
func (c *Client) ServerVersion(ctx context.Context) (*version.Info, error) {
	var info version.Info
	if err := c.do(ctx, request{method: http.MethodGet, path: "/version"}, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// Logs opens the full log of an Operation (plain text). The caller closes it.
func (c *Client) Logs(ctx context.Context, operation string) (io.ReadCloser, error) {
	return c.LogsFrom(ctx, operation, 0)
}

// LogsFrom opens the log of an Operation, skipping its first offset bytes
// (the skipping is done here, so any server works).
func (c *Client) LogsFrom(ctx context.Context, operation string, offset int64) (io.ReadCloser, error) {
	return c.logs(ctx, operation, offset, nil)
}

// FollowLogs is LogsFrom with follow=true: the agent goes on streaming what
// the step writes and ends the stream when the Operation has finished.
func (c *Client) FollowLogs(ctx context.Context, operation string, offset int64) (io.ReadCloser, error) {
	return c.logs(ctx, operation, offset, url.Values{"follow": {"true"}})
}

func (c *Client) logs(ctx context.Context, operation string, offset int64, query url.Values) (io.ReadCloser, error) {
	resp, cancel, err := c.send(ctx, request{
		method: http.MethodGet, path: resourcePath(Operations, operation, "log"), query: query,
		stream: true, resource: Operations, name: operation,
	})
	if err != nil {
		return nil, err
	}
	rc := &cancelCloser{ReadCloser: resp.Body, cancel: cancel}
	if offset > 0 {
		if _, err := io.CopyN(io.Discard, rc, offset); err != nil && !errors.Is(err, io.EOF) {
			rc.Close()
			return nil, fmt.Errorf("reading log of operation %q: %w", operation, err)
		}
	}
	return rc, nil
}

type cancelCloser struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelCloser) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

func resourcePath(resource, name, sub string) string {
	p := APIPath + "/" + resource
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	if sub != "" {
		p += "/" + sub
	}
	return p
}

func listQuery(opts metav1.ListOptions) url.Values {
	q := url.Values{}
	if opts.LabelSelector != "" {
		q.Set("labelSelector", opts.LabelSelector)
	}
	if opts.FieldSelector != "" {
		q.Set("fieldSelector", opts.FieldSelector)
	}
	if opts.ResourceVersion != "" {
		q.Set("resourceVersion", opts.ResourceVersion)
	}
	if opts.TimeoutSeconds != nil {
		q.Set("timeoutSeconds", strconv.FormatInt(*opts.TimeoutSeconds, 10))
	}
	if opts.AllowWatchBookmarks {
		q.Set("allowWatchBookmarks", "true")
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.FormatInt(opts.Limit, 10))
	}
	return q
}
