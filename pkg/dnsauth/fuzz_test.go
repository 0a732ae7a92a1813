package dnsauth

import (
	"net/netip"
	"strings"
	"testing"
)

// Fuzz targets for every record parser. Each checks that the parser
// never panics and that what it accepts has the invariants the checks
// rely on. Run one with: go test ./pkg/dnsauth -fuzz FuzzParseSPF

func FuzzParseSPF(f *testing.F) {
	for _, s := range []string{
		"v=spf1 -all", "v=spf1 a mx ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.example.com ~all",
		"v=spf1 a:%{l1r-}.%{d2}/24//64 exists:%{ir}.%{v}._spf.%{d} redirect=%{o} exp=exp.%{d}",
		"v=spf1 ptr:example.com ?all foo=%{h}", "v=spf1 a:foo:bar/baz.example.com", "v=spf1 ip4:1.2.3.4/032",
		"v=spf1 mx//129", "v=spf1 a:%{x}.example.com", "V=SPF1 +ALL", "v=spf1 moo.cow-far_out=man:dog/cat",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rec, err := ParseSPF(s)
		if err != nil {
			return
		}
		if !IsSPFRecord(s) {
			t.Fatalf("accepted a non-SPF record %q", s)
		}
		for _, d := range rec.Directives {
			if d.Raw == "" || d.Modifier {
				t.Fatalf("bad directive %+v", d)
			}
			switch d.Name {
			case "ip4", "ip6":
				if !d.Prefix.IsValid() {
					t.Fatalf("ip term without prefix: %+v", d)
				}
			case "include", "exists":
				if d.Domain == "" {
					t.Fatalf("%s without domain", d.Name)
				}
			}
			if d.Domain != "" {
				// Every accepted domain-spec expands without panicking.
				parts, err := parseMacroString(d.Domain, false)
				if err != nil {
					t.Fatalf("accepted domain-spec %q does not parse: %v", d.Domain, err)
				}
				env := macroEnv{sender: "a@b.example", local: "a", domain: "b.example", senderD: "b.example", ip: netip.MustParseAddr("2001:db8::1"), helo: "h.example"}
				_ = truncateDomain(env.expand(parts))
			}
		}
		// Parsing is deterministic and the raw terms cover the record.
		again, err := ParseSPF(s)
		if err != nil || len(again.Directives) != len(rec.Directives) {
			t.Fatal("parse is not deterministic")
		}
	})
}

func FuzzParseDMARC(f *testing.F) {
	for _, s := range []string{
		"v=DMARC1; p=reject", "v=DMARC1; p=none; rua=mailto:a@example.com!10m,mailto:b@example.net; ruf=mailto:c@example.com; fo=1:d:s",
		"v=DMARC1; p=quarantine; sp=none; np=reject; adkim=s; aspf=r; pct=50; t=y; psd=n; ri=86400; rf=afrf",
		"v=DMARC1; p=bogus; rua=mailto:x@y.example", "v=DMARC1;;", "v=DMARC1; p=reject; p=none",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rec, err := ParseDMARC(s)
		if rec == nil {
			t.Fatal("nil record")
		}
		if err != nil {
			return
		}
		if rank(rec.P) < 0 {
			t.Fatalf("accepted record has no usable policy: %+v", rec)
		}
		if rec.PCT < 0 || rec.PCT > 100 || (rec.ADKIM != "r" && rec.ADKIM != "s") || (rec.ASPF != "r" && rec.ASPF != "s") {
			t.Fatalf("out-of-range value accepted: %+v", rec)
		}
		for _, u := range append(append([]string{}, rec.RUA...), rec.RUF...) {
			if checkDMARCURI(u) != nil {
				t.Fatalf("invalid URI kept: %q", u)
			}
		}
		if !IsDMARCRecord(s) {
			t.Fatalf("parsed a record IsDMARCRecord rejects: %q", s)
		}
	})
}

func FuzzParseDKIMKey(f *testing.F) {
	for _, s := range []string{
		"v=DKIM1; k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALgSoqXVSEmfcIsOzw7oRuCCOwsmtX/SJnTWxYyj2leFxfS/AVJ+dYfY+hXqMsT7l+MZvvh/RsLJ8j0kU7jzjJkCAwEAAQ==",
		"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
		"v=DKIM1; p=", "k=rsa; t=y:s; h=sha256:sha1; s=email:*; n=notes; p=AAAA", "v=DKIM1; t; p=", "p = QUJD ; k = rsa",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseDKIMKey(s)
		if err != nil || k == nil {
			return
		}
		switch {
		case k.Revoked:
			if k.PublicKey != nil {
				t.Fatal("revoked key with a public key")
			}
		case k.PublicKey == nil || k.Bits <= 0:
			t.Fatalf("accepted key without a usable public key: %+v", k)
		case k.KeyType != "rsa" && k.KeyType != "ed25519":
			t.Fatalf("accepted key type %q", k.KeyType)
		}
	})
}

