package dnsauth_test

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

// zoneServer serves testdata/dns/dnsauth.zone; each test gets a fresh
// resolver (and so a fresh cache) on it.
func zoneServer(t *testing.T) *dnstest.Server {
	t.Helper()
	return dnstest.StartFiles(t, "../../testdata/dns/dnsauth.zone")
}

func newResolver(t *testing.T, srv *dnstest.Server) *resolver.Resolver {
	t.Helper()
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: 700 * time.Millisecond, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func codes(fs []report.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Code)
	}
	return out
}

func find(fs []report.Finding, code string) (report.Finding, bool) {
	for _, f := range fs {
		if f.Code == code {
			return f, true
		}
	}
	return report.Finding{}, false
}

// expectCodes checks that every wanted code is present and no unwanted one.
func expectCodes(t *testing.T, fs []report.Finding, want []string, not []string) {
	t.Helper()
	got := codes(fs)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("missing %s; got %v", w, got)
		}
	}
	for _, n := range not {
		if slices.Contains(got, n) {
			t.Errorf("unexpected %s; got %v", n, got)
		}
	}
}

func TestAnalyzeSPF(t *testing.T) {
	srv := zoneServer(t)
	cases := []struct {
		domain  string
		want    []string
		not     []string
		lookups int
	}{
		{"good.test", []string{"spf.record.ok", "spf.all.ok", "spf.lookups.ok"}, []string{"spf.void.lookup"}, 2},
		{"nokeys.test", []string{"spf.record.ok", "spf.all.ok"}, nil, 0},
		{"missing.spf.test", []string{"spf.record.missing"}, []string{"spf.record.ok"}, 0},
		{"plusall.spf.test", []string{"spf.all.pass"}, nil, 0},
		{"neutral.spf.test", []string{"spf.all.neutral"}, nil, 0},
		{"noall.spf.test", []string{"spf.all.missing"}, nil, 0},
		{"multi.spf.test", []string{"spf.record.multiple"}, []string{"spf.record.ok"}, 0},
		{"syntax.spf.test", []string{"spf.record.syntax"}, []string{"spf.record.ok"}, 0},
		{"ptr.spf.test", []string{"spf.ptr.used"}, nil, 1},
		{"broad.spf.test", []string{"spf.range.broad"}, nil, 0},
		{"redirect.spf.test", []string{"spf.record.ok"}, []string{"spf.all.missing"}, 1},
		{"redirall.spf.test", []string{"spf.redirect.ignored"}, nil, 0},
		{"missinc.spf.test", []string{"spf.include.missing"}, nil, 1},
		{"loop.spf.test", []string{"spf.include.loop"}, nil, 2},
		{"broken.spf.test", []string{"spf.dns.error"}, []string{"spf.include.missing"}, 1},
		{"slow.spf.test", []string{"spf.dns.error"}, nil, 1},
		{"void.spf.test", []string{"spf.void.over-limit"}, nil, 3},
		{"onevoid.spf.test", []string{"spf.void.lookup"}, []string{"spf.void.over-limit"}, 1},
		{"malformedv.spf.test", []string{"spf.record.malformed-version", "spf.record.missing"}, nil, 0},
		{"over.spf.test", []string{"spf.lookups.over-limit"}, []string{"spf.lookups.ok"}, 11},
		{"nine.spf.test", []string{"spf.lookups.near-limit"}, nil, 9},
		{"toomanymx.spf.test", []string{"spf.mx.too-many"}, nil, 1},
		{"macro.spf.test", []string{"spf.record.ok"}, []string{"spf.void.lookup"}, 2},
	}
	for _, c := range cases {
		t.Run(c.domain, func(t *testing.T) {
			a := dnsauth.AnalyzeSPF(context.Background(), newResolver(t, srv), c.domain)
			expectCodes(t, a.Findings(), c.want, c.not)
			if a.Lookups != c.lookups {
				t.Errorf("lookups = %d, want %d\n%s", a.Lookups, c.lookups, a.Tree.TreeText())
			}
		})
	}
}

