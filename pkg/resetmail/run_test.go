package resetmail_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailprobe/mailprobe/pkg/capture"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resetmail"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

const user, password = "user@mailprobe.test", "correct horse battery staple"

// The sender domain's DNS as the capture server's checks see it, and the
// DKIM key that signs for it.
var (
	dkimPub, dkimKey, _ = ed25519.GenerateKey(rand.Reader)
	senderDNS           = map[string]string{
		"s1._domainkey.mailprobe.test": "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(dkimPub),
		"mailprobe.test":               "v=spf1 ip4:127.0.0.0/8 ip6:::1 -all",
		"_dmarc.mailprobe.test":        "v=DMARC1; p=reject",
	}
)

func lookupTXT(name string) ([]string, error) {
	if v, ok := senderDNS[name]; ok {
		return []string{v}, nil
	}
	return nil, &net.DNSError{Err: "not found", Name: name, IsNotFound: true}
}

func sign(msg []byte) ([]byte, error) {
	var b bytes.Buffer
	err := dkim.Sign(&b, bytes.NewReader(msg), &dkim.SignOptions{Domain: "mailprobe.test", Selector: "s1", Signer: dkimKey})
	return b.Bytes(), err
}

func startPair(t *testing.T, o capture.Options) *capture.Server {
	t.Helper()
	o.Hostname = "mail.mailprobe.test"
	o.LookupTXT = lookupTXT
	o.CheckSPF = true
	if o.Users == nil {
		o.Users = map[string]string{user: password}
	}
	o.AuthNeedsTLS = true
	s, err := capture.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func options(t *testing.T, smtpSrv, imapSrv *capture.Server, imapPassword string) resetmail.Options {
	t.Helper()
	sh, sp, _ := netx.SplitHostPort(smtpSrv.SMTPAddr(), 0)
	ih, ip, _ := netx.SplitHostPort(imapSrv.IMAPAddr(), 0)
	return resetmail.Options{
		Compose: resetmail.ComposeOptions{From: "App <no-reply@mailprobe.test>", To: user, Sign: sign},
		SMTP: smtpprobe.Options{Host: sh, Port: sp, Role: smtpprobe.RoleSubmission, ServerName: "mail.mailprobe.test",
			RootCAs: smtpSrv.CertPool(), User: user, Password: password, RequireTLS: true},
		IMAP: resetmail.IMAPOptions{Host: ih, Port: ip, TLS: "starttls", ServerName: "mail.mailprobe.test",
			RootCAs: imapSrv.CertPool(), User: user, Password: imapPassword, Timeouts: netx.Timeouts{Command: 5 * time.Second}},
		Wait:    2 * time.Second,
		Cleanup: true,
	}
}

func has(r *report.Report, code string) bool {
	for _, f := range r.Findings {
		if f.Code == code {
			return true
		}
	}
	return false
}

func stage(r *report.Report, name string) report.Status {
	for _, s := range r.Stages {
		if s.Name == name {
			return s.Status
		}
	}
	return "missing"
}

func TestRun_endToEnd(t *testing.T) {
	s := startPair(t, capture.Options{})
	r, err := resetmail.Run(context.Background(), options(t, s, s, password))
	if err != nil {
		t.Fatal(err)
	}
	if code := r.ExitCode(report.Warn); code != 0 {
		t.Fatalf("exit %d:\n%+v", code, r.Findings)
	}
	for _, name := range []string{"compose", "connect", "starttls", "auth", "data", "queued", "imap-login", "wait", "analyze", "cleanup"} {
		if st := stage(r, name); st != report.StatusOK {
			t.Errorf("stage %s: %s", name, st)
		}
	}
	for _, c := range []string{"reset.delivery.inbox", "reset.token.intact", "reset.cleanup.ok", "reset.link.https"} {
		if !has(r, c) {
			t.Errorf("no %s", c)
		}
	}
	if len(s.Messages()) != 1 {
		t.Errorf("%d messages captured", len(s.Messages()))
	}
}

func TestRun_stopsAtTheFailingStage(t *testing.T) {
	rejecting, _ := capture.ParseFault("550:5.1.1:User unknown")
	s := startPair(t, capture.Options{RejectRcpt: rejecting})
	r, err := resetmail.Run(context.Background(), options(t, s, s, password))
	if err != nil {
		t.Fatal(err)
	}
	if stage(r, "rcpt") != report.StatusFail {
		t.Errorf("rcpt stage %s", stage(r, "rcpt"))
	}
	if st := stage(r, "imap-login"); st != "missing" {
		t.Errorf("went on to IMAP after RCPT was refused (%s)", st)
	}
	if r.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("exit %d", r.ExitCode(report.Fail))
	}
}

func TestRun_wrongIMAPPassword(t *testing.T) {
	s := startPair(t, capture.Options{})
	r, _ := resetmail.Run(context.Background(), options(t, s, s, "wrong"))
	if !has(r, "reset.imap.login-failed") || stage(r, "imap-login") != report.StatusFail {
		t.Errorf("findings %+v", r.Findings)
	}
	if strings.Contains(r.Findings[0].Detail, "wrong") {
		t.Error("the password appears in a finding")
	}
}

func TestRun_messageNeverArrives(t *testing.T) {
	// Sent to one server, awaited in another's mailbox: it never comes.
	a := startPair(t, capture.Options{})
	b := startPair(t, capture.Options{})
	o := options(t, a, b, password)
	o.Wait = 700 * time.Millisecond
	t0 := time.Now()
	r, _ := resetmail.Run(context.Background(), o)
	if !has(r, "reset.wait.timeout") || stage(r, "wait") != report.StatusFail {
		t.Errorf("findings %+v", r.Findings)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("a 700ms wait took %v", d)
	}
}

func TestRun_unsignedMailIsReportedAtTheReceiver(t *testing.T) {
	s := startPair(t, capture.Options{})
	o := options(t, s, s, password)
	o.Compose.Sign = nil
	o.Compose.From = "App <no-reply@unpublished.example>"
	r, _ := resetmail.Run(context.Background(), o)
	sev := map[string]report.Severity{}
	for _, f := range r.Findings {
		sev[f.Code] = f.Severity
	}
	// No SPF record and no DMARC record: gaps (warn); no signature: warn.
	for code, want := range map[string]report.Severity{"reset.authres.spf": report.Warn, "reset.authres.dkim": report.Warn, "reset.authres.dmarc": report.Warn, "reset.dkim.unsigned": report.Info} {
		if got, ok := sev[code]; !ok || got != want {
			t.Errorf("%s: %v (present %v), want %v", code, got, ok, want)
		}
	}
}
