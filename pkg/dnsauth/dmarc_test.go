package dnsauth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
)

// RFC 9989 policy selection, invalid policy tags, tag-name case, DNS
// failures and multi-author messages, each through the loopback DNS
// server.

func dmarcZone(t *testing.T) *dnstest.Server {
	t.Helper()
	z := dnstest.NewZone().MustAdd(
		// np: the organizational domain exists, one subdomain exists
		// (A), one only has an MX, "ghost" does not exist at all.
		`_dmarc.org.test. 300 IN TXT "v=DMARC1; p=reject; sp=quarantine; np=none; rua=mailto:d@org.test"`,
		`org.test. 300 IN A 192.0.2.1`,
		`exists.org.test. 300 IN A 192.0.2.2`,
		`mxonly.org.test. 300 IN MX 10 mail.org.test.`,
		`unsure.org.test. 300 IN TXT "the name exists but its A lookup fails"`,
		`_dmarc.org2.test. 300 IN TXT "v=DMARC1; p=reject; sp=none; np=quarantine; rua=mailto:d@org2.test"`,
		`org2.test. 300 IN A 192.0.2.1`,
		`exists.org2.test. 300 IN A 192.0.2.3`,
		// Invalid policy tags, with and without a valid rua.
		`_dmarc.badsp.test. 300 IN TXT "v=DMARC1; p=reject; sp=invalid; rua=mailto:d@badsp.test"`,
		`_dmarc.badnp.test. 300 IN TXT "v=DMARC1; p=reject; np=never; rua=mailto:d@badnp.test"`,
		`_dmarc.badsp-norua.test. 300 IN TXT "v=DMARC1; p=reject; sp=invalid"`,
		// Case.
		`_dmarc.case.test. 300 IN TXT "V=DMARC1; P=reject; SP=none; RUA=mailto:d@case.test"`,
		`_dmarc.lowerversion.test. 300 IN TXT "v=dmarc1; p=reject"`,
		// Several records at the author domain, a good one above.
		`_dmarc.sub.multi.test. 300 IN TXT "v=DMARC1; p=reject"`,
		`_dmarc.sub.multi.test. 300 IN TXT "v=DMARC1; p=none"`,
		`_dmarc.multi.test. 300 IN TXT "v=DMARC1; p=none; rua=mailto:d@multi.test"`,
		// Historic pct, np weaker than what it replaces.
		`_dmarc.pct.test. 300 IN TXT "v=DMARC1; p=reject; pct=50; rua=mailto:d@pct.test"`,
		`_dmarc.npsame.test. 300 IN TXT "v=DMARC1; p=reject; sp=none; np=none; rua=mailto:d@npsame.test"`,
		`_dmarc.npweak.test. 300 IN TXT "v=DMARC1; p=reject; np=none; rua=mailto:d@npweak.test"`,
		// A record between the domain and its Organizational Domain.
		`_dmarc.mail.nest.test. 300 IN TXT "v=DMARC1; p=none; rua=mailto:d@nest.test"`,
		`_dmarc.nest.test. 300 IN TXT "v=DMARC1; p=reject; sp=quarantine"`,
		// An unusable record of the domain itself, a good one above.
		`_dmarc.inv.parentok.test. 300 IN TXT "v=DMARC1; p=bogus"`,
		`_dmarc.parentok.test. 300 IN TXT "v=DMARC1; p=reject"`,
	)
	z.Mark("unsure.org.test.", dns.TypeA, dnstest.ServFail)
	z.Mark("_dmarc.servfail.test.", 0, dnstest.ServFail)
	z.Mark("_dmarc.timeout.test.", 0, dnstest.Timeout)
	return dnstest.Start(t, z)
}