func TestAnalyzeSPF_culpritAndTree(t *testing.T) {
	srv := zoneServer(t)
	a := dnsauth.AnalyzeSPF(context.Background(), newResolver(t, srv), "over.spf.test")
	want := "over.spf.test > include:b.over.spf.test > a:h4.spf.test"
	if a.Culprit != want {
		t.Errorf("culprit = %q, want %q", a.Culprit, want)
	}
	// Per-branch counts: the root has 2 includes, a has 5, b has 4.
	if a.Tree.Total != 11 || a.Tree.Lookups != 2 || len(a.Tree.Children) != 2 ||
		a.Tree.Children[0].Total != 5 || a.Tree.Children[1].Total != 4 {
		t.Errorf("tree counts wrong:\n%s", a.Tree.TreeText())
	}
	f, _ := find(a.Findings(), "spf.lookups.over-limit")
	if !strings.Contains(f.Detail, want) || len(f.Evidence) == 0 || !strings.Contains(f.Evidence[0].Text, "include:b.over.spf.test  [4 lookups]") {
		t.Errorf("finding does not name the culprit or show the tree: %+v", f)
	}
	v := dnsauth.AnalyzeSPF(context.Background(), newResolver(t, srv), "void.spf.test")
	if v.VoidCulprit != "void.spf.test > a:gone3.spf.test" {
		t.Errorf("void culprit = %q", v.VoidCulprit)
	}
}

func TestCheckHost_evaluation(t *testing.T) {
	srv := zoneServer(t)
	cases := []struct {
		ip, sender string
		want       dnsauth.SPFResult
		matched    string
	}{
		{"198.51.100.7", "a@good.test", dnsauth.SPFPass, "ip4:198.51.100.0/24"},
		{"192.0.2.10", "a@good.test", dnsauth.SPFPass, "mx"},
		{"2001:db8::10", "a@good.test", dnsauth.SPFPass, "mx"},
		{"203.0.113.1", "a@good.test", dnsauth.SPFFail, "-all"},
		{"192.0.2.99", "x@redirect.spf.test", dnsauth.SPFPass, "ip4:192.0.2.99"},
		{"203.0.113.1", "x@neutral.spf.test", dnsauth.SPFNeutral, "?all"},
		{"203.0.113.1", "x@missing.spf.test", dnsauth.SPFNone, ""},
		{"203.0.113.1", "x@multi.spf.test", dnsauth.SPFPermError, ""},
		{"203.0.113.1", "x@over.spf.test", dnsauth.SPFPermError, ""},
		{"203.0.113.1", "x@void.spf.test", dnsauth.SPFPermError, ""},
		{"203.0.113.1", "x@broken.spf.test", dnsauth.SPFTempError, ""},
		{"203.0.113.1", "x@slow.spf.test", dnsauth.SPFTempError, ""},
		{"203.0.113.1", "x@loop.spf.test", dnsauth.SPFPermError, ""},
		{"203.0.113.1", "x@toomanymx.spf.test", dnsauth.SPFPermError, ""},
	}
	for _, c := range cases {
		t.Run(c.sender+"/"+c.ip, func(t *testing.T) {
			r := newResolver(t, srv)
			ev := dnsauth.CheckHost(context.Background(), r, dnsauth.SPFQuery{IP: netip.MustParseAddr(c.ip), Sender: c.sender, Helo: "mail.example"})
			if ev.Result != c.want || ev.Matched != c.matched {
				t.Errorf("result %s matched %q (problem %q), want %s %q", ev.Result, ev.Matched, ev.Problem, c.want, c.matched)
			}
			// A hostile zone must not make the evaluation wait on more
			// than the RFC's limits allow (counted, not timed).
			if st := r.Stats(); st.Exchanges > 25 {
				t.Errorf("%d packets sent: the evaluation went past the limits", st.Exchanges)
			}
		})
	}
}

func TestCheckHost_hostileHugeTXT(t *testing.T) {
	// A 60 KiB TXT answer (truncated over UDP, fetched over TCP) holding
	// the SPF record plus padding records: evaluated, not choked on.
	z := dnstest.NewZone()
	pad := strings.Repeat("x", 255)
	for i := 0; i < 230; i++ {
		z.Add(txtRR("huge.test.", pad))
	}
	z.Add(txtRR("huge.test.", "v=spf1 ip4:192.0.2.1 -all"))
	srv := dnstest.Start(t, z)
	r := newResolver(t, srv)
	ev := dnsauth.CheckHost(context.Background(), r, dnsauth.SPFQuery{IP: netip.MustParseAddr("192.0.2.1"), Sender: "a@huge.test"})
	if ev.Result != dnsauth.SPFPass {
		t.Fatalf("result %s (%s)", ev.Result, ev.Problem)
	}
	if r.Stats().Truncated != 1 {
		t.Errorf("expected one truncated answer retried over TCP, stats %+v", r.Stats())
	}
}

