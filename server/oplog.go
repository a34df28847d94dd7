package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

// logPollInterval is how often a followed log is read for new output.
const logPollInterval = 250 * time.Millisecond

// serveLog streams the full log of an operation as text; with follow=true
// it goes on streaming what the step writes until the operation has
// finished, as kubectl logs -f does for a pod. A follow holds a watch slot.
func (s *Server) serveLog(w http.ResponseWriter, r *http.Request, res *resource, name string) {
	if !s.authorize(w, r, "get", res.Resource+"/log", name) {
		return
	}
	follow := false
	if v := r.URL.Query().Get("follow"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid follow %q", v)))
			return
		}
		follow = b
	}
	op, err := s.operation(name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	notFound := statusError(http.StatusNotFound, metav1.StatusReasonNotFound,
		fmt.Sprintf("no log recorded for operation %q", name))
	if s.opLogs == nil {
		s.writeError(w, r, notFound)
		return
	}
	if follow {
		release, ok := s.acquireWatch(w, r)
		if !ok {
			return
		}
		defer release()
	}
	// A running step may not have written its log yet: a follow waits.
	started := false
	n, err := s.copyLog(w, name, 0, func() { writeLogHeader(w); started = true })
	switch {
	case started && err != nil:
		s.log.V(1).Info("log stream ended early", "operation", name, "reason", err.Error())
		return
	case errors.Is(err, os.ErrNotExist) && (!follow || finished(op)):
		s.writeError(w, r, notFound)
		return
	case errors.Is(err, os.ErrNotExist):
		writeLogHeader(w)
	case err != nil:
		s.writeError(w, r, fmt.Errorf("opening the log of operation %q: %w", name, err))
		return
	}
	if !follow || finished(op) {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	offset := n
	tick := time.NewTicker(logPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return // the client left or the server shuts down
		case <-tick.C:
		}
		// The phase first: once it is final the log is complete, so the
		// copy after it reads the last output.
		op, err := s.operation(name)
		done := err != nil || finished(op) // a pruned operation ends too
		n, err := s.copyLog(w, name, offset, nil)
		offset += n
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.V(1).Info("log stream ended early", "operation", name, "reason", err.Error())
			return
		}
		if n > 0 && rc.Flush() != nil {
			return
		}
		if done {
			return
		}
	}
}

func writeLogHeader(w http.ResponseWriter) {
	w.Header()["Content-Type"] = headerText
	w.Header()["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(http.StatusOK)
}

func (s *Server) operation(name string) (*v1alpha1.Operation, error) {
	obj, err := s.store.Get(store.Operations, name)
	if err != nil {
		return nil, err
	}
	op, ok := obj.(*v1alpha1.Operation)
	if !ok {
		return nil, fmt.Errorf("operation %q: stored as %T", name, obj)
	}
	return op, nil
}

func finished(op *v1alpha1.Operation) bool {
	return op.Status.Phase == v1alpha1.OperationSucceeded || op.Status.Phase == v1alpha1.OperationFailed
}

// copyLog writes the log of an operation from offset on to w and returns
// how much it wrote; opened runs once the log is open, before the first
// byte. The log is opened anew each time: OperationLogs may hand out a
// snapshot, and the step may not have created the file yet.
func (s *Server) copyLog(w io.Writer, name string, offset int64, opened func()) (int64, error) {
	rc, err := s.opLogs(name)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	if sk, ok := rc.(io.Seeker); ok {
		_, err = sk.Seek(offset, io.SeekStart)
	} else {
		_, err = io.CopyN(io.Discard, rc, offset)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("skipping to byte %d of the log of operation %q: %w", offset, name, err)
	}
	if opened != nil {
		opened()
	}
	return io.Copy(w, rc)
}
