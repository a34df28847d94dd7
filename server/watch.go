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

// serveWatch streams events as JSON lines until the client leaves, the
// timeout passes, the server shuts down or the store drops the watcher.
func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, res *resource, q url.Values, match matcher) {
	p, err := parseWatchParams(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	table := negotiate(r) == formatTable
	include, err := includeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if p.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	f := &eventFilter{match: match, seen: map[string]bool{}}
	if match != nil && p.since > 0 {
		// Objects that matched before the watch began may stop matching in it.
		items, _, err := s.store.List(res.Resource)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		for _, it := range items {
			if match(it.Object) {
				f.seen[it.Object.GetName()] = true
			}
		}
	}
	ch, werr := s.store.Watch(ctx, res.Resource, p.since)
	// With since 0 the store queued one ADDED event per object before
	// returning: the first initial events in ch are the initial state.
	// Events up to initialRV are among them.
	initialRV := s.store.ResourceVersion()
	initial := len(ch)
	if werr != nil && !apierrors.IsResourceExpired(werr) && !apierrors.IsGone(werr) {
		s.writeError(w, r, werr)
		return
	}
	rc := http.NewResponseController(w)
	w.Header()["Content-Type"] = headerJSON
	w.Header()["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(http.StatusOK)
	var buf []byte
	send := func(typ watch.EventType, obj []byte) bool {
		buf = append(buf[:0], `{"type":"`...)
		buf = append(buf, typ...)
		buf = append(buf, `","object":`...)
		buf = append(buf, obj...)
		buf = append(buf, "}\n"...)
		if _, err := w.Write(buf); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if werr != nil {
		// As the API server does: 200, then one ERROR event with the 410.
		st, _ := toStatus(werr)
		b, _ := json.Marshal(st)
		send(watch.Error, b)
		return
	}
	_ = rc.Flush()
	if p.initialEvents && initial == 0 && !send(watch.Bookmark, bookmark(res, initialRV, true)) {
		return
	}

	var tick <-chan time.Time
	if p.bookmarks && !table {
		t := time.NewTicker(s.bookmarkEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			endOfInitial := false
			if initial > 0 {
				initial--
				endOfInitial = initial == 0 && p.initialEvents
				initialRV = max(initialRV, ev.RV)
			}
			typ, ok := f.filter(ev)
			if !ok {
				if endOfInitial && !send(watch.Bookmark, bookmark(res, initialRV, true)) {
					return
				}
				continue
			}
			obj := ev.JSON
			if table {
				t, err := s.table(res, []store.Item{{Object: ev.Object, JSON: ev.JSON}}, include, strconv.FormatUint(ev.RV, 10), "", 0)
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
			if len(ch) > 0 {
				continue
			}
			if !send(watch.Bookmark, bookmark(res, rv, false)) {
				return
			}
		}
	}
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