func TestSPFReport_withIP(t *testing.T) {
	srv := zoneServer(t)
	rep, _ := dnsauth.SPFReport(context.Background(), dnsauth.SPFOptions{Resolver: newResolver(t, srv), Domain: "good.test", IP: netip.MustParseAddr("203.0.113.9")})
	if !rep.Has("spf.result.fail") || !rep.Has("spf.record.ok") {
		t.Fatalf("codes %v", codes(rep.Findings))
	}
	if rep.Findings[0].Severity != report.Fail {
		t.Errorf("worst finding not first: %v", codes(rep.Findings))
	}
	if rep.Incomplete {
		t.Error("report marked incomplete")
	}
	rep, _ = dnsauth.SPFReport(context.Background(), dnsauth.SPFOptions{Resolver: newResolver(t, srv), Domain: "broken.spf.test"})
	if !rep.Incomplete || rep.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("a SERVFAIL in the tree must make the run incomplete (exit 3)")
	}
}

func TestCheckDKIM(t *testing.T) {
	srv := zoneServer(t)
	cases := []struct {
		sel  string
		want []string
		not  []string
	}{
		{"rsa2048", []string{"dkim.key.ok"}, []string{"dkim.key.short"}},
		{"rsa1024", []string{"dkim.key.short"}, []string{"dkim.key.ok"}},
		{"rsa512", []string{"dkim.key.weak"}, nil},
		{"ed", []string{"dkim.key.ok", "dkim.key.ed25519-only"}, nil},
		{"testing", []string{"dkim.key.testing", "dkim.key.ok"}, nil},
		{"revoked", []string{"dkim.key.revoked"}, []string{"dkim.key.ok"}},
		{"syntax", []string{"dkim.key.syntax"}, nil},
		{"badb64", []string{"dkim.key.syntax"}, nil},
		{"unknownk", []string{"dkim.key.unsupported"}, nil},
		{"sha1", []string{"dkim.key.sha1-only"}, nil},
		{"two", []string{"dkim.key.multiple"}, nil},
		{"edspki", []string{"dkim.key.syntax"}, nil},
		{"absent", []string{"dkim.key.missing"}, nil},
		{"dnsfail", []string{"dkim.dns.error"}, nil},
		{"google", []string{"dkim.key.ok"}, nil},
	}
	for _, c := range cases {
		t.Run(c.sel, func(t *testing.T) {
			dc := dnsauth.CheckDKIM(context.Background(), newResolver(t, srv), "dkim.test", []string{c.sel})
			expectCodes(t, dc.Findings(), c.want, c.not)
		})
	}
	// The CNAME is reported.
	dc := dnsauth.CheckDKIM(context.Background(), newResolver(t, srv), "dkim.test", []string{"google"})
	if len(dc.Keys) != 1 || dc.Keys[0].CNAME != "rsa2048._domainkey.dkim.test" || dc.Keys[0].Bits != 2048 {
		t.Errorf("keys %+v", dc.Keys)
	}
}

func TestCheckDKIM_commonSelectors(t *testing.T) {
	srv := zoneServer(t)
	r := newResolver(t, srv)
	dc := dnsauth.CheckDKIM(context.Background(), r, "dkim.test", nil)
	if !dc.Guessed || len(dc.Keys) != 1 || dc.Keys[0].Selector != "google" {
		t.Fatalf("keys %+v", dc.Keys)
	}
	// Missing keys at guessed selectors are not failures.
	expectCodes(t, dc.Findings(), []string{"dkim.key.ok"}, []string{"dkim.key.missing", "dkim.selector.none-found"})
	nr := newResolver(t, srv)
	dc = dnsauth.CheckDKIM(context.Background(), nr, "nokeys.test", nil)
	f, ok := find(dc.Findings(), "dkim.selector.none-found")
	if !ok || !strings.Contains(f.Detail, "NXDOMAIN") {
		t.Errorf("want dkim.selector.none-found with the RFC 8020 hint, got %v", dc.Findings())
	}
	// _domainkey.nokeys.test does not exist: no selector below it is
	// asked (RFC 8020), one question instead of 38.
	if st := nr.Stats(); st.Queries != 1 || srv.Count("default._domainkey.nokeys.test", dns.TypeTXT) != 0 {
		t.Errorf("the sweep asked %d questions under an NXDOMAIN _domainkey", st.Queries)
	}
	// Concurrent: every selector asked once.
	if st := r.Stats(); st.Queries < int64(len(dnsauth.CommonDKIMSelectors)) {
		t.Errorf("stats %+v", st)
	}
}

