package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// ObserveRequest records one answered API request. verb and resource come
// from a bounded set (see RequestInfo); watches are counted but kept out
// of the duration histogram, as they last as long as the client wants.
func (m *Metrics) ObserveRequest(verb, resource string, code int, d time.Duration) {
	if m == nil {
		return
	}
	m.apiRequests.WithLabelValues(verb, resource, strconv.Itoa(code)).Inc()
	if verb != "watch" {
		m.apiDuration.WithLabelValues(verb, resource).Observe(d.Seconds())
	}
}

// InstrumentHandler counts and times every request next answers, labelled
// by the verb and resource resourceOf names (RequestInfo when nil). It
// keeps the response writer's Flush and Unwrap, so that watches stream and
// http.ResponseController works through it.
func (m *Metrics) InstrumentHandler(next http.Handler, resourceOf func(*http.Request) (verb, resource string)) http.Handler {
	if m == nil {
		return next
	}
	if resourceOf == nil {
		resourceOf = RequestInfo
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		verb, resource := resourceOf(r)
		m.apiInFlight.Inc()
		rec := &codeRecorder{ResponseWriter: w}
		defer func() {
			m.apiInFlight.Dec()
			code := rec.code
			if code == 0 {
				// Nothing written: net/http answers 200, or the handler
				// panicked and the connection is dropped.
				code = http.StatusOK
			}
			m.ObserveRequest(verb, resource, code, time.Since(start))
		}()
		next.ServeHTTP(rec, r)
	})
}

// InstrumentHandler is Metrics.InstrumentHandler for a middleware chain
// that wants a plain function.
func InstrumentHandler(m *Metrics, next http.Handler, resourceOf func(*http.Request) (verb, resource string)) http.Handler {
	return m.InstrumentHandler(next, resourceOf)
}

// codeRecorder remembers the status code a handler answered with.
type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (w *codeRecorder) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code // 1xx informational headers are not the answer
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes a flush on, so that wrapped watches keep streaming.
func (w *codeRecorder) Flush() {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *codeRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// apiPrefix is the path of patchlet's one API group version.
const apiPrefix = "/apis/" + v1alpha1.Group + "/" + v1alpha1.Version

// Resource label values RequestInfo uses besides the API's resources.
const (
	ResourceDiscovery = "discovery" // /api, /apis…, /openapi…
	ResourceHealth    = "health"    // /health, /healthz, /livez, /readyz
	ResourceMetrics   = "metrics"
	ResourceVersion   = "version"
	ResourceOther     = "other" // anything else, e.g. a mistyped path
)

// knownResources are the resources of the registry; knownSubresources
// every subresource any of them serves.
var knownResources, knownSubresources = func() (res, subs map[string]bool) {
	res, subs = map[string]bool{}, map[string]bool{}
	for _, r := range v1alpha1.Resources {
		res[r.Resource] = true
		for _, s := range r.Subresources {
			subs[s] = true
		}
	}
	return res, subs
}()

// RequestInfo maps a request onto bounded verb and resource labels the
// way the Kubernetes API server names them: verb is get, list, watch,
// create, update, patch, delete, deletecollection (other methods
// lowercased when common, "other" otherwise); resource is patchpolicies,
// hosts or operations, with "/status" or "/log" for a subresource, or one
// of the Resource* constants. Object names never appear.
func RequestInfo(r *http.Request) (verb, resource string) {
	p := r.URL.Path
	switch {
	case p == apiPrefix || p == apiPrefix+"/":
		return methodVerb(r.Method), ResourceDiscovery
	case strings.HasPrefix(p, apiPrefix+"/"):
		return objectInfo(r, strings.Split(strings.Trim(strings.TrimPrefix(p, apiPrefix+"/"), "/"), "/"))
	case p == "/api" || strings.HasPrefix(p, "/api/") || p == "/apis" || strings.HasPrefix(p, "/apis/") ||
		strings.HasPrefix(p, "/openapi/"):
		if strings.HasPrefix(p, "/apis/") && p != "/apis/patchlet.io" && p != "/apis/patchlet.io/" {
			return methodVerb(r.Method), ResourceOther
		}
		return methodVerb(r.Method), ResourceDiscovery
	case p == "/health" || p == "/healthz" || p == "/livez" || p == "/readyz" ||
		strings.HasPrefix(p, "/healthz/") || strings.HasPrefix(p, "/livez/") || strings.HasPrefix(p, "/readyz/"):
		return methodVerb(r.Method), ResourceHealth
	case p == "/metrics":
		return methodVerb(r.Method), ResourceMetrics
	case p == "/version":
		return methodVerb(r.Method), ResourceVersion
	}
	return methodVerb(r.Method), ResourceOther
}

// objectInfo names a request under the group version: parts are the path
// segments after it (resource, name, subresource).
func objectInfo(r *http.Request, parts []string) (verb, resource string) {
	if len(parts) > 3 || !knownResources[parts[0]] {
		return methodVerb(r.Method), ResourceOther
	}
	resource = parts[0]
	named := len(parts) >= 2
	if len(parts) == 3 {
		if !knownSubresources[parts[2]] {
			return methodVerb(r.Method), ResourceOther
		}
		resource += "/" + parts[2]
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query().Get("watch")
		switch {
		case q == "true" || q == "1":
			verb = "watch"
		case named:
			verb = "get"
		default:
			verb = "list"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
		if !named {
			verb = "deletecollection"
		}
	default:
		verb = methodVerb(r.Method)
	}
	return verb, resource
}

// methodVerb lowercases the common methods and folds the rest into
// "other", so that a client inventing methods adds no series.
func methodVerb(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return strings.ToLower(method)
	}
	return "other"
}