func TestDMARC_npForNonExistentSubdomains(t *testing.T) {
	srv := dmarcZone(t)
	ctx := context.Background()
	cases := []struct {
		domain, want, tag string
	}{
		// org.test: sp=quarantine; np=none.
		{"ghost.org.test", "none", "np"},        // NXDOMAIN for A, AAAA, MX
		{"deep.ghost.org.test", "none", "np"},   // also does not exist
		{"exists.org.test", "quarantine", "sp"}, // has an A record
		{"mxonly.org.test", "quarantine", "sp"}, // has only an MX: exists
		{"unsure.org.test", "quarantine", "sp"}, // A lookup fails: unknown, np not applied
		{"org.test", "reject", "p"},             // the domain's own record
		{"ghost.org2.test", "quarantine", "np"}, // org2.test: sp=none; np=quarantine
		{"exists.org2.test", "none", "sp"},      //
		{"ghost.npweak.test", "none", "np"},     // no sp: np still applies
		{"exists-not.case.test", "none", "sp"},  // no np: sp
		{"ghost.badsp.test", "none", "p"},       // invalid sp: the record acts as p=none
	}
	for _, c := range cases {
		p := dnsauth.DiscoverDMARC(ctx, newResolver(t, srv), c.domain)
		if got := p.Effective(); got != c.want || p.PolicyTag != c.tag {
			t.Errorf("%s: policy %s from %s=, want %s from %s= (exists: %q)", c.domain, got, p.PolicyTag, c.want, c.tag, p.Exists)
		}
		// An unsigned message from the domain fails DMARC; the
		// disposition is the selected policy.
		al := dnsauth.Align(ctx, newResolver(t, srv), p, "", "", nil)
		if al.Disposition != c.want || al.PolicyTag != c.tag {
			t.Errorf("%s: disposition %s (%s=), want %s (%s=)", c.domain, al.Disposition, al.PolicyTag, c.want, c.tag)
		}
	}

	// The report names the tag used, and np's finding says why.
	dc := dnsauth.CheckDMARC(ctx, newResolver(t, srv), "ghost.org.test")
	f, ok := find(dc.Findings(), "dmarc.np.applied")
	if !ok || !strings.Contains(f.Detail, "np=none") {
		t.Errorf("ghost.org.test: no dmarc.np.applied naming np=none: %v", codes(dc.Findings()))
	}
	if f, ok := find(dc.Findings(), "dmarc.record.inherited"); !ok || !strings.Contains(f.Detail, "(np=none)") {
		t.Errorf("inherited finding does not name np: %+v", f)
	}
	if _, ok := find(dc.Findings(), "dmarc.policy.enforced"); ok {
		t.Errorf("np=none applies, yet dmarc.policy.enforced: %v", codes(dc.Findings()))
	}
	dc = dnsauth.CheckDMARC(ctx, newResolver(t, srv), "exists.org.test")
	if _, ok := find(dc.Findings(), "dmarc.np.applied"); ok {
		t.Errorf("exists.org.test exists: %v", codes(dc.Findings()))
	}
	// A failed existence lookup is said, and makes the stage incomplete.
	rep, err := dnsauth.DMARCReport(ctx, dnsauth.DMARCOptions{Resolver: newResolver(t, srv), Domain: "unsure.org.test"})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Has("dmarc.existence.unknown") || rep.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("unsure.org.test: exit %d, %v", rep.ExitCode(report.Fail), codes(rep.Findings))
	}
}

func TestDMARC_invalidPolicyTags(t *testing.T) {
	srv := dmarcZone(t)
	ctx := context.Background()
	// RFC 7489 §6.6.3 and RFC 9989 §4.10.1: an invalid p, sp or np with
	// a valid rua: act as p=none, for the domain and its subdomains.
	for _, d := range []string{"badsp.test", "x.badsp.test", "badnp.test", "ghost.badnp.test"} {
		dc := dnsauth.CheckDMARC(ctx, newResolver(t, srv), d)
		if got := dc.Policy.Effective(); got != "none" {
			t.Errorf("%s: policy %q, want none", d, got)
		}
		if _, ok := find(dc.Findings(), "dmarc.policy.invalid"); !ok {
			t.Errorf("%s: no dmarc.policy.invalid: %v", d, codes(dc.Findings()))
		}
		if _, ok := find(dc.Findings(), "dmarc.policy.enforced"); ok {
			t.Errorf("%s: dmarc.policy.enforced with a record acted on as p=none: %v", d, codes(dc.Findings()))
		}
	}
	// Without a valid rua: no DMARC processing at all.
	dc := dnsauth.CheckDMARC(ctx, newResolver(t, srv), "badsp-norua.test")
	if dc.Policy.Record != nil {
		t.Errorf("badsp-norua.test: record used: %+v", dc.Policy.Record)
	}
	if _, ok := find(dc.Findings(), "dmarc.record.invalid"); !ok {
		t.Errorf("badsp-norua.test: %v", codes(dc.Findings()))
	}
	if _, ok := find(dc.Findings(), "dmarc.policy.enforced"); ok {
		t.Errorf("badsp-norua.test: enforced: %v", codes(dc.Findings()))
	}
}

