package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/julienschmidt/httprouter"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/patchlet/patchlet/api/v1alpha1"
)

// discovery holds the discovery documents, encoded once.
type discovery struct {
	version   []byte
	api       []byte
	groups    []byte
	group     []byte
	resources []byte
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // static documents of apimachinery types always encode
	}
	return b
}

func newDiscovery(v version.Info, resources map[string]*resource) discovery {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: v1alpha1.GroupVersion.String(), Version: v1alpha1.Version}
	group := metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:             v1alpha1.Group,
		Versions:         []metav1.GroupVersionForDiscovery{gv},
		PreferredVersion: gv,
	}
	list := metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: v1alpha1.GroupVersion.String(),
	}
	for _, info := range v1alpha1.Resources {
		r := resources[info.Resource]
		verbs := metav1.Verbs{"get", "list", "watch"}
		statusVerbs := metav1.Verbs{"get"}
		if r.Writable {
			verbs = metav1.Verbs{"create", "delete", "get", "list", "patch", "update", "watch"}
			statusVerbs = metav1.Verbs{"get", "patch", "update"}
		}
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name:         r.Resource,
			SingularName: r.Singular,
			Namespaced:   r.Namespaced,
			Kind:         r.Kind,
			Verbs:        verbs,
			ShortNames:   r.ShortNames,
			Categories:   []string{"patchlet"},
		})
		for _, sub := range r.Subresources {
			vs := statusVerbs
			if sub == v1alpha1.SubresourceLog {
				vs = metav1.Verbs{"get"}
			}
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name:       r.Resource + "/" + sub,
				Namespaced: r.Namespaced,
				Kind:       r.Kind,
				Verbs:      vs,
			})
		}
	}
	return discovery{
		version: mustJSON(v),
		api: mustJSON(metav1.APIVersions{
			TypeMeta: metav1.TypeMeta{Kind: "APIVersions"},
			Versions: []string{},
		}),
		groups: mustJSON(metav1.APIGroupList{
			TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"},
			Groups:   []metav1.APIGroup{group},
		}),
		group:     mustJSON(group),
		resources: mustJSON(list),
	}
}

// serveStatic answers with a document built at New.
func (s *Server) serveStatic(doc func() []byte) httprouter.Handle {
	return func(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
		f := negotiate(r)
		if f == formatTable {
			f = formatJSON
		}
		s.writeJSON(w, http.StatusOK, f, doc())
	}
}

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	s.writeJSON(w, http.StatusOK, formatJSON, s.disc.version)
}

// serveOpenAPIv2 answers an empty protobuf document: kubectl apply needs
// one to exist, and finds no schema in it (see the package doc).
func (s *Server) serveOpenAPIv2(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	w.Header().Set("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		name := strings.TrimPrefix(r.URL.Path, "/")
		writeText(w, http.StatusOK, "[+]ping ok\n"+name+" check passed\n")
		return
	}
	writeText(w, http.StatusOK, "ok")
}

// serveReady runs every ready check; any failure answers 500.
func (s *Server) serveReady(w http.ResponseWriter, r *http.Request, _ httprouter.Params) {
	var b strings.Builder
	failed := 0
	b.WriteString("[+]ping ok\n")
	for _, name := range s.readyNames {
		if err := s.ready[name](); err != nil {
			failed++
			b.WriteString("[-]" + name + " failed: " + err.Error() + "\n")
			s.log.V(1).Info("ready check failed", "check", name, "reason", err.Error())
		} else {
			b.WriteString("[+]" + name + " ok\n")
		}
	}
	_, verbose := r.URL.Query()["verbose"]
	code := http.StatusOK
	if failed > 0 {
		code = http.StatusInternalServerError
		b.WriteString("readyz check failed: " + strconv.Itoa(failed) + " of " + strconv.Itoa(len(s.readyNames)) + " checks failed\n")
		writeText(w, code, b.String())
		return
	}
	if !verbose {
		writeText(w, code, "ok")
		return
	}
	b.WriteString("readyz check passed\n")
	writeText(w, code, b.String())
}
