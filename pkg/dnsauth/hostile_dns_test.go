package dnsauth_test

import (
	"context"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// A CNAME loop, an answer for another question and a reflected query are
// DNS failures: every command that meets one at the name it checks is
// incomplete (exit 3), never "no record" (exit 1).
func TestCommands_hostileAnswersAreIncomplete(t *testing.T) {
	for _, m := range []dnstest.Marker{dnstest.CNAMELoop, dnstest.WrongQuestion, dnstest.Echo} {
		t.Run(string(m), func(t *testing.T) {
			z := dnstest.NewZone().MustAdd(
				`h.test. 300 IN TXT "v=spf1 -all"`,
				`s1._domainkey.h.test. 300 IN TXT "v=DKIM1; p="`,
				`h.test. 300 IN MX 10 mx.h.test.`,
				`mx.h.test. 300 IN A 192.0.2.25`,
			)
			for _, n := range []string{"h.test.", "s1._domainkey.h.test."} {
				z.Mark(n, 0, m)
			}
			srv := dnstest.Start(t, z)
			newR := func() resolver.Interface {
				r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 150 * time.Millisecond, Retries: 0})
				if err != nil {
					t.Fatal(err)
				}
				return r
			}
			ctx := context.Background()
			check := func(what string, rep *report.Report, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if got := rep.ExitCode(report.Fail); got != report.ExitIncomplete {
					var codes []string
					for _, f := range rep.Findings {
						codes = append(codes, f.Code)
					}
					t.Errorf("%s: exit %d, want %d (findings %v)", what, got, report.ExitIncomplete, codes)
				}
				for _, f := range rep.Findings {
					switch f.Code {
					case "spf.record.missing", "dkim.key.missing", "mx.record.missing", "mx.domain.nxdomain":
						t.Errorf("%s: %s (%s) from a DNS failure", what, f.Code, f.Detail)
					}
				}
			}
			rep, err := dnsauth.SPFReport(ctx, dnsauth.SPFOptions{Resolver: newR(), Domain: "h.test"})
			check("spf", rep, err)
			rep, err = dnsauth.DKIMCheckReport(ctx, dnsauth.DKIMCheckOptions{Resolver: newR(), Domain: "h.test", Selectors: []string{"s1"}})
			check("dkim check", rep, err)
			rep, err = dnsauth.Audit(ctx, dnsauth.AuditOptions{Resolver: newR(), Domain: "h.test", Selectors: []string{"s1"}})
			check("dns", rep, err)
		})
	}
}
