package resolver_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func sharedResolver(t *testing.T, srv *dnstest.Server, sh *resolver.Shared) *resolver.Resolver {
	t.Helper()
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 150 * time.Millisecond, Shared: sh})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Runs sharing a cache ask a name once while its TTL lasts, and again
// once it has passed; each run still counts its own questions.
func TestShared_positiveAnswersLiveTheirTTL(t *testing.T) {
	srv := dnstest.StartFiles(t, "../../testdata/dns/resolver.zone")
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	sh := resolver.NewShared(resolver.SharedOptions{Now: clock.Now})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		r := sharedResolver(t, srv, sh)
		if a, err := r.LookupA(ctx, "www.resolver.test"); err != nil || len(a) != 1 {
			t.Fatalf("run %d: %v %v", i, a, err)
		}
		if st := r.Stats(); i > 0 && (st.Queries != 0 || st.CacheHits != 1) {
			t.Errorf("run %d: %+v, want one cache hit and nothing sent", i, st)
		}
	}
	if n := srv.Count("www.resolver.test", dns.TypeA); n != 1 {
		t.Fatalf("asked %d times within the TTL, want 1", n)
	}
	clock.Add(299 * time.Second)
	_, _ = sharedResolver(t, srv, sh).LookupA(ctx, "www.resolver.test")
	if n := srv.Count("www.resolver.test", dns.TypeA); n != 1 {
		t.Fatalf("asked again before the TTL (300 s) passed: %d", n)
	}
	clock.Add(2 * time.Second)
	_, _ = sharedResolver(t, srv, sh).LookupA(ctx, "www.resolver.test")
	if n := srv.Count("www.resolver.test", dns.TypeA); n != 2 {
		t.Fatalf("not asked again after the TTL: %d", n)
	}
}

// A negative answer lives for its SOA's TTL and MINIMUM, whichever is
// smaller (RFC 2308 §5: 60 s in dnstest's SOA); a failure is not shared.
func TestShared_negativeAnswersAndFailures(t *testing.T) {
	srv := dnstest.StartFiles(t, "../../testdata/dns/resolver.zone")
	clock := &fakeClock{t: time.Unix(1e9, 0)}
	sh := resolver.NewShared(resolver.SharedOptions{Now: clock.Now})
	ctx := context.Background()
	ask := func(name string, qtype uint16) error {
		_, err := sharedResolver(t, srv, sh).Query(ctx, name, qtype)
		return err
	}
	for i := 0; i < 2; i++ {
		if k := resolver.KindOf(ask("nothing.resolver.test", dns.TypeTXT)); k != resolver.KindNXDomain {
			t.Fatalf("kind %s", k)
		}
		if k := resolver.KindOf(ask("www.resolver.test", dns.TypeMX)); k != resolver.KindNoData {
			t.Fatalf("kind %s", k)
		}
		if k := resolver.KindOf(ask("broken.resolver.test", dns.TypeA)); k != resolver.KindServFail {
			t.Fatalf("kind %s", k)
		}
	}
	if a, b, c := srv.Count("nothing.resolver.test", dns.TypeTXT), srv.Count("www.resolver.test", dns.TypeMX), srv.Count("broken.resolver.test", dns.TypeA); a != 1 || b != 1 || c != 2 {
		t.Fatalf("NXDOMAIN asked %d, NODATA %d, SERVFAIL %d times; want 1, 1, 2", a, b, c)
	}
	clock.Add(61 * time.Second)
	_ = ask("nothing.resolver.test", dns.TypeTXT)
	if n := srv.Count("nothing.resolver.test", dns.TypeTXT); n != 2 {
		t.Fatalf("NXDOMAIN not asked again after its negative TTL: %d", n)
	}
}

// The cache is bounded: past MaxEntries the least recently used answer
// goes first.
func TestShared_bounded(t *testing.T) {
	z := dnstest.NewZone()
	for i := 0; i < 20; i++ {
		z.MustAdd(fmt.Sprintf("h%d.bound.test. 300 IN A 192.0.2.%d", i, i+1))
	}
	srv := dnstest.Start(t, z)
	sh := resolver.NewShared(resolver.SharedOptions{MaxEntries: 5})
	ctx := context.Background()
	for i := 0; i < 20; i++ {
		_, _ = sharedResolver(t, srv, sh).LookupA(ctx, fmt.Sprintf("h%d.bound.test", i))
	}
	if n := sh.Len(); n != 5 {
		t.Fatalf("%d answers kept, want 5", n)
	}
	_, _ = sharedResolver(t, srv, sh).LookupA(ctx, "h19.bound.test") // kept
	_, _ = sharedResolver(t, srv, sh).LookupA(ctx, "h0.bound.test")  // forgotten
	if a, b := srv.Count("h19.bound.test", dns.TypeA), srv.Count("h0.bound.test", dns.TypeA); a != 1 || b != 2 {
		t.Fatalf("h19 asked %d times (want 1), h0 %d (want 2)", a, b)
	}
}

