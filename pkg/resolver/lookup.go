package resolver

import (
	"context"
	"net/netip"
	"sort"
	"strings"

	"github.com/miekg/dns"
)

// LookupTXT returns the TXT records of name, one string per record: the
// character-strings of a record are concatenated without separator, as
// SPF (RFC 7208 §3.3), DKIM (RFC 6376 §3.6.2.2) and DMARC (RFC 7489
// §6.6.3) all require. Bytes are returned as sent, not escaped.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	return lookupTXT(ctx, r, name)
}

func lookupTXT(ctx context.Context, r querier, name string) ([]string, error) {
	ans, err := r.Query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	return TXTStrings(ans), nil
}

// TXTStrings extracts the concatenated TXT strings of an answer.
func TXTStrings(ans *Answer) []string {
	if ans == nil {
		return nil
	}
	var out []string
	for _, rr := range ans.Records {
		if t, ok := rr.(*dns.TXT); ok {
			var b strings.Builder
			for _, s := range t.Txt {
				b.WriteString(UnescapeTXT(s))
			}
			out = append(out, b.String())
		}
	}
	return out
}

// TXTFunc adapts the resolver to go-msgauth's VerifyOptions.LookupTXT,
// which has no context: the lookups run with ctx. Errors are *Error, which
// implements net.Error, so go-msgauth reports SERVFAIL and timeouts as
// temporary failures and NXDOMAIN as a permanent one (RFC 6376 §6.1.2).
func (r *Resolver) TXTFunc(ctx context.Context) func(string) ([]string, error) {
	return TXTFunc(ctx, r)
}

// TXTFunc is Resolver.TXTFunc for any Interface.
func TXTFunc(ctx context.Context, r Interface) func(string) ([]string, error) {
	return func(name string) ([]string, error) { return r.LookupTXT(ctx, name) }
}

// UnescapeTXT turns miekg/dns's presentation form of a character-string
// (with \" \\ and \DDD escapes) back into the bytes on the wire.
func UnescapeTXT(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b = append(b, c)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			v := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if v < 256 {
				b = append(b, byte(v))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

// EscapeTXT is the inverse of UnescapeTXT: it writes bytes in the form
// miekg/dns packs into a character-string unchanged.
func EscapeTXT(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' || c > '~':
			b.WriteByte('\\')
			b.WriteByte('0' + c/100)
			b.WriteByte('0' + c/10%10)
			b.WriteByte('0' + c%10)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// LookupA returns the IPv4 addresses of name.
func (r *Resolver) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	return lookupA(ctx, r, name)
}

func lookupA(ctx context.Context, r querier, name string) ([]netip.Addr, error) {
	ans, err := r.Query(ctx, name, dns.TypeA)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, rr := range ans.Records {
		if a, ok := rr.(*dns.A); ok {
			if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
				out = append(out, ip)
			}
		}
	}
	return out, nil
}

// LookupAAAA returns the IPv6 addresses of name.
func (r *Resolver) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error) {
	return lookupAAAA(ctx, r, name)
}

func lookupAAAA(ctx context.Context, r querier, name string) ([]netip.Addr, error) {
	ans, err := r.Query(ctx, name, dns.TypeAAAA)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, rr := range ans.Records {
		if a, ok := rr.(*dns.AAAA); ok {
			if ip, ok := netip.AddrFromSlice(a.AAAA.To16()); ok {
				out = append(out, ip)
			}
		}
	}
	return out, nil
}

// LookupIP returns the IPv4 and IPv6 addresses of name (asked
// concurrently). err is nil when either family answered with addresses;
// otherwise it is the more serious of the two failures (a temporary
// failure wins over NODATA, NODATA over NXDOMAIN).
func (r *Resolver) LookupIP(ctx context.Context, name string) ([]netip.Addr, error) {
	return lookupIP(ctx, r, name)
}

