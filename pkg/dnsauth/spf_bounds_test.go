package dnsauth_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

func boundsResolver(t *testing.T, z *dnstest.Zone) (*resolver.Resolver, *dnstest.Server) {
	t.Helper()
	srv := dnstest.Start(t, z)
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 50 * time.Millisecond, Retries: 0, QueryTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return r, srv
}

func hasCode(a *dnsauth.SPFAnalysis, code string) bool {
	for _, f := range a.Findings() {
		if f.Code == code {
			return true
		}
	}
	return false
}

// 60 a: terms whose names never answer: the walk stops at the first
// temperror (a receiver's evaluation ends there too) instead of waiting
// on all 60 (481 s before, at the default timeouts).
func TestAnalyzeSPF_stopsAtFirstTemperror(t *testing.T) {
	z := dnstest.NewZone()
	var terms []string
	for i := 0; i < 60; i++ {
		name := fmt.Sprintf("h%d.slow.test.", i)
		z.MustAdd(name + " 300 IN A 192.0.2.1")
		z.Mark(name, dns.TypeA, dnstest.Timeout)
		terms = append(terms, "a:"+strings.TrimSuffix(name, "."))
	}
	// A TXT string is at most 255 octets: split the record.
	rec := "v=spf1 " + strings.Join(terms, " ") + " -all"
	var parts []string
	for len(rec) > 200 {
		parts, rec = append(parts, `"`+rec[:200]+`"`), rec[200:]
	}
	parts = append(parts, `"`+rec+`"`)
	z.MustAdd("slow.test. 300 IN TXT " + strings.Join(parts, " "))
	r, srv := boundsResolver(t, z)
	a := dnsauth.AnalyzeSPF(context.Background(), r, "slow.test")
	if a.DNSError == "" || !hasCode(a, "spf.dns.error") {
		t.Errorf("no DNS error reported: %+v", a.Findings())
	}
	if a.Queries > 2 {
		t.Errorf("the walk asked %d questions after the first timeout, want it to stop (≤ 2)", a.Queries)
	}
	if n := srv.Count("h5.slow.test.", dns.TypeA); n != 0 {
		t.Errorf("the sixth term was asked %d times", n)
	}
}

// A fan-out tree (10 includes of 10 includes of 10 a: terms, 1,110
// lookups if walked whole) is walked up to the query budget, and says so.
func TestAnalyzeSPF_queryBudget(t *testing.T) {
	z := dnstest.NewZone()
	var top []string
	for i := 0; i < 10; i++ {
		var mid []string
		for j := 0; j < 10; j++ {
			var leaf []string
			for k := 0; k < 10; k++ {
				h := fmt.Sprintf("h%d.l%d.m%d.fan.test", k, j, i)
				z.MustAdd(h + ". 300 IN A 192.0.2.1")
				leaf = append(leaf, "a:"+h)
			}
			z.MustAdd(fmt.Sprintf(`l%d.m%d.fan.test. 300 IN TXT "v=spf1 %s -all"`, j, i, strings.Join(leaf, " ")))
			mid = append(mid, fmt.Sprintf("include:l%d.m%d.fan.test", j, i))
		}
		z.MustAdd(fmt.Sprintf(`m%d.fan.test. 300 IN TXT "v=spf1 %s -all"`, i, strings.Join(mid, " ")))
		top = append(top, fmt.Sprintf("include:m%d.fan.test", i))
	}
	z.MustAdd(`fan.test. 300 IN TXT "v=spf1 ` + strings.Join(top, " ") + ` -all"`)
	r, srv := boundsResolver(t, z)
	a := dnsauth.AnalyzeSPF(context.Background(), r, "fan.test")
	if a.Queries > dnsauth.SPFWalkMaxQueries {
		t.Errorf("the walk asked %d questions, budget %d", a.Queries, dnsauth.SPFWalkMaxQueries)
	}
	if q := srv.Queries(); q > dnsauth.SPFWalkMaxQueries+1 {
		t.Errorf("the DNS server saw %d queries", q)
	}
	if !hasCode(a, "spf.walk.budget") || a.Incomplete == "" {
		t.Errorf("no budget finding: %v", a.Findings())
	}
	if !hasCode(a, "spf.lookups.over-limit") {
		t.Errorf("the RFC limit is still reported: %v", a.Findings())
	}
}