func FuzzParseMTASTSPolicy(f *testing.F) {
	for _, s := range []string{
		"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
		"version: STSv1\nmode: none\nmax_age: 0\n", "version: STSv1\nmode: testing\nmx: a\nmax_age: 31557600\nextension: x\n",
		"version:STSv1\nmode:enforce\nmx:\nmax_age:1", "\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseMTASTSPolicy(s)
		if err != nil {
			return
		}
		if p.Version != "STSv1" || p.MaxAge < 0 || p.MaxAge > MaxMTASTSAge || (p.Mode != "none" && len(p.MX) == 0) {
			t.Fatalf("invalid policy accepted: %+v", p)
		}
		for _, m := range p.MX {
			_ = p.MatchMX(m)
			if strings.HasPrefix(m, "*.") && !p.MatchMX("x"+m[1:]) {
				t.Fatalf("wildcard %q does not match one extra label", m)
			}
			if !strings.HasPrefix(m, "*.") && !p.MatchMX(m) {
				t.Fatalf("pattern %q does not match itself", m)
			}
		}
	})
}

func FuzzParseMTASTSRecord(f *testing.F) {
	for _, s := range []string{"v=STSv1; id=20240101T000000", "v=STSv1;id=1;", "v=STSv1; id=", "id=1; v=STSv1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseMTASTSRecord(s)
		if err == nil && (r.ID == "" || len(r.ID) > 32 || !isAlnum(r.ID)) {
			t.Fatalf("bad id accepted: %+v", r)
		}
	})
}

func FuzzParseTLSRPT(f *testing.F) {
	for _, s := range []string{"v=TLSRPTv1; rua=mailto:tls@example.com", "v=TLSRPTv1;rua=https://r.example/v1,mailto:a@b.example", "v=TLSRPTv1; rua="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseTLSRPT(s)
		if err != nil {
			return
		}
		if len(r.RUA) == 0 {
			t.Fatal("record without rua accepted")
		}
		for _, u := range r.RUA {
			l := strings.ToLower(u)
			if !strings.HasPrefix(l, "mailto:") && !strings.HasPrefix(l, "https://") {
				t.Fatalf("rua %q accepted", u)
			}
		}
	})
}

func FuzzParseBIMI(f *testing.F) {
	for _, s := range []string{"v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem", "v=BIMI1; l=; a=", "v=BIMI1; l=http://x/logo.svg", "v=BIMI1; a=https://x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseBIMI(s)
		if err != nil {
			return
		}
		for _, u := range []string{r.Logo, r.Evidence} {
			if u != "" && httpsURL(u) != nil {
				t.Fatalf("non-https URL accepted: %q", u)
			}
		}
		if r.Declined != (r.Logo == "" && r.Evidence == "") {
			t.Fatalf("declined flag wrong: %+v", r)
		}
	})
}

// FuzzSPFMacroExpand parses any macro-string (as a domain-spec and as an
// exp= explanation) and expands it with long identities: expansion never
// panics and stays within maxMacroExpansion (plus one part), and an
// expanded domain is at most 253 octets unless it is one label.
func FuzzSPFMacroExpand(f *testing.F) {
	for _, s := range []string{"%{s}", "%{l1r-}.%{d2}", "%{ir}.%{v}._spf.%{d}", "%%%_%-", "%{p}%{h}%{c}%{r}%{t}", strings.Repeat("%{s}", 100)} {
		f.Add(s)
	}
	long := strings.Repeat("x", 200)
	env := macroEnv{sender: long + "@" + long + ".example", local: long, domain: long + ".example", senderD: long + ".example",
		ip: netip.MustParseAddr("2001:db8::1"), helo: long, receiver: long, now: 1}
	f.Fuzz(func(t *testing.T, s string) {
		for _, explain := range []bool{false, true} {
			parts, err := parseMacroString(s, explain)
			if err != nil {
				continue
			}
			out := env.expand(parts)
			if len(out) > maxMacroExpansion+len(s)+4*len(env.sender) {
				t.Fatalf("expansion of %d bytes from %d", len(out), len(s))
			}
			// A domain is cut to 253 octets by whole labels; a single
			// label longer than that stays (and is no valid name).
			if d := truncateDomain(out); !explain && len(d) > 253 && strings.Contains(d, ".") {
				t.Fatalf("domain of %d octets", len(d))
			}
		}
	})
}
