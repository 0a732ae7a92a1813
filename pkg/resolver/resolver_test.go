package resolver_test

import (
	"context"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

func newTest(t *testing.T) (*resolver.Resolver, *dnstest.Server) {
	t.Helper()
	srv := dnstest.StartFiles(t, "../../testdata/dns/resolver.zone")
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 150 * time.Millisecond, Retries: 1})
	if err != nil {
		t.Fatal(err)
	}
	return r, srv
}

func TestLookup_addresses(t *testing.T) {
	r, _ := newTest(t)
	ctx := context.Background()
	a, err := r.LookupA(ctx, "www.resolver.test")
	if err != nil || len(a) != 1 || a[0] != netip.MustParseAddr("192.0.2.10") {
		t.Fatalf("A = %v, %v", a, err)
	}
	ips, err := r.LookupIP(ctx, "WWW.Resolver.Test.")
	if err != nil || len(ips) != 2 {
		t.Fatalf("LookupIP = %v, %v", ips, err)
	}
	// Only IPv4: LookupIP still succeeds.
	ips, err = r.LookupIP(ctx, "slowtxt.resolver.test")
	if err != nil || len(ips) != 1 {
		t.Fatalf("LookupIP v4 only = %v, %v", ips, err)
	}
}

func TestLookup_txtConcatenatedAndRaw(t *testing.T) {
	r, _ := newTest(t)
	txt, err := r.LookupTXT(context.Background(), "txt.resolver.test")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(txt)
	if want := []string{"second record", "v=spf1 -all"}; !slices.Equal(txt, want) {
		t.Fatalf("TXT = %q, want %q", txt, want)
	}
	txt, err = r.LookupTXT(context.Background(), "escaped.resolver.test")
	if err != nil || len(txt) != 1 || txt[0] != "quote\" back\\slash \xffbyte" {
		t.Fatalf("escaped TXT = %q, %v", txt, err)
	}
}

