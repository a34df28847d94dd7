package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// DefaultPingInterval is how often a WebSocket watch pings its client; a
// client that has not answered by the next ping is dropped.
const DefaultPingInterval = 30 * time.Second

// isWebSocketUpgrade says whether r asks to switch to WebSocket
// (Connection: Upgrade, Upgrade: websocket; tokens, any case).
func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkOrigin refuses a browser's cross-origin upgrade (403). A browser
// sends its client certificate with a WebSocket to any page's script, and
// the same-origin policy does not cover WebSockets, so without this check
// any web page could read the agent's objects with a viewer's or
// operator's certificate. Clients that send no Origin (patchctl, a hub,
// curl) and the agent's own origin pass; Options.WebSocketOrigins lists
// the others allowed, exactly (no patterns: each is a deliberate grant).
func (s *Server) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host) {
		return nil
	}
	if err == nil && slices.ContainsFunc(s.wsOrigins, func(o string) bool { return strings.EqualFold(o, origin) }) {
		return nil
	}
	return statusError(http.StatusForbidden, metav1.StatusReasonForbidden, fmt.Sprintf(
		"a WebSocket from origin %q is refused: only the agent's own origin and those allowed with --websocket-origin may open one", origin))
}

// ParseWebSocketOrigins checks --websocket-origin values: each an origin
// as a browser sends it, scheme://host[:port], http or https.
func ParseWebSocketOrigins(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("--websocket-origin %q: want an origin, scheme://host[:port] with scheme http or https", v)
		}
		out = append(out, u.Scheme+"://"+strings.ToLower(u.Host))
	}
	return out, nil
}

// serveWatchWebSocket upgrades the request and sends the events of w, one
// text message each holding the same JSON event as a line of the chunked
// watch (without the newline): kube-apiserver frames JSON watch events as
// text too, and a browser hands a text message to its script as a string.
// The client sends nothing; it is pinged every pingEvery. The close says
// why the watch ended: 1000 after timeoutSeconds or when the store ended
// the watch (watch again from the last resourceVersion), 1001 when the
// agent shuts down.
func (s *Server) serveWatchWebSocket(w http.ResponseWriter, r *http.Request, ws *watchStream) {
	// Counted before the hijack, so that Serve's shutdown sees it.
	s.upgraded.Add(1)
	defer s.upgraded.Done()
	// checkOrigin has judged the origin: the library's own check (same
	// host or patterns) would answer in plain text rather than a Status.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		// Accept has answered (a malformed handshake).
		s.log.V(1).Info("websocket upgrade refused", "reason", err.Error())
		return
	}
	defer c.CloseNow()
	// Reading answers pings and the client's close; it must outlive the
	// watch so that the close below is a handshake, not a cut connection.
	gone := c.CloseRead(context.WithoutCancel(r.Context()))
	ctx, cancel := context.WithCancel(ws.ctx)
	defer cancel()
	stop := context.AfterFunc(gone, cancel)
	defer stop()

	var unresponsive atomic.Bool
	go func() {
		t := time.NewTicker(s.pingEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, pcancel := context.WithTimeout(ctx, s.pingEvery)
			err := c.Ping(pctx)
			pcancel()
			if err != nil {
				if ctx.Err() == nil {
					unresponsive.Store(true)
					cancel()
				}
				return
			}
		}
	}()

	var buf []byte
	failed := false
	s.runWatch(ctx, ws, func(typ watch.EventType, obj []byte) bool {
		buf = appendEvent(buf[:0], typ, obj)
		if err := c.Write(ctx, websocket.MessageText, buf); err != nil {
			failed = true
			return false
		}
		return true
	})
	switch {
	case r.Context().Err() != nil:
		_ = c.Close(websocket.StatusGoingAway, "the agent is shutting down")
	case ws.timedOut():
		_ = c.Close(websocket.StatusNormalClosure, "timeoutSeconds elapsed")
	case gone.Err() != nil:
		// The client closed; CloseRead has answered it.
	case unresponsive.Load(), failed:
		s.log.V(1).Info("websocket watch client gone", "resource", ws.res.Resource, "unresponsive", unresponsive.Load())
	default:
		_ = c.Close(websocket.StatusNormalClosure, "the watch ended; watch again from the last resourceVersion")
	}
}

// waitUpgraded waits until the WebSocket watches have closed, or ctx ends:
// http.Server.Shutdown does not wait for hijacked connections, and a
// process that exits before the close frame is sent cuts its clients off.
func (s *Server) waitUpgraded(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		s.upgraded.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