func TestParseDKIMKey(t *testing.T) {
	k, err := dnsauth.ParseDKIMKey("v=DKIM1; k=rsa; t=y:s; h=sha256; s=email; n=hello; x=1; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBALgSoqXVSEmfcIsOzw7oRuCCOwsmtX/SJnTWxYyj2leFxfS/AVJ+dYfY+hXqMsT7l+MZvvh/RsLJ8j0kU7jzjJkCAwEAAQ==")
	if err != nil || k.Bits != 512 || !k.Testing || !k.Strict || k.Notes != "hello" || !slices.Equal(k.Unknown, []string{"x"}) {
		t.Fatalf("%+v %v", k, err)
	}
	for rec, tag := range map[string]string{
		"k=rsa; p":                "p",
		"p=AAAA; v=DKIM1":         "v",
		"v=DKIM2; p=":             "v",
		"s=chat; p=AAAA":          "s",
		"k=rsa":                   "p",
		"p=AAAA; p=AAAA":          "p",
		"k=ed25519; p=AAAA":       "p",
		"k=foo; p=AAAA":           "k",
		"h=sha1; p=AAAA":          "h",
		"v=DKIM1; p=QUJD; k=rsa;": "p",
	} {
		_, err := dnsauth.ParseDKIMKey(rec)
		if err == nil {
			t.Errorf("%q: no error", rec)
			continue
		}
		if ke, ok := err.(*dnsauth.DKIMKeyError); ok && ke.Tag != tag {
			t.Errorf("%q: error on tag %q, want %q (%v)", rec, ke.Tag, tag, err)
		}
	}
	if k, err := dnsauth.ParseDKIMKey("v=DKIM1; p="); err != nil || !k.Revoked {
		t.Errorf("revoked: %+v %v", k, err)
	}
}

func TestCheckDMARC(t *testing.T) {
	srv := zoneServer(t)
	cases := []struct {
		domain string
		want   []string
		not    []string
	}{
		{"good.test", []string{"dmarc.record.ok", "dmarc.policy.enforced"}, []string{"dmarc.rua.unauthorized", "dmarc.tag.invalid"}},
		{"none.dmarc.test", []string{"dmarc.policy.none-unmonitored"}, nil},
		{"monitor.dmarc.test", []string{"dmarc.policy.none"}, []string{"dmarc.policy.none-unmonitored"}},
		{"multi.dmarc.test", []string{"dmarc.record.multiple"}, nil},
		{"badtags.dmarc.test", []string{"dmarc.tag.invalid", "dmarc.tag.unknown", "dmarc.tag.historic", "dmarc.policy.enforced", "dmarc.rua.missing"}, []string{"dmarc.record.ok"}},
		{"nop.dmarc.test", []string{"dmarc.record.invalid"}, nil},
		{"norua.dmarc.test", []string{"dmarc.policy.invalid", "dmarc.policy.none"}, []string{"dmarc.policy.enforced"}},
		{"badv.dmarc.test", []string{"dmarc.record.missing"}, nil},
		{"pct.dmarc.test", []string{"dmarc.pct.partial"}, nil},
		{"testing.dmarc.test", []string{"dmarc.policy.testing"}, nil},
		{"strict.dmarc.test", []string{"dmarc.alignment.strict"}, nil},
		{"ext.dmarc.test", []string{"dmarc.rua.unauthorized"}, nil},
		{"parent.dmarc.test", []string{"dmarc.sp.weaker"}, []string{"dmarc.np.weaker"}},
		{"child.parent.dmarc.test", []string{"dmarc.record.inherited", "dmarc.policy.none"}, nil},
		{"broken.dmarc.test", []string{"dmarc.dns.error"}, []string{"dmarc.record.missing"}},
		{"own.refusing.dmarc.test", []string{"dmarc.record.ok", "dmarc.policy.enforced", "dmarc.dns.error"}, nil},
		{"nodmarc.test", []string{"dmarc.record.missing"}, nil},
		{"psd.dmarc.test", []string{"dmarc.psd.unexpected"}, nil},
		{"mail.org1.psdtld", []string{"dmarc.record.inherited"}, nil},
	}
	for _, c := range cases {
		t.Run(c.domain, func(t *testing.T) {
			dc := dnsauth.CheckDMARC(context.Background(), newResolver(t, srv), c.domain)
			expectCodes(t, dc.Findings(), c.want, c.not)
		})
	}
	// Only the unauthorized external address is flagged.
	dc := dnsauth.CheckDMARC(context.Background(), newResolver(t, srv), "ext.dmarc.test")
	var auth []bool
	for _, d := range dc.Destinations {
		auth = append(auth, d.Authorized)
	}
	if !slices.Equal(auth, []bool{false, true}) || dc.Destinations[1].Checked != "ext.dmarc.test._report._dmarc.authorized.test" {
		t.Errorf("destinations %+v", dc.Destinations)
	}
}

