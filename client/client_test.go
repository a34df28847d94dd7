package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/client"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

func policy(name string, labels map[string]string) *v1alpha1.PatchPolicy {
	return &v1alpha1.PatchPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.KindPatchPolicy},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       v1alpha1.PatchPolicySpec{Packages: []v1alpha1.PackageSpec{{Name: "openssl"}}},
	}
}

// startServer serves the API of a fresh store on a unix socket until the
// spec ends.
func startServer() (*store.Store, string) {
	dir, err := os.MkdirTemp("", "pcli-")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(os.RemoveAll, dir)
	st, err := store.Open(filepath.Join(dir, "state"), store.Options{})
	Expect(err).NotTo(HaveOccurred())
	srv := server.New(server.Options{
		Store: st, Log: logr.Discard(),
		Version: version.Info{Major: "1", Minor: "32", GitVersion: "v1.32.0-patchlet+test"},
		OperationLogs: func(name string) (io.ReadCloser, error) {
			if name != "op-1" {
				return nil, os.ErrNotExist
			}
			return io.NopCloser(strings.NewReader("0123456789\nsecond line\n")), nil
		},
	})
	sock := filepath.Join(dir, "api.sock")
	ln, err := server.Listen(server.ListenConfig{Listen: "unix:" + sock})
	Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.Serve(ctx, ln)
	}()
	DeferCleanup(func() { cancel(); wg.Wait() })
	return st, "unix:" + sock
}

