package server_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

var _ = Describe("Following an operation's log", func() {
	var (
		t   *testServer
		dir string
	)
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		t = newLoopbackServer(server.Options{MaxWatches: 1, OperationLogs: func(name string) (io.ReadCloser, error) {
			return os.Open(filepath.Join(dir, name+".log")) // as the executor's OpenLog does
		}})
		_, err := t.store.Create(store.Operations, &v1alpha1.Operation{ObjectMeta: metav1.ObjectMeta{Name: "op-1"},
			Spec: v1alpha1.OperationSpec{Step: v1alpha1.StepRefresh, Argv: []string{"apt-get", "update"}}})
		Expect(err).NotTo(HaveOccurred())
		setPhase(t.store, "op-1", v1alpha1.OperationRunning)
	})

	appendLog := func(text string) {
		GinkgoHelper()
		f, err := os.OpenFile(filepath.Join(dir, "op-1.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		Expect(err).NotTo(HaveOccurred())
		_, err = f.WriteString(text)
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Close()).To(Succeed())
	}

	// follow opens the stream and sends its lines to the channel, which
	// closes when the server ends the response.
	follow := func(ctx context.Context) <-chan string {
		GinkgoHelper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+api+"/operations/op-1/log?follow=true", nil)
		Expect(err).NotTo(HaveOccurred())
		resp, err := (&http.Client{Transport: t.client.Transport}).Do(req)
		Expect(err).NotTo(HaveOccurred())
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		lines := make(chan string, 100)
		go func() {
			defer close(lines)
			defer resp.Body.Close()
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		return lines
	}

	It("streams lines as the step writes them, from before the log exists until the operation finishes", func() {
		lines := follow(context.Background())
		Consistently(lines, "300ms").ShouldNot(Receive(), "no log yet: the follow waits")
		appendLog("Reading package lists...\n")
		Eventually(lines).Should(Receive(Equal("Reading package lists...")))
		Consistently(lines, "300ms").ShouldNot(BeClosed(), "the step still runs")

		appendLog("Done\n")
		setPhase(t.store, "op-1", v1alpha1.OperationFailed)
		Eventually(lines).Should(Receive(Equal("Done")))
		Eventually(lines).Should(BeClosed())
	})

	It("holds a watch slot until the client leaves", func() {
		appendLog("one\n")
		ctx, cancel := context.WithCancel(context.Background())
		lines := follow(ctx)
		Eventually(lines).Should(Receive(Equal("one")))
		Expect(t.get(api + "/operations/op-1/log?follow=true").code).To(Equal(http.StatusTooManyRequests))
		Expect(t.get(api+"/operations/op-1/log").code).To(Equal(http.StatusOK), "a plain read is not bounded")
		cancel()
		Eventually(func() int { return t.get(api + "/hosts?watch=true&timeoutSeconds=1").code }).
			Should(Equal(http.StatusOK))
	})

	It("answers a finished operation's whole log at once, and 404 when there is none", func() {
		setPhase(t.store, "op-1", v1alpha1.OperationSucceeded)
		Expect(t.get(api + "/operations/op-1/log?follow=true").code).To(Equal(http.StatusNotFound))
		appendLog("all\n")
		r := t.get(api + "/operations/op-1/log?follow=true")
		Expect(r.code).To(Equal(http.StatusOK))
		Expect(string(r.body)).To(Equal("all\n"))
		Expect(t.get(api + "/operations/op-1/log?follow=maybe").code).To(Equal(http.StatusBadRequest))
	})
})

func setPhase(st *store.Store, name string, phase v1alpha1.OperationPhase) {
	GinkgoHelper()
	obj, err := st.Get(store.Operations, name)
	Expect(err).NotTo(HaveOccurred())
	op := obj.(*v1alpha1.Operation)
	op.Status.Phase = phase
	_, err = st.UpdateStatus(store.Operations, op)
	Expect(err).NotTo(HaveOccurred())
}
