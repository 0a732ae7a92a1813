package smtpprobe_test

import (
	"strings"
	"testing"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/report"
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
