package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

// watchParams are the query parameters of a watch.
type watchParams struct {
	since     uint64
	timeout   time.Duration
	bookmarks bool
	// initialEvents: the client asked for the current state first, ended
	// by a BOOKMARK annotated k8s.io/initial-events-end (watch-list).
	initialEvents bool
}

func parseWatchParams(q url.Values) (watchParams, error) {
	var p watchParams
	if v := q.Get("resourceVersion"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return p, apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", v))
		}
		p.since = n
	}
	if v := q.Get("timeoutSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, apierrors.NewBadRequest(fmt.Sprintf("invalid timeoutSeconds %q", v))
		}
		p.timeout = time.Duration(n) * time.Second
	}
	p.bookmarks = q.Get("allowWatchBookmarks") == "true"
	if q.Get("sendInitialEvents") == "true" {
		if !p.bookmarks {
			return p, apierrors.NewBadRequest("sendInitialEvents=true needs allowWatchBookmarks=true")
		}
		p.initialEvents = true
		p.since = 0
	}
	return p, nil
}

// eventFilter turns store events into the events of a selective watch: an
// object that starts matching is ADDED, one that stops matching is DELETED.
type eventFilter struct {
	match matcher
	seen  map[string]bool
}

func (f *eventFilter) filter(ev store.Event) (watch.EventType, bool) {
	if f.match == nil {
		return ev.Type, true
	}
	name := ev.Object.GetName()
	m := f.match(ev.Object)
	switch ev.Type {
	case watch.Added, watch.Modified:
		if m {
			typ := ev.Type
			if !f.seen[name] {
				typ = watch.Added
			}
			f.seen[name] = true
			return typ, true
		}
		if f.seen[name] {
			delete(f.seen, name)
			return watch.Deleted, true
		}
	case watch.Deleted:
		if f.seen[name] || m {
			delete(f.seen, name)
			return watch.Deleted, true
		}
	}
	return "", false
}

// watchStream is an open watch: the store's events for one resource with
// the request's parameters and selectors. runWatch turns it into events;
// an encoder (chunked JSON lines here, WebSocket messages in websocket.go)
// carries them to the client.
type watchStream struct {
	res     *resource
	p       watchParams
	table   bool
	include metav1.IncludeObjectPolicy
	filter  *eventFilter
	ch      <-chan store.Event
	// expired is the 410 of a resourceVersion older than the store's
	// history: the watch is one ERROR event.
	expired error
	// initial is how many of the first events in ch are the initial
	// state (since 0); initialRV is the newest resourceVersion among them.
	initial   int
	initialRV uint64
	// ctx ends with the request, at timeoutSeconds and when the server
	// shuts down; the store drops the watcher then.
	ctx    context.Context
	cancel context.CancelFunc
	// timedOut says the watch ended because timeoutSeconds passed.
	timedOut func() bool
}

// openWatch parses the watch's parameters and opens the store's watch. An
// error is answered before the response starts; the caller calls cancel.
func (s *Server) openWatch(r *http.Request, res *resource, q url.Values, match matcher) (*watchStream, error) {
	p, err := parseWatchParams(q)
	if err != nil {
		return nil, err
	}
	include, err := includeObject(r)
	if err != nil {
		return nil, err
	}
	f := &eventFilter{match: match, seen: map[string]bool{}}
	if match != nil && p.since > 0 {
		// Objects that matched before the watch began may stop matching in it.
		items, _, err := s.store.List(res.Resource)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if match(it.Object) {
				f.seen[it.Object.GetName()] = true
			}
		}
	}
	ctx, cancel := context.WithCancel(r.Context())
	w := &watchStream{res: res, p: p, table: negotiate(r) == formatTable, include: include, filter: f,
		ctx: ctx, cancel: cancel, timedOut: func() bool { return false }}
	if p.timeout > 0 {
		tctx, tcancel := context.WithTimeout(ctx, p.timeout)
		w.ctx, w.cancel = tctx, func() { tcancel(); cancel() }
		w.timedOut = func() bool { return ctx.Err() == nil && tctx.Err() != nil }
	}
	ch, werr := s.store.Watch(w.ctx, res.Resource, p.since)
	// With since 0 the store queued one ADDED event per object before
	// returning: the first initial events in ch are the initial state.
	// Events up to initialRV are among them.
	w.initialRV = s.store.ResourceVersion()
	w.initial = len(ch)
	w.ch = ch
	if werr != nil {
		if !apierrors.IsResourceExpired(werr) && !apierrors.IsGone(werr) {
			w.cancel()
			return nil, werr
		}
		w.expired = werr
	}
	return w, nil
}