// A 60 KB TXT record at a DKIM key name is one finding with a clipped
// record, not 60 KB of evidence.
func TestCheckDKIM_oversizeRecord(t *testing.T) {
	big := strings.Repeat("A", 60000)
	var parts []string
	for len(big) > 0 {
		n := min(255, len(big))
		parts, big = append(parts, `"`+big[:n]+`"`), big[n:]
	}
	z := dnstest.NewZone().MustAdd(`s1._domainkey.big.test. 300 IN TXT "v=DKIM1; k=rsa; p=" ` + strings.Join(parts, " "))
	r, _ := boundsResolver(t, z)
	r2, err := resolver.New(resolver.Options{Server: r.Servers()[0], Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := dnsauth.DKIMCheckReport(context.Background(), dnsauth.DKIMCheckOptions{Resolver: r2, Domain: "big.test", Selectors: []string{"s1"}})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	found := false
	for _, f := range rep.Findings {
		found = found || f.Code == "dkim.key.oversize"
		for _, e := range f.Evidence {
			total += len(e.Text)
		}
	}
	if !found || total > 2*1100 {
		t.Errorf("oversize finding %v, %d bytes of evidence", found, total)
	}
}

// The arc stage added to dkim verify's report lies within the report's
// duration (it was timed before the stage ran).
func TestDKIMVerifyReport_durationCoversARCStage(t *testing.T) {
	z := dnstest.NewZone()
	r, _ := boundsResolver(t, z)
	msg := "ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.org; s=dummy; b=AAAA\r\nFrom: a@example.org\r\n\r\nbody\r\n"
	rep, err := dnsauth.DKIMVerifyReport(context.Background(), dnsauth.DKIMVerifyOptions{Resolver: r, Name: "m.eml", Message: []byte(msg)})
	if err != nil {
		t.Fatal(err)
	}
	st, ok := rep.Stage("arc")
	if !ok {
		t.Fatal("no arc stage")
	}
	if end := st.Start + st.Duration; rep.Duration < end {
		t.Errorf("report took %v, but its arc stage ends at %v", rep.Duration, end)
	}
}

// slowResolver waits long for each answer (5 s an attempt), so that the
// budgets under test, not the resolver's timeouts, end a walk.
func slowResolver(t *testing.T, z *dnstest.Zone) (*resolver.Resolver, *dnstest.Server) {
	t.Helper()
	srv := dnstest.Start(t, z)
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 5 * time.Second, Retries: 0, QueryTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r, srv
}

func finding(a *dnsauth.SPFAnalysis, code string) (string, bool) {
	for _, f := range a.Findings() {
		if f.Code == code {
			return f.Detail, true
		}
	}
	return "", false
}

// The walk's time budget (injected short) ends it with spf.walk.budget
// naming what was not walked, the analysis incomplete (a receiver would
// give temperror), and no DNS error blamed on the name that was cut short.
func TestAnalyzeSPF_timeBudget(t *testing.T) {
	z := dnstest.NewZone().MustAdd(
		`tb.test. 300 IN TXT "v=spf1 a:stuck.tb.test include:next.tb.test mx:other.tb.test -all"`,
		`stuck.tb.test. 300 IN A 192.0.2.1`,
	)
	z.Mark("stuck.tb.test.", 0, dnstest.Timeout)
	r, srv := slowResolver(t, z)
	a := dnsauth.AnalyzeSPFBudget(context.Background(), r, "tb.test", dnsauth.SPFWalkBudget{Time: 150 * time.Millisecond})
	d, ok := finding(a, "spf.walk.budget")
	if !ok || !strings.Contains(d, "time budget (150ms) ran out") || !strings.Contains(d, "include:next.tb.test (in tb.test)") {
		t.Fatalf("budget finding %v: %q; all %v", ok, d, a.Findings())
	}
	if _, ok := finding(a, "spf.dns.error"); ok {
		t.Errorf("the cut-short question became a DNS error: %v", a.Findings())
	}
	if a.DNSError == "" || a.Incomplete == "" {
		t.Errorf("not incomplete: %+v", a)
	}
	if n := srv.Count("next.tb.test.", dns.TypeTXT); n != 0 {
		t.Errorf("the walk went on after its budget: next.tb.test asked %d times", n)
	}
	rep, err := dnsauth.SPFReport(context.Background(), dnsauth.SPFOptions{Resolver: r, Domain: "tb.test", WalkBudget: dnsauth.SPFWalkBudget{Time: 150 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.ExitCode(report.Fail); got != report.ExitIncomplete {
		t.Errorf("spf exit %d, want %d", got, report.ExitIncomplete)
	}
	// The run's own deadline (--timeout), sooner than the budget, is
	// named as such. (A new resolver: within one run, a question cut
	// short stays failed, as any failure does.)
	r, _ = slowResolver(t, z)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	a = dnsauth.AnalyzeSPF(ctx, r, "tb.test")
	if d, _ := finding(a, "spf.walk.budget"); !strings.Contains(d, "run's deadline") {
		t.Errorf("run deadline: %q", d)
	}
}

// check_host() has an elapsed-time limit (RFC 7208 §4.6.4: temperror
// when exceeded), injected short here.
func TestCheckHost_timeLimit(t *testing.T) {
	z := dnstest.NewZone().MustAdd(
		`tl.test. 300 IN TXT "v=spf1 a:stuck.tl.test -all"`,
		`stuck.tl.test. 300 IN A 192.0.2.1`,
	)
	z.Mark("stuck.tl.test.", 0, dnstest.Timeout)
	r, _ := slowResolver(t, z)
	ev := dnsauth.CheckHost(context.Background(), r, dnsauth.SPFQuery{IP: netip.MustParseAddr("192.0.2.9"), Sender: "a@tl.test", Timeout: 150 * time.Millisecond})
	if ev.Result != dnsauth.SPFTempError || !strings.Contains(ev.Problem, "longer than its limit (150ms") {
		t.Errorf("result %s, problem %q", ev.Result, ev.Problem)
	}
}

// check_host() stops exactly at the RFC 7208 §4.6.4 limits, asking no
// question past them: 60 a: terms give permerror at the 11th without
// asking it; three void lookups give permerror at the third; an mx with
// 11 hosts is a permerror before any address is asked.
func TestCheckHost_stopsAtRFCLimits(t *testing.T) {
	z := dnstest.NewZone()
	var terms []string
	for i := 0; i < 60; i++ {
		h := fmt.Sprintf("h%d.many.test", i)
		z.MustAdd(h + ". 300 IN A 192.0.2.1")
		terms = append(terms, "a:"+h)
	}
	z.Add(txtRR("many.test.", "v=spf1 "+strings.Join(terms, " ")+" -all"))
	z.MustAdd(`void.test. 300 IN TXT "v=spf1 a:n1.void.test a:n2.void.test a:n3.void.test a:n4.void.test -all"`)
	for i := 0; i < 11; i++ {
		z.MustAdd(fmt.Sprintf("mx.test. 300 IN MX %d m%d.mx.test.", i, i), fmt.Sprintf("m%d.mx.test. 300 IN A 192.0.2.%d", i, i+10))
	}
	z.MustAdd(`mx.test. 300 IN TXT "v=spf1 mx -all"`)
	r, srv := boundsResolver(t, z)
	ip := netip.MustParseAddr("198.51.100.1")
	cases := []struct {
		domain  string
		problem string
		queries int64
	}{
		{"many.test", "more than 10 DNS lookups", 1 + 10},
		{"void.test", "more than 2 void DNS lookups", 1 + 3},
		{"mx.test", "has 11 MX records", 1 + 1},
	}
	for _, c := range cases {
		var cnt resolver.Counter
		ctx := resolver.WithCounter(context.Background(), &cnt)
		ev := dnsauth.CheckHost(ctx, r, dnsauth.SPFQuery{IP: ip, Sender: "a@" + c.domain})
		if ev.Result != dnsauth.SPFPermError || !strings.Contains(ev.Problem, c.problem) {
			t.Errorf("%s: %s %q", c.domain, ev.Result, ev.Problem)
		}
		if q := cnt.Queries.Load(); q != c.queries {
			t.Errorf("%s: %d questions asked, want %d", c.domain, q, c.queries)
		}
	}
	if n := srv.Count("h10.many.test.", dns.TypeA); n != 0 {
		t.Errorf("the 11th term was asked")
	}
}

// The walk's question budget bounds the questions sent, also for mx:
// terms whose hosts cost two questions each (A and AAAA): 30 mx: terms
// of 10 hosts each would be 630 questions.
func TestAnalyzeSPF_queryBudgetCountsQuestions(t *testing.T) {
	z := dnstest.NewZone()
	var terms []string
	for i := 0; i < 30; i++ {
		d := fmt.Sprintf("d%d.mxfan.test", i)
		for k := 0; k < 10; k++ {
			z.MustAdd(fmt.Sprintf("%s. 300 IN MX 10 h%d.%s.", d, k, d), fmt.Sprintf("h%d.%s. 300 IN A 192.0.2.1", k, d))
		}
		terms = append(terms, "mx:"+d)
	}
	z.Add(txtRR("mxfan.test.", "v=spf1 "+strings.Join(terms, " ")+" -all"))
	r, _ := boundsResolver(t, z)
	var cnt resolver.Counter
	a := dnsauth.AnalyzeSPF(resolver.WithCounter(context.Background(), &cnt), r, "mxfan.test")
	if q := cnt.Queries.Load(); q > dnsauth.SPFWalkMaxQueries {
		t.Errorf("the walk sent %d questions, budget %d", q, dnsauth.SPFWalkMaxQueries)
	}
	if !hasCode(a, "spf.walk.budget") {
		t.Errorf("no budget finding: %v", a.Findings())
	}
	// The terms the budget did not reach still count: 30 > 10 is found.
	if a.Lookups != 30 || !hasCode(a, "spf.lookups.over-limit") {
		t.Errorf("%d lookups counted; findings %v", a.Lookups, a.Findings())
	}
}
