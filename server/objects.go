package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/julienschmidt/httprouter"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/audit"
	"github.com/patchlet/patchlet/store"
)

// conflictRetries is how often a write the server made conditional itself
// is retried after a conflict.
const conflictRetries = 5

// lookup finds the resource named in the URL; nil after writing a 404.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, ps httprouter.Params) *resource {
	res := s.resources[ps.ByName("resource")]
	if res == nil {
		s.writeError(w, r, errNotFoundPath(r.URL.Path))
	}
	return res
}

// authorize asks the Authorizer; false after writing a 403.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, verb, resource, name string) bool {
	if s.authz == nil {
		return true
	}
	if err := s.authz.Authorize(r, verb, resource, name); err != nil {
		var st apierrors.APIStatus
		if !errors.As(err, &st) {
			err = apierrors.NewForbidden(store.GroupResource(resource), name, err)
		}
		s.writeError(w, r, err)
		return false
	}
	return true
}

// readOnly refuses a write to a resource only the agent writes.
func (s *Server) readOnly(w http.ResponseWriter, r *http.Request, res *resource) bool {
	if res.Writable {
		return false
	}
	s.writeError(w, r, errMethodNotAllowed(res.readOnly))
	return true
}

// managedByFile is the 403 for a write to an object from the drop directory.
func managedByFile(res *resource, obj v1alpha1.Object) error {
	if obj.GetAnnotations()[v1alpha1.AnnotationSource] == v1alpha1.SourceCluster {
		return statusError(http.StatusForbidden, metav1.StatusReasonForbidden,
			fmt.Sprintf("%s %q is a copy of the cluster's PatchPolicy (fleet mode); change it in the Kubernetes API", res.Singular, obj.GetName()))
	}
	file, ok := obj.GetAnnotations()[v1alpha1.AnnotationSourceFile]
	if !ok {
		return nil
	}
	return statusError(http.StatusForbidden, metav1.StatusReasonForbidden,
		fmt.Sprintf("%s %q is managed by file %s; edit the file", res.Singular, obj.GetName(), file))
}

// writable returns the stored object a client wants to change, or the 403
// of an object that is not the API's to change (managedByFile).
func (s *Server) writable(res *resource, name string) (v1alpha1.Object, error) {
	cur, err := s.store.Get(res.Resource, name)
	if err != nil {
		return nil, err
	}
	if err := managedByFile(res, cur); err != nil {
		return nil, err
	}
	return cur, nil
}

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	res := s.lookup(w, r, ps)
	if res == nil {
		return
	}
	s.get(w, r, res, res.Resource, ps.ByName("name"))
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, res *resource, authzResource, name string) {
	if !s.authorize(w, r, "get", authzResource, name) {
		return
	}
	f := negotiate(r)
	if f == formatTable {
		obj, err := s.store.Get(res.Resource, name)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeTable(w, r, res, []store.Item{{Object: obj}}, "", "", 0)
		return
	}
	b, err := s.store.GetJSON(res.Resource, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, f, b)
}

