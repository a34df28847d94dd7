package store_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/patchlet/patchlet/api/v1alpha1"
	"github.com/patchlet/patchlet/store"
)

const benchObjects = 64

// benchStore is a store of 64 policies of 20 packages each (about 2 KiB of
// JSON) on the disk of the temporary directory, as in production.
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	s, err := store.Open(b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range benchObjects {
		p := &v1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("policy-%d", i), Labels: map[string]string{"role": "web"}}}
		for j := range 20 {
			p.Spec.Packages = append(p.Spec.Packages, v1.PackageSpec{Name: fmt.Sprintf("package-%d", j), Version: "3.0.15-1~deb12u1"})
		}
		p.Status.Conditions = []metav1.Condition{{Type: v1.ConditionReady, Status: metav1.ConditionTrue, Reason: "Compliant",
			LastTransitionTime: metav1.NewTime(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC))}}
		if _, err := s.Create(store.PatchPolicies, p); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func names() []string {
	out := make([]string, benchObjects)
	for i := range out {
		out[i] = fmt.Sprintf("policy-%d", i)
	}
	return out
}

// BenchmarkGetJSON: parallel readers of the stored JSON (what GET serves).
func BenchmarkGetJSON(b *testing.B) {
	s := benchStore(b)
	ns := names()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.GetJSON(store.PatchPolicies, ns[i%benchObjects]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkGet: parallel readers of a deep copy (what controllers use).
func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
	ns := names()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Get(store.PatchPolicies, ns[i%benchObjects]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkGetJSONWithWriter: parallel readers while one goroutine keeps
// updating status (each write fsyncs and holds the store's lock).
func BenchmarkGetJSONWithWriter(b *testing.B) {
	s := benchStore(b)
	ns := names()
	var stop atomic.Bool
	writes := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		p := &v1.PatchPolicy{ObjectMeta: metav1.ObjectMeta{Name: ns[0]}}
		for !stop.Load() {
			p.Status.Pending = int32(writes)
			if _, err := s.UpdateStatus(store.PatchPolicies, p); err != nil {
				b.Error(err)
				return
			}
			writes++
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.GetJSON(store.PatchPolicies, ns[i%benchObjects]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.StopTimer()
	stop.Store(true)
	<-done
	b.ReportMetric(float64(writes)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkList: parallel List of all 64 objects.
func BenchmarkList(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := s.List(store.PatchPolicies); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
