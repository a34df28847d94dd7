package server_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/server"
	"github.com/patchlet/patchlet/store"
)

// BenchmarkGetStatus measures parallel GETs of a policy's status over a
// real loopback listener (HTTP/1.1 keep-alive). Report: go test -bench
// GetStatus -run '^$' ./server; requests/s = 1e9 / ns/op.
func BenchmarkGetStatus(b *testing.B) {
	st, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p := &v1alpha1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"role": "web"}},
		Spec: v1alpha1.PatchPolicySpec{Packages: []v1alpha1.PackageSpec{{Name: "openssl", Version: "3.0.15-1~deb12u1"}}}}
	p.SetDefaults()
	if _, err := st.Create(store.PatchPolicies, p); err != nil {
		b.Fatal(err)
	}
	ln, err := server.Listen(server.ListenConfig{Listen: "127.0.0.1:0", Insecure: true})
	if err != nil {
		b.Fatal(err)
	}
	srv := server.New(server.Options{Store: st, Log: logr.Discard(), Version: version.Info{Major: "1", Minor: "32"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	url := "http://" + ln.Addr().String() + "/apis/patchlet.io/v1alpha1/patchpolicies/web/status"
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.SetParallelism(16) // 32 concurrent clients on 2 cores
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
