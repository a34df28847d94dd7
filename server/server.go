package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/julienschmidt/httprouter"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/patchlet/patchlet/audit"
	"github.com/patchlet/patchlet/store"
)

// Authorizer decides whether a request may act on an object. verb is one of
// get, list, watch, create, update, patch, delete; resource is the plural
// name, with "/status" or "/log" for a subresource; name is empty for list,
// watch and create. A non-nil error refuses the request: an API status error
// (apierrors, e.g. 401 Unauthorized) as it is, any other with 403 Forbidden
// and the error's text. IdentityOf(r) says who sent the request.
type Authorizer interface {
	Authorize(r *http.Request, verb, resource, name string) error
}

// Options configure a Server.
type Options struct {
	// Store holds the objects. Required.
	Store *store.Store
	// Log receives request failures and, at V(4), one line per request.
	Log logr.Logger
	// Version is served at /version. Report Major "1" and a Minor kubectl
	// knows (e.g. "32"): /usr/bin/kubectl picks its own version from it.
	Version version.Info
	// ReadyChecks are run by /readyz, each reported by name with ?verbose.
	ReadyChecks map[string]func() error
	// Health is what GET /health reports besides the Host (see Health).
	Health HealthOptions
	// OperationLogs opens the full log of an operation; nil answers 404.
	OperationLogs func(name string) (io.ReadCloser, error)
	// Authorizer is asked before every request on an object; nil allows all.
	// An error that is an API status (apierrors) is answered as it is, 401
	// Unauthorized included; any other error is 403 Forbidden. The agent
	// uses a RoleAuthorizer.
	Authorizer Authorizer
	// Audit records every change accepted over the API; nil records none.
	Audit audit.Recorder
	// AllowCIDRs, when not empty, are the only source networks a TCP client
	// may connect from; others get 403 before anything else is looked at.
	// The unix socket is not affected.
	AllowCIDRs []netip.Prefix
	// WebSocketOrigins are the origins (scheme://host[:port]) besides the
	// agent's own whose pages may open a WebSocket watch (see checkOrigin).
	WebSocketOrigins []string
	// MaxWatches bounds the watches served at once (429 beyond it);
	// DefaultMaxWatches when 0, unbounded when negative.
	MaxWatches int
	// RateLimit is the requests per second a client may send (429 with
	// Retry-After beyond it), counted per verified certificate name or
	// else per source address; the unix socket is not limited.
	// DefaultRateLimit when 0, unlimited when negative. RateBurst is the
	// size of the bucket; DefaultRateBurst when 0.
	RateLimit float64
	RateBurst int
	// HeaderTimeout bounds the TLS handshake and reading the request
	// headers, BodyTimeout reading a request body, IdleTimeout an idle
	// keep-alive connection. Defaults when 0.
	HeaderTimeout, BodyTimeout, IdleTimeout time.Duration
	// Metrics is served at GET /metrics to clients the Authorizer lets
	// "get" resource "metrics" (viewers); nil answers 404.
	Metrics http.Handler
	// Instrument wraps the whole API handler, outside authentication and
	// limits, so refusals are counted too; nil wraps nothing.
	Instrument func(http.Handler) http.Handler
}

// Server serves patchlet's HTTP API. Create it with New.
type Server struct {
	metrics    http.Handler
	store      *store.Store
	log        logr.Logger
	ready      map[string]func() error
	readyNames []string
	healthOpts HealthOptions
	opLogs     func(name string) (io.ReadCloser, error)
	authz      Authorizer
	audit      audit.Recorder
	now        func() time.Time

	allowCIDRs []netip.Prefix
	limiter    *rateLimiter
	maxWatches int
	wsOrigins  []string
	watchMu    sync.Mutex
	watches    int
	// upgraded counts the WebSocket watches, which Shutdown does not wait for.
	upgraded sync.WaitGroup

	headerTimeout, bodyTimeout, idleTimeout time.Duration

	// bookmarkEvery is the interval of BOOKMARK events in a watch,
	// pingEvery of pings in a WebSocket watch.
	bookmarkEvery, pingEvery time.Duration
	// shutdownGrace bounds how long Serve waits for requests at shutdown.
	shutdownGrace time.Duration

	resources map[string]*resource
	disc      discovery
	handler   http.Handler
}

// New returns a Server for the options.
func New(o Options) *Server {
	s := &Server{
		store:         o.Store,
		log:           o.Log,
		ready:         o.ReadyChecks,
		healthOpts:    o.Health,
		opLogs:        o.OperationLogs,
		authz:         o.Authorizer,
		audit:         o.Audit,
		now:           time.Now,
		allowCIDRs:    o.AllowCIDRs,
		maxWatches:    o.MaxWatches,
		wsOrigins:     o.WebSocketOrigins,
		headerTimeout: cmp.Or(o.HeaderTimeout, DefaultHeaderTimeout),
		bodyTimeout:   cmp.Or(o.BodyTimeout, DefaultBodyTimeout),
		idleTimeout:   cmp.Or(o.IdleTimeout, DefaultIdleTimeout),
		bookmarkEvery: 30 * time.Second,
		pingEvery:     DefaultPingInterval,
		shutdownGrace: 10 * time.Second,
		resources:     newResources(),
	}
	if s.maxWatches == 0 {
		s.maxWatches = DefaultMaxWatches
	}
	s.limiter = newRateLimiter(o.RateLimit, o.RateBurst, s.now)
	for name := range s.ready {
		s.readyNames = append(s.readyNames, name)
	}
	sort.Strings(s.readyNames)
	s.disc = newDiscovery(o.Version, s.resources)
	s.metrics = o.Metrics
	s.handler = s.routes()
	if o.Instrument != nil {
		s.handler = o.Instrument(s.handler)
	}
	return s
}

