package dnsauth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// wideZone is a hostile posture: 200 MX hosts of 50 addresses each
// (10,646 questions, 10,014 findings and 7.4 MB of JSON in one run
// before the run's bounds).
func wideZone() *dnstest.Zone {
	z := dnstest.NewZone()
	for i := 0; i < 200; i++ {
		h := fmt.Sprintf("mx%d.wide.test.", i)
		z.MustAdd(fmt.Sprintf("wide.test. 300 IN MX %d %s", i%50, h))
		for j := 0; j < 50; j++ {
			z.MustAdd(fmt.Sprintf("%s 300 IN A 198.51.%d.%d", h, i%256, j+1))
		}
	}
	z.MustAdd(`wide.test. 300 IN TXT "v=spf1 mx -all"`, `_dmarc.wide.test. 300 IN TXT "v=DMARC1; p=reject"`)
	return z
}

func findCode(rep *report.Report, code string) (report.Finding, bool) {
	for _, f := range rep.Findings {
		if f.Code == code {
			return f, true
		}
	}
	return report.Finding{}, false
}

// The areas' own bounds keep a hostile domain small: 16 MX hosts, 8
// addresses each, 32 addresses for ptr, 20 findings of a kind.
func TestAudit_wideDomainIsBounded(t *testing.T) {
	srv := dnstest.Start(t, wideZone())
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := dnsauth.Audit(context.Background(), dnsauth.AuditOptions{Resolver: r, Domain: "wide.test", Selectors: []string{"s1"}})
	if err != nil {
		t.Fatal(err)
	}
	if q := r.Stats().Queries; q > 200 {
		t.Errorf("the run asked %d questions", q)
	}
	if _, ok := findCode(rep, "mx.hosts.many"); !ok {
		t.Errorf("no mx.hosts.many finding")
	}
	if len(rep.Findings) > 100 {
		t.Errorf("%d findings", len(rep.Findings))
	}
	if n := reportSize(t, rep); n > 200<<10 {
		t.Errorf("the report is %d bytes", n)
	}
	if _, ok := findCode(rep, "dns.run.budget"); ok {
		t.Errorf("the run's budget was spent on a bounded domain")
	}
}

// The run's question budget (injected small) bounds what the DNS server
// sees; the areas it cut short are incomplete and named.
func TestAudit_questionBudget(t *testing.T) {
	srv := dnstest.Start(t, wideZone())
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := dnsauth.Audit(context.Background(), dnsauth.AuditOptions{Resolver: r, Domain: "wide.test", MaxQueries: 20})
	if err != nil {
		t.Fatal(err)
	}
	// A truncated answer (the 200 MX records) is asked again over TCP:
	// one question, two packets.
	st := r.Stats()
	if q := srv.Queries(); st.Queries > 20 || q > 20+st.Truncated {
		t.Errorf("%d questions sent (the DNS server saw %d packets, %d truncated), budget 20", st.Queries, q, st.Truncated)
	}
	f, ok := findCode(rep, "dns.run.budget")
	if !ok || !strings.Contains(f.Detail, "budget of 20 DNS questions") || !strings.Contains(f.Detail, "Not finished: ") {
		t.Fatalf("budget finding %v: %q", ok, f.Detail)
	}
	if got := rep.ExitCode(report.Fail); got != report.ExitIncomplete {
		t.Errorf("exit %d, want %d", got, report.ExitIncomplete)
	}
	for _, f := range rep.Findings {
		if f.Code == "ptr.unconfirmed" || f.Code == "ptr.missing" || f.Code == "dkim.key.missing" {
			t.Errorf("%s from a question never asked: %s", f.Code, f.Detail)
		}
	}
}

// The run's time budget (injected short) ends a run whose names never
// answer, with a finding that says so, instead of each area's wait.
func TestAudit_timeBudget(t *testing.T) {
	z := dnstest.NewZone().MustAdd(
		`slow.test. 300 IN MX 10 mx.slow.test.`,
		`mx.slow.test. 300 IN A 192.0.2.25`,
		`slow.test. 300 IN TXT "v=spf1 a:stuck.slow.test -all"`,
		`stuck.slow.test. 300 IN A 192.0.2.1`,
	)
	z.Mark("stuck.slow.test.", 0, dnstest.Timeout)
	z.Mark("_dmarc.slow.test.", 0, dnstest.Timeout)
	srv := dnstest.Start(t, z)
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 5 * time.Second, Retries: 0, QueryTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := dnsauth.Audit(context.Background(), dnsauth.AuditOptions{Resolver: r, Domain: "slow.test", Selectors: []string{"s1"}, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f, ok := findCode(rep, "dns.run.budget")
	if !ok || !strings.Contains(f.Detail, "time budget (300ms) ran out") || !strings.Contains(f.Detail, "spf") || !strings.Contains(f.Detail, "dmarc") {
		t.Fatalf("budget finding %v: %q (all %v)", ok, f.Detail, rep.Findings)
	}
	if got := rep.ExitCode(report.Fail); got != report.ExitIncomplete {
		t.Errorf("exit %d, want %d", got, report.ExitIncomplete)
	}
}
