package dnsauth_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
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
