package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// format is the representation a client asked for.
type format int

const (
	formatJSON format = iota
	formatYAML
	formatTable
)

// Header values shared by every response (never modified).
var (
	headerJSON    = []string{"application/json"}
	headerYAML    = []string{"application/yaml"}
	headerText    = []string{"text/plain; charset=utf-8"}
	headerNoSniff = []string{"nosniff"}
)

// negotiate reads the Accept header: the first media range patchlet can
// produce wins; JSON when none can.
func negotiate(r *http.Request) format {
	accept := r.Header.Get("Accept")
	switch accept {
	case "", "application/json", "*/*":
		return formatJSON
	}
	for accept != "" {
		var part string
		part, accept, _ = strings.Cut(accept, ",")
		mt, params, _ := strings.Cut(part, ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		as, g, v := "", "", ""
		for params != "" {
			var p string
			p, params, _ = strings.Cut(params, ";")
			k, val, _ := strings.Cut(p, "=")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "as":
				as = strings.TrimSpace(val)
			case "g":
				g = strings.TrimSpace(val)
			case "v":
				v = strings.TrimSpace(val)
			}
		}
		switch mt {
		case "application/json", "*/*", "application/*":
			if as == "" {
				return formatJSON
			}
			if as == "Table" && g == "meta.k8s.io" && v == "v1" {
				return formatTable
			}
		case "application/yaml":
			if as == "" {
				return formatYAML
			}
		}
	}
	return formatJSON
}

// writeJSON writes JSON bytes, converted to YAML when asked.
func (s *Server) writeJSON(w http.ResponseWriter, code int, f format, b []byte) {
	h := w.Header()
	if f == formatYAML {
		y, err := yaml.JSONToYAML(b)
		if err == nil {
			b = y
			h["Content-Type"] = headerYAML
		} else {
			h["Content-Type"] = headerJSON
		}
	} else {
		h["Content-Type"] = headerJSON
	}
	h["X-Content-Type-Options"] = headerNoSniff
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// writeObject marshals v and writes it.
func (s *Server) writeObject(w http.ResponseWriter, r *http.Request, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("encoding response: %w", err))
		return
	}
	f := negotiate(r)
	if f == formatTable {
		f = formatJSON
	}
	s.writeJSON(w, code, f, b)
}

// writeText writes a plain text body.
func writeText(w http.ResponseWriter, code int, text string) {
	w.Header()["Content-Type"] = headerText
	w.Header()["X-Content-Type-Options"] = headerNoSniff
	w.WriteHeader(code)
	_, _ = w.Write([]byte(text))
}

// toStatus turns an error into the metav1.Status a client sees. Errors
// that are not API errors are internal errors, and their text is not shown.
func toStatus(err error) (metav1.Status, bool) {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		st.Kind, st.APIVersion = "Status", "v1"
		if st.Status == "" {
			st.Status = metav1.StatusFailure
		}
		if st.Code == 0 {
			st.Code = http.StatusInternalServerError
		}
		return st, true
	}
	return metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Code:     http.StatusInternalServerError,
		Reason:   metav1.StatusReasonInternalError,
		Message:  "internal error; see the agent's log",
	}, false
}

// writeError writes err as a metav1.Status.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st, known := toStatus(err)
	if !known || st.Code >= 500 {
		s.log.Error(err, "request failed", "method", r.Method, "path", r.URL.Path)
	}
	b, merr := json.Marshal(st)
	if merr != nil {
		writeText(w, http.StatusInternalServerError, "internal error")
		return
	}
	f := negotiate(r)
	if f == formatTable {
		f = formatJSON
	}
	s.writeJSON(w, int(st.Code), f, b)
}

// statusError builds an API error with a code, reason and message.
func statusError(code int32, reason metav1.StatusReason, msg string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    code,
		Reason:  reason,
		Message: msg,
	}}
}

func errNotFoundPath(path string) error {
	return statusError(http.StatusNotFound, metav1.StatusReasonNotFound,
		fmt.Sprintf("the server could not find the requested resource (%s)", path))
}

func errMethodNotAllowed(msg string) error {
	return statusError(http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, msg)
}

func errUnsupportedMediaType(msg string) error {
	return statusError(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType, msg)
}