func TestEscapeTXT_roundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", `a"b\c`, "\x00\x01\xff ~", "v=spf1 \x80a -all"} {
		if got := resolver.UnescapeTXT(resolver.EscapeTXT(s)); got != s {
			t.Errorf("round trip of %q = %q", s, got)
		}
	}
}

func TestQuery_errorKinds(t *testing.T) {
	r, _ := newTest(t)
	ctx := context.Background()
	cases := []struct {
		name  string
		qtype uint16
		kind  resolver.Kind
		temp  bool
	}{
		{"nonexistent.resolver.test", dns.TypeA, resolver.KindNXDomain, false},
		{"www.resolver.test", dns.TypeTXT, resolver.KindNoData, false},
		{"sub.deep.resolver.test", dns.TypeA, resolver.KindNoData, false}, // empty non-terminal
		{"broken.resolver.test", dns.TypeTXT, resolver.KindServFail, true},
		{"closed.resolver.test", dns.TypeTXT, resolver.KindRefused, true},
		{"blackhole.resolver.test", dns.TypeTXT, resolver.KindTimeout, true},
		{"slowtxt.resolver.test", dns.TypeTXT, resolver.KindTimeout, true},
		{"loop1.resolver.test", dns.TypeA, resolver.KindServFail, true},
		{strings.Repeat("a", 64) + ".resolver.test", dns.TypeA, resolver.KindInvalidName, false},
		{"a..resolver.test", dns.TypeA, resolver.KindInvalidName, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Query(ctx, c.name, c.qtype)
			if got := resolver.KindOf(err); got != c.kind {
				t.Fatalf("kind = %q (%v), want %q", got, err, c.kind)
			}
			var ne net.Error
			if !asNetError(err, &ne) {
				t.Fatalf("%T is not a net.Error", err)
			}
			if ne.Temporary() != c.temp { //nolint:staticcheck // go-msgauth reads Temporary
				t.Errorf("Temporary() = %v, want %v", ne.Temporary(), c.temp)
			}
			if c.kind == resolver.KindTimeout && !ne.Timeout() {
				t.Error("Timeout() = false")
			}
			if resolver.IsNotFound(err) != (c.kind == resolver.KindNXDomain || c.kind == resolver.KindNoData) {
				t.Error("IsNotFound disagrees with the kind")
			}
		})
	}
}

func asNetError(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	*ne = e
	return ok
}

// A silent name costs a bounded number of attempts, and the caller's
// deadline ends the retries. Asserted on the attempts the server saw
// (what the resolver controls), never on elapsed time.
func TestQuery_timeoutIsBounded(t *testing.T) {
	srv := dnstest.StartFiles(t, "../../testdata/dns/resolver.zone")
	r, _ := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 100 * time.Millisecond, Retries: 2})
	_, err := r.Query(context.Background(), "blackhole.resolver.test", dns.TypeA)
	if resolver.KindOf(err) != resolver.KindTimeout {
		t.Fatalf("err = %v", err)
	}
	if got := srv.Count("blackhole.resolver.test", dns.TypeA); got != 3 {
		t.Fatalf("server saw %d attempts, want 3 (1 + 2 retries)", got)
	}
	// The caller's deadline wins over the retries: it ends the first
	// 10-second attempt, and no other is sent.
	r2, _ := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 10 * time.Second, Retries: 5, QueryTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err = r2.Query(ctx, "blackhole.resolver.test", dns.TypeTXT)
	if resolver.KindOf(err) != resolver.KindTimeout {
		t.Fatalf("err = %v", err)
	}
	if got := srv.Count("blackhole.resolver.test", dns.TypeTXT); got > 1 {
		t.Fatalf("server saw %d attempts, want 1: the caller's deadline ends the retries", got)
	}
}

func TestQuery_truncationFallsBackToTCP(t *testing.T) {
	r, srv := newTest(t)
	ans, err := r.Query(context.Background(), "big.resolver.test", dns.TypeTXT)
	if err != nil {
		t.Fatal(err)
	}
	if !ans.TCP || len(ans.Records) != 7 {
		t.Fatalf("TCP=%v records=%d, want TCP and 7 records", ans.TCP, len(ans.Records))
	}
	ans, err = r.Query(context.Background(), "tc.resolver.test", dns.TypeTXT)
	if err != nil || !ans.TCP || len(ans.Records) != 1 {
		t.Fatalf("forced truncation: %+v, %v", ans, err)
	}
	if st := r.Stats(); st.Truncated != 2 || st.Queries != 2 || st.Exchanges != 4 {
		t.Fatalf("stats = %+v", st)
	}
	if srv.Queries() != 4 {
		t.Fatalf("server saw %d packets, want 4 (2 UDP + 2 TCP)", srv.Queries())
	}
}

func TestQuery_cnameChain(t *testing.T) {
	r, _ := newTest(t)
	ans, err := r.Query(context.Background(), "alias2.resolver.test", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"alias.resolver.test.", "www.resolver.test."}; !slices.Equal(ans.CNAMEs, want) || len(ans.Records) != 1 {
		t.Fatalf("chain = %v, records = %v", ans.CNAMEs, ans.Records)
	}
	target, err := r.CNAMEOf(context.Background(), "alias.resolver.test")
	if err != nil || target != "www.resolver.test" {
		t.Fatalf("CNAMEOf = %q, %v", target, err)
	}
	target, err = r.CNAMEOf(context.Background(), "www.resolver.test")
	if err != nil || target != "" {
		t.Fatalf("CNAMEOf(non-alias) = %q, %v", target, err)
	}
}

func TestQuery_adBit(t *testing.T) {
	r, _ := newTest(t)
	ans, err := r.Query(context.Background(), "signed.resolver.test", dns.TypeA)
	if err != nil || !ans.AD {
		t.Fatalf("signed: AD=%v err=%v", ans != nil && ans.AD, err)
	}
	ans, err = r.Query(context.Background(), "www.resolver.test", dns.TypeA)
	if err != nil || ans.AD {
		t.Fatalf("unsigned: AD=%v err=%v", ans.AD, err)
	}
	// Authenticated denial keeps its AD bit too.
	ans, err = r.Query(context.Background(), "nothing.signed.resolver.test", dns.TypeA)
	if resolver.KindOf(err) != resolver.KindNXDomain || ans == nil || !ans.AD {
		t.Fatalf("secure NXDOMAIN: %+v %v", ans, err)
	}
	// Without DO/AD in the query the server does not claim validation.
	srv := dnstest.StartFiles(t, "../../testdata/dns/resolver.zone")
	plain, _ := resolver.New(resolver.Options{Server: srv.Addr, NoDNSSEC: true})
	ans, err = plain.Query(context.Background(), "signed.resolver.test", dns.TypeA)
	if err != nil || ans.AD {
		t.Fatalf("NoDNSSEC: AD=%v err=%v", ans.AD, err)
	}
}

func TestQuery_cacheAndSingleflight(t *testing.T) {
	r, srv := newTest(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = r.LookupTXT(ctx, "txt.resolver.test")
			_, _ = r.LookupTXT(ctx, "nonexistent.resolver.test")
			_, _ = r.LookupTXT(ctx, "broken.resolver.test")
		}()
	}
	wg.Wait()
	if rep := srv.Repeated(); len(rep) != 0 {
		t.Fatalf("questions asked twice: %v", rep)
	}
	st := r.Stats()
	if st.Lookups != 150 || st.Queries != 3 || st.CacheHits != 147 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestWithCounter_perCheck(t *testing.T) {
	r, _ := newTest(t)
	var outer, inner resolver.Counter
	ctx := resolver.WithCounter(context.Background(), &outer)
	_, _ = r.LookupA(ctx, "www.resolver.test")
	ictx := resolver.WithCounter(ctx, &inner)
	_, _ = r.LookupA(ictx, "www.resolver.test") // cache hit
	_, _, _ = r.LookupMX(ictx, "mx.resolver.test")
	if outer.Lookups.Load() != 3 || outer.Queries.Load() != 2 || inner.Lookups.Load() != 2 || inner.Queries.Load() != 1 {
		t.Fatalf("outer %d/%d inner %d/%d", outer.Lookups.Load(), outer.Queries.Load(), inner.Lookups.Load(), inner.Queries.Load())
	}
}

func TestLookupMX_sorted(t *testing.T) {
	r, _ := newTest(t)
	mx, _, err := r.LookupMX(context.Background(), "mx.resolver.test")
	if err != nil || len(mx) != 2 || mx[0].Host != "mx0.resolver.test" || mx[1].Pref != 10 {
		t.Fatalf("MX = %+v, %v", mx, err)
	}
}

func TestLookupPTR(t *testing.T) {
	z := dnstest.NewZone().MustAdd("10.2.0.192.in-addr.arpa. 300 IN PTR www.resolver.test.",
		"0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR www.resolver.test.")
	srv := dnstest.Start(t, z)
	r, _ := resolver.New(resolver.Options{Server: srv.Addr})
	for _, ip := range []string{"192.0.2.10", "::ffff:192.0.2.10", "2001:db8::10"} {
		addr, _ := resolver.ParseIP(ip)
		names, err := r.LookupPTR(context.Background(), addr)
		if err != nil || len(names) != 1 || names[0] != "www.resolver.test" {
			t.Errorf("PTR %s = %v, %v", ip, names, err)
		}
	}
}

func TestTXTFunc_goMsgauthSemantics(t *testing.T) {
	r, _ := newTest(t)
	f := r.TXTFunc(context.Background())
	if txt, err := f("txt.resolver.test"); err != nil || len(txt) != 2 {
		t.Fatalf("TXT = %v, %v", txt, err)
	}
	// go-msgauth: err.(net.Error).Temporary() => tempfail, otherwise permfail.
	_, err := f("broken.resolver.test")
	if ne, ok := err.(net.Error); !ok || !ne.Temporary() { //nolint:staticcheck
		t.Fatalf("SERVFAIL must be a temporary net.Error, got %#v", err)
	}
	_, err = f("nonexistent.resolver.test")
	if ne, ok := err.(net.Error); !ok || ne.Temporary() { //nolint:staticcheck
		t.Fatalf("NXDOMAIN must be a permanent net.Error, got %#v", err)
	}
}

func TestNew_serverForms(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1":      "127.0.0.1:53",
		"127.0.0.1:5353": "127.0.0.1:5353",
		"::1":            "[::1]:53",
		"[::1]:5353":     "[::1]:5353",
	} {
		r, err := resolver.New(resolver.Options{Server: in})
		if err != nil || r.Servers()[0] != want {
			t.Errorf("New(%q) servers = %v, %v; want %s", in, r, err, want)
		}
	}
	if _, err := resolver.New(resolver.Options{Server: "127.0.0.1:99999"}); err == nil {
		t.Error("bad port accepted")
	}
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	os.WriteFile(rc, []byte("# test\nnameserver 192.0.2.1\nnameserver 2001:db8::1\noptions edns0\n"), 0o644)
	r, err := resolver.New(resolver.Options{ResolvConf: rc})
	if err != nil || !slices.Equal(r.Servers(), []string{"192.0.2.1:53", "[2001:db8::1]:53"}) {
		t.Fatalf("resolv.conf servers = %v, %v", r, err)
	}
	os.WriteFile(rc, []byte("# nothing\n"), 0o644)
	if _, err := resolver.New(resolver.Options{ResolvConf: rc}); err == nil {
		t.Error("empty resolv.conf accepted")
	}
}

func TestQuery_unreachableServer(t *testing.T) {
	// A UDP port nobody listens on: the kernel answers ICMP port
	// unreachable, which is a network error, not a timeout.
	pc, _ := net.ListenPacket("udp", "127.0.0.1:0")
	addr := pc.LocalAddr().String()
	pc.Close()
	r, _ := resolver.New(resolver.Options{Server: addr, Timeout: 200 * time.Millisecond, Retries: -1})
	_, err := r.Query(context.Background(), "www.resolver.test", dns.TypeA)
	if k := resolver.KindOf(err); k != resolver.KindNetwork && k != resolver.KindTimeout {
		t.Fatalf("kind = %q (%v)", k, err)
	}
	if !resolver.IsTemporary(err) {
		t.Fatal("unreachable server must be temporary")
	}
}

func TestQuery_64KiBAnswer(t *testing.T) {
	// One TXT record of about 60 KiB: far over any UDP size, so it needs
	// TCP, and must come back whole and fast.
	chunk := strings.Repeat("x", 255)
	var strs []string
	for i := 0; i < 235; i++ {
		strs = append(strs, chunk)
	}
	z := dnstest.NewZone()
	z.Add(&dns.TXT{Hdr: dns.RR_Header{Name: "huge.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: strs})
	srv := dnstest.Start(t, z)
	r, _ := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 2 * time.Second})
	txt, err := r.LookupTXT(context.Background(), "huge.test")
	if err != nil || len(txt) != 1 || len(txt[0]) != 235*255 {
		t.Fatalf("huge TXT: %d records, err %v", len(txt), err)
	}
}