func lookupIP(ctx context.Context, r querier, name string) ([]netip.Addr, error) {
	var v6 []netip.Addr
	var err6 error
	done := make(chan struct{})
	go func() {
		v6, err6 = lookupAAAA(ctx, r, name)
		close(done)
	}()
	v4, err4 := lookupA(ctx, r, name)
	<-done
	out := append(v4, v6...)
	if len(out) > 0 {
		return out, nil
	}
	switch {
	case err4 == nil && err6 == nil:
		return nil, &Error{Kind: KindNoData, Name: dns.Fqdn(strings.ToLower(name)), Type: dns.TypeA}
	case IsTemporary(err4) && !IsNotFound(err4):
		return nil, err4
	case err6 != nil && IsTemporary(err6) && !IsNotFound(err6):
		return nil, err6
	case KindOf(err4) == KindNoData || KindOf(err6) == KindNoData:
		if KindOf(err4) == KindNoData {
			return nil, err4
		}
		return nil, err6
	}
	if err4 != nil {
		return nil, err4
	}
	return nil, err6
}

// MX is one mail exchanger.
type MX struct {
	Pref uint16 `json:"preference"`
	Host string `json:"host"` // lower case, without the trailing dot ("" for the null MX ".")
}

// LookupMX returns the MX records of name sorted by preference, and the
// answer (for its AD bit).
func (r *Resolver) LookupMX(ctx context.Context, name string) ([]MX, *Answer, error) {
	return lookupMX(ctx, r, name)
}

func lookupMX(ctx context.Context, r querier, name string) ([]MX, *Answer, error) {
	ans, err := r.Query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, ans, err
	}
	var out []MX
	for _, rr := range ans.Records {
		if m, ok := rr.(*dns.MX); ok {
			out = append(out, MX{Pref: m.Preference, Host: strings.TrimSuffix(strings.ToLower(m.Mx), ".")})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pref < out[j].Pref })
	return out, ans, nil
}

// LookupPTR returns the names of ip (reverse DNS), without trailing dots.
func (r *Resolver) LookupPTR(ctx context.Context, ip netip.Addr) ([]string, error) {
	return lookupPTR(ctx, r, ip)
}

func lookupPTR(ctx context.Context, r querier, ip netip.Addr) ([]string, error) {
	arpa, err := dns.ReverseAddr(ip.Unmap().String())
	if err != nil {
		return nil, &Error{Kind: KindInvalidName, Name: ip.String(), Type: dns.TypePTR, Err: err}
	}
	ans, err := r.Query(ctx, arpa, dns.TypePTR)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rr := range ans.Records {
		if p, ok := rr.(*dns.PTR); ok {
			out = append(out, strings.TrimSuffix(p.Ptr, "."))
		}
	}
	return out, nil
}

// LookupTLSA returns the TLSA records of name (such as _25._tcp.mx.example.)
// and the answer, whose AD bit says whether they may be used (RFC 7672
// §2.2: only DNSSEC-validated TLSA records count).
func (r *Resolver) LookupTLSA(ctx context.Context, name string) ([]*dns.TLSA, *Answer, error) {
	return lookupTLSA(ctx, r, name)
}

func lookupTLSA(ctx context.Context, r querier, name string) ([]*dns.TLSA, *Answer, error) {
	ans, err := r.Query(ctx, name, dns.TypeTLSA)
	if err != nil {
		return nil, ans, err
	}
	var out []*dns.TLSA
	for _, rr := range ans.Records {
		if t, ok := rr.(*dns.TLSA); ok {
			out = append(out, t)
		}
	}
	return out, ans, nil
}

// CNAMEOf reports the alias target of name when name is a CNAME ("" when
// it is not). It asks for A records and reads the chain, which costs no
// extra question when the addresses are wanted anyway.
func (r *Resolver) CNAMEOf(ctx context.Context, name string) (string, error) {
	return CNAMEOf(ctx, r, name)
}

// CNAMEOf is Resolver.CNAMEOf for any Interface.
func CNAMEOf(ctx context.Context, r Interface, name string) (string, error) {
	ans, err := r.Query(ctx, name, dns.TypeA)
	if ans != nil && len(ans.CNAMEs) > 0 {
		return strings.TrimSuffix(ans.CNAMEs[0], "."), nil
	}
	if err != nil && !IsNotFound(err) {
		return "", err
	}
	return "", nil
}

// ParseIP parses an address, mapping an IPv4-mapped IPv6 address to IPv4.
func ParseIP(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(strings.Trim(s, "[]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}
