package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

type event struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (e event) name() string {
	var m metav1.PartialObjectMetadata
	_ = json.Unmarshal(e.Object, &m)
	return m.Name
}

func (e event) String() string { return e.Type + " " + e.name() }

// watch opens a watch and streams its events; the channel closes when the
// server ends the stream.
func (t *testServer) watch(path string, header ...string) <-chan event {
	GinkgoHelper()
	ctx, cancel := context.WithCancel(context.Background())
	DeferCleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+path, nil)
	Expect(err).NotTo(HaveOccurred())
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := (&http.Client{Transport: t.client.Transport}).Do(req)
	Expect(err).NotTo(HaveOccurred())
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	Expect(resp.Header.Get("Content-Type")).To(Equal("application/json"))
	ch := make(chan event, 100)
	go func() {
		defer GinkgoRecover()
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 4<<20)
		for sc.Scan() {
			var ev event
			Expect(json.Unmarshal(sc.Bytes(), &ev)).To(Succeed(), "line: %s", sc.Bytes())
			ch <- ev
		}
	}()
	return ch
}

func setPolicyLabel(st *store.Store, name, key, value string) *v1alpha1.PatchPolicy {
	GinkgoHelper()
	o, err := st.Get(store.PatchPolicies, name)
	Expect(err).NotTo(HaveOccurred())
	p := o.(*v1alpha1.PatchPolicy)
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[key] = value
	out, err := st.Update(store.PatchPolicies, p)
	Expect(err).NotTo(HaveOccurred())
	return out.(*v1alpha1.PatchPolicy)
}

// stoppableServer serves plain HTTP with a fresh store until stop, which
// returns what Serve returned.
func stoppableServer() (t *testServer, stop func() <-chan error) {
	GinkgoHelper()
	st := openStore()
	ln, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0", Insecure: true})
	Expect(err).NotTo(HaveOccurred())
	srv := server.New(server.Options{Store: st})
	ctx, cancel := context.WithCancel(context.Background())
	DeferCleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t = &testServer{store: st, server: srv, base: "http://" + ln.Addr().String(), client: &http.Client{Transport: &http.Transport{}}}
	return t, func() <-chan error { cancel(); return done }
}

