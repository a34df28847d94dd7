package audit_test

import (
	"context"
	"testing"

	"github.com/go-logr/logr"

	"github.com/patchlet/patchlet/audit"
)

// BenchmarkRecord measures one fsynced record (the line and the head).
func BenchmarkRecord(b *testing.B) {
	l, err := audit.Open(audit.Options{Dir: b.TempDir(), Log: logr.Discard()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	e := audit.Entry{Change: &audit.Change{User: "alice", From: "192.0.2.7:41000", Verb: "patch", Resource: "patchpolicies", Name: "web", GenerationBefore: 1, GenerationAfter: 2}}
	for b.Loop() {
		if err := l.Record(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
}