var _ = Describe("Client", func() {
	var (
		st   *store.Store
		c    *client.Client
		ctx  context.Context
		addr string
	)

	BeforeEach(func() {
		st, addr = startServer()
		var err error
		c, err = client.New(client.Options{Server: addr, RequestTimeout: 5 * time.Second})
		Expect(err).NotTo(HaveOccurred())
		ctx = context.Background()
	})

	It("creates, gets, lists by label, updates and deletes policies", func() {
		pp := c.PatchPolicies()
		created, err := pp.Create(ctx, policy("web", map[string]string{"role": "web"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(created.ResourceVersion).NotTo(BeEmpty())
		Expect(created.Generation).To(Equal(int64(1)))
		Expect(created.Spec.Mode).To(BeEmpty(), "stored as written; defaults apply where it is enforced")
		_, err = pp.Create(ctx, policy("db", nil))
		Expect(err).NotTo(HaveOccurred())

		got, err := pp.Get(ctx, "web")
		Expect(err).NotTo(HaveOccurred())
		Expect(got.UID).To(Equal(created.UID))

		list, err := pp.List(ctx, metav1.ListOptions{LabelSelector: "role=web"})
		Expect(err).NotTo(HaveOccurred())
		Expect(list.Items).To(HaveLen(1))
		Expect(list.Items[0].Name).To(Equal("web"))
		Expect(list.ResourceVersion).NotTo(BeEmpty())

		got.Spec.Packages = append(got.Spec.Packages, v1alpha1.PackageSpec{Name: "curl"})
		updated, err := pp.Update(ctx, got)
		Expect(err).NotTo(HaveOccurred())
		Expect(updated.Generation).To(Equal(int64(2)))

		Expect(pp.Delete(ctx, "web", metav1.DeleteOptions{})).To(Succeed())
		_, err = st.Get(store.PatchPolicies, "web")
		Expect(apierrors.IsNotFound(err)).To(BeTrue())
	})

	It("writes status through the status subresource, leaving the spec alone", func() {
		pp := c.PatchPolicies()
		p, err := pp.Create(ctx, policy("web", nil))
		Expect(err).NotTo(HaveOccurred())
		p.Status.Pending = 4
		p.Spec.Suspend = true
		out, err := pp.UpdateStatus(ctx, p)
		Expect(err).NotTo(HaveOccurred())
		Expect(out.Status.Pending).To(Equal(int32(4)))
		Expect(out.Spec.Suspend).To(BeFalse())
	})

	It("returns apimachinery status errors built from the server's Status", func() {
		pp := c.PatchPolicies()
		_, err := pp.Get(ctx, "nope")
		Expect(apierrors.IsNotFound(err)).To(BeTrue())
		Expect(err.Error()).To(Equal(`patchpolicies.patchlet.io "nope" not found`))

		p, err := pp.Create(ctx, policy("web", nil))
		Expect(err).NotTo(HaveOccurred())
		stale := p.DeepCopy()
		p.Spec.Suspend = true
		_, err = pp.Update(ctx, p)
		Expect(err).NotTo(HaveOccurred())
		stale.Spec.Mode = v1alpha1.ModeAudit
		_, err = pp.Update(ctx, stale)
		Expect(apierrors.IsConflict(err)).To(BeTrue(), "%v", err)

		bad := policy("bad", nil)
		bad.Spec.Packages[0].Name = "-rf"
		_, err = pp.Create(ctx, bad)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		var se *apierrors.StatusError
		Expect(errors.As(err, &se)).To(BeTrue())
		Expect(se.ErrStatus.Details.Causes).To(ContainElement(HaveField("Field", "spec.packages[0].name")))

		_, err = c.Hosts().Create(ctx, &v1alpha1.Host{ObjectMeta: metav1.ObjectMeta{Name: "h"}})
		Expect(apierrors.IsMethodNotSupported(err)).To(BeTrue(), "%v", err)
	})

	It("watches from a list's resourceVersion with typed events", func() {
		pp := c.PatchPolicies()
		_, err := pp.Create(ctx, policy("before", nil))
		Expect(err).NotTo(HaveOccurred())
		list, err := pp.List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		w, err := pp.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()

		p, err := pp.Create(ctx, policy("web", nil))
		Expect(err).NotTo(HaveOccurred())
		p.Status.Pending = 1
		_, err = pp.UpdateStatus(ctx, p)
		Expect(err).NotTo(HaveOccurred())
		Expect(pp.Delete(ctx, "web", metav1.DeleteOptions{})).To(Succeed())

		var got []string
		for len(got) < 3 {
			var ev watch.Event
			Eventually(w.ResultChan(), "5s").Should(Receive(&ev))
			p, ok := ev.Object.(*v1alpha1.PatchPolicy)
			Expect(ok).To(BeTrue(), "%T", ev.Object)
			got = append(got, string(ev.Type)+" "+p.Name)
		}
		Expect(got).To(Equal([]string{"ADDED web", "MODIFIED web", "DELETED web"}))

		w.Stop()
		Eventually(w.ResultChan()).Should(BeClosed())
	})

	It("gets the server's Table of a list, of one object and of a watch", func() {
		pp := c.PatchPolicies()
		_, err := pp.Create(ctx, policy("db", map[string]string{"role": "db"}))
		Expect(err).NotTo(HaveOccurred())
		_, err = pp.Create(ctx, policy("web", map[string]string{"role": "web"}))
		Expect(err).NotTo(HaveOccurred())

		t, err := pp.Table(ctx, metav1.ListOptions{LabelSelector: "role=web"})
		Expect(err).NotTo(HaveOccurred())
		var names []string
		for _, cd := range t.ColumnDefinitions {
			names = append(names, cd.Name)
		}
		Expect(names).To(Equal([]string{"Name", "Ready", "Mode", "Pending", "Reboot", "Age", "Matched", "Compliant", "Failed", "Wave", "Reason", "Message"}))
		Expect(t.Rows).To(HaveLen(1))
		Expect(t.Rows[0].Cells[:5]).To(Equal([]any{"web", "Unknown", "Enforce", float64(0), "False"}))
		Expect(string(t.Rows[0].Object.Raw)).To(ContainSubstring(`"kind":"PartialObjectMetadata"`))
		Expect(t.ResourceVersion).NotTo(BeEmpty())

		one, err := c.Hosts().TableOf(ctx, "nowhere")
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%v", err)
		Expect(one).To(BeNil())
		t, err = pp.TableOf(ctx, "db")
		Expect(err).NotTo(HaveOccurred())
		Expect(t.Rows).To(HaveLen(1))
		Expect(t.Rows[0].Cells[0]).To(Equal("db"))
		var m metav1.PartialObjectMetadata
		Expect(json.Unmarshal(t.Rows[0].Object.Raw, &m)).To(Succeed())
		Expect(m.ResourceVersion).NotTo(BeEmpty())

		w, err := pp.WatchTable(ctx, metav1.ListOptions{ResourceVersion: m.ResourceVersion, FieldSelector: "metadata.name=db"})
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()
		_, err = pp.Create(ctx, policy("cache", nil))
		Expect(err).NotTo(HaveOccurred())
		Expect(pp.Delete(ctx, "db", metav1.DeleteOptions{})).To(Succeed())
		var ev watch.Event
		Eventually(w.ResultChan(), "5s").Should(Receive(&ev))
		Expect(ev.Type).To(Equal(watch.Deleted))
		et, ok := ev.Object.(*metav1.Table)
		Expect(ok).To(BeTrue(), "%T", ev.Object)
		Expect(et.Rows).To(HaveLen(1))
		Expect(et.Rows[0].Cells[0]).To(Equal("db"))
	})

	It("selects watch events by field, and does not cut a watch at the request timeout", func() {
		short, err := client.New(client.Options{Server: addr, RequestTimeout: 200 * time.Millisecond})
		Expect(err).NotTo(HaveOccurred())
		pp := short.PatchPolicies()
		list, err := pp.List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		w, err := pp.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=web", ResourceVersion: list.ResourceVersion})
		Expect(err).NotTo(HaveOccurred())
		defer w.Stop()
		Consistently(w.ResultChan(), "400ms").ShouldNot(Receive())

		_, err = pp.Create(ctx, policy("other", nil))
		Expect(err).NotTo(HaveOccurred())
		_, err = pp.Create(ctx, policy("web", nil))
		Expect(err).NotTo(HaveOccurred())
		var ev watch.Event
		Eventually(w.ResultChan(), "5s").Should(Receive(&ev))
		Expect(ev.Type).To(Equal(watch.Added))
		Expect(ev.Object.(*v1alpha1.PatchPolicy).Name).To(Equal("web"))
	})

	It("ends a watch when its context ends", func() {
		wctx, cancel := context.WithCancel(ctx)
		w, err := c.Operations().Watch(wctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		cancel()
		Eventually(w.ResultChan(), "5s").Should(BeClosed())
	})

	It("reads an operation's log, from an offset too", func() {
		_, err := st.Create(store.Operations, &v1alpha1.Operation{ObjectMeta: metav1.ObjectMeta{Name: "op-1"},
			Spec: v1alpha1.OperationSpec{Step: v1alpha1.StepRefresh, Argv: []string{"apt-get", "update"}}})
		Expect(err).NotTo(HaveOccurred())
		rc, err := c.Logs(ctx, "op-1")
		Expect(err).NotTo(HaveOccurred())
		b, err := io.ReadAll(rc)
		Expect(err).NotTo(HaveOccurred())
		Expect(rc.Close()).To(Succeed())
		Expect(string(b)).To(Equal("0123456789\nsecond line\n"))

		rc, err = c.LogsFrom(ctx, "op-1", 11)
		Expect(err).NotTo(HaveOccurred())
		b, _ = io.ReadAll(rc)
		rc.Close()
		Expect(string(b)).To(Equal("second line\n"))

		_, err = c.Logs(ctx, "op-missing")
		Expect(apierrors.IsNotFound(err)).To(BeTrue())
	})

	It("reads the server version", func() {
		info, err := c.ServerVersion(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.GitVersion).To(Equal("v1.32.0-patchlet+test"))
	})
})

var _ = Describe("Client against other servers", func() {
	It("turns a non-Status error body into an error of its HTTP status", func() {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream down", http.StatusServiceUnavailable)
		}))
		defer ts.Close()
		c, err := client.New(client.Options{Server: ts.URL})
		Expect(err).NotTo(HaveOccurred())
		_, err = c.PatchPolicies().Get(context.Background(), "web")
		Expect(apierrors.IsServiceUnavailable(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("upstream down"))
	})

	It("gives up on a request after the request timeout, saying so", func() {
		release := make(chan struct{})
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer ts.Close()
		defer close(release)
		c, err := client.New(client.Options{Server: ts.URL, RequestTimeout: 200 * time.Millisecond})
		Expect(err).NotTo(HaveOccurred())
		start := time.Now()
		_, err = c.Hosts().List(context.Background(), metav1.ListOptions{})
		Expect(err).To(MatchError(ContainSubstring("no answer from the agent at " + ts.URL + " in time")))
		Expect(time.Since(start)).To(BeNumerically("<", 3*time.Second))
	})

	DescribeTable("rejects bad server addresses",
		func(opts client.Options, want string) {
			_, err := client.New(opts)
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("no scheme", client.Options{Server: "web-1:8443"}, "want unix:/path"),
		Entry("empty socket", client.Options{Server: "unix:"}, "empty socket path"),
		Entry("certificates over plain HTTP", client.Options{Server: "http://127.0.0.1:1", CAFile: "ca.crt"}, "need an https:// server"),
		Entry("cert without key", client.Options{Server: "https://127.0.0.1:1", CertFile: "c.crt"}, "both --cert and --key"),
		Entry("missing CA file", client.Options{Server: "https://127.0.0.1:1", CAFile: "/nonexistent/ca.crt"}, "reading CA file"),
	)
})
