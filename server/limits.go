package server

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults of the limits in Options.
const (
	DefaultMaxWatches    = 100
	DefaultRateLimit     = 50.0
	DefaultRateBurst     = 100
	DefaultHeaderTimeout = 10 * time.Second
	DefaultBodyTimeout   = 30 * time.Second
	DefaultIdleTimeout   = 120 * time.Second
)

// maxRateClients bounds the per-client limiters kept; idle ones go first.
const maxRateClients = 4096

// watchRetryAfter is the Retry-After of a watch refused for the bound.
const watchRetryAfter = 5

// allowed says whether the remote address of r is in the allow-list. The
// unix socket (no IP) always is; an empty list allows everyone.
func allowed(list []netip.Prefix, r *http.Request) bool {
	if len(list) == 0 {
		return true
	}
	if ci, _ := r.Context().Value(connKey{}).(*connInfo); ci != nil && ci.via == ViaUnix {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range list {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// ParseCIDRs parses --allow-cidr values; a bare address is a /32 or /128.
func ParseCIDRs(values []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			if !strings.Contains(part, "/") {
				a, err := netip.ParseAddr(part)
				if err != nil {
					return nil, fmt.Errorf("--allow-cidr %q: %w", part, err)
				}
				out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
			p, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("--allow-cidr %q: %w", part, err)
			}
			if p.Addr().Is4In6() {
				p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
			}
			out = append(out, p.Masked())
		}
	}
	return out, nil
}

// rateLimiter keeps a token bucket per client.
type rateLimiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

func newRateLimiter(perSecond float64, burst int, now func() time.Time) *rateLimiter {
	if perSecond < 0 {
		return nil
	}
	if perSecond == 0 {
		perSecond = DefaultRateLimit
	}
	if burst <= 0 {
		burst = max(DefaultRateBurst, int(math.Ceil(perSecond)))
	}
	return &rateLimiter{limit: rate.Limit(perSecond), burst: burst, now: now, clients: map[string]*rate.Limiter{}}
}

// wait returns 0 when a request of key may go now, else how long to wait.
func (l *rateLimiter) wait(key string) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.clients[key]
	if lim == nil {
		if len(l.clients) >= maxRateClients {
			l.prune(now)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.clients[key] = lim
	}
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}

// prune drops the limiters of idle clients (a full bucket), or all when
// every client is busy: a flood of addresses must not grow the map.
func (l *rateLimiter) prune(now time.Time) {
	for k, lim := range l.clients {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.clients, k)
		}
	}
	if len(l.clients) >= maxRateClients {
		clear(l.clients)
	}
}

// rateKey is the client a request counts against: the certificate's name
// when verified, else the source address. The unix socket is not limited.
func rateKey(id Identity, r *http.Request) (string, bool) {
	switch {
	case id.Via == ViaUnix:
		return "", false
	case id.Via == ViaTLS && id.Authenticated:
		return "cn:" + id.Name, true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return "ip:" + host, true
}

// errTooManyRequests is a 429 with Retry-After set on w.
func errTooManyRequests(w http.ResponseWriter, msg string, after time.Duration) error {
	secs := max(1, int(math.Ceil(after.Seconds())))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return apierrors.NewTooManyRequests(msg, secs)
}

// guard is the front of the handler: the allow-list (403 before anything
// else), the identity of the client, the per-client rate limit (429) and,
// on a listener with a client CA, a verified certificate for every request
// on an object (401).
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed(s.allowCIDRs, r) {
			s.writeError(w, r, statusError(http.StatusForbidden, metav1.StatusReasonForbidden,
				fmt.Sprintf("the address %s is not in the allow-list (--allow-cidr)", r.RemoteAddr)))
			return
		}
		id := resolveIdentity(r)
		r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
		if s.limiter != nil {
			if key, ok := rateKey(id, r); ok {
				if d := s.limiter.wait(key); d > 0 {
					s.writeError(w, r, errTooManyRequests(w, fmt.Sprintf(
						"too many requests from %s: at most %g per second (burst %d)", id, float64(s.limiter.limit), s.limiter.burst), d))
					return
				}
			}
		}
		if !id.Authenticated && strings.HasPrefix(r.URL.Path, apiPath+"/") && requiresClientCert(r) {
			s.writeError(w, r, errUnauthorized(id))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// acquireWatch takes a watch slot; false after writing a 429.
func (s *Server) acquireWatch(w http.ResponseWriter, r *http.Request) (release func(), ok bool) {
	if s.maxWatches < 0 {
		return func() {}, true
	}
	s.watchMu.Lock()
	if s.watches >= s.maxWatches {
		s.watchMu.Unlock()
		s.writeError(w, r, errTooManyRequests(w, fmt.Sprintf(
			"too many watches: the agent serves at most %d at a time", s.maxWatches), watchRetryAfter*time.Second))
		return nil, false
	}
	s.watches++
	s.watchMu.Unlock()
	return func() {
		s.watchMu.Lock()
		s.watches--
		s.watchMu.Unlock()
	}, true
}
