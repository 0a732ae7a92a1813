package lazyre

import (
	"strings"
	"testing"
)

func TestLazyCompilesOnFirstUse(t *testing.T) {
	r := New(`^a(b+)c$`)
	if r.re != nil {
		t.Fatal("compiled before first use")
	}
	if m := r.FindStringSubmatch("abbbc"); len(m) != 2 || m[1] != "bbb" {
		t.Fatalf("FindStringSubmatch = %q", m)
	}
	if r.re == nil {
		t.Fatal("not kept after first use")
	}
	if r.MatchString("ac") {
		t.Fatal("ac matched ^a(b+)c$")
	}
}

func TestAllReportsBadPattern(t *testing.T) {
	New(`^ok$`) // registered: All compiles it with the rest
	if err := All(); err != nil {
		t.Fatalf("All: %v", err)
	}
	// A bad pattern is not registered here: the registry is the process's,
	// and -count=N reruns this test in the same process.
	err := compileAll([]*Regexp{{expr: `x`}, {expr: `a(b`}})
	if err == nil || !strings.Contains(err.Error(), "missing closing )") {
		t.Fatalf("compileAll = %v, want the compile error of a(b", err)
	}
}