func TestDiscoverDMARC_treeWalk(t *testing.T) {
	srv := zoneServer(t)
	ctx := context.Background()
	// Found at the domain itself.
	p := dnsauth.DiscoverDMARC(ctx, newResolver(t, srv), "good.test")
	if p.PolicyDomain != "good.test" || p.OrgDomain != "good.test" || len(p.Lookups) != 2 {
		t.Errorf("good.test: %+v", p)
	}
	// Inherited from the parent, one label up.
	p = dnsauth.DiscoverDMARC(ctx, newResolver(t, srv), "a.b.child.parent.dmarc.test")
	if p.PolicyDomain != "parent.dmarc.test" || p.Effective() != "none" {
		t.Errorf("inherited: policy domain %q effective %q", p.PolicyDomain, p.Effective())
	}
	// RFC 9989 psd=y above: the Organizational Domain is the label below
	// the PSD, and the PSL (which does not know "psdtld") agrees only by
	// accident of its default rule.
	p = dnsauth.DiscoverDMARC(ctx, newResolver(t, srv), "mail.org1.psdtld")
	if p.PolicyDomain != "org1.psdtld" || p.OrgDomain != "org1.psdtld" {
		t.Errorf("psd: %+v", p)
	}
	p = dnsauth.DiscoverDMARC(ctx, newResolver(t, srv), "x.other.psdtld")
	if p.PolicyDomain != "psdtld" || p.OrgDomain != "other.psdtld" {
		t.Errorf("psd walk: policy %q org %q", p.PolicyDomain, p.OrgDomain)
	}
	// Eight labels or more: the walk jumps to seven.
	p = dnsauth.DiscoverDMARC(ctx, newResolver(t, srv), "1.2.3.4.5.6.7.8.9.good.test")
	var asked []string
	for _, l := range p.Lookups {
		asked = append(asked, l.Domain)
	}
	if asked[1] != "5.6.7.8.9.good.test" || p.PolicyDomain != "good.test" || len(asked) > 8 {
		t.Errorf("walk asked %v", asked)
	}
}