func (s *Server) serveGetSub(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	res := s.lookup(w, r, ps)
	if res == nil {
		return
	}
	sub, name := ps.ByName("sub"), ps.ByName("name")
	if !res.HasSubresource(sub) {
		s.writeError(w, r, errNotFoundPath(r.URL.Path))
		return
	}
	if sub == "log" {
		s.serveLog(w, r, res, name)
		return
	}
	s.get(w, r, res, res.Resource+"/"+sub, name)
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	res := s.lookup(w, r, ps)
	if res == nil {
		return
	}
	q := r.URL.Query()
	watching := q.Get("watch") == "true" || q.Get("watch") == "1"
	verb := "list"
	if watching {
		verb = "watch"
	}
	if !s.authorize(w, r, verb, res.Resource, "") {
		return
	}
	match, err := parseSelectors(q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if watching {
		release, ok := s.acquireWatch(w, r)
		if !ok {
			return
		}
		defer release()
		s.serveWatch(w, r, res, q, match)
		return
	}
	items, rv, err := s.store.List(res.Resource)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if match != nil {
		kept := items[:0:0]
		for _, it := range items {
			if match(it.Object) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	if c := q.Get("continue"); c != "" {
		after, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil {
			s.writeError(w, r, apierrors.NewBadRequest("invalid continue token"))
			return
		}
		i := 0
		for i < len(items) && items[i].Object.GetName() <= string(after) {
			i++
		}
		items = items[i:]
	}
	cont, remaining := "", int64(0)
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			s.writeError(w, r, apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q", l)))
			return
		}
		if n > 0 && int64(len(items)) > n {
			remaining = int64(len(items)) - n
			items = items[:n]
			cont = base64.RawURLEncoding.EncodeToString([]byte(items[n-1].Object.GetName()))
		}
	}
	f := negotiate(r)
	if f == formatTable {
		s.writeTable(w, r, res, items, strconv.FormatUint(rv, 10), cont, remaining)
		return
	}
	b := make([]byte, 0, 256+sumLen(items))
	b = append(b, `{"apiVersion":"patchlet.io/v1alpha1","kind":"`...)
	b = append(b, res.ListKind...)
	b = append(b, `","metadata":{"resourceVersion":"`...)
	b = strconv.AppendUint(b, rv, 10)
	b = append(b, '"')
	if cont != "" {
		b = append(b, `,"continue":"`...)
		b = append(b, cont...)
		b = append(b, `","remainingItemCount":`...)
		b = strconv.AppendInt(b, remaining, 10)
	}
	b = append(b, `},"items":[`...)
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it.JSON...)
	}
	b = append(b, "]}"...)
	s.writeJSON(w, http.StatusOK, f, b)
}

func sumLen(items []store.Item) int {
	n := 0
	for _, it := range items {
		n += len(it.JSON) + 1
	}
	return n
}

// Media types of request bodies.
const (
	mediaJSON       = "application/json"
	mediaYAML       = "application/yaml"
	mediaMerge      = "application/merge-patch+json"
	mediaJSONPatch  = "application/json-patch+json"
	mediaStrategic  = "application/strategic-merge-patch+json"
	mediaApplyPatch = "application/apply-patch+yaml"
)

func mediaType(r *http.Request) string {
	mt, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// documentType maps the Content-Type of a create or update to JSON or YAML.
func documentType(r *http.Request) (string, error) {
	switch mt := mediaType(r); mt {
	case mediaJSON:
		return mediaJSON, nil
	case mediaYAML, "application/x-yaml", "text/yaml", "text/x-yaml":
		return mediaYAML, nil
	default:
		return "", errUnsupportedMediaType(fmt.Sprintf(
			"unsupported Content-Type %q: send the object as application/json or application/yaml "+
				"(with curl: -H 'Content-Type: application/yaml')", mt))
	}
}

// readBody reads a request body of at most v1alpha1.MaxDocumentSize bytes.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(s.bodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, v1alpha1.MaxDocumentSize))
	if err != nil {
		// Keep the deadline: net/http reads what is left of the body
		// before it answers, and a client that stalled would pin it.
		w.Header().Set("Connection", "close")
	} else {
		_ = rc.SetReadDeadline(time.Time{})
	}
	var tooLarge *http.MaxBytesError
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, statusError(http.StatusRequestTimeout, metav1.StatusReasonTimeout,
			fmt.Sprintf("the request body was not received within %s", s.bodyTimeout))
	}
	if errors.As(err, &tooLarge) {
		return nil, apierrors.NewRequestEntityTooLargeError(
			fmt.Sprintf("the request body is larger than %d bytes", v1alpha1.MaxDocumentSize))
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("reading the request body: %v", err))
	}
	return body, nil
}

// decodeInto strictly decodes one document of media type mt into obj.
func decodeInto(body []byte, mt string, obj v1alpha1.Object, res *resource) error {
	doc := body
	if mt == mediaYAML {
		docs, err := v1alpha1.SplitDocuments(body)
		if err != nil {
			return decodeError(res, obj, err)
		}
		switch len(docs) {
		case 0:
			return apierrors.NewBadRequest("the request body holds no document")
		case 1:
			doc = docs[0]
		default:
			return apierrors.NewBadRequest(fmt.Sprintf("the request body holds %d documents; send one per request", len(docs)))
		}
	}
	if err := v1alpha1.DecodeInto(doc, obj, res.Kind); err != nil {
		return decodeError(res, obj, err)
	}
	return nil
}