func TestDMARC_tagNameCase(t *testing.T) {
	// Tag names are case-insensitive (quoted strings in the ABNF, RFC
	// 5234 §2.3), so "V=" is "v=". The version value is not: RFC 9989
	// §4.7 says v "MUST have the value of DMARC1" and "MUST match
	// precisely" (RFC 7489's ABNF spells it in hex, %x44 %x4d ...), so
	// "v=dmarc1" is not a DMARC record.
	srv := dmarcZone(t)
	ctx := context.Background()
	p := dnsauth.DiscoverDMARC(ctx, newResolver(t, srv), "case.test")
	if p.Record == nil || p.Effective() != "reject" || p.Record.SP != "none" || len(p.Record.RUA) != 1 {
		t.Fatalf("V=DMARC1; P=reject: %+v %+v", p, p.Record)
	}
	if !dnsauth.IsDMARCRecord("V=DMARC1; P=reject") || dnsauth.IsDMARCRecord("v=dmarc1; p=reject") {
		t.Error("IsDMARCRecord: V= must count, dmarc1 must not")
	}
	if p := dnsauth.DiscoverDMARC(ctx, newResolver(t, srv), "lowerversion.test"); p.Record != nil {
		t.Errorf("v=dmarc1 accepted: %+v", p.Record)
	}
}

func TestDMARC_dnsFailureIsTemperror(t *testing.T) {
	srv := dmarcZone(t)
	ctx := context.Background()
	for _, d := range []string{"servfail.test", "timeout.test"} {
		msg := "From: a@" + d + "\r\nTo: b@example.net\r\nSubject: x\r\n\r\nbody\r\n"
		rep, err := dnsauth.DMARCReport(ctx, dnsauth.DMARCOptions{Resolver: newResolver(t, srv), Message: []byte(msg)})
		if err != nil {
			t.Fatal(err)
		}
		f, ok := find(rep.Findings, "dmarc.result.temperror")
		if !ok || !strings.Contains(f.Detail, "unknown") || rep.Has("dmarc.result.none") {
			t.Errorf("%s: %v", d, codes(rep.Findings))
		}
		if got := rep.ExitCode(report.Fail); got != report.ExitIncomplete {
			t.Errorf("%s: exit %d, want %d (incomplete)", d, got, report.ExitIncomplete)
		}
	}
}

func TestDMARC_smallerVerdicts(t *testing.T) {
	srv := dmarcZone(t)
	ctx := context.Background()
	check := func(domain string, want, not []string) {
		t.Helper()
		dc := dnsauth.CheckDMARC(ctx, newResolver(t, srv), domain)
		for _, c := range want {
			if _, ok := find(dc.Findings(), c); !ok {
				t.Errorf("%s: missing %s; got %v", domain, c, codes(dc.Findings()))
			}
		}
		for _, c := range not {
			if _, ok := find(dc.Findings(), c); ok {
				t.Errorf("%s: unexpected %s; got %v", domain, c, codes(dc.Findings()))
			}
		}
	}
	// Several records at the author domain are all discarded, as if
	// there were none (RFC 9989 §4.10, DNS Tree Walk step 2): the
	// Organizational Domain's policy applies, and nothing is "ok".
	check("sub.multi.test", []string{"dmarc.record.multiple", "dmarc.record.inherited"}, []string{"dmarc.record.ok", "dmarc.record.missing"})
	// pct is historic like rf and ri.
	dc := dnsauth.CheckDMARC(ctx, newResolver(t, srv), "pct.test")
	if f, ok := find(dc.Findings(), "dmarc.tag.historic"); !ok || !strings.Contains(f.Detail, `"pct"`) {
		t.Errorf("pct.test: no historic finding for pct: %v", codes(dc.Findings()))
	}
	// np is compared with what it replaces for non-existent
	// subdomains: sp when given, else p.
	check("npsame.test", []string{"dmarc.sp.weaker"}, []string{"dmarc.np.weaker"})
	check("npweak.test", []string{"dmarc.np.weaker"}, nil)
}