func TestParseDMARC_table(t *testing.T) {
	// RFC 9989 replaced RFC 7489: pct, rf and ri are historic but still
	// parsed; np, psd and t are new.
	cases := []struct {
		rec     string
		ok      bool
		p, sp   string
		errTags []string
	}{
		{"v=DMARC1; p=reject", true, "reject", "", nil},
		{"v=DMARC1;p=quarantine;sp=none;", true, "quarantine", "none", nil},
		{"v=DMARC1; p=REJECT", true, "reject", "", nil},
		{" v = DMARC1 ; p = none ", true, "none", "", nil},
		{"v=DMARC1; p=reject; np=reject; psd=n; t=n", true, "reject", "", nil},
		{"v=DMARC1; p=bogus; rua=mailto:a@b.example", true, "none", "", []string{"p"}},
		{"v=DMARC1; p=bogus", false, "", "", nil},
		{"p=reject; v=DMARC1", false, "", "", nil},
		{"v=DMARC1", false, "", "", nil},
		{"v=dmarc1; p=reject", false, "", "", nil},
		{"v=DMARC1; p=reject; pct=101", true, "reject", "", []string{"pct"}},
		{"v=DMARC1; p=reject; pct=x", true, "reject", "", []string{"pct"}},
		{"v=DMARC1; p=reject; adkim=q; aspf=", true, "reject", "", []string{"adkim", "aspf"}},
		{"v=DMARC1; p=reject; fo=0:1:x", true, "reject", "", []string{"fo"}},
		{"v=DMARC1; p=reject; rua=mailto:a@b.example!10m,http://x.example/r", true, "reject", "", nil},
		{"v=DMARC1; p=reject; rua=a@b.example", true, "reject", "", []string{"rua"}},
		{"v=DMARC1; p=reject; rua=mailto:a@b.example!x", true, "reject", "", []string{"rua"}},
		{"v=DMARC1; p=reject; ri=-1; rf=iodef", true, "reject", "", []string{"ri", "rf"}},
		{"v=DMARC1; p=reject; t=maybe; psd=q", true, "reject", "", []string{"t", "psd"}},
		{"v=DMARC1; p=reject; p=none", true, "reject", "", []string{"p"}},
	}
	for _, c := range cases {
		rec, err := dnsauth.ParseDMARC(c.rec)
		if (err == nil) != c.ok {
			t.Errorf("%q: err = %v, want ok=%v", c.rec, err, c.ok)
			continue
		}
		if err != nil {
			continue
		}
		var tags []string
		for _, e := range rec.Errors {
			tags = append(tags, e.Tag)
		}
		if rec.P != c.p || rec.SP != c.sp || !slices.Equal(tags, c.errTags) {
			t.Errorf("%q: p=%q sp=%q errors %v, want %q %q %v", c.rec, rec.P, rec.SP, rec.Errors, c.p, c.sp, c.errTags)
		}
	}
}

func TestAlign(t *testing.T) {
	srv := zoneServer(t)
	ctx := context.Background()
	r := newResolver(t, srv)
	pol := dnsauth.DiscoverDMARC(ctx, r, "good.test")
	cases := []struct {
		name            string
		spfDom, spfRes  string
		dkim            []dnsauth.DKIMIdentity
		result          string
		spfAl, dkimAl   bool
		strictPol       bool
		wantDisposition string
	}{
		{"spf aligned", "good.test", "pass", nil, "pass", true, false, false, ""},
		{"spf relaxed subdomain", "bounce.good.test", "pass", nil, "pass", true, false, false, ""},
		{"spf pass unaligned", "provider.test", "pass", nil, "fail", false, false, false, "reject"},
		{"spf fail aligned domain", "good.test", "fail", nil, "fail", false, false, false, "reject"},
		{"dkim aligned", "provider.test", "pass", []dnsauth.DKIMIdentity{{"other.test", "pass"}, {"mail.good.test", "pass"}}, "pass", false, true, false, ""},
		{"dkim failed", "", "", []dnsauth.DKIMIdentity{{"good.test", "fail"}}, "fail", false, false, false, "reject"},
	}
	for _, c := range cases {
		a := dnsauth.Align(ctx, r, pol, c.spfDom, c.spfRes, c.dkim)
		if a.Result != c.result || a.SPFAligned != c.spfAl || a.DKIMAligned != c.dkimAl || a.Disposition != c.wantDisposition {
			t.Errorf("%s: %+v", c.name, a)
		}
	}
	// Strict alignment: a subdomain no longer aligns; t=y softens reject.
	strict := dnsauth.DiscoverDMARC(ctx, r, "strict.dmarc.test")
	if a := dnsauth.Align(ctx, r, strict, "bounce.strict.dmarc.test", "pass", nil); a.Result != "fail" {
		t.Errorf("strict: %+v", a)
	}
	testing := dnsauth.DiscoverDMARC(ctx, r, "testing.dmarc.test")
	if a := dnsauth.Align(ctx, r, testing, "x.test", "pass", nil); a.Disposition != "quarantine" {
		t.Errorf("t=y: %+v", a)
	}
	// Without a policy: none.
	if a := dnsauth.Align(ctx, r, dnsauth.DiscoverDMARC(ctx, r, "nodmarc.test"), "nodmarc.test", "pass", nil); a.Result != "none" {
		t.Errorf("no policy: %+v", a)
	}
	// The alignment function itself, with the PSL.
	for _, c := range []struct {
		from, auth, mode string
		want             bool
	}{
		{"example.co.uk", "mail.example.co.uk", "r", true},
		{"example.co.uk", "other.co.uk", "r", false},
		{"Example.COM", "example.com.", "s", true},
		{"a.example.com", "b.example.com", "s", false},
		{"a.example.com", "b.example.com", "r", true},
		{"example.com", "", "r", false},
	} {
		if got := dnsauth.Aligned(c.from, c.auth, c.mode, dnsauth.OrgDomainPSL); got != c.want {
			t.Errorf("Aligned(%q, %q, %s) = %v", c.from, c.auth, c.mode, got)
		}
	}
}