// decodeError maps a decoding failure: named fields are 422, the rest 400.
func decodeError(res *resource, obj v1alpha1.Object, err error) error {
	var de *v1alpha1.DecodeError
	if errors.As(err, &de) && len(de.Fields) > 0 {
		return apierrors.NewInvalid(res.GroupKind(), obj.GetName(), de.Fields)
	}
	return apierrors.NewBadRequest(fmt.Sprintf("the request body is not a valid %s: %v", res.Kind, err))
}

// admit checks a spec write of a client: the source-file annotation is the
// agent's, policies are defaulted and validated.
func admit(res *resource, obj v1alpha1.Object) error {
	var errs field.ErrorList
	if _, ok := obj.GetAnnotations()[v1alpha1.AnnotationSource]; ok {
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "annotations").Key(v1alpha1.AnnotationSource),
			"is set by patchlet for objects mirrored from a cluster"))
	}
	if _, ok := obj.GetAnnotations()[v1alpha1.AnnotationSourceFile]; ok {
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "annotations").Key(v1alpha1.AnnotationSourceFile),
			"is set by patchlet for objects read from the policy directory; write the file there instead"))
	}
	if p, ok := obj.(*v1alpha1.PatchPolicy); ok {
		// Validate the policy as it will be enforced, but store it as the
		// client wrote it: defaults are applied where the policy is used, so
		// that kubectl apply's three-way merge sees its own fields come back
		// unchanged and a re-apply says "unchanged".
		d := p.DeepCopy()
		d.SetDefaults()
		errs = append(errs, d.Validate()...)
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(res.GroupKind(), obj.GetName(), errs)
	}
	return nil
}

func refuseDryRun(r *http.Request) error {
	if r.URL.Query().Has("dryRun") {
		return apierrors.NewBadRequest("dryRun is not supported by patchlet")
	}
	return nil
}

func (s *Server) serveCreate(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	res := s.lookup(w, r, ps)
	if res == nil || s.readOnly(w, r, res) || !s.authorize(w, r, "create", res.Resource, "") {
		return
	}
	obj, err := s.create(w, r, res)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.V(1).Info("object created", "resource", res.Resource, "name", obj.GetName())
	s.writeObject(w, r, http.StatusCreated, obj)
}

// readObject reads and strictly decodes the object in the body of a create
// or update (JSON or YAML, as its Content-Type says; no dry run).
func (s *Server) readObject(w http.ResponseWriter, r *http.Request, res *resource) (v1alpha1.Object, error) {
	if err := refuseDryRun(r); err != nil {
		return nil, err
	}
	mt, err := documentType(r)
	if err != nil {
		return nil, err
	}
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	obj := res.NewObject()
	if err := decodeInto(body, mt, obj, res); err != nil {
		return nil, err
	}
	return obj, nil
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, res *resource) (v1alpha1.Object, error) {
	obj, err := s.readObject(w, r, res)
	if err != nil {
		return nil, err
	}
	if obj.GetName() == "" && obj.GetGenerateName() != "" {
		obj.SetName(obj.GetGenerateName() + randomSuffix())
	}
	if obj.GetResourceVersion() != "" {
		return nil, apierrors.NewBadRequest("metadata.resourceVersion must not be set on objects to be created")
	}
	if p, ok := obj.(*v1alpha1.PatchPolicy); ok {
		p.Status = v1alpha1.PatchPolicyStatus{}
	}
	if err := admit(res, obj); err != nil {
		return nil, err
	}
	out, err := s.store.Create(res.Resource, obj)
	if err == nil {
		s.record(r, "create", res.Resource, out, 0, out.GetGeneration())
	}
	return out, err
}

