package dnsauth_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// deadResolvers are resolvers pointed at loopback ports that never answer
// DNS: one silent (UDP and TCP bound, nothing said), one refusing
// (nothing bound: ICMP port unreachable).
func deadResolvers(t *testing.T) map[string]*resolver.Resolver {
	t.Helper()
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	if l, err := net.Listen("tcp", silent.LocalAddr().String()); err == nil {
		t.Cleanup(func() { l.Close() })
	}
	closed, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := closed.LocalAddr().String()
	closed.Close()
	out := map[string]*resolver.Resolver{}
	for name, addr := range map[string]string{"silent": silent.LocalAddr().String(), "refusing": refusing} {
		r, err := resolver.New(resolver.Options{Server: addr, Timeout: 150 * time.Millisecond, Retries: -1})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = r
	}
	return out
}

// checkResolverDown asserts the one-finding report of a dead resolver.
func checkResolverDown(t *testing.T, rep *report.Report, stages int) {
	t.Helper()
	if len(rep.Findings) != 1 || rep.Findings[0].Code != "dns.resolver.unreachable" || rep.Findings[0].Severity != report.Fail {
		t.Fatalf("findings %v, want only dns.resolver.unreachable", codes(rep.Findings))
	}
	if rep.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("exit %d, want %d (incomplete)", rep.ExitCode(report.Fail), report.ExitIncomplete)
	}
	if len(rep.Stages) != stages+1 || rep.Stages[0].Name != "resolver" || rep.Stages[0].Status != report.StatusError {
		t.Fatalf("stages %+v", rep.Stages)
	}
	for _, s := range rep.Stages[1:] {
		if s.Status != report.StatusSkipped {
			t.Errorf("stage %s is %s, want not run (skipped)", s.Name, s.Status)
		}
	}
}

func TestAudit_deadResolverIsOneFinding(t *testing.T) {
	for name, r := range deadResolvers(t) {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			rep, err := dnsauth.Audit(context.Background(), dnsauth.AuditOptions{Resolver: r, Domain: "example.test",
				IP: netip.MustParseAddr("192.0.2.1"), DNSBL: true})
			if err != nil {
				t.Fatal(err)
			}
			checkResolverDown(t, rep, 11)
			// Generous: proves no per-question wait, not a speed.
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestFocusedReports_deadResolverIsOneFinding(t *testing.T) {
	for name, r := range deadResolvers(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			rep, err := dnsauth.SPFReport(ctx, dnsauth.SPFOptions{Resolver: r, Domain: "example.test", IP: netip.MustParseAddr("192.0.2.1")})
			if err != nil {
				t.Fatal(err)
			}
			checkResolverDown(t, rep, 1)
			rep, err = dnsauth.DMARCReport(ctx, dnsauth.DMARCOptions{Resolver: r, Domain: "example.test"})
			if err != nil {
				t.Fatal(err)
			}
			checkResolverDown(t, rep, 1)
			rep, err = dnsauth.DKIMCheckReport(ctx, dnsauth.DKIMCheckOptions{Resolver: r, Domain: "example.test"})
			if err != nil {
				t.Fatal(err)
			}
			checkResolverDown(t, rep, 1)
		})
	}
}

func TestReports_needAResolver(t *testing.T) {
	if _, err := dnsauth.Audit(context.Background(), dnsauth.AuditOptions{Domain: "example.test"}); err == nil {
		t.Error("Audit without a resolver: no error")
	}
	if _, err := dnsauth.SPFReport(context.Background(), dnsauth.SPFOptions{Domain: "example.test"}); err == nil {
		t.Error("SPFReport without a resolver: no error")
	}
}