// sendFunc hands one event to the client; false when the client is gone.
type sendFunc func(typ watch.EventType, obj []byte) bool

// runWatch sends the events of w until ctx ends, the client is gone or the
// store drops the watcher. ctx is w.ctx or one derived from it.
func (s *Server) runWatch(ctx context.Context, w *watchStream, send sendFunc) {
	res, p := w.res, w.p
	if w.expired != nil {
		// As the API server does: one ERROR event with the 410.
		st, _ := toStatus(w.expired)
		b, _ := json.Marshal(st)
		send(watch.Error, b)
		return
	}
	initial, initialRV := w.initial, w.initialRV
	if p.initialEvents && initial == 0 && !send(watch.Bookmark, bookmark(res, initialRV, true)) {
		return
	}
	var tick <-chan time.Time
	if p.bookmarks && !w.table {
		t := time.NewTicker(s.bookmarkEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ch:
			if !ok {
				return
			}
			endOfInitial := false
			if initial > 0 {
				initial--
				endOfInitial = initial == 0 && p.initialEvents
				initialRV = max(initialRV, ev.RV)
			}
			typ, ok := w.filter.filter(ev)
			if !ok {
				if endOfInitial && !send(watch.Bookmark, bookmark(res, initialRV, true)) {
					return
				}
				continue
			}
			obj := ev.JSON
			if w.table {
				t, err := s.table(res, []store.Item{{Object: ev.Object, JSON: ev.JSON}}, w.include, strconv.FormatUint(ev.RV, 10), "", 0)
				if err != nil {
					s.log.Error(err, "rendering watch event as table", "resource", res.Resource)
					return
				}
				if obj, err = json.Marshal(t); err != nil {
					return
				}
			}
			if !send(typ, obj) {
				return
			}
			if endOfInitial && !send(watch.Bookmark, bookmark(res, initialRV, true)) {
				return
			}
		case <-tick:
			// Every event up to rv is in ch or was sent: read rv first.
			rv := s.store.ResourceVersion()
			if len(w.ch) > 0 {
				continue
			}
			if !send(watch.Bookmark, bookmark(res, rv, false)) {
				return
			}
		}
	}
}

// appendEvent appends the JSON of one watch event, {"type":…,"object":…},
// the same in both encodings.
func appendEvent(buf []byte, typ watch.EventType, obj []byte) []byte {
	buf = append(buf, `{"type":"`...)
	buf = append(buf, typ...)
	buf = append(buf, `","object":`...)
	buf = append(buf, obj...)
	return append(buf, '}')
}

// serveWatch serves a watch: over WebSocket when the request is an upgrade
// (websocket.go), else as chunked JSON lines, one event a line, as
// kube-apiserver does and kubectl get -w reads.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, res *resource, q url.Values, match matcher) {
	if isWebSocketUpgrade(r) {
		if err := s.checkOrigin(r); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	ws, err := s.openWatch(r, res, q, match)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer ws.cancel()
	if isWebSocketUpgrade(r) {
		s.serveWatchWebSocket(w, r, ws)
		return
	}
	rc := http.NewResponseController(w)
	w.Header()["Content-Type"] = headerJSON
	w.Header()["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	var buf []byte
	s.runWatch(ws.ctx, ws, func(typ watch.EventType, obj []byte) bool {
		buf = append(appendEvent(buf[:0], typ, obj), '\n')
		if _, err := w.Write(buf); err != nil {
			return false
		}
		return rc.Flush() == nil
	})
}

// bookmark is the object of a BOOKMARK event: kind and resourceVersion
// only; initialEnd marks the end of the initial events.
func bookmark(res *resource, rv uint64, initialEnd bool) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"kind":"`...)
	b = append(b, res.Kind...)
	b = append(b, `","apiVersion":"`...)
	b = append(b, v1alpha1.GroupVersion.String()...)
	b = append(b, `","metadata":{"resourceVersion":"`...)
	b = strconv.AppendUint(b, rv, 10)
	b = append(b, '"')
	if initialEnd {
		b = append(b, `,"annotations":{"k8s.io/initial-events-end":"true"}`...)
	}
	b = append(b, `,"creationTimestamp":null}}`...)
	return b
}