func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	var b [5]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// subresource of a PUT or PATCH: "" or "status"; false after writing an error.
func (s *Server) writeTarget(w http.ResponseWriter, r *http.Request, ps httprouter.Params) (*resource, string, bool) {
	res := s.lookup(w, r, ps)
	if res == nil {
		return nil, "", false
	}
	sub := ps.ByName("sub")
	if sub != "" && !res.HasSubresource(sub) {
		s.writeError(w, r, errNotFoundPath(r.URL.Path))
		return nil, "", false
	}
	if sub == "log" {
		s.writeError(w, r, errMethodNotAllowed("the log of an operation is read-only"))
		return nil, "", false
	}
	if s.readOnly(w, r, res) {
		return nil, "", false
	}
	return res, sub, true
}

func authzName(res *resource, sub string) string {
	if sub == "" {
		return res.Resource
	}
	return res.Resource + "/" + sub
}

func (s *Server) serveUpdate(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	s.serveWrite(w, r, ps, "update", s.update)
}

func (s *Server) servePatch(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	s.serveWrite(w, r, ps, "patch", s.patch)
}

// serveWrite answers a PUT (verb update) or PATCH (verb patch) of an
// object or its status with the object write stored.
func (s *Server) serveWrite(w http.ResponseWriter, r *http.Request, ps httprouter.Params, verb string,
	write func(w http.ResponseWriter, r *http.Request, res *resource, sub, name string) (v1alpha1.Object, error)) {
	res, sub, ok := s.writeTarget(w, r, ps)
	name := ps.ByName("name")
	if !ok || !s.authorize(w, r, verb, authzName(res, sub), name) {
		return
	}
	obj, err := write(w, r, res, sub, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeObject(w, r, http.StatusOK, obj)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, res *resource, sub, name string) (v1alpha1.Object, error) {
	obj, err := s.readObject(w, r, res)
	if err != nil {
		return nil, err
	}
	if obj.GetName() != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%q) does not match the name on the URL (%q)", obj.GetName(), name))
	}
	return s.write(r, "update", res, sub, name, func(v1alpha1.Object) (v1alpha1.Object, bool, error) {
		return obj.DeepCopyObject().(v1alpha1.Object), obj.GetResourceVersion() != "", nil
	})
}

// write runs a read-check-write cycle: build returns the new object from
// the stored one and whether the client made it conditional on its own
// resourceVersion; otherwise it is made conditional on the version checked
// here and retried on a conflict.
func (s *Server) write(r *http.Request, verb string, res *resource, sub, name string, build func(cur v1alpha1.Object) (v1alpha1.Object, bool, error)) (v1alpha1.Object, error) {
	for attempt := 1; ; attempt++ {
		cur, err := s.writable(res, name)
		if err != nil {
			return nil, err
		}
		obj, conditional, err := build(cur)
		if err != nil {
			return nil, err
		}
		if obj.GetName() != name {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%q) does not match the name on the URL (%q)", obj.GetName(), name))
		}
		if !conditional {
			obj.SetResourceVersion(cur.GetResourceVersion())
		}
		var out v1alpha1.Object
		if sub == "status" {
			out, err = s.store.UpdateStatus(res.Resource, obj)
		} else {
			if err := admit(res, obj); err != nil {
				return nil, err
			}
			out, err = s.store.Update(res.Resource, obj)
		}
		if err != nil && apierrors.IsConflict(err) && !conditional && attempt < conflictRetries {
			continue
		}
		if err == nil {
			s.log.V(1).Info("object updated", "resource", authzName(res, sub), "name", name, "resourceVersion", out.GetResourceVersion())
			s.record(r, verb, authzName(res, sub), out, cur.GetGeneration(), out.GetGeneration())
		}
		return out, err
	}
}

