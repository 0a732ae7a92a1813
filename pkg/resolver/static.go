package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Static answers from a fixed set of records and never touches the
// network. It exists for `reset send --embedded`, whose demo domain has
// to publish SPF, DKIM and DMARC records without any DNS server: the
// answers go through the same interpretation as a network answer (CNAME
// chains, NXDOMAIN versus NODATA), so the checks cannot tell the
// difference. Tests use internal/dnstest instead, so that the real
// network path runs.
type Static struct {
	rrs     map[string][]dns.RR
	parents map[string]bool // names that exist because something lives below them
	lookups atomic.Int64
}

// NewStatic parses records written in zone-file syntax, one per string
// ("example. 300 IN TXT \"v=spf1 -all\"").
func NewStatic(records ...string) (*Static, error) {
	s := &Static{rrs: map[string][]dns.RR{}, parents: map[string]bool{}}
	for _, rec := range records {
		rr, err := dns.NewRR(rec)
		if err != nil {
			return nil, fmt.Errorf("static record %q: %w", rec, err)
		}
		if rr == nil {
			continue
		}
		n := CanonicalName(rr.Header().Name)
		s.rrs[n] = append(s.rrs[n], rr)
		for {
			i := strings.IndexByte(n, '.')
			if i < 0 || i == len(n)-1 {
				break
			}
			n = n[i+1:]
			s.parents[n] = true
		}
	}
	return s, nil
}

// staticServer is the Server an answer of a Static resolver names.
const staticServer = "static"

// Query answers from the records, following CNAMEs as a recursive
// resolver would (RFC 1034 §3.6.2).
func (s *Static) Query(ctx context.Context, name string, qtype uint16) (*Answer, error) {
	fqdn, valid := canonicalName(name)
	s.lookups.Add(1)
	for _, c := range counters(ctx) {
		c.Lookups.Add(1)
	}
	if !valid {
		return nil, &Error{Kind: KindInvalidName, Name: fqdn, Type: qtype}
	}
	resp := new(dns.Msg)
	cur := fqdn
	for hop := 0; hop < 16; hop++ {
		var match []dns.RR
		var cname *dns.CNAME
		for _, rr := range s.rrs[cur] {
			if rr.Header().Rrtype == qtype {
				match = append(match, rr)
			} else if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if len(match) > 0 {
			resp.Answer = append(resp.Answer, match...)
			break
		}
		if cname == nil {
			if len(s.rrs[cur]) == 0 && !s.parents[cur] {
				resp.Rcode = dns.RcodeNameError
			}
			break
		}
		resp.Answer = append(resp.Answer, cname)
		cur = CanonicalName(cname.Target)
	}
	return interpret(fqdn, qtype, resp, staticServer, false, 0)
}

// LookupA implements Interface.
func (s *Static) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	return lookupA(ctx, s, name)
}

// LookupAAAA implements Interface.
func (s *Static) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error) {
	return lookupAAAA(ctx, s, name)
}

// LookupIP implements Interface.
func (s *Static) LookupIP(ctx context.Context, name string) ([]netip.Addr, error) {
	return lookupIP(ctx, s, name)
}

// LookupTXT implements Interface.
func (s *Static) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookupTXT(ctx, s, name)
}

// LookupMX implements Interface.
func (s *Static) LookupMX(ctx context.Context, name string) ([]MX, *Answer, error) {
	return lookupMX(ctx, s, name)
}

// LookupPTR implements Interface.
func (s *Static) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error) {
	return lookupPTR(ctx, s, ip)
}

// LookupTLSA implements Interface.
func (s *Static) LookupTLSA(ctx context.Context, name string) ([]*dns.TLSA, *Answer, error) {
	return lookupTLSA(ctx, s, name)
}

// Servers implements Interface.
func (s *Static) Servers() []string { return []string{staticServer} }

// Stats implements Interface: every question is a lookup, none goes to
// the network.
func (s *Static) Stats() Stats { return Stats{Lookups: s.lookups.Load()} }

// Unreachable implements Interface: fixed records always answer.
func (s *Static) Unreachable() error { return nil }