var _ = Describe("Watch", func() {
	var t *testServer
	BeforeEach(func() {
		t = newLoopbackServer(server.Options{})
	})

	It("starts with ADDED events without a resourceVersion, then streams changes", func() {
		Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
		events := t.watch(api + "/patchpolicies?watch=true")
		Eventually(events).Should(Receive(HaveField("String()", "ADDED web")))

		setPolicyLabel(t.store, "web", "tier", "1")
		var ev event
		Eventually(events).Should(Receive(&ev))
		Expect(ev.String()).To(Equal("MODIFIED web"))
		var p v1alpha1.PatchPolicy
		Expect(json.Unmarshal(ev.Object, &p)).To(Succeed())
		Expect(p.Labels).To(HaveKeyWithValue("tier", "1"))

		Expect(t.do(http.MethodDelete, api+"/patchpolicies/web", "", nil).code).To(Equal(http.StatusOK))
		Eventually(events).Should(Receive(HaveField("String()", "DELETED web")))
	})

	It("resumes after the resourceVersion of a list and applies the field selector", func() {
		Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
		var l v1alpha1.PatchPolicyList
		Expect(json.Unmarshal(t.get(api+"/patchpolicies?fieldSelector=metadata.name%3Dweb&limit=500&resourceVersion=0").body, &l)).To(Succeed())
		Expect(l.Items).To(HaveLen(1))

		setPolicyLabel(t.store, "web", "tier", "1") // after the list, before the watch
		events := t.watch(api + "/patchpolicies?watch=true&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dweb&resourceVersion=" + l.ResourceVersion + "&timeoutSeconds=30")
		Eventually(events).Should(Receive(HaveField("String()", "MODIFIED web")))

		Expect(t.create(`apiVersion: patchlet.io/v1alpha1
kind: PatchPolicy
metadata: {name: other}
`).code).To(Equal(http.StatusCreated))
		setPolicyLabel(t.store, "web", "tier", "2")
		var ev event
		Eventually(events).Should(Receive(&ev))
		Expect(ev.String()).To(Equal("MODIFIED web"), "the event of 'other' is filtered out")
	})

	It("sends an object that stops matching the label selector as DELETED", func() {
		Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
		events := t.watch(api + "/patchpolicies?watch=true&labelSelector=role%3Dweb")
		Eventually(events).Should(Receive(HaveField("String()", "ADDED web")))
		setPolicyLabel(t.store, "web", "role", "db")
		Eventually(events).Should(Receive(HaveField("String()", "DELETED web")))
		setPolicyLabel(t.store, "web", "role", "web")
		Eventually(events).Should(Receive(HaveField("String()", "ADDED web")))
	})

	It("sends bookmarks carrying the newest resourceVersion when asked", func() {
		server.SetBookmarkInterval(t.server, 50*time.Millisecond)
		p := t.create(webPolicy).policy()
		events := t.watch(api + "/patchpolicies?watch=true&allowWatchBookmarks=true&resourceVersion=" + p.ResourceVersion)
		var ev event
		Eventually(events).Should(Receive(&ev))
		Expect(ev.Type).To(Equal("BOOKMARK"))
		var b metav1.PartialObjectMetadata
		Expect(json.Unmarshal(ev.Object, &b)).To(Succeed())
		Expect(b.Kind).To(Equal("PatchPolicy"))
		Expect(b.ResourceVersion).To(Equal(strconv.FormatUint(t.store.ResourceVersion(), 10)))
	})

	It("sends the initial state then a bookmark marking its end when asked (watch-list)", func() {
		const q = "?watch=true&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan"
		Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
		Expect(t.create("apiVersion: patchlet.io/v1alpha1\nkind: PatchPolicy\nmetadata: {name: db}\n").code).To(Equal(http.StatusCreated))
		events := t.watch(api + "/patchpolicies" + q)
		var first, second, end event
		Eventually(events).Should(Receive(&first))
		Eventually(events).Should(Receive(&second))
		Expect([]string{first.String(), second.String()}).To(ConsistOf("ADDED web", "ADDED db"))
		Eventually(events).Should(Receive(&end))
		Expect(end.Type).To(Equal("BOOKMARK"))
		var b metav1.PartialObjectMetadata
		Expect(json.Unmarshal(end.Object, &b)).To(Succeed())
		Expect(b.Annotations).To(HaveKeyWithValue("k8s.io/initial-events-end", "true"))
		Expect(b.ResourceVersion).To(Equal(strconv.FormatUint(t.store.ResourceVersion(), 10)))
		setPolicyLabel(t.store, "db", "x", "y")
		Eventually(events).Should(Receive(HaveField("String()", "MODIFIED db")))

		empty := t.watch(api + "/hosts" + q)
		Eventually(empty).Should(Receive(HaveField("Type", "BOOKMARK")))
	})

	It("ends the stream after timeoutSeconds", func() {
		events := t.watch(api + "/hosts?watch=true&timeoutSeconds=1")
		Eventually(events).WithTimeout(5 * time.Second).Should(BeClosed())
	})

	It("answers a resourceVersion older than the store's history with a 410 ERROR event", func() {
		Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
		setPolicyLabel(t.store, "web", "tier", "1")
		// A reopened store remembers objects, not the events that made them.
		st, err := store.Open(t.store.Dir(), store.Options{})
		Expect(err).NotTo(HaveOccurred())
		t = newLoopbackServer(server.Options{Store: st})
		events := t.watch(api + "/patchpolicies?watch=true&resourceVersion=1")
		var ev event
		Eventually(events).Should(Receive(&ev))
		Expect(ev.Type).To(Equal("ERROR"))
		var status metav1.Status
		Expect(json.Unmarshal(ev.Object, &status)).To(Succeed())
		Expect(status.Code).To(Equal(int32(http.StatusGone)))
		Expect(status.Reason).To(Equal(metav1.StatusReasonExpired))
		Eventually(events).Should(BeClosed())
	})

	It("sends one-row tables when the client asks for tables", func() {
		events := t.watch(api+"/patchpolicies?watch=true", "Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
		Expect(t.create(webPolicy).code).To(Equal(http.StatusCreated))
		var ev event
		Eventually(events).Should(Receive(&ev))
		Expect(ev.Type).To(Equal("ADDED"))
		var tb metav1.Table
		Expect(json.Unmarshal(ev.Object, &tb)).To(Succeed())
		Expect(tb.Kind).To(Equal("Table"))
		Expect(tb.Rows).To(HaveLen(1))
		Expect(tb.Rows[0].Cells[0]).To(Equal("web"))
	})

	It("ends open watches when the server shuts down", func() {
		w, stop := stoppableServer()
		events := w.watch(api + "/patchpolicies?watch=true")
		Consistently(events, "100ms").ShouldNot(BeClosed())
		Eventually(stop()).WithTimeout(5 * time.Second).Should(Receive(BeNil()))
		Eventually(events).Should(BeClosed())
	})
})
