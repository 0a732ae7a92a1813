package dnsauth_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/pkg/dnsauth"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
)

func TestAudit_goodDomain(t *testing.T) {
	dns := zoneServer(t)
	web := policyServer(t)
	r := newResolver(t, dns)
	o := dnsauth.AuditOptions{
		HTTP: dnsauth.HTTPOptions{Client: web.Client(), PolicyURL: func(d string) string { return web.URL + "/" + d }},
	}
	rep := audit(t, r, "good.test", o)
	if rep.Incomplete {
		t.Fatalf("incomplete: %+v", rep.Stages)
	}
	for _, c := range []string{"mx.ok", "spf.record.ok", "spf.all.ok", "dmarc.policy.enforced", "dkim.key.ok", "mtasts.policy.ok", "tlsrpt.ok", "bimi.ok", "ptr.ok", "dnssec.signed"} {
		if !rep.Has(c) {
			t.Errorf("missing %s", c)
		}
	}
	if w := rep.Worst(); w > report.Info {
		for _, f := range rep.Findings {
			if f.Severity > report.Info {
				t.Errorf("%s %s: %s", f.Severity, f.Code, f.Detail)
			}
		}
	}
	// Every question was asked once, however many checks needed it.
	if rep := dns.Repeated(); len(rep) != 0 {
		t.Errorf("questions asked twice: %v", rep)
	}
	// Every area is a stage; DNSBL is off by default.
	if len(rep.Stages) != 11 {
		t.Errorf("%d stages", len(rep.Stages))
	}
	if st, _ := rep.Stage("dnsbl"); st.Status != report.StatusSkipped {
		t.Errorf("dnsbl stage %+v", st)
	}
}

func TestAudit_badDomainWorstFirst(t *testing.T) {
	dns := zoneServer(t)
	r := newResolver(t, dns)
	rep := audit(t, r, "spf.test", dnsauth.AuditOptions{IP: netip.MustParseAddr("127.0.0.2"), DNSBL: true, DNSBLLists: []string{"bl.test"}})
	// spf.test has no SPF, no DMARC, no MX: fails first, grouped by area.
	if rep.Findings[0].Severity != report.Fail {
		t.Fatalf("first finding %s %s", rep.Findings[0].Severity, rep.Findings[0].Code)
	}
	for _, c := range []string{"spf.record.missing", "dmarc.record.missing", "mx.record.missing", "dnsbl.listed", "ptr.missing"} {
		if !rep.Has(c) {
			t.Errorf("missing %s: %v", c, codes(rep.Findings))
		}
	}
	// Areas appear in stage order and findings are grouped by area.
	pos := map[string]int{}
	for i, s := range rep.Stages {
		pos[s.Name] = i
	}
	last := -1
	for _, f := range rep.Findings {
		if pos[f.Stage] < last {
			t.Fatalf("finding %s (%s) out of area order", f.Code, f.Stage)
		}
		last = pos[f.Stage]
	}
	// Stages are worst first.
	if rep.Stages[0].Status != report.StatusFail {
		t.Errorf("first stage %+v", rep.Stages[0])
	}
	if rep.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("exit code %d", rep.ExitCode(report.Fail))
	}
}

func TestAudit_dnsFailureIsIncomplete(t *testing.T) {
	dns := zoneServer(t)
	rep := audit(t, newResolver(t, dns), "failing.mx.test", dnsauth.AuditOptions{})
	if !rep.Incomplete || rep.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("a SERVFAIL must make the run incomplete; stages %+v", rep.Stages)
	}
}

// With DANE --connect the STARTTLS dialogues are the report's transcript
// (what -v prints), the dane stage points at them, and their offsets
// count from the start of the run.
func TestAudit_daneTranscript(t *testing.T) {
	cert := selfSigned(t, "mx.dane.test")
	port := smtpServer(t, cert, true)
	z := dnstest.NewZone().MustAdd(
		"audit.dane.test. 300 IN MX 10 mx.dane.test.",
		"mx.dane.test. 300 IN A 127.0.0.1",
		fmt.Sprintf("_%d._tcp.mx.dane.test. 300 IN TLSA 3 1 1 %s", port, tlsaData(cert.Leaf, 1, 1)),
	)
	z.Mark("dane.test.", 0, dnstest.Secure)
	srv := dnstest.Start(t, z)
	o := dnsauth.AuditOptions{
		Selectors: []string{"s1"},
		HTTP:      dnsauth.HTTPOptions{PolicyURL: func(string) string { return "https://127.0.0.1:1/" }},
		DANE:      dnsauth.DANEOptions{Connect: true, Port: port, Timeouts: daneTimeouts},
	}
	rep := audit(t, patientResolver(t, srv), "audit.dane.test", o)
	if !rep.Has("dane.cert.match") {
		t.Fatalf("no dane.cert.match: %v", codes(rep.Findings))
	}
	if len(rep.Transcript) == 0 {
		t.Fatal("no transcript")
	}
	text := transcriptText(rep.Transcript)
	for _, want := range []string{"C: EHLO", "C: STARTTLS", "S: 220 go ahead", "TLS established", "DANE: the certificate matches"} {
		if !strings.Contains(text, want) {
			t.Errorf("transcript lacks %q:\n%s", want, text)
		}
	}
	st, _ := rep.Stage("dane")
	if len(st.Seq) != 2 || st.Seq[0] != 1 || st.Seq[1] != len(rep.Transcript) {
		t.Errorf("dane stage seq %v, transcript of %d", st.Seq, len(rep.Transcript))
	}
	if !strings.Contains(st.Summary, "1 of 1 address(es) serve a matching certificate") {
		t.Errorf("dane stage summary %q", st.Summary)
	}
	for _, e := range rep.Transcript {
		if e.T < st.Start || e.T > rep.Duration {
			t.Errorf("entry %d at %s, outside the dane stage (%s) and the run (%s)", e.Seq, e.T, st.Start, rep.Duration)
		}
	}
}

// audit runs the posture audit of domain through r.
func audit(t *testing.T, r resolver.Interface, domain string, o dnsauth.AuditOptions) *report.Report {
	t.Helper()
	o.Resolver, o.Domain = r, domain
	rep, err := dnsauth.Audit(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