// Handler returns the http.Handler of the API.
func (s *Server) Handler() http.Handler { return s.handler }

// Route prefix of the group version.
const apiPath = "/apis/patchlet.io/v1alpha1"

func (s *Server) routes() http.Handler {
	r := httprouter.New()
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.writeError(w, req, errNotFoundPath(req.URL.Path))
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.writeError(w, req, errMethodNotAllowed(fmt.Sprintf("method %s is not allowed on %s", req.Method, req.URL.Path)))
	})
	r.PanicHandler = func(w http.ResponseWriter, req *http.Request, v any) {
		s.log.Error(fmt.Errorf("panic: %v", v), "request panicked", "method", req.Method, "path", req.URL.Path)
		s.writeError(w, req, errors.New("internal error"))
	}

	r.GET("/version", s.serveVersion)
	r.GET("/healthz", s.serveHealth)
	r.GET("/livez", s.serveHealth)
	r.GET("/readyz", s.serveReady)
	r.GET("/health", s.serveHealthDoc)
	r.GET("/openapi/v2", s.serveOpenAPIv2)
	if s.metrics != nil {
		r.GET("/metrics", func(w http.ResponseWriter, req *http.Request, _ httprouter.Params) {
			if s.authorize(w, req, "get", "metrics", "") {
				s.metrics.ServeHTTP(w, req)
			}
		})
	}
	r.GET("/api", s.serveStatic(func() []byte { return s.disc.api }))
	r.GET("/apis", s.serveStatic(func() []byte { return s.disc.groups }))
	r.GET("/apis/patchlet.io", s.serveStatic(func() []byte { return s.disc.group }))
	r.GET(apiPath, s.serveStatic(func() []byte { return s.disc.resources }))

	r.GET(apiPath+"/:resource", s.serveList)
	r.POST(apiPath+"/:resource", s.serveCreate)
	r.GET(apiPath+"/:resource/:name", s.serveGet)
	r.PUT(apiPath+"/:resource/:name", s.serveUpdate)
	r.PATCH(apiPath+"/:resource/:name", s.servePatch)
	r.DELETE(apiPath+"/:resource/:name", s.serveDelete)
	r.GET(apiPath+"/:resource/:name/:sub", s.serveGetSub)
	r.PUT(apiPath+"/:resource/:name/:sub", s.serveUpdate)
	r.PATCH(apiPath+"/:resource/:name/:sub", s.servePatch)

	if s.log.V(4).Enabled() {
		return s.guard(s.accessLog(r))
	}
	return s.guard(r)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.log.V(4).Info("request", "method", r.Method, "uri", r.RequestURI, "code", rec.code,
			"remote", r.RemoteAddr, "duration", time.Since(start))
	})
}

// Serve serves the API on ln until ctx ends, then shuts down gracefully:
// watches end, running requests get shutdownGrace to finish. It returns nil
// after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	handler := s.handler
	if _, plain := ln.(*net.TCPListener); plain {
		handler = loopbackHostOnly(s, handler)
	}
	var src *tlsSource
	if tl, ok := ln.(*tlsListener); ok {
		src = tl.src
		go src.watch(base, s.log.WithName("tls"))
	}
	srv := &http.Server{
		Handler: handler,
		// Bounds the TLS handshake too: a client that sends its hello or
		// its headers a byte at a time is closed after it.
		ReadHeaderTimeout: s.headerTimeout,
		// No ReadTimeout or WriteTimeout: watches are long. Bodies are read
		// under a per-request deadline (see readBody).
		IdleTimeout:    s.idleTimeout,
		MaxHeaderBytes: 64 << 10,
		BaseContext:    func(net.Listener) context.Context { return base },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return connContext(ctx, c, src)
		},
		ErrorLog: log.New(logWriter{s.log}, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving api", "address", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	cancelBase() // ends watches
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	s.waitUpgraded(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("shutting down the api server: %w", err)
	}
	return nil
}

// loopbackHostOnly guards a plain-HTTP listener (--insecure, loopback
// only) against DNS rebinding: a web page whose domain resolves to
// 127.0.0.1 is same-origin with the agent and could write policies. Such
// requests name the attacker's domain in Host; only loopback names pass.
func loopbackHostOnly(s *Server, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !isLoopback(strings.Trim(host, "[]")) {
			s.writeError(w, r, statusError(http.StatusForbidden, metav1.StatusReasonForbidden,
				fmt.Sprintf("the plain-HTTP listener answers requests for a loopback host only, not %q", r.Host)))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// logWriter hands net/http's own messages (TLS handshake failures and the
// like) to logr at V(1).
type logWriter struct{ log logr.Logger }

func (l logWriter) Write(p []byte) (int, error) {
	l.log.V(1).Info("http server", "message", strings.TrimSpace(string(p)))
	return len(p), nil
}
