package dnsauth_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// BenchmarkCheckHost evaluates good.test's policy (mx + include) for an
// address that matches in the include: with a warm cache it measures the
// evaluator, cold it adds the loopback DNS round trips.
func BenchmarkCheckHost(b *testing.B) {
	srv := dnstest.StartFiles(b, "../../testdata/dns/dnsauth.zone")
	q := dnsauth.SPFQuery{IP: netip.MustParseAddr("198.51.100.7"), Sender: "a@good.test", Helo: "mail.example", Now: time.Unix(0, 0)}
	b.Run("cached", func(b *testing.B) {
		r, _ := resolver.New(resolver.Options{Server: srv.Addr})
		dnsauth.CheckHost(context.Background(), r, q)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if ev := dnsauth.CheckHost(context.Background(), r, q); ev.Result != dnsauth.SPFPass {
				b.Fatal(ev.Result)
			}
		}
	})
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r, _ := resolver.New(resolver.Options{Server: srv.Addr})
			if ev := dnsauth.CheckHost(context.Background(), r, q); ev.Result != dnsauth.SPFPass {
				b.Fatal(ev.Result)
			}
		}
	})
}

// BenchmarkParseSPF parses a long real-world-shaped record.
func BenchmarkParseSPF(b *testing.B) {
	rec := "v=spf1 ip4:192.0.2.0/24 ip4:198.51.100.0/24 ip6:2001:db8::/32 a mx include:_spf.google.com include:spf.protection.outlook.com exists:%{i}._spf.%{d} ~all"
	for i := 0; i < b.N; i++ {
		if _, err := dnsauth.ParseSPF(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// syntheticZone makes n domains shaped like a typical small organization:
// two MX hosts, an SPF record including a shared provider, DMARC, one DKIM
// key at a common selector, TLS-RPT.
func syntheticZone(n int) *dnstest.Zone {
	z := dnstest.NewZone()
	z.MustAdd(`_spf.provider.bench. 300 IN TXT "v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:100::/48 -all"`)
	for i := 0; i < n; i++ {
		d := fmt.Sprintf("d%04d.bench.", i)
		ip := fmt.Sprintf("10.%d.%d.", i/250, i%250)
		z.MustAdd(
			d+" 300 IN MX 10 mx1."+d,
			d+" 300 IN MX 20 mx2."+d,
			"mx1."+d+" 300 IN A "+ip+"1",
			"mx2."+d+" 300 IN A "+ip+"2",
			d+` 300 IN TXT "v=spf1 mx include:_spf.provider.bench -all"`,
			"_dmarc."+d+` 300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@`+d[:len(d)-1]+`"`,
			"selector1._domainkey."+d+` 300 IN TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="`,
			"_smtp._tls."+d+` 300 IN TXT "v=TLSRPTv1; rua=mailto:tls@`+d[:len(d)-1]+`"`,
		)
	}
	return z
}

// BenchmarkAudit_1000Domains runs the whole `mailprobe dns` posture over
// 1,000 synthetic domains served by the loopback server, 16 at a time,
// and reports domains per second and DNS queries per domain: "single" as
// separate `dns` runs do it (a resolver each, the DKIM selector sweep),
// "batch" as `mailprobe batch -- dns` does (one shared cache, no sweep).
func BenchmarkAudit_1000Domains(b *testing.B) {
	const n = 1000
	srv := dnstest.Start(b, syntheticZone(n))
	for _, mode := range []string{"single", "batch"} {
		b.Run(mode, func(b *testing.B) {
			var queries, retries atomic.Int64
			start := time.Now()
			for it := 0; it < b.N; it++ {
				before := srv.Queries()
				shared := resolver.NewShared(resolver.SharedOptions{})
				sem := make(chan struct{}, 16)
				var wg sync.WaitGroup
				for i := 0; i < n; i++ {
					wg.Add(1)
					sem <- struct{}{}
					go func(i int) {
						defer wg.Done()
						defer func() { <-sem }()
						o := resolver.Options{Server: srv.Addr}
						if mode == "batch" {
							o.Shared = shared
						}
						r, _ := resolver.New(o)
						rep, _ := dnsauth.Audit(context.Background(), dnsauth.AuditOptions{Resolver: r, Domain: fmt.Sprintf("d%04d.bench", i), NoDKIMSweep: mode == "batch"})
						st := r.Stats()
						retries.Add(st.Exchanges - st.Queries)
						if rep.Incomplete {
							b.Errorf("d%04d: incomplete", i)
						}
					}(i)
				}
				wg.Wait()
				queries.Add(srv.Queries() - before)
			}
			el := time.Since(start)
			b.ReportMetric(float64(n*b.N)/el.Seconds(), "domains/s")
			b.ReportMetric(float64(queries.Load())/float64(n*b.N), "queries/domain")
			b.ReportMetric(float64(retries.Load())/float64(n*b.N), "retries/domain")
		})
	}
}
