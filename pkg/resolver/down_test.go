package resolver_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// silentServer binds a UDP socket and a TCP listener on one loopback port
// and never answers either: a resolver that is down.
func silentServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	// The TCP side is best effort: the port may be taken for TCP.
	if l, err := net.Listen("tcp", pc.LocalAddr().String()); err == nil {
		t.Cleanup(func() { l.Close() })
	}
	return pc.LocalAddr().String()
}

// refusingServer is a loopback port nobody listens on: UDP gets ICMP port
// unreachable, TCP a reset.
func refusingServer(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

func TestResolver_deadIsFoundOnceAndFailsFast(t *testing.T) {
	for _, tc := range []struct {
		name string
		addr func(*testing.T) string
		kind []resolver.Kind
	}{
		{"silent", silentServer, []resolver.Kind{resolver.KindTimeout}},
		// Connected UDP sockets see ICMP port unreachable as ECONNREFUSED;
		// where the ICMP message is filtered it is a timeout instead.
		{"refusing", refusingServer, []resolver.Kind{resolver.KindNetwork, resolver.KindTimeout}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			r, err := resolver.New(resolver.Options{Server: addr, Timeout: 100 * time.Millisecond, Retries: -1})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			_, err = r.LookupTXT(ctx, "first.example")
			if !resolver.IsUnreachable(err) || r.Unreachable() == nil {
				t.Fatalf("first question: %v (Unreachable() = %v), want the resolver found dead", err, r.Unreachable())
			}
			kindOK := false
			for _, k := range tc.kind {
				kindOK = kindOK || resolver.KindOf(err) == k
			}
			if !kindOK {
				t.Errorf("kind %q, want one of %q", resolver.KindOf(err), tc.kind)
			}
			sent := r.Stats().Exchanges
			// Every later question fails at once, with the same error,
			// and sends nothing.
			for _, name := range []string{"second.example", "third.example"} {
				_, _, err := r.LookupMX(ctx, name)
				if !resolver.IsUnreachable(err) || resolver.KindOf(err) != resolver.KindOf(r.Unreachable()) {
					t.Errorf("%s: %v, want the dead resolver's error", name, err)
				}
			}
			if got := r.Stats().Exchanges; got != sent {
				t.Errorf("%d packets sent to a dead resolver after it was found dead", got-sent)
			}
		})
	}
}

// A name whose answer never comes, from a server that answers everything
// else, is a timeout for that name only: the resolver stays alive.
func TestResolver_silentNameIsNotADeadResolver(t *testing.T) {
	srv := dnstest.StartFiles(t, "../../testdata/dns/resolver.zone")
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 100 * time.Millisecond, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Query(context.Background(), "blackhole.resolver.test", dns.TypeA)
	if resolver.KindOf(err) != resolver.KindTimeout || resolver.IsUnreachable(err) || r.Unreachable() != nil {
		t.Fatalf("blackhole: %v (Unreachable() = %v), want a timeout of that name only", err, r.Unreachable())
	}
	if a, err := r.LookupA(context.Background(), "www.resolver.test"); err != nil || len(a) != 1 {
		t.Fatalf("after the timeout: %v, %v", a, err)
	}
}