// Many runs asking the same name at once send one question.
func TestShared_inFlightQuestionsAskedOnce(t *testing.T) {
	srv := dnstest.StartFiles(t, "../../testdata/dns/resolver.zone")
	sh := resolver.NewShared(resolver.SharedOptions{})
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := sharedResolver(t, srv, sh)
			if txt, err := r.LookupTXT(context.Background(), "txt.resolver.test"); err != nil || len(txt) != 2 {
				t.Errorf("%q %v", txt, err)
			}
		}()
	}
	wg.Wait()
	if n := srv.Count("txt.resolver.test", dns.TypeTXT); n != 1 {
		t.Fatalf("asked %d times", n)
	}
}

// UDP sockets are reused after a clean exchange: a hundred questions
// asked one after another open a few sockets, not a hundred.
func TestShared_reusesUDPSockets(t *testing.T) {
	z := dnstest.NewZone()
	for i := 0; i < 100; i++ {
		z.MustAdd(fmt.Sprintf("h%d.sock.test. 300 IN A 192.0.2.1", i))
	}
	srv := dnstest.Start(t, z)
	var dials atomic.Int64
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Dial: dial})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if _, err := r.LookupA(context.Background(), fmt.Sprintf("h%d.sock.test", i)); err != nil {
			t.Fatal(err)
		}
	}
	// One socket, retired after maxSocketUses (100) questions.
	if n := dials.Load(); n > 2 {
		t.Fatalf("%d sockets opened for 100 questions", n)
	}
}

// A server that limits its rate is recognised: slipped answers (TC set,
// though the answer fits) are fetched over TCP, dropped ones asked again,
// every question gets its answer, and the limit is told once. The
// bucket's clock never moves, so past the burst of two every UDP answer
// is limited, alternately dropped and slipped. Asked one at a time:
// h2 is dropped, then slipped and fetched over TCP (two losses: the
// server is now known to limit its rate); h3 is dropped and, asked again,
// asked over TCP at once; h4 slipped (TCP); h5 dropped (TCP).
func TestShared_rateLimitedServer(t *testing.T) {
	z := dnstest.NewZone()
	for i := 0; i < 6; i++ {
		z.MustAdd(fmt.Sprintf("h%d.rrl.test. 300 IN A 192.0.2.1", i))
	}
	srv := dnstest.Start(t, z)
	frozen := time.Unix(1e9, 0)
	srv.SetRateLimit(&dnstest.RateLimit{Burst: 2, Slip: 2, Now: func() time.Time { return frozen }})
	var told []resolver.RateLimit
	var mu sync.Mutex
	sh := resolver.NewShared(resolver.SharedOptions{OnRateLimit: func(rl resolver.RateLimit) {
		mu.Lock()
		told = append(told, rl)
		mu.Unlock()
	}})
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 100 * time.Millisecond, Retries: 2, Shared: sh})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 6; i++ {
		if a, err := r.LookupA(context.Background(), fmt.Sprintf("h%d.rrl.test", i)); err != nil || len(a) != 1 {
			t.Fatalf("h%d: %v %v", i, a, err)
		}
	}
	if srv.Slipped() != 2 || srv.Dropped() != 3 {
		t.Fatalf("server slipped %d, dropped %d; want 2 and 3", srv.Slipped(), srv.Dropped())
	}
	if st := r.Stats(); st.RateLimited != 5 || st.Truncated != 2 {
		t.Errorf("stats %+v: want 5 rate-limited, 2 truncated", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 || told[0].Server != srv.Addr {
		t.Fatalf("told %+v, want once", told)
	}
	rl, ok := r.RateLimited()
	if !ok || rl.Slipped != 2 || rl.Dropped != 3 || rl.Rate <= 0 {
		t.Fatalf("RateLimited %+v %v", rl, ok)
	}
	if _, again := r.RateLimited(); again {
		t.Error("the rate limit was claimed for a report twice")
	}
}

// An answer truncated because it does not fit (big TXT) is not a slip.
func TestShared_truncatedForSizeIsNotRateLimit(t *testing.T) {
	r, _ := newTest(t)
	if _, err := r.LookupTXT(context.Background(), "big.resolver.test"); err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Truncated != 1 || st.RateLimited != 0 {
		t.Fatalf("%+v", st)
	}
	if _, ok := r.RateLimited(); ok {
		t.Fatal("a big answer was taken for a rate limit")
	}
}
