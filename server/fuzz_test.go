package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

// fuzzTargets are the write requests whose bodies are fuzzed.
var fuzzTargets = []struct{ method, path, contentType string }{
	{http.MethodPost, "/apis/patchlet.io/v1alpha1/patchpolicies", "application/yaml"},
	{http.MethodPost, "/apis/patchlet.io/v1alpha1/patchpolicies", "application/json"},
	{http.MethodPut, "/apis/patchlet.io/v1alpha1/patchpolicies/web", "application/yaml"},
	{http.MethodPut, "/apis/patchlet.io/v1alpha1/patchpolicies/web", "application/json"},
	{http.MethodPatch, "/apis/patchlet.io/v1alpha1/patchpolicies/web", "application/merge-patch+json"},
	{http.MethodPatch, "/apis/patchlet.io/v1alpha1/patchpolicies/web", "application/json-patch+json"},
	{http.MethodPatch, "/apis/patchlet.io/v1alpha1/patchpolicies/web/status", "application/merge-patch+json"},
	{http.MethodDelete, "/apis/patchlet.io/v1alpha1/patchpolicies/nosuch", "application/json"},
}

// FuzzWriteBody sends hostile bodies to every decoder of the API: the server
// must answer every one with a well-formed response and never a 500.
// Seeds are in testdata/fuzz/FuzzWriteBody; run longer with
// go test ./server/ -run '^$' -fuzz FuzzWriteBody -fuzztime 30s
func FuzzWriteBody(f *testing.F) {
	st, err := store.Open(f.TempDir(), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	h := server.New(server.Options{Store: st, Log: logr.Discard(), RateLimit: -1}).Handler()
	seed := func(body string) {
		req := httptest.NewRequest(http.MethodPost, fuzzTargets[0].path, bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/yaml")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	seed("apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata: {name: web}\nspec: {updates: {apply: Security}}\n")
	f.Add(uint8(0), []byte("apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata: {name: x}\n"))
	f.Add(uint8(4), []byte(`{"spec":{"updates":{"apply":"All"}}}`))
	f.Fuzz(func(t *testing.T, target uint8, body []byte) {
		tg := fuzzTargets[int(target)%len(fuzzTargets)]
		req := httptest.NewRequest(tg.method, tg.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", tg.contentType)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s answered %d: %s", tg.method, tg.path, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 {
			var s metav1.Status
			if err := json.Unmarshal(rec.Body.Bytes(), &s); err != nil || s.Kind != "Status" || int(s.Code) != rec.Code {
				t.Fatalf("%s %s answered %d with a body that is not its Status: %s", tg.method, tg.path, rec.Code, rec.Body.Bytes())
			}
		}
		// Put the policy back so that updates and patches keep finding it.
		if tg.method != http.MethodPost {
			seed("apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata: {name: web}\nspec: {updates: {apply: Security}}\n")
		}
	})
}
