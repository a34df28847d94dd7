package rpm_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/patchlet/patchlet/backends/rpm"
)

// BenchmarkParseQuery2000 parses an rpm -qa of a 2,000-package database.
func BenchmarkParseQuery2000(b *testing.B) {
	var sb strings.Builder
	for i := range 2000 {
		fmt.Fprintf(&sb, "package-%04d\t0\t%d.%d.%d\t%d.fc40\tx86_64\t1700000000\n", i, i%7, i%13, i%100, i%9+1)
	}
	out := []byte(sb.String())
	b.ResetTimer()
	for b.Loop() {
		if m := rpm.Packages(rpm.ParseQuery(out)); len(m) != 2000 {
			b.Fatal(len(m))
		}
	}
}
