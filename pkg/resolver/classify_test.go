package resolver_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// Every lookup path (TXT, A, AAAA, IP, MX, TLSA, PTR, Query) classifies a
// broken or spoofed answer the same way: a temporary DNS error, never
// "no record" (which SPF, DMARC and DKIM read as a definitive answer).
func TestLookups_hostileAnswersAreDNSErrors(t *testing.T) {
	z := dnstest.NewZone()
	markers := map[string]dnstest.Marker{
		"loop.h.test.":  dnstest.CNAMELoop,
		"wrong.h.test.": dnstest.WrongQuestion,
		"echo.h.test.":  dnstest.Echo,
	}
	for name, m := range markers {
		z.MustAdd(name + " 300 IN A 192.0.2.1")
		z.Mark(name, 0, m)
	}
	// The reverse name of 192.0.2.7 loops, as another PTR path.
	rev, _ := dns.ReverseAddr("192.0.2.7")
	z.Mark(rev, 0, dnstest.CNAMELoop)
	srv := dnstest.Start(t, z)
	want := map[dnstest.Marker]resolver.Kind{
		dnstest.CNAMELoop:     resolver.KindCNAMELoop,
		dnstest.WrongQuestion: resolver.KindTimeout,
		dnstest.Echo:          resolver.KindTimeout,
	}
	lookups := map[string]func(r *resolver.Resolver, name string) error{
		"TXT": func(r *resolver.Resolver, n string) error { _, err := r.LookupTXT(context.Background(), n); return err },
		"A":   func(r *resolver.Resolver, n string) error { _, err := r.LookupA(context.Background(), n); return err },
		"AAAA": func(r *resolver.Resolver, n string) error {
			_, err := r.LookupAAAA(context.Background(), n)
			return err
		},
		"IP": func(r *resolver.Resolver, n string) error { _, err := r.LookupIP(context.Background(), n); return err },
		"MX": func(r *resolver.Resolver, n string) error {
			_, _, err := r.LookupMX(context.Background(), n)
			return err
		},
		"TLSA": func(r *resolver.Resolver, n string) error {
			_, _, err := r.LookupTLSA(context.Background(), "_25._tcp."+n)
			return err
		},
		"SOA": func(r *resolver.Resolver, n string) error {
			_, err := r.Query(context.Background(), n, dns.TypeSOA)
			return err
		},
	}
	for name, m := range markers {
		for what, lookup := range lookups {
			if what == "TLSA" {
				// The marker is on the MX name; TLSA asks below it.
				z.Mark("_25._tcp."+name, 0, m)
			}
			// A fresh resolver per lookup: nothing comes from the cache.
			r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 150 * time.Millisecond, Retries: 0})
			if err != nil {
				t.Fatal(err)
			}
			err = lookup(r, strings.TrimSuffix(name, "."))
			if err == nil || resolver.IsNotFound(err) || !resolver.IsTemporary(err) || resolver.KindOf(err) != want[m] {
				t.Errorf("%s %s (%s): %v (kind %q), want a temporary %q error", what, name, m, err, resolver.KindOf(err), want[m])
			}
		}
	}
	r, _ := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 150 * time.Millisecond, Retries: 0})
	if _, err := r.LookupPTR(context.Background(), netip.MustParseAddr("192.0.2.7")); resolver.KindOf(err) != resolver.KindCNAMELoop {
		t.Errorf("PTR on a CNAME loop: %v", err)
	}
}

// A run's question budget bounds what goes to the network: cached
// answers are free, a question over the budget fails at once as a
// temporary KindBudget error (never "no record"), and is not cached.
func TestQuery_budget(t *testing.T) {
	z := dnstest.NewZone()
	for _, n := range []string{"a", "b", "c", "d", "e"} {
		z.MustAdd(n + ".budget.test. 300 IN A 192.0.2.1")
	}
	srv := dnstest.Start(t, z)
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b := resolver.NewBudget(3)
	var cnt resolver.Counter
	ctx := resolver.WithCounter(resolver.WithBudget(context.Background(), b), &cnt)
	for _, n := range []string{"a", "a", "b", "c", "a", "d", "e"} {
		_, err := r.LookupA(ctx, n+".budget.test")
		over := n == "d" || n == "e"
		if over != (resolver.KindOf(err) == resolver.KindBudget) || (over && (resolver.IsNotFound(err) || !resolver.IsTemporary(err))) {
			t.Errorf("%s: %v", n, err)
		}
	}
	if srv.Queries() != 3 || b.Used() != 3 || b.Refused() != 2 || cnt.OverBudget.Load() != 2 {
		t.Errorf("server saw %d, budget used %d refused %d, counter %d", srv.Queries(), b.Used(), b.Refused(), cnt.OverBudget.Load())
	}
	// The refusal was not cached: without the budget the name resolves.
	if _, err := r.LookupA(context.Background(), "d.budget.test"); err != nil {
		t.Errorf("d after the budget: %v", err)
	}
}
