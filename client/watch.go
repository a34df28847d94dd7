package client

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// wireEvent is one line of a watch stream.
type wireEvent struct {
	Type   watch.EventType `json:"type"`
	Object json.RawMessage `json:"object"`
}

// streamWatcher decodes a watch stream of JSON events into watch.Events.
type streamWatcher struct {
	body   io.ReadCloser
	stop   func()
	newObj func() runtime.Object
	result chan watch.Event
	done   chan struct{}
	once   sync.Once
}

func newStreamWatcher(body io.ReadCloser, stop func(), newObj func() runtime.Object) *streamWatcher {
	w := &streamWatcher{
		body: body, stop: stop, newObj: newObj,
		result: make(chan watch.Event),
		done:   make(chan struct{}),
	}
	go w.receive()
	return w
}

// ResultChan returns the events; it is closed when the stream ends.
func (w *streamWatcher) ResultChan() <-chan watch.Event { return w.result }

// Stop ends the stream and releases the connection.
func (w *streamWatcher) Stop() {
	w.once.Do(func() {
		close(w.done)
		w.stop()
	})
}

func (w *streamWatcher) receive() {
	defer close(w.result)
	defer w.body.Close()
	defer w.Stop()
	dec := json.NewDecoder(w.body)
	for {
		var ev wireEvent
		if err := dec.Decode(&ev); err != nil {
			select {
			case <-w.done:
			default:
				if err != io.EOF {
					w.send(errorEvent(fmt.Errorf("reading watch stream: %w", err)))
				}
			}
			return
		}
		var obj runtime.Object
		switch ev.Type {
		case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
			obj = w.newObj()
		case watch.Error:
			obj = &metav1.Status{}
		default:
			w.send(errorEvent(fmt.Errorf("watch stream: unknown event type %q", ev.Type)))
			return
		}
		if err := json.Unmarshal(ev.Object, obj); err != nil {
			w.send(errorEvent(fmt.Errorf("decoding %s watch event: %w", ev.Type, err)))
			return
		}
		if !w.send(watch.Event{Type: ev.Type, Object: obj}) {
			return
		}
	}
}

func (w *streamWatcher) send(ev watch.Event) bool {
	select {
	case w.result <- ev:
		return true
	case <-w.done:
		return false
	}
}

func errorEvent(err error) watch.Event {
	return watch.Event{Type: watch.Error, Object: &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: err.Error(), Reason: metav1.StatusReasonInternalError, Code: 500,
	}}
}
