package server_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

type authzFunc func(r *http.Request, verb, resource, name string) error

func (f authzFunc) Authorize(r *http.Request, verb, resource, name string) error {
	return f(r, verb, resource, name)
}

var _ = Describe("The API", func() {
	var t *testServer
	BeforeEach(func() {
		t = newLoopbackServer(server.Options{})
	})

	Describe("discovery", func() {
		It("lists the group and its resources as kubectl needs them", func() {
			r := t.get("/apis")
			Expect(r.code).To(Equal(http.StatusOK))
			var groups metav1.APIGroupList
			Expect(json.Unmarshal(r.body, &groups)).To(Succeed())
			Expect(groups.Kind).To(Equal("APIGroupList"))
			Expect(groups.Groups).To(HaveLen(1))
			Expect(groups.Groups[0].PreferredVersion.GroupVersion).To(Equal("patchlet.io/v1alpha1"))

			r = t.get(api)
			var list metav1.APIResourceList
			Expect(json.Unmarshal(r.body, &list)).To(Succeed())
			byName := map[string]metav1.APIResource{}
			for _, res := range list.APIResources {
				byName[res.Name] = res
				Expect(res.Namespaced).To(BeFalse())
			}
			Expect(byName).To(HaveKey("patchpolicies/status"))
			Expect(byName).To(HaveKey("operations/log"))
			pp := byName["patchpolicies"]
			Expect(pp.ShortNames).To(Equal([]string{"pp"}))
			Expect(pp.SingularName).To(Equal("patchpolicy"))
			Expect(pp.Kind).To(Equal("PatchPolicy"))
			Expect(pp.Verbs).To(ContainElements("create", "update", "patch", "delete", "watch"))
			Expect(byName["operations"].ShortNames).To(Equal([]string{"op"}))
			Expect(byName["hosts"].Verbs).To(ConsistOf("get", "list", "watch"))
		})

		It("answers /openapi/v2 with an empty document and /version with the version", func() {
			r := t.get("/openapi/v2")
			Expect(r.code).To(Equal(http.StatusOK))
			Expect(r.body).To(BeEmpty())
			r = t.get("/version")
			Expect(r.code).To(Equal(http.StatusOK))
			Expect(string(r.body)).To(ContainSubstring(`"minor":"32"`))
		})

		It("answers an unknown path and an unknown resource with a 404 Status", func() {
			for _, p := range []string{"/nope", api + "/pods", api + "/pods/x"} {
				r := t.get(p)
				Expect(r.code).To(Equal(http.StatusNotFound), p)
				Expect(r.status().Reason).To(Equal(metav1.StatusReasonNotFound))
			}
		})
	})

	Describe("health", func() {
		It("reports each ready check and fails when one fails", func() {
			healthy := true
			t = newLoopbackServer(server.Options{ReadyChecks: map[string]func() error{
				"store": func() error { return nil },
				"backend": func() error {
					if healthy {
						return nil
					}
					return errors.New("apt-get not found")
				},
			}})
			Expect(t.get("/healthz").body).To(Equal([]byte("ok")))
			Expect(t.get("/livez").body).To(Equal([]byte("ok")))
			r := t.get("/readyz")
			Expect(r.code).To(Equal(http.StatusOK))
			Expect(string(r.body)).To(Equal("ok"))
			r = t.get("/readyz?verbose")
			Expect(string(r.body)).To(ContainSubstring("[+]backend ok\n[+]store ok\n"))

			healthy = false
			r = t.get("/readyz")
			Expect(r.code).To(Equal(http.StatusInternalServerError))
			Expect(string(r.body)).To(ContainSubstring("[-]backend failed: apt-get not found"))
			Expect(string(r.body)).To(ContainSubstring("[+]store ok"))
		})
	})

	Describe("creating and reading policies", func() {
		It("creates a policy as written (not defaulted), with a uid, generation 1 and an empty status", func() {
			r := t.create(webPolicy + "status:\n  pending: 7\n")
			Expect(r.code).To(Equal(http.StatusCreated), string(r.body))
			p := r.policy()
			Expect(p.UID).NotTo(BeEmpty())
			Expect(p.Generation).To(Equal(int64(1)))
			Expect(p.ResourceVersion).NotTo(BeEmpty())
			Expect(p.Spec.Mode).To(BeEmpty(), "defaults apply where the policy is enforced, so kubectl apply sees its own fields back")
			Expect(p.Spec.Packages[0].State).To(BeEmpty())
			Expect(p.Status.Pending).To(BeZero())

			r = t.get(api + "/patchpolicies/web")
			Expect(r.code).To(Equal(http.StatusOK))
			Expect(r.header.Get("Content-Type")).To(Equal("application/json"))
			Expect(r.policy().UID).To(Equal(p.UID))

			r = t.get(api+"/patchpolicies/web", "Accept", "application/yaml")
			Expect(r.header.Get("Content-Type")).To(Equal("application/yaml"))
			var y v1alpha1.PatchPolicy
			Expect(yaml.UnmarshalStrict(r.body, &y)).To(Succeed())
			Expect(y.Spec.Packages[0].Version).To(Equal("3.0.15-1~deb12u1"))
			Expect(string(r.body)).To(ContainSubstring("kind: PatchPolicy"))

			r = t.get(api + "/patchpolicies/web/status")
			Expect(r.code).To(Equal(http.StatusOK))
			Expect(r.policy().Name).To(Equal("web"))
		})

		It("accepts JSON, and refuses a second object of the same name with 409 AlreadyExists", func() {
			r := t.do(http.MethodPost, api+"/patchpolicies", "application/json",
				[]byte(`{"apiVersion":"patchlet.io/v1alpha1","kind":"PatchPolicy","metadata":{"name":"db"}}`))
			Expect(r.code).To(Equal(http.StatusCreated), string(r.body))
			r = t.do(http.MethodPost, api+"/patchpolicies", "application/json",
				[]byte(`{"metadata":{"name":"db"}}`))
			Expect(r.code).To(Equal(http.StatusConflict))
			Expect(r.status().Reason).To(Equal(metav1.StatusReasonAlreadyExists))
		})

		It("answers a missing policy with 404 NotFound naming it", func() {
			r := t.get(api + "/patchpolicies/ghost")
			Expect(r.code).To(Equal(http.StatusNotFound))
			Expect(r.status().Message).To(ContainSubstring(`"ghost" not found`))
		})

		It("lists with label and field selectors, limit and continue", func() {
			for _, n := range []string{"a", "b", "c"} {
				role := "web"
				if n == "b" {
					role = "db"
				}
				Expect(t.create(fmt.Sprintf("apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata: {name: %s, labels: {role: %s}}\n", n, role)).code).To(Equal(http.StatusCreated))
			}
			names := func(path string) []string {
				r := t.get(path)
				Expect(r.code).To(Equal(http.StatusOK), string(r.body))
				var l v1alpha1.PatchPolicyList
				Expect(json.Unmarshal(r.body, &l)).To(Succeed())
				Expect(l.Kind).To(Equal("PatchPolicyList"))
				Expect(l.ResourceVersion).NotTo(BeEmpty())
				out := []string{}
				for _, p := range l.Items {
					out = append(out, p.Name)
				}
				return out
			}
			Expect(names(api + "/patchpolicies")).To(Equal([]string{"a", "b", "c"}))
			Expect(names(api + "/patchpolicies?labelSelector=role%3Dweb")).To(Equal([]string{"a", "c"}))
			Expect(names(api + "/patchpolicies?fieldSelector=metadata.name%3Db")).To(Equal([]string{"b"}))
			Expect(names(api + "/patchpolicies?fieldSelector=metadata.name!%3Db")).To(Equal([]string{"a", "c"}))
			Expect(names(api + "/patchpolicies?fieldSelector=metadata.name%3Db&labelSelector=role%3Dweb")).To(BeEmpty())

			r := t.get(api + "/patchpolicies?limit=2")
			var l v1alpha1.PatchPolicyList
			Expect(json.Unmarshal(r.body, &l)).To(Succeed())
			Expect(l.Items).To(HaveLen(2))
			Expect(l.Continue).NotTo(BeEmpty())
			Expect(*l.RemainingItemCount).To(Equal(int64(1)))
			Expect(names(api + "/patchpolicies?limit=2&continue=" + l.Continue)).To(Equal([]string{"c"}))

			r = t.get(api + "/patchpolicies?fieldSelector=spec.mode%3DAudit")
			Expect(r.code).To(Equal(http.StatusBadRequest))
			Expect(r.status().Message).To(ContainSubstring("field label not supported: spec.mode"))
		})
	})

	Describe("updating policies", func() {
		var created *v1alpha1.PatchPolicy
		BeforeEach(func() {
			r := t.create(webPolicy)
			Expect(r.code).To(Equal(http.StatusCreated))
			created = r.policy()
		})

		It("bumps the generation on a spec change only and keeps the status", func() {
			st := created.DeepCopy()
			st.Status.Pending = 3
			apimeta.SetStatusCondition(&st.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "Pending", Message: "3 updates"})
			st.Spec.Mode = v1alpha1.ModeAudit // ignored by a status write
			r := t.do(http.MethodPut, api+"/patchpolicies/web/status", "application/json", mustJSON(st))
			Expect(r.code).To(Equal(http.StatusOK), string(r.body))
			afterStatus := r.policy()
			Expect(afterStatus.Status.Pending).To(Equal(int32(3)))
			Expect(afterStatus.Spec.Mode).To(BeEmpty(), "spec untouched by a status write")
			Expect(afterStatus.Generation).To(Equal(int64(1)))

			// A spec write carrying another status keeps the stored status.
			upd := afterStatus.DeepCopy()
			upd.Spec.Mode = v1alpha1.ModeAudit
			upd.Status.Pending = 99
			r = t.do(http.MethodPut, api+"/patchpolicies/web", "application/json", mustJSON(upd))
			Expect(r.code).To(Equal(http.StatusOK), string(r.body))
			p := r.policy()
			Expect(p.Spec.Mode).To(Equal(v1alpha1.ModeAudit))
			Expect(p.Generation).To(Equal(int64(2)))
			Expect(p.Status.Pending).To(Equal(int32(3)))

			// Labels alone do not bump the generation.
			r = t.do(http.MethodPatch, api+"/patchpolicies/web", "application/merge-patch+json", []byte(`{"metadata":{"labels":{"tier":"1"}}}`))
			Expect(r.code).To(Equal(http.StatusOK), string(r.body))
			Expect(r.policy().Generation).To(Equal(int64(2)))
			Expect(r.policy().Labels).To(HaveKeyWithValue("tier", "1"))
		})

		It("refuses a stale resourceVersion with 409 Conflict", func() {
			upd := created.DeepCopy()
			upd.Spec.Mode = v1alpha1.ModeAudit
			Expect(t.do(http.MethodPut, api+"/patchpolicies/web", "application/json", mustJSON(upd)).code).To(Equal(http.StatusOK))
			upd.Spec.Suspend = true // still carries the old resourceVersion
			r := t.do(http.MethodPut, api+"/patchpolicies/web", "application/json", mustJSON(upd))
			Expect(r.code).To(Equal(http.StatusConflict))
			Expect(r.status().Reason).To(Equal(metav1.StatusReasonConflict))
			Expect(t.get(api + "/patchpolicies/web").policy().Spec.Suspend).To(BeFalse())

			r = t.do(http.MethodPatch, api+"/patchpolicies/web", "application/merge-patch+json",
				[]byte(fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"spec":{"suspend":true}}`, created.ResourceVersion)))
			Expect(r.code).To(Equal(http.StatusConflict))
		})

		It("refuses a body whose name differs from the URL with 400", func() {
			upd := created.DeepCopy()
			upd.Name = "other"
			r := t.do(http.MethodPut, api+"/patchpolicies/web", "application/json", mustJSON(upd))
			Expect(r.code).To(Equal(http.StatusBadRequest))
			Expect(r.status().Message).To(ContainSubstring("does not match the name on the URL"))
		})

		It("applies merge patches and JSON patches, to the spec and to the status", func() {
			r := t.do(http.MethodPatch, api+"/patchpolicies/web", "application/merge-patch+json", []byte(`{"spec":{"updates":{"apply":"All"}}}`))
			Expect(r.code).To(Equal(http.StatusOK), string(r.body))
			Expect(r.policy().Spec.Updates.Apply).To(Equal(v1alpha1.UpdatesAll))
			Expect(r.policy().Spec.Packages).To(HaveLen(1))

			r = t.do(http.MethodPatch, api+"/patchpolicies/web", "application/json-patch+json",
				[]byte(`[{"op":"add","path":"/spec/packages/-","value":{"name":"curl","state":"Latest"}}]`))
			Expect(r.code).To(Equal(http.StatusOK), string(r.body))
			Expect(r.policy().Spec.Packages).To(HaveLen(2))
			Expect(r.policy().Generation).To(Equal(int64(3)))

			r = t.do(http.MethodPatch, api+"/patchpolicies/web", "application/strategic-merge-patch+json", []byte(`{"spec":{"suspend":true}}`))
			Expect(r.code).To(Equal(http.StatusOK), string(r.body))
			Expect(r.policy().Spec.Suspend).To(BeTrue())

			r = t.do(http.MethodPatch, api+"/patchpolicies/web/status", "application/merge-patch+json", []byte(`{"status":{"pending":4},"spec":{"mode":"Audit"}}`))
			Expect(r.code).To(Equal(http.StatusOK), string(r.body))
			Expect(r.policy().Status.Pending).To(Equal(int32(4)))
			Expect(r.policy().Spec.Mode).To(BeEmpty(), "spec untouched by a status patch")

			r = t.do(http.MethodPatch, api+"/patchpolicies/web", "application/json-patch+json", []byte(`[{"op":"test","path":"/spec/mode","value":"Audit"}]`))
			Expect(r.code).To(Equal(http.StatusBadRequest))
		})

		It("validates a patched policy like a created one", func() {
			r := t.do(http.MethodPatch, api+"/patchpolicies/web", "application/merge-patch+json", []byte(`{"spec":{"packages":[{"name":"$(id)"}],"foo":1}}`))
			Expect(r.code).To(Equal(http.StatusUnprocessableEntity))
			Expect(causeFields(r.status())).To(ContainElement("spec.foo"))
			Expect(t.get(api + "/patchpolicies/web").policy().Spec.Packages[0].Name).To(Equal("openssl"))
		})

		It("deletes with DeleteOptions, honouring preconditions", func() {
			r := t.do(http.MethodDelete, api+"/patchpolicies/web", "application/json",
				[]byte(`{"preconditions":{"resourceVersion":"999"},"propagationPolicy":"Background"}`))
			Expect(r.code).To(Equal(http.StatusConflict))

			r = t.do(http.MethodDelete, api+"/patchpolicies/web", "application/json", []byte(`{"propagationPolicy":"Background"}`))
			Expect(r.code).To(Equal(http.StatusOK), string(r.body))
			st := r.status()
			Expect(st.Status).To(Equal(metav1.StatusSuccess))
			Expect(st.Details.UID).To(Equal(created.UID))
			Expect(t.get(api + "/patchpolicies/web").code).To(Equal(http.StatusNotFound))
			Expect(t.do(http.MethodDelete, api+"/patchpolicies/web", "", nil).code).To(Equal(http.StatusNotFound))
		})
	})

	Describe("refusing bad requests", func() {
		DescribeTable("415 for a body of the wrong media type",
			func(method, path, contentType, want string) {
				Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
				r := t.do(method, path, contentType, []byte(webPolicy))
				Expect(r.code).To(Equal(http.StatusUnsupportedMediaType))
				Expect(r.status().Reason).To(Equal(metav1.StatusReasonUnsupportedMediaType))
				Expect(r.status().Message).To(ContainSubstring(want))
			},
			Entry("curl's default form encoding", http.MethodPost, api+"/patchpolicies", "application/x-www-form-urlencoded", "application/yaml"),
			Entry("text/plain", http.MethodPost, api+"/patchpolicies", "text/plain", "application/json"),
			Entry("no Content-Type", http.MethodPut, api+"/patchpolicies/web", "", "Content-Type"),
			Entry("server-side apply", http.MethodPatch, api+"/patchpolicies/web", "application/apply-patch+yaml", "server-side apply"),
			Entry("a YAML patch", http.MethodPatch, api+"/patchpolicies/web", "application/yaml", "merge-patch"),
		)

		It("refuses a body over 1 MiB with 413", func() {
			big := webPolicy + "# " + strings.Repeat("x", v1alpha1.MaxDocumentSize) + "\n"
			r := t.create(big)
			Expect(r.code).To(Equal(http.StatusRequestEntityTooLarge))
			Expect(r.status().Reason).To(Equal(metav1.StatusReasonRequestEntityTooLarge))
		})

		It("refuses malformed YAML with 400 and several documents with 400", func() {
			r := t.create("apiVersion: [patchlet\n")
			Expect(r.code).To(Equal(http.StatusBadRequest))
			Expect(r.status().Reason).To(Equal(metav1.StatusReasonBadRequest))
			r = t.create(webPolicy + "---\n" + strings.Replace(webPolicy, "name: web", "name: db", 1))
			Expect(r.code).To(Equal(http.StatusBadRequest))
			Expect(r.status().Message).To(ContainSubstring("2 documents"))
		})

		It("names an unknown field and a duplicate key with 422", func() {
			r := t.create(webPolicy + "  foo: bar\n")
			Expect(r.code).To(Equal(http.StatusUnprocessableEntity), string(r.body))
			st := r.status()
			Expect(st.Reason).To(Equal(metav1.StatusReasonInvalid))
			Expect(causeFields(st)).To(ContainElement("spec.foo"))
			Expect(st.Message).To(ContainSubstring("spec.foo"))

			r = t.create(webPolicy + "  mode: Audit\n  mode: Enforce\n")
			Expect(r.code).To(BeNumerically(">=", 400))
			Expect(r.code).To(BeNumerically("<", 500))
			Expect(r.status().Message).To(ContainSubstring("mode"))
			Expect(r.status().Message).To(ContainSubstring("already set"))

			r = t.do(http.MethodPost, api+"/patchpolicies", "application/json",
				[]byte(`{"metadata":{"name":"x"},"spec":{"mode":"Audit","mode":"Enforce"}}`))
			Expect(r.code).To(Equal(http.StatusUnprocessableEntity))
			Expect(causeFields(r.status())).To(ContainElement("spec.mode"))
			Expect(t.get(api + "/patchpolicies/x").code).To(Equal(http.StatusNotFound))
		})

		DescribeTable("422 naming the field for a hostile package name, which is never stored",
			func(name string) {
				body := mustJSON(map[string]any{
					"apiVersion": "patchlet.io/v1alpha1", "kind": "PatchPolicy",
					"metadata": map[string]any{"name": "hostile"},
					"spec":     map[string]any{"packages": []any{map[string]any{"name": name}}},
				})
				r := t.do(http.MethodPost, api+"/patchpolicies", "application/json", body)
				Expect(r.code).To(Equal(http.StatusUnprocessableEntity), string(r.body))
				st := r.status()
				Expect(st.Reason).To(Equal(metav1.StatusReasonInvalid))
				Expect(causeFields(st)).To(Equal([]string{"spec.packages[0].name"}))
				Expect(st.Message).To(ContainSubstring(`PatchPolicy.patchlet.io "hostile" is invalid`))
				Expect(len(st.Message)).To(BeNumerically("<", 1024), "the message does not echo the whole value")
				Expect(st.Message).NotTo(ContainSubstring("\n"))
				Expect(t.get(api + "/patchpolicies/hostile").code).To(Equal(http.StatusNotFound))
			},
			Entry("an apt option", "-oAPT::Update::Pre-Invoke::=touch /tmp/x"),
			Entry("a dangerous flag", "--allow-unauthenticated"),
			Entry("a shell separator", "foo;rm -rf /"),
			Entry("command substitution", "$(id)"),
			Entry("backticks", "`id`"),
			Entry("spaces and a newline", "open ssl\nrm"),
			Entry("10 KiB", strings.Repeat("a", 10<<10)),
			Entry("empty", ""),
			Entry("a Cyrillic look-alike", "ореnssl"),
		)

		It("refuses a hostile object name with 422 on metadata.name", func() {
			r := t.do(http.MethodPost, api+"/patchpolicies", "application/json", []byte(`{"metadata":{"name":"../../etc/passwd"}}`))
			Expect(r.code).To(Equal(http.StatusUnprocessableEntity))
			Expect(causeFields(r.status())).To(ContainElement("metadata.name"))
		})

		It("refuses dryRun rather than writing", func() {
			r := t.do(http.MethodPost, api+"/patchpolicies?dryRun=All", "application/yaml", []byte(webPolicy))
			Expect(r.code).To(Equal(http.StatusBadRequest))
			Expect(t.get(api + "/patchpolicies/web").code).To(Equal(http.StatusNotFound))
		})
	})

	Describe("objects only the agent writes", func() {
		BeforeEach(func() {
			_, err := t.store.Create(store.Hosts, &v1alpha1.Host{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}})
			Expect(err).NotTo(HaveOccurred())
			_, err = t.store.Create(store.Operations, &v1alpha1.Operation{ObjectMeta: metav1.ObjectMeta{Name: "op-1"},
				Spec: v1alpha1.OperationSpec{Step: v1alpha1.StepRefresh, Argv: []string{"apt-get", "update"}}})
			Expect(err).NotTo(HaveOccurred())
		})

		DescribeTable("405 for every write to hosts and operations, saying who writes them",
			func(method, path, want string) {
				r := t.do(method, path, "application/json", []byte(`{"metadata":{"name":"web-1"}}`))
				Expect(r.code).To(Equal(http.StatusMethodNotAllowed), string(r.body))
				Expect(r.status().Reason).To(Equal(metav1.StatusReasonMethodNotAllowed))
				Expect(r.status().Message).To(ContainSubstring(want))
			},
			Entry("create a host", http.MethodPost, api+"/hosts", "hosts are written by the patchlet agent"),
			Entry("update a host", http.MethodPut, api+"/hosts/web-1", "hosts are written by the patchlet agent"),
			Entry("patch a host's status", http.MethodPatch, api+"/hosts/web-1/status", "hosts are written by the patchlet agent"),
			Entry("delete a host", http.MethodDelete, api+"/hosts/web-1", "read-only"),
			Entry("create an operation", http.MethodPost, api+"/operations", "operations are written by the patchlet agent"),
			Entry("delete an operation", http.MethodDelete, api+"/operations/op-1", "operations are written by the patchlet agent"),
			Entry("write an operation's log", http.MethodPut, api+"/operations/op-1/log", "read-only"),
		)

		It("serves them for reading", func() {
			Expect(t.get(api + "/hosts/web-1").code).To(Equal(http.StatusOK))
			Expect(t.get(api + "/hosts/web-1/status").code).To(Equal(http.StatusOK))
			r := t.get(api + "/operations")
			Expect(string(r.body)).To(ContainSubstring(`"argv":["apt-get","update"]`))
		})

		It("serves an operation's full log, 404 when there is none", func() {
			Expect(t.get(api + "/operations/op-1/log").code).To(Equal(http.StatusNotFound))
			t = newLoopbackServer(server.Options{Store: t.store, OperationLogs: func(name string) (io.ReadCloser, error) {
				if name != "op-1" {
					return nil, os.ErrNotExist
				}
				return io.NopCloser(strings.NewReader("Hit:1 file:/repo ./ InRelease\nReading package lists...\n")), nil
			}})
			r := t.get(api + "/operations/op-1/log")
			Expect(r.code).To(Equal(http.StatusOK))
			Expect(r.header.Get("Content-Type")).To(HavePrefix("text/plain"))
			Expect(string(r.body)).To(Equal("Hit:1 file:/repo ./ InRelease\nReading package lists...\n"))
			Expect(t.get(api + "/operations/op-2/log").code).To(Equal(http.StatusNotFound))
			Expect(t.get(api + "/hosts/web-1/log").code).To(Equal(http.StatusNotFound))
		})
	})

	Describe("copies of cluster policies (fleet mode)", func() {
		BeforeEach(func() {
			_, err := t.store.Create(store.PatchPolicies, &v1alpha1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{
				Name: "fleet", Annotations: map[string]string{v1alpha1.AnnotationSource: v1alpha1.SourceCluster}}})
			Expect(err).NotTo(HaveOccurred())
		})

		DescribeTable("403 for every write over the agent's API, pointing at the cluster",
			func(method, path, contentType, body string) {
				r := t.do(method, path, contentType, []byte(body))
				Expect(r.code).To(Equal(http.StatusForbidden), string(r.body))
				Expect(r.status().Message).To(ContainSubstring("change it in the Kubernetes API"))
				Expect(t.get(api + "/patchpolicies/fleet").policy().Spec.Mode).To(BeEmpty())
			},
			Entry("update", http.MethodPut, api+"/patchpolicies/fleet", "application/yaml", "metadata: {name: fleet}\nspec: {mode: Audit}\n"),
			Entry("merge patch", http.MethodPatch, api+"/patchpolicies/fleet", "application/merge-patch+json", `{"spec":{"mode":"Audit"}}`),
			Entry("delete", http.MethodDelete, api+"/patchpolicies/fleet", "application/json", `{}`),
		)

		It("does not let a client mark a policy as a cluster copy", func() {
			r := t.create(strings.Replace(webPolicy, "  labels:", "  annotations: {patchlet.io/source: cluster}\n  labels:", 1))
			Expect(r.code).To(Equal(http.StatusUnprocessableEntity), string(r.body))
			Expect(causeFields(r.status())).To(ContainElement("metadata.annotations[patchlet.io/source]"))
		})
	})

	Describe("policies from the drop directory", func() {
		const file = "/etc/patchlet/policies.d/base.yaml"
		BeforeEach(func() {
			_, err := t.store.Create(store.PatchPolicies, &v1alpha1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{
				Name: "base", Annotations: map[string]string{v1alpha1.AnnotationSourceFile: file}}})
			Expect(err).NotTo(HaveOccurred())
		})

		DescribeTable("403 for every write over the API, naming the file",
			func(method, path, contentType, body string) {
				r := t.do(method, path, contentType, []byte(body))
				Expect(r.code).To(Equal(http.StatusForbidden), string(r.body))
				Expect(r.status().Message).To(Equal(`patchpolicy "base" is managed by file ` + file + `; edit the file`))
				p := t.get(api + "/patchpolicies/base").policy()
				Expect(p.Spec.Mode).To(BeEmpty())
				Expect(p.Status.Pending).To(BeZero())
			},
			Entry("update", http.MethodPut, api+"/patchpolicies/base", "application/yaml", "metadata: {name: base}\nspec: {mode: Audit}\n"),
			Entry("merge patch", http.MethodPatch, api+"/patchpolicies/base", "application/merge-patch+json", `{"spec":{"mode":"Audit"}}`),
			Entry("status patch", http.MethodPatch, api+"/patchpolicies/base/status", "application/merge-patch+json", `{"status":{"pending":1}}`),
			Entry("delete", http.MethodDelete, api+"/patchpolicies/base", "application/json", `{}`),
		)

		It("does not let a client set the source-file annotation itself", func() {
			r := t.create(strings.Replace(webPolicy, "  labels:", "  annotations: {patchlet.io/source-file: /etc/passwd}\n  labels:", 1))
			Expect(r.code).To(Equal(http.StatusUnprocessableEntity), string(r.body))
			Expect(causeFields(r.status())).To(ContainElement("metadata.annotations[patchlet.io/source-file]"))

			Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
			r = t.do(http.MethodPatch, api+"/patchpolicies/web", "application/merge-patch+json",
				[]byte(`{"metadata":{"annotations":{"patchlet.io/source-file":"/etc/passwd"}}}`))
			Expect(r.code).To(Equal(http.StatusUnprocessableEntity))
			Expect(t.do(http.MethodDelete, api+"/patchpolicies/web", "", nil).code).To(Equal(http.StatusOK))
		})
	})

	Describe("the Authorizer", func() {
		It("is asked for each request and its refusal is a 403 Status", func() {
			var asked []string
			t = newLoopbackServer(server.Options{Authorizer: authzFunc(func(r *http.Request, verb, resource, name string) error {
				asked = append(asked, verb+" "+resource+" "+name)
				if verb == "delete" || resource == "patchpolicies/status" {
					return errors.New("role viewer may not " + verb)
				}
				return nil
			})})
			Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
			Expect(t.get(api + "/patchpolicies").code).To(Equal(http.StatusOK))
			r := t.do(http.MethodDelete, api+"/patchpolicies/web", "", nil)
			Expect(r.code).To(Equal(http.StatusForbidden))
			Expect(r.status().Reason).To(Equal(metav1.StatusReasonForbidden))
			Expect(r.status().Message).To(ContainSubstring("role viewer may not delete"))
			Expect(t.do(http.MethodPatch, api+"/patchpolicies/web/status", "application/merge-patch+json", []byte(`{}`)).code).To(Equal(http.StatusForbidden))
			Expect(t.get(api + "/patchpolicies/web").code).To(Equal(http.StatusOK))
			Expect(asked).To(Equal([]string{
				"create patchpolicies ", "list patchpolicies ", "delete patchpolicies web",
				"patch patchpolicies/status web", "get patchpolicies web",
			}))
		})
	})

	Describe("server-side tables", func() {
		const asTable = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

		table := func(path string) metav1.Table {
			GinkgoHelper()
			r := t.get(path, "Accept", asTable)
			Expect(r.code).To(Equal(http.StatusOK), string(r.body))
			var tb metav1.Table
			Expect(json.Unmarshal(r.body, &tb)).To(Succeed())
			Expect(tb.Kind).To(Equal("Table"))
			Expect(tb.APIVersion).To(Equal("meta.k8s.io/v1"))
			return tb
		}
		columns := func(tb metav1.Table) []string {
			var out []string
			for _, c := range tb.ColumnDefinitions {
				if c.Priority == 0 {
					out = append(out, c.Name)
				}
			}
			return out
		}

		It("prints policies with their readiness, mode, pending changes and reboot state", func() {
			p := t.create(webPolicy).policy()
			p.Status.Pending = 2
			apimeta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: "Ready", Status: metav1.ConditionFalse, Reason: "WaitingForWindow", Message: "window opens Mon 01:00"})
			apimeta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{Type: "RebootRequired", Status: metav1.ConditionTrue, Reason: "KernelUpdated"})
			_, err := t.store.UpdateStatus(store.PatchPolicies, p)
			Expect(err).NotTo(HaveOccurred())

			tb := table(api + "/patchpolicies")
			Expect(columns(tb)).To(Equal([]string{"Name", "Ready", "Mode", "Pending", "Reboot", "Age"}))
			Expect(tb.ResourceVersion).NotTo(BeEmpty())
			Expect(tb.Rows).To(HaveLen(1))
			cells := tb.Rows[0].Cells
			Expect(cells[:5]).To(Equal([]any{"web", "False", "Enforce", float64(2), "True"}))
			Expect(cells).To(ContainElements("WaitingForWindow", "window opens Mon 01:00"))
			var meta metav1.PartialObjectMetadata
			Expect(json.Unmarshal(tb.Rows[0].Object.Raw, &meta)).To(Succeed())
			Expect(meta.Kind).To(Equal("PartialObjectMetadata"))
			Expect(meta.Labels).To(HaveKeyWithValue("role", "web"))

			one := table(api + "/patchpolicies/web?includeObject=Object")
			Expect(string(one.Rows[0].Object.Raw)).To(ContainSubstring(`"kind":"PatchPolicy"`))
		})

		It("prints hosts and operations", func() {
			code := int32(100)
			_, err := t.store.Create(store.Hosts, &v1alpha1.Host{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}, Status: v1alpha1.HostStatus{
				OS: v1alpha1.OSInfo{ID: "debian", VersionID: "12"}, Backend: &v1alpha1.BackendInfo{Name: "apt"},
				Cache: v1alpha1.CacheStatus{State: v1alpha1.CacheFresh}, Packages: v1alpha1.PackageCounts{Upgradable: 11, Security: 3},
				RebootRequired: v1alpha1.RebootStatus{Required: true},
			}})
			Expect(err).NotTo(HaveOccurred())
			_, err = t.store.Create(store.Operations, &v1alpha1.Operation{ObjectMeta: metav1.ObjectMeta{Name: "op-7f3a"},
				Spec:   v1alpha1.OperationSpec{Step: v1alpha1.StepUpgrade, Policy: "web", Argv: []string{"apt-get", "upgrade"}},
				Status: v1alpha1.OperationStatus{Phase: v1alpha1.OperationFailed, ExitCode: &code}})
			Expect(err).NotTo(HaveOccurred())

			tb := table(api + "/hosts")
			Expect(columns(tb)).To(Equal([]string{"Name", "Backend", "OS", "Cache", "Upgradable", "Security", "Reboot", "Age"}))
			Expect(tb.Rows[0].Cells[:7]).To(Equal([]any{"web-1", "apt", "debian 12", "fresh", float64(11), float64(3), "True"}))

			tb = table(api + "/operations")
			Expect(columns(tb)).To(Equal([]string{"Name", "Step", "Phase", "Exit", "Policy", "Age"}))
			Expect(tb.Rows[0].Cells[:5]).To(Equal([]any{"op-7f3a", "Upgrade", "Failed", "100", "web"}))
		})
	})
})

var _ = Describe("The plain-HTTP loopback listener", func() {
	It("refuses requests naming a host that is not loopback (DNS rebinding)", func() {
		t := newLoopbackServer(server.Options{})
		r := t.do(http.MethodPost, api+"/patchpolicies", "application/yaml", []byte(webPolicy), "Host", "evil.example.com")
		Expect(r.code).To(Equal(http.StatusForbidden))
		Expect(r.status().Message).To(ContainSubstring(`not "evil.example.com"`))
		Expect(t.get(api + "/patchpolicies/web").code).To(Equal(http.StatusNotFound))
		Expect(t.get("/healthz", "Host", "localhost:1234").code).To(Equal(http.StatusOK))
		Expect(t.get("/healthz", "Host", "[::1]:1234").code).To(Equal(http.StatusOK))
	})
})
