package store

import (
	"context"
	"strconv"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

type watcher struct {
	resource string // "" for every resource
	ch       chan Event
	once     sync.Once
}

func (w *watcher) close() { w.once.Do(func() { close(w.ch) }) }

// publish records an event and hands it to the watchers. s.mu is held.
func (s *Store) publish(ev Event) {
	if len(s.events) < eventLogSize {
		s.events = append(s.events, ev)
	} else {
		s.events[s.evStart] = ev
		s.evStart = (s.evStart + 1) % eventLogSize
	}
	for w := range s.watchers {
		if w.resource != "" && w.resource != ev.Resource {
			continue
		}
		select {
		case w.ch <- ev:
		default:
			// Too slow: close the watch; the client re-lists, as with an API server.
			delete(s.watchers, w)
			w.close()
		}
	}
}

// Watch streams the events of a resource ("" for all) after resourceVersion
// since. since == 0 starts with a synthetic Added event for every current
// object. A since older than the remembered history is 410 Expired. The
// channel closes when ctx ends or the watcher falls too far behind.
func (s *Store) Watch(ctx context.Context, resource string, since uint64) (<-chan Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if resource != "" {
		if _, err := s.bucket(resource); err != nil {
			return nil, err
		}
	}
	var backlog []Event
	if since == 0 {
		for _, r := range v1alpha1.Resources {
			if resource != "" && r.Resource != resource {
				continue
			}
			items := make([]Event, 0, len(s.objects[r.Resource]))
			for _, e := range s.objects[r.Resource] {
				rv, _ := strconv.ParseUint(e.obj.GetResourceVersion(), 10, 64)
				items = append(items, Event{Type: watch.Added, Resource: r.Resource, Object: e.obj, JSON: e.json, RV: rv})
			}
			backlog = append(backlog, items...)
		}
	} else if since < s.rv {
		n := len(s.events)
		oldest := uint64(0)
		if n > 0 {
			oldest = s.events[s.evStart].RV
		}
		if n == 0 || since+1 < oldest {
			return nil, apierrors.NewResourceExpired("too old resource version: " + strconv.FormatUint(since, 10) + " (" + strconv.FormatUint(oldest, 10) + ")")
		}
		for i := 0; i < n; i++ {
			ev := s.events[(s.evStart+i)%n]
			if ev.RV > since && (resource == "" || ev.Resource == resource) {
				backlog = append(backlog, ev)
			}
		}
	}
	w := &watcher{resource: resource, ch: make(chan Event, watchBuffer+len(backlog))}
	for _, ev := range backlog {
		w.ch <- ev
	}
	s.watchers[w] = struct{}{}
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		delete(s.watchers, w)
		s.mu.Unlock()
		w.close()
	}()
	return w.ch, nil
}