func TestDMARC_multipleAuthors(t *testing.T) {
	srv := dmarcZone(t)
	ctx := context.Background()
	body := "To: b@example.net\r\nSubject: x\r\n\r\nbody\r\n"
	cases := []struct {
		from string
		want string
	}{
		// RFC 9989: a multi-valued From with several domains "MUST be
		// exempt from DMARC checking".
		{"From: a@org.test, b@other.test\r\n", "dmarc.from.multiple"},
		// One domain for every author: DMARC is evaluated.
		{"From: a@org.test, B@ORG.test\r\n", "dmarc.result.fail"},
		// Two From fields: forbidden by RFC 5322 §3.6.
		{"From: a@org.test\r\nFrom: b@other.test\r\n", "dmarc.from.invalid"},
		{"", "dmarc.from.invalid"},
	}
	for _, c := range cases {
		rep, err := dnsauth.DMARCReport(ctx, dnsauth.DMARCOptions{Resolver: newResolver(t, srv), Message: []byte(c.from + body)})
		if err != nil {
			t.Errorf("%q: error %v, want a finding", c.from, err)
			continue
		}
		if !rep.Has(c.want) {
			t.Errorf("%q: no %s: %v", c.from, c.want, codes(rep.Findings))
		}
		if c.want != "dmarc.result.fail" && (rep.Has("dmarc.result.fail") || rep.Has("dmarc.result.pass") || rep.Has("dmarc.result.none")) {
			t.Errorf("%q: DMARC evaluated: %v", c.from, codes(rep.Findings))
		}
	}
}

// TestDMARC_policyDomain: RFC 9989 §4.10.1 takes the policy from the
// domain's own record, else its Organizational Domain's, else its Public
// Suffix Domain's; not from a record met on the way between them, and
// not from a parent when the domain's own record is unusable.
func TestDMARC_policyDomain(t *testing.T) {
	srv := dmarcZone(t)
	ctx := context.Background()
	cases := []struct{ domain, policyDomain, policy string }{
		{"a.mail.nest.test", "nest.test", "quarantine"}, // not mail.nest.test's p=none
		{"mail.nest.test", "mail.nest.test", "none"},
		{"nest.test", "nest.test", "reject"},
		{"sub.multi.test", "multi.test", "none"},
		{"inv.parentok.test", "", ""}, // its own record is unusable: no DMARC
		{"x.inv.parentok.test", "parentok.test", "reject"},
	}
	for _, c := range cases {
		p := dnsauth.DiscoverDMARC(ctx, newResolver(t, srv), c.domain)
		if p.PolicyDomain != c.policyDomain || p.Effective() != c.policy {
			t.Errorf("%s: policy %q from %q, want %q from %q", c.domain, p.Effective(), p.PolicyDomain, c.policy, c.policyDomain)
		}
	}
	dc := dnsauth.CheckDMARC(ctx, newResolver(t, srv), "inv.parentok.test")
	if _, ok := find(dc.Findings(), "dmarc.record.invalid"); !ok {
		t.Errorf("inv.parentok.test: %v", codes(dc.Findings()))
	}
	for _, not := range []string{"dmarc.record.inherited", "dmarc.record.missing", "dmarc.policy.enforced"} {
		if _, ok := find(dc.Findings(), not); ok {
			t.Errorf("inv.parentok.test: %s in %v", not, codes(dc.Findings()))
		}
	}
}
