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
	if err := All(); err != nil {
		t.Fatalf("All before a bad pattern: %v", err)
	}
	New(`a(b`)
	err := All()
	if err == nil || !strings.Contains(err.Error(), "missing closing )") {
		t.Fatalf("All = %v, want the compile error of a(b", err)
	}
}
