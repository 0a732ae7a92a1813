package resolver_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// hostileDNS answers every UDP query with what respond returns (any
// number of messages, in order). It runs until the test ends.
func hostileDNS(t *testing.T, respond func(req *dns.Msg) []*dns.Msg) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			req := new(dns.Msg)
			if req.Unpack(buf[:n]) != nil {
				continue
			}
			for _, m := range respond(req) {
				b, err := m.Pack()
				if err == nil {
					_, _ = pc.WriteTo(b, from)
				}
			}
		}
	}()
	return pc.LocalAddr().String()
}

func txtReply(req *dns.Msg, name, text string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Question[0].Name = name
	m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{text}})
	return m
}

// A response with our ID but another question is discarded: the right
// answer after it is taken; without one the lookup times out, it does not
// become "no record" or the other name's record.
func TestQuery_responseForAnotherQuestionIsDiscarded(t *testing.T) {
	spoof := hostileDNS(t, func(req *dns.Msg) []*dns.Msg {
		return []*dns.Msg{
			txtReply(req, "evil.test.", "v=spf1 +all"),
			txtReply(req, req.Question[0].Name, "v=spf1 -all"),
		}
	})
	r, _ := resolver.New(resolver.Options{Server: spoof, Timeout: 500 * time.Millisecond, Retries: 0})
	txt, err := r.LookupTXT(context.Background(), "victim.test")
	if err != nil || len(txt) != 1 || txt[0] != "v=spf1 -all" {
		t.Fatalf("LookupTXT = %q, %v; want the answer to our question", txt, err)
	}
	only := hostileDNS(t, func(req *dns.Msg) []*dns.Msg {
		return []*dns.Msg{txtReply(req, "evil.test.", "v=spf1 +all")}
	})
	r, _ = resolver.New(resolver.Options{Server: only, Timeout: 200 * time.Millisecond, Retries: 0})
	txt, err = r.LookupTXT(context.Background(), "victim.test")
	if err == nil || resolver.IsNotFound(err) || resolver.KindOf(err) != resolver.KindTimeout {
		t.Fatalf("only wrong answers: %q, %v (kind %q); want a timeout", txt, err, resolver.KindOf(err))
	}
}

// A CNAME chain that loops (or runs on) in the answer is a DNS error, not
// NODATA.
func TestQuery_cnameLoopIsAnError(t *testing.T) {
	loop := hostileDNS(t, func(req *dns.Msg) []*dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		q := req.Question[0].Name
		m.Answer = []dns.RR{
			&dns.CNAME{Hdr: dns.RR_Header{Name: q, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: "b.loop.test."},
			&dns.CNAME{Hdr: dns.RR_Header{Name: "b.loop.test.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: q},
		}
		return []*dns.Msg{m}
	})
	r, _ := resolver.New(resolver.Options{Server: loop, Timeout: 500 * time.Millisecond})
	_, err := r.LookupTXT(context.Background(), "a.loop.test")
	if resolver.KindOf(err) != resolver.KindCNAMELoop || resolver.IsNotFound(err) {
		t.Fatalf("CNAME loop: %v (kind %q)", err, resolver.KindOf(err))
	}
	long := hostileDNS(t, func(req *dns.Msg) []*dns.Msg {
		m := new(dns.Msg)
		m.SetReply(req)
		prev := req.Question[0].Name
		for i := 0; i < 20; i++ {
			next := dns.Fqdn(string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".chain.test")
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: prev, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: next})
			prev = next
		}
		return []*dns.Msg{m}
	})
	r, _ = resolver.New(resolver.Options{Server: long, Timeout: 500 * time.Millisecond})
	if _, err := r.LookupTXT(context.Background(), "start.chain.test"); resolver.KindOf(err) != resolver.KindCNAMELoop {
		t.Fatalf("20-link chain: %v", err)
	}
}