func TestCheckMX(t *testing.T) {
	srv := zoneServer(t)
	cases := []struct {
		domain string
		want   []string
		not    []string
	}{
		{"good.test", []string{"mx.ok"}, []string{"mx.target.cname"}},
		{"implicit.mx.test", []string{"mx.record.implicit"}, nil},
		{"nothing.mx.test", []string{"mx.record.missing"}, nil},
		{"doesnotexist.mx.test", []string{"mx.domain.nxdomain"}, nil},
		{"null.mx.test", []string{"mx.null"}, []string{"mx.ok"}},
		{"nullmixed.mx.test", []string{"mx.null.mixed", "mx.ok"}, nil},
		{"cname.mx.test", []string{"mx.target.cname", "mx.ok"}, nil},
		{"literal.mx.test", []string{"mx.target.ip-literal"}, []string{"mx.ok"}},
		{"unresolved.mx.test", []string{"mx.target.unresolved"}, []string{"mx.ok"}},
		{"private.mx.test", []string{"mx.target.private"}, nil},
		{"failing.mx.test", []string{"mx.dns.error"}, []string{"mx.target.unresolved"}},
	}
	for _, c := range cases {
		t.Run(c.domain, func(t *testing.T) {
			mc := dnsauth.CheckMX(context.Background(), newResolver(t, srv), c.domain)
			expectCodes(t, mc.Findings(), c.want, c.not)
		})
	}
	mc := dnsauth.CheckMX(context.Background(), newResolver(t, srv), "good.test")
	if len(mc.Hosts) != 2 || mc.Hosts[0].Host != "mx1.good.test" || len(mc.Hosts[0].Addrs) != 2 || !mc.AD {
		t.Errorf("hosts %+v AD %v", mc.Hosts, mc.AD)
	}
}

func TestCheckPTR(t *testing.T) {
	srv := zoneServer(t)
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10"), netip.MustParseAddr("192.0.2.20"), netip.MustParseAddr("192.0.2.21"), netip.MustParseAddr("192.0.2.250")}
	pc := dnsauth.CheckPTR(context.Background(), newResolver(t, srv), addrs, nil)
	got := codes(pc.Findings())
	want := []string{"ptr.ok", "ptr.ok", "ptr.ok", "ptr.unconfirmed", "ptr.missing"}
	if !slices.Equal(got, want) {
		t.Errorf("codes %v, want %v", got, want)
	}
}

func TestCheckDNSBL(t *testing.T) {
	srv := zoneServer(t)
	r := newResolver(t, srv)
	bl := dnsauth.CheckDNSBL(context.Background(), r, []netip.Addr{netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.1")}, []string{"bl.test", "refusing.test"})
	expectCodes(t, bl.Findings(), []string{"dnsbl.listed", "dnsbl.error"}, []string{"dnsbl.clean"})
	f, _ := find(bl.Findings(), "dnsbl.listed")
	if len(f.Evidence) == 0 || !strings.Contains(f.Evidence[0].Text, "bl.test/127.0.0.2") {
		t.Errorf("listing reason missing: %+v", f)
	}
	bl = dnsauth.CheckDNSBL(context.Background(), r, []netip.Addr{netip.MustParseAddr("127.0.0.1")}, []string{"bl.test"})
	expectCodes(t, bl.Findings(), []string{"dnsbl.clean"}, []string{"dnsbl.listed"})
	if got := dnsauth.DNSBLName(netip.MustParseAddr("2001:db8::1"), "bl.test"); !strings.HasPrefix(got, "1.0.0.0.") || !strings.HasSuffix(got, ".8.b.d.0.1.0.0.2.bl.test") {
		t.Errorf("IPv6 DNSBL name %s", got)
	}
}
