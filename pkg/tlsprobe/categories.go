package tlsprobe

// Cipher-suite categories under the names testssl.sh users know
// (SWEET32, BEAST, LUCKY13, LOGJAM, FREAK, RC4, NULL, aNULL, EXPORT),
// read from the enumeration: no connection of their own. Where a
// category already has a finding of the cipher grading (tls.cipher.*),
// the result points to it instead of adding a second finding.

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// category is one testssl.sh name and the suites it covers.
type category struct {
	check, testssl string
	match          func(Suite, uint16) bool // suite, version it was accepted in
	graded         string                   // the tls.cipher.* code that grades it, if any
	why            string
}

var categories = []category{
	{"sweet32", "SWEET32", func(s Suite, _ uint16) bool { return s.Has(FlagBlock64) }, "tls.cipher.3des",
		"64-bit block ciphers (3DES, DES, IDEA): a long connection repeats blocks (CVE-2016-2183)"},
	{"beast", "BEAST", func(s Suite, v uint16) bool { return s.Has(FlagCBC) && v <= VersionTLS10 }, "",
		"CBC suites with SSL 3.0 or TLS 1.0, whose predictable IVs allow a chosen-plaintext attack (CVE-2011-3389)"},
	{"lucky13", "LUCKY13", func(s Suite, v uint16) bool { return s.Has(FlagCBC) && v < VersionTLS13 }, "",
		"CBC suites with MAC-then-encrypt, open to padding-timing attacks where the implementation is not constant-time (CVE-2013-0169)"},
	{"logjam", "LOGJAM", func(s Suite, _ uint16) bool { return s.Has(FlagExport) && s.isDHE() }, "",
		"export Diffie-Hellman suites (512-bit groups) a man in the middle can downgrade to (CVE-2015-4000)"},
	{"freak", "FREAK", func(s Suite, _ uint16) bool { return s.Has(FlagExport) && s.Kx == "RSA" }, "tls.cipher.export",
		"export RSA suites (512-bit temporary keys) a man in the middle can downgrade to (CVE-2015-0204)"},
	{"rc4", "RC4", func(s Suite, _ uint16) bool { return s.Has(FlagRC4) }, "tls.cipher.rc4",
		"RC4, whose biases reveal repeated plaintext (RFC 7465, CVE-2013-2566, CVE-2015-2808)"},
	{"null", "cipherlist_NULL", func(s Suite, _ uint16) bool { return s.Has(FlagNull) }, "tls.cipher.null",
		"suites without encryption"},
	{"anon", "cipherlist_aNULL", func(s Suite, _ uint16) bool { return s.Has(FlagAnon) }, "tls.cipher.anon",
		"suites without server authentication"},
	{"export", "cipherlist_EXPORT", func(s Suite, _ uint16) bool { return s.Has(FlagExport) }, "tls.cipher.export",
		"export-grade suites (40- and 56-bit keys, 512-bit key exchange)"},
}

// categoryResults judges every category from the accepted suites.
func (sc *scanner) categoryResults() []VulnResult {
	var out []VulnResult
	newest := uint16(0)
	for _, v := range sc.res.Versions {
		if v.Supported && v.Code > newest {
			newest = v.Code
		}
	}
	for _, c := range categories {
		r := VulnResult{Check: c.check, Testssl: c.testssl, graded: c.graded != "", mxInfo: true}
		var hits []string
		for _, v := range sc.res.Versions {
			for _, s := range v.Suites {
				if c.match(suiteOf(s.ID), v.Code) {
					hits = append(hits, v.Version+" "+suiteOf(s.ID).ShortName())
				}
			}
		}
		switch {
		case len(sc.res.Versions) == 0 || newest == 0:
			r.Status, r.Detail = VulnNotTestable, "no suites were enumerated"
		case len(hits) == 0:
			r.Status, r.Detail = VulnNotVulnerable, "none accepted: "+c.why
		default:
			r.Status = VulnVulnerable
			r.Detail = fmt.Sprintf("%d accepted: %s; %s", len(hits), strings.Join(hits, ", "), c.why)
			if c.graded != "" {
				r.Detail += "; graded as " + c.graded
			}
			if c.check == "beast" && newest > VersionTLS10 {
				// testssl.sh: "VULNERABLE -- but also supports higher
				// protocols (likely mitigated)"; clients that can do
				// better do.
				r.Detail += fmt.Sprintf("; the server also speaks %s, which current clients use (likely mitigated)", VersionName(newest))
			} else if c.check == "beast" {
				r.warn = true
			}
		}
		out = append(out, r)
	}
	return out
}

// GroupOrder is the server's group preference for one version family
// (JSON: facts.scan.group_order).
type GroupOrder struct {
	Version string `json:"version"`
	// Preferred is the group the server picks from every accepted group
	// whatever their order: set when ServerOrder is true.
	Preferred   string `json:"preferred,omitempty"`
	ServerOrder *bool  `json:"server_order,omitempty"`
	Note        string `json:"note,omitempty"`
}

// groupOrder offers the accepted groups in order and reversed, without
// TLS 1.3 key shares (a HelloRetryRequest names the group the server
// wants, unswayed by which shares came): the same pick both times is the
// server's own preference; the first offered each time is the client's.
func (p *prober) groupOrder(ctx context.Context, v uint16, suites []uint16, groups []GroupResult, sni string) *GroupOrder {
	if len(groups) == 0 || len(suites) == 0 {
		return nil
	}
	label := "ECDHE"
	if v >= VersionTLS13 {
		label = "TLS 1.3"
	}
	g := &GroupOrder{Version: label}
	ids := make([]uint16, len(groups))
	for i, x := range groups {
		ids[i] = parseCode(x.Code)
	}
	if len(ids) == 1 {
		g.Preferred, g.Note = groups[0].Name, "only one group accepted"
		return g
	}
	pickOf := func(offer []uint16, n int) uint16 {
		h := ClientHello{Version: v, Suites: suites, Groups: offer, ServerName: sni}
		r := p.probe(ctx, h, fmt.Sprintf("%s group order #%d", label, n))
		if r.out != outAccepted && r.out != outRetry {
			return 0
		}
		return groupOf(r.flight)
	}
	rev := slices.Clone(ids)
	slices.Reverse(rev)
	a, b := pickOf(ids, 1), pickOf(rev, 2)
	t, f := true, false
	switch {
	case a == 0 || b == 0:
		g.Note = "a probe was refused"
	case a == b:
		g.ServerOrder, g.Preferred = &t, groupName(a)
	case a == ids[0] && b == rev[0]:
		g.ServerOrder = &f
	default:
		g.Note = fmt.Sprintf("inconsistent: %s, then %s", groupName(a), groupName(b))
	}
	return g
}

func groupName(id uint16) string {
	gr, _ := LookupGroup(id)
	return gr.Name
}
