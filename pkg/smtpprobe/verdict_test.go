package smtpprobe_test

import (
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

// The stage list and the findings agree: VRFY confirming postmaster is a
// warning (smtp.vrfy.enabled), so the vrfy stage must not say FAIL.
func TestCheck_stageStatusIsItsWorstFinding(t *testing.T) {
	addr := testserver.Start(t, testserver.SMTP{Reply: map[string][]string{"VRFY": {"250 2.0.0 <postmaster@test.example>"}}}.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) { o.ProbeVRFY = true })
	f := finding(r, "smtp.vrfy.enabled")
	if f == nil || f.Severity != report.Warn {
		t.Fatalf("want smtp.vrfy.enabled warn: %v", codesOf(r))
	}
	if got := stageStatus(r, "vrfy"); got != report.StatusInfo {
		t.Errorf("vrfy stage %s with only a warning finding, want info", got)
	}
	// Every stage that ran agrees with its findings: a fail finding fails
	// its stage, and a FAIL stage has a fail finding.
	worst := map[string]report.Severity{}
	for _, f := range r.Findings {
		worst[f.Stage] = max(worst[f.Stage], f.Severity)
	}
	for _, s := range r.Stages {
		w, ok := worst[s.Name]
		if !ok {
			continue
		}
		if (s.Status == report.StatusFail) != (w == report.Fail) {
			t.Errorf("stage %s is %s while its worst finding is %s", s.Name, s.Status, w)
		}
	}
}

// A check over loopback says that the server may trust this client; a
// send (the question there is delivery, not posture) does not.
func TestCheck_loopbackClientIsNoted(t *testing.T) {
	addr := testserver.Start(t, testserver.SMTP{}.Handler())
	r := check(t, addr, nil)
	f := finding(r, "smtp.client.local")
	if f == nil || f.Severity != report.Info || f.Stage != "connect" {
		t.Fatalf("want smtp.client.local info at connect: %v", codesOf(r))
	}
	if !strings.Contains(f.Detail, "127.0.0.1 over loopback") || !strings.Contains(f.Fix, "mynetworks") || !strings.Contains(f.Fix, "Dovecot") {
		t.Errorf("detail %q fix %q", f.Detail, f.Fix)
	}
	r = check(t, addr, func(o *smtpprobe.Options) {
		o.MailFrom, o.RcptTo, o.Message = "a@test.example", []string{"b@test.example"}, []byte("Subject: x\r\n\r\nx\r\n")
	})
	if finding(r, "smtp.client.local") != nil {
		t.Errorf("smtp send noted the local client: %v", codesOf(r))
	}
}

// An accepted recipient is local delivery when its domain's MX is this
// server, by name or by address (looked up through the run's resolver);
// only a domain whose mail goes elsewhere makes the acceptance a relay.
func TestCheck_localRecipientIsNotARelay(t *testing.T) {
	dns := dnstest.Start(t, dnstest.NewZone().MustAdd(
		"test.example. 300 IN MX 10 mail.test.example.",
		"mail.test.example. 300 IN A 192.0.2.7",
		"hosted.example. 300 IN MX 10 mx.hosted.example.",
		"mx.hosted.example. 300 IN A 127.0.0.1",
		"implicit.example. 300 IN A 127.0.0.1",
		"elsewhere.example. 300 IN MX 10 mx.elsewhere.example.",
		"mx.elsewhere.example. 300 IN A 192.0.2.1",
	))
	res, err := resolver.New(resolver.Options{Server: dns.Addr})
	if err != nil {
		t.Fatal(err)
	}
	addr := testserver.Start(t, testserver.SMTP{}.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.DomainResolver = res
		o.RcptTo = []string{"bob@test.example", "carol@hosted.example", "dave@implicit.example", "eve@elsewhere.example"}
	})
	want := map[string]string{
		"bob@test.example":      "smtp.rcpt.local",     // MX named like the server
		"carol@hosted.example":  "smtp.rcpt.local",     // MX at the server's address
		"dave@implicit.example": "smtp.rcpt.local",     // no MX: the domain's own address
		"eve@elsewhere.example": "smtp.relay.accepted", // mail goes elsewhere
	}
	for to, code := range want {
		var got []string
		for _, f := range r.Findings {
			if strings.Contains(f.Detail, "<"+to+">") {
				got = append(got, f.Code)
			}
		}
		if len(got) != 1 || got[0] != code {
			t.Errorf("%s: findings %v, want [%s]", to, got, code)
		}
	}
	if f := finding(r, "smtp.relay.accepted"); f == nil || !strings.Contains(f.Detail, "mx.elsewhere.example → 192.0.2.1") {
		t.Errorf("relay detail does not say where the mail goes: %+v", f)
	}
	if f := finding(r, "smtp.rcpt.local"); f == nil || f.Severity != report.Pass {
		t.Errorf("smtp.rcpt.local: %+v", f)
	}
	// Authenticated, nothing is a relay test.
	cert := testserver.NewCert(t, testserver.CertOptions{})
	auth := testserver.Start(t, testserver.SMTP{Cert: &cert, Users: map[string]string{"a": "b"}}.Handler())
	r = check(t, auth, func(o *smtpprobe.Options) {
		o.Role, o.RootCAs, o.User, o.Password = smtpprobe.RoleSubmission, cert.Pool, "a", "b"
		o.DomainResolver, o.RcptTo = res, []string{"eve@elsewhere.example"}
	})
	if finding(r, "smtp.rcpt.accepted") == nil || finding(r, "smtp.relay.accepted") != nil {
		t.Errorf("authenticated: %v", codesOf(r))
	}
}
