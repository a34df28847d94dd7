package v1alpha1_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode"

	"k8s.io/apimachinery/pkg/api/equality"

	v1 "github.com/patchlet/patchlet/api/v1alpha1"
)

// Characters a validated package name, version or exclude glob must never
// contain: they mean something to a shell, to a package manager's command
// line (= / : select versions, releases and architectures) or to a path.
const (
	forbiddenInName    = " \t\r\n\v\f;|&$`'\"\\<>(){}[]*?!#~%^=/:,"
	forbiddenInVersion = " \t\r\n\v\f;|&$`'\"\\<>(){}[]*?!#%=/,"
	forbiddenInGlob    = " \t\r\n\v\f;|&$`'\"\\<>(){}!#~%^=/:,"
)

// printableASCII reports whether s holds only printable ASCII characters.
func printableASCII(s string) bool {
	for _, r := range s {
		if r > unicode.MaxASCII || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// checkArg checks a validated value that may reach a command line.
func checkArg(t *testing.T, what, s, forbidden string, max int) {
	t.Helper()
	switch {
	case s == "":
		t.Fatalf("validated %s is empty", what)
	case len(s) > max:
		t.Fatalf("validated %s is %d bytes long", what, len(s))
	case !printableASCII(s):
		t.Fatalf("validated %s %q is not printable ASCII", what, s)
	case s[0] == '-' || s[0] == '.':
		t.Fatalf("validated %s %q starts with %q", what, s, s[0])
	case strings.ContainsAny(s, forbidden):
		t.Fatalf("validated %s %q contains one of %q", what, s, forbidden)
	}
}

// FuzzDecode feeds anything to the document decoder. Nothing may panic,
// every failure is a *DecodeError, and a policy that validates carries only
// package names, versions and globs that are safe on a command line.
//
// Seeds: testdata/fuzz/FuzzDecode. Run: go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 60s ./api/v1alpha1
func FuzzDecode(f *testing.F) {
	f.Add([]byte(policyHead + "spec:\n  packages: [{name: openssl, version: 3.0.15-1~deb12u1}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		docs, err := v1.SplitDocuments(data)
		if err != nil {
			var de *v1.DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("SplitDocuments error %T is not a *DecodeError: %v", err, err)
			}
			return
		}
		for _, doc := range docs {
			obj, err := v1.Decode(doc)
			if err != nil {
				var de *v1.DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("Decode error %T is not a *DecodeError: %v", err, err)
				}
				_ = err.Error()
				if obj != nil {
					t.Fatalf("Decode returned an object and an error")
				}
				continue
			}
			// What the decoder accepted, the encoder writes and the decoder reads back.
			j, err := json.Marshal(obj)
			if err != nil {
				t.Fatalf("encoding a decoded object: %v", err)
			}
			back, err := v1.Decode(j)
			if err != nil {
				t.Fatalf("decoding the encoding of a decoded object: %v\n%s", err, j)
			}
			if !equality.Semantic.DeepEqual(back, obj) {
				t.Fatalf("round trip changed the object:\n%s", j)
			}
			switch o := obj.(type) {
			case *v1.PatchPolicy:
				checkPolicy(t, o)
			case *v1.Host:
				_ = o.Validate()
			case *v1.Operation:
				_ = o.Validate()
			default:
				t.Fatalf("Decode returned a %T", obj)
			}
		}
	})
}

func checkPolicy(t *testing.T, p *v1.PatchPolicy) {
	t.Helper()
	p.SetDefaults()
	once := p.DeepCopy()
	p.SetDefaults()
	if !equality.Semantic.DeepEqual(p, once) {
		t.Fatalf("SetDefaults is not idempotent")
	}
	errs := p.Validate()
	for _, e := range errs {
		if e.Field == "" {
			t.Fatalf("validation error without a field: %v", e)
		}
		if strings.Contains(e.Error(), "\n") {
			t.Fatalf("validation message spans lines: %q", e.Error())
		}
	}
	if len(errs) > 0 {
		return
	}
	for _, pkg := range p.Spec.Packages {
		checkArg(t, "package name", pkg.Name, forbiddenInName, v1.MaxPackageNameLength)
		if pkg.Version != "" {
			checkArg(t, "version", pkg.Version, forbiddenInVersion, v1.MaxVersionLength)
		}
	}
	if p.Spec.Updates != nil {
		for _, g := range p.Spec.Updates.Exclude {
			checkArg(t, "exclude glob", g, forbiddenInGlob, v1.MaxPackageNameLength)
		}
	}
}
