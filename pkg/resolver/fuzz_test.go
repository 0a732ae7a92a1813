package resolver

import (
	"testing"

	"github.com/miekg/dns"
)

// Fuzz targets for what the resolver reads from the network. Run one
// with: go test ./pkg/resolver -fuzz FuzzInterpret

// FuzzInterpret feeds any response to the answer interpretation: it never
// panics, a success has records of the asked type, a definitive negative
// answer comes with its Answer, and a followed CNAME chain stays within
// MaxCNAMEChain.
func FuzzInterpret(f *testing.F) {
	add := func(m *dns.Msg) {
		if b, err := m.Pack(); err == nil {
			f.Add(b, uint16(dns.TypeTXT))
		}
	}
	q := new(dns.Msg)
	q.SetQuestion("a.example.", dns.TypeTXT)
	ok := new(dns.Msg)
	ok.SetReply(q)
	ok.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: "a.example.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{"v=spf1 -all"}}}
	add(ok)
	loop := new(dns.Msg)
	loop.SetReply(q)
	loop.Answer = []dns.RR{
		&dns.CNAME{Hdr: dns.RR_Header{Name: "a.example.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: "b.example."},
		&dns.CNAME{Hdr: dns.RR_Header{Name: "b.example.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET}, Target: "a.example."},
	}
	add(loop)
	nx := new(dns.Msg)
	nx.SetRcode(q, dns.RcodeNameError)
	add(nx)
	f.Fuzz(func(t *testing.T, wire []byte, qtype uint16) {
		resp := new(dns.Msg)
		if resp.Unpack(wire) != nil {
			return
		}
		name := "a.example."
		if len(resp.Question) == 1 {
			if n, valid := canonicalName(resp.Question[0].Name); valid {
				name = n
			}
		}
		ans, err := interpret(name, qtype, resp, "fuzz", false, 0)
		switch {
		case err == nil:
			if ans == nil || len(ans.Records) == 0 {
				t.Fatalf("success without records: %+v", ans)
			}
			for _, rr := range ans.Records {
				if rr.Header().Rrtype != qtype && qtype != dns.TypeANY {
					t.Fatalf("record of type %d for a question of type %d", rr.Header().Rrtype, qtype)
				}
			}
		case IsNotFound(err):
			if ans == nil {
				t.Fatalf("negative answer without its Answer: %v", err)
			}
		default:
			if !IsTemporary(err) || ans != nil && KindOf(err) != KindNXDomain {
				t.Fatalf("failure %v with answer %+v", err, ans)
			}
		}
		if ans != nil && len(ans.CNAMEs) > MaxCNAMEChain {
			t.Fatalf("followed %d CNAMEs", len(ans.CNAMEs))
		}
		_ = TXTStrings(ans)
	})
}

// FuzzTXTEscape checks that EscapeTXT and UnescapeTXT are inverse, and
// that the escaped form packs into a record unchanged.
func FuzzTXTEscape(f *testing.F) {
	for _, s := range []string{"v=spf1 -all", `quote " and \ backslash`, "\x00\xff\r\n", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		esc := EscapeTXT(raw)
		if got := UnescapeTXT(esc); got != raw {
			t.Fatalf("UnescapeTXT(EscapeTXT(%q)) = %q", raw, got)
		}
		if len(raw) > 255 {
			return
		}
		rr := &dns.TXT{Hdr: dns.RR_Header{Name: "a.example.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: []string{esc}}
		m := new(dns.Msg)
		m.Answer = []dns.RR{rr}
		b, err := m.Pack()
		if err != nil {
			t.Fatalf("escaped %q does not pack: %v", raw, err)
		}
		back := new(dns.Msg)
		if err := back.Unpack(b); err != nil {
			t.Fatal(err)
		}
		ans := &Answer{Records: back.Answer}
		if got := TXTStrings(ans); len(got) != 1 || got[0] != raw {
			t.Fatalf("round trip of %q gave %q", raw, got)
		}
	})
}

// FuzzCanonicalName checks that any name is canonicalised without
// panicking, and that a valid one is fully qualified, at most 255 octets
// on the wire and unchanged by a second pass.
func FuzzCanonicalName(f *testing.F) {
	for _, s := range []string{"Example.COM", "a..b", "a\\.b.example", "\\255.x", "", ".", "_dmarc.d0.example.", "-a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c, valid := canonicalName(name)
		if plainName(name) {
			// The fast path gives what the slow one would.
			if slow, ok := canonicalSlow(name); !ok || slow != c || !valid {
				t.Fatalf("%q: fast %q %v, slow %q %v", name, c, valid, slow, ok)
			}
		}
		if !valid {
			return
		}
		if !dns.IsFqdn(c) {
			t.Fatalf("%q -> %q is not fully qualified", name, c)
		}
		buf := make([]byte, 512)
		if off, err := dns.PackDomainName(c, buf, 0, nil, false); err != nil || off > 255 {
			t.Fatalf("%q -> %q packs to %d octets: %v", name, c, off, err)
		}
		if again, ok := canonicalName(c); !ok || again != c {
			t.Fatalf("%q -> %q -> %q, %v", name, c, again, ok)
		}
	})
}