func (s *Server) patch(w http.ResponseWriter, r *http.Request, res *resource, sub, name string) (v1alpha1.Object, error) {
	if err := refuseDryRun(r); err != nil {
		return nil, err
	}
	var apply func(doc, patch []byte) ([]byte, error)
	switch mt := mediaType(r); mt {
	case mediaMerge, mediaStrategic:
		apply = jsonpatch.MergePatch
	case mediaJSONPatch:
		apply = func(doc, patch []byte) ([]byte, error) {
			p, err := jsonpatch.DecodePatch(patch)
			if err != nil {
				return nil, err
			}
			return p.Apply(doc)
		}
	case mediaApplyPatch:
		return nil, errUnsupportedMediaType("server-side apply is not supported by patchlet: use client-side kubectl apply (without --server-side)")
	default:
		return nil, errUnsupportedMediaType(fmt.Sprintf("unsupported patch Content-Type %q: use %s or %s", mt, mediaMerge, mediaJSONPatch))
	}
	patch, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	return s.write(r, "patch", res, sub, name, func(cur v1alpha1.Object) (v1alpha1.Object, bool, error) {
		curJSON, err := json.Marshal(cur)
		if err != nil {
			return nil, false, err
		}
		patched, err := apply(curJSON, patch)
		if err != nil {
			return nil, false, apierrors.NewBadRequest(fmt.Sprintf("applying the patch: %v", err))
		}
		obj := res.NewObject()
		if err := v1alpha1.DecodeInto(patched, obj, res.Kind); err != nil {
			return nil, false, decodeError(res, obj, err)
		}
		return obj, obj.GetResourceVersion() != cur.GetResourceVersion(), nil
	})
}

func (s *Server) serveDelete(w http.ResponseWriter, r *http.Request, ps httprouter.Params) {
	res := s.lookup(w, r, ps)
	name := ps.ByName("name")
	if res == nil || s.readOnly(w, r, res) || !s.authorize(w, r, "delete", res.Resource, name) {
		return
	}
	gone, err := s.delete(w, r, res, name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.V(1).Info("object deleted", "resource", res.Resource, "name", name)
	s.writeObject(w, r, http.StatusOK, metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusSuccess,
		Details: &metav1.StatusDetails{
			Name:  name,
			Group: v1alpha1.Group,
			Kind:  res.Resource,
			UID:   gone.GetUID(),
		},
	})
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, res *resource, name string) (v1alpha1.Object, error) {
	if err := refuseDryRun(r); err != nil {
		return nil, err
	}
	var opts metav1.DeleteOptions
	if r.ContentLength != 0 && r.Body != nil {
		body, err := s.readBody(w, r)
		if err != nil {
			return nil, err
		}
		if len(strings.TrimSpace(string(body))) > 0 {
			if err := json.Unmarshal(body, &opts); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("the request body is not valid DeleteOptions: %v", err))
			}
		}
	}
	if len(opts.DryRun) > 0 {
		return nil, apierrors.NewBadRequest("dryRun is not supported by patchlet")
	}
	for attempt := 1; ; attempt++ {
		cur, err := s.writable(res, name)
		if err != nil {
			return nil, err
		}
		rv := ""
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != cur.GetUID() {
				return nil, apierrors.NewConflict(res.GroupResource(), name,
					fmt.Errorf("precondition failed: uid %s, stored %s", *p.UID, cur.GetUID()))
			}
			if p.ResourceVersion != nil {
				rv = *p.ResourceVersion
			}
		}
		conditional := rv != ""
		if !conditional {
			rv = cur.GetResourceVersion()
		}
		gone, err := s.store.Delete(res.Resource, name, rv)
		if err != nil && apierrors.IsConflict(err) && !conditional && attempt < conflictRetries {
			continue
		}
		if err == nil {
			s.record(r, "delete", res.Resource, gone, gone.GetGeneration(), 0)
		}
		return gone, err
	}
}

// record hands an accepted change to the audit log. The change is made:
// a failure to record it is logged, not answered.
func (s *Server) record(r *http.Request, verb, resource string, obj v1alpha1.Object, before, after int64) {
	if s.audit == nil {
		return
	}
	id := IdentityOf(r)
	e := audit.Entry{Change: &audit.Change{
		User: id.Name, Groups: id.Groups, From: id.From,
		Verb: verb, Resource: resource, Name: obj.GetName(), UID: string(obj.GetUID()),
		GenerationBefore: before, GenerationAfter: after, ResourceVersion: obj.GetResourceVersion(),
	}}
	if err := s.audit.Record(context.WithoutCancel(r.Context()), e); err != nil {
		s.log.Error(err, "recording a change in the audit log failed", "verb", verb, "resource", resource, "name", obj.GetName(), "user", id.Name)
	}
}
