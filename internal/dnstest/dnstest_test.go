package dnstest

import (
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func ask(t *testing.T, s *Server, network, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns > 0 {
		m.SetEdns0(edns, true)
	}
	c := &dns.Client{Net: network, Timeout: 300 * time.Millisecond}
	r, _, err := c.Exchange(m, s.Addr)
	if err != nil {
		return nil
	}
	return r
}

const zoneText = `
$ORIGIN t.test.
$TTL 60
@      IN TXT "hello"
a      IN A   192.0.2.1
c      IN CNAME a
l1     IN CNAME l2
l2     IN CNAME l1
deep.x IN A   192.0.2.2
;! servfail sf
;! refused  rf
;! timeout  to
;! timeout  partial TXT
partial IN A 192.0.2.3
;! truncate tc.t.test.
tc     IN TXT "x"
;! secure @
`

func TestServer_behaviours(t *testing.T) {
	z := NewZone()
	if err := z.Parse(strings.NewReader(zoneText), "", "inline"); err != nil {
		t.Fatal(err)
	}
	s := Start(t, z)
	cases := []struct {
		name    string
		qtype   uint16
		rcode   int
		answers int
	}{
		{"t.test", dns.TypeTXT, dns.RcodeSuccess, 1},
		{"a.t.test", dns.TypeA, dns.RcodeSuccess, 1},
		{"A.T.TEST", dns.TypeA, dns.RcodeSuccess, 1},        // case-insensitive
		{"c.t.test", dns.TypeA, dns.RcodeSuccess, 2},        // CNAME followed
		{"a.t.test", dns.TypeTXT, dns.RcodeSuccess, 0},      // NODATA
		{"x.t.test", dns.TypeA, dns.RcodeSuccess, 0},        // empty non-terminal
		{"nope.t.test", dns.TypeA, dns.RcodeNameError, 0},   // NXDOMAIN
		{"l1.t.test", dns.TypeA, dns.RcodeServerFailure, 0}, // CNAME loop
		{"sf.t.test", dns.TypeA, dns.RcodeServerFailure, 0},
		{"rf.t.test", dns.TypeA, dns.RcodeRefused, 0},
		{"partial.t.test", dns.TypeA, dns.RcodeSuccess, 1}, // the timeout is for TXT only
	}
	for _, c := range cases {
		r := ask(t, s, "udp", c.name, c.qtype, 1232)
		if r == nil || r.Rcode != c.rcode || len(r.Answer) != c.answers {
			t.Errorf("%s %s: %v", c.name, dns.TypeToString[c.qtype], r)
		}
	}
	for _, name := range []string{"to.t.test", "partial.t.test"} {
		if r := ask(t, s, "udp", name, dns.TypeTXT, 0); r != nil {
			t.Errorf("%s answered: %v", name, r)
		}
	}
	// Truncation marker: TC over UDP, the answer over TCP.
	if r := ask(t, s, "udp", "tc.t.test", dns.TypeTXT, 1232); r == nil || !r.Truncated || len(r.Answer) != 0 {
		t.Errorf("UDP: %v", r)
	}
	if r := ask(t, s, "tcp", "tc.t.test", dns.TypeTXT, 1232); r == nil || r.Truncated || len(r.Answer) != 1 {
		t.Errorf("TCP: %v", r)
	}
	// AD only when asked for DNSSEC.
	if r := ask(t, s, "udp", "a.t.test", dns.TypeA, 1232); r == nil || !r.AuthenticatedData {
		t.Errorf("secure zone without AD: %v", r)
	}
	if r := ask(t, s, "udp", "a.t.test", dns.TypeA, 0); r == nil || r.AuthenticatedData {
		t.Errorf("AD without DO: %v", r)
	}
	if s.Count("a.t.test", dns.TypeA) != 4 || len(s.Repeated()) == 0 {
		t.Errorf("counts: %d %v", s.Count("a.t.test", dns.TypeA), s.Repeated())
	}
}

func TestServer_naturalTruncation(t *testing.T) {
	z := NewZone()
	for i := 0; i < 10; i++ {
		z.MustAdd(`big.test. 60 IN TXT "` + strings.Repeat("x", 200) + `"`)
	}
	s := Start(t, z)
	if r := ask(t, s, "udp", "big.test", dns.TypeTXT, 0); r == nil || !r.Truncated {
		t.Errorf("no EDNS (512 octets): %v", r)
	}
	if r := ask(t, s, "udp", "big.test", dns.TypeTXT, 4096); r == nil || r.Truncated || len(r.Answer) != 10 {
		t.Errorf("EDNS 4096: %v", r)
	}
}

func TestParse_errors(t *testing.T) {
	for _, bad := range []string{";! explode x.test.", ";! timeout", ";! timeout x.test. NOTATYPE", "x.test. IN A not-an-ip"} {
		if err := NewZone().Parse(strings.NewReader(bad), "", "bad"); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if _, err := LoadFiles("/nonexistent/*.zone"); err == nil {
		t.Error("no error for a glob matching nothing")
	}
}

// The root is asked by the resolver's liveness probe: it must get an
// answer (a negative one here), not silence.
func TestServer_answersForTheRoot(t *testing.T) {
	s := Start(t, NewZone().MustAdd("a.test. 60 IN A 192.0.2.1"))
	m := new(dns.Msg)
	m.SetQuestion(".", dns.TypeNS)
	resp, err := dns.Exchange(m, s.Addr)
	if err != nil || resp == nil {
		t.Fatalf("no answer for the root: %v", err)
	}
}

// The hostile markers answer as a broken or spoofing resolver would.
func TestServer_hostileMarkers(t *testing.T) {
	z := NewZone()
	err := z.Parse(strings.NewReader(`
$ORIGIN h.test.
loop  IN TXT "never seen"
;! cnameloop loop
;! wrongquestion wq TXT
wq    IN TXT "the right answer"
;! echo echo
`), "", "inline")
	if err != nil {
		t.Fatal(err)
	}
	s := Start(t, z)
	r := ask(t, s, "udp", "loop.h.test", dns.TypeTXT, 1232)
	if r == nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 {
		t.Fatalf("cnameloop: %v", r)
	}
	if c0, ok := r.Answer[0].(*dns.CNAME); !ok || c0.Target != "loop.loop.h.test." || r.Answer[1].(*dns.CNAME).Target != "loop.h.test." {
		t.Errorf("cnameloop answer: %v", r.Answer)
	}
	// dns.Client refuses a response whose ID differs but not one whose
	// question differs: it gets the wrong question back.
	r = ask(t, s, "udp", "wq.h.test", dns.TypeTXT, 1232)
	if r == nil || r.Question[0].Name != "wrong-question.invalid." {
		t.Errorf("wrongquestion: %v", r)
	}
	r = ask(t, s, "udp", "echo.h.test", dns.TypeA, 0)
	if r == nil || r.Response || len(r.Answer) != 0 || r.Question[0].Name != "echo.h.test." {
		t.Errorf("echo: %v", r)
	}
}
