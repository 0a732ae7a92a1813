package resolver_test

import (
	"context"
	"testing"

	"github.com/mailprobe/mailprobe/pkg/resolver"
)

func TestStatic_answersLikeTheNetwork(t *testing.T) {
	s, err := resolver.NewStatic(
		`demo.test. 300 IN TXT "v=spf1 -all"`,
		`alias.demo.test. 300 IN CNAME demo.test.`,
		`a.b.demo.test. 300 IN A 192.0.2.1`,
	)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	txt, err := s.LookupTXT(ctx, "Demo.Test")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 -all" {
		t.Fatalf("TXT = %q, %v", txt, err)
	}
	if txt, err := s.LookupTXT(ctx, "alias.demo.test"); err != nil || len(txt) != 1 {
		t.Fatalf("TXT via CNAME = %q, %v", txt, err)
	}
	if _, err := s.LookupTXT(ctx, "missing.demo.test"); resolver.KindOf(err) != resolver.KindNXDomain {
		t.Errorf("missing name: %v, want NXDOMAIN", err)
	}
	// b.demo.test has no records but a child: it exists, so NODATA.
	if _, err := s.LookupTXT(ctx, "b.demo.test"); resolver.KindOf(err) != resolver.KindNoData {
		t.Errorf("empty non-terminal: %v, want NODATA", err)
	}
	if _, err := s.LookupA(ctx, "demo.test"); resolver.KindOf(err) != resolver.KindNoData {
		t.Errorf("no A at demo.test: %v, want NODATA", err)
	}
	if _, err := resolver.NewStatic("not a record"); err == nil {
		t.Error("NewStatic accepted a malformed record")
	}
}
