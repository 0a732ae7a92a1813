package resetmail_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/capture"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resetmail"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

const user, password = "user@mailprobe.test", "correct horse battery staple"

// The sender domain's DNS as the capture server's checks see it (served
// by a DNS server on loopback), and the DKIM key that signs for it.
var (
	dkimPub, dkimKey, _ = ed25519.GenerateKey(rand.Reader)
	senderDNS           = []string{
		`s1._domainkey.mailprobe.test. 300 IN TXT "v=DKIM1; k=ed25519; p=` + base64.StdEncoding.EncodeToString(dkimPub) + `"`,
		`mailprobe.test. 300 IN TXT "v=spf1 ip4:127.0.0.0/8 ip6:::1 -all"`,
		`_dmarc.mailprobe.test. 300 IN TXT "v=DMARC1; p=reject"`,
	}
)

func senderResolver(t *testing.T) *resolver.Resolver {
	t.Helper()
	z := dnstest.NewZone()
	if err := z.AddString(senderDNS...); err != nil {
		t.Fatal(err)
	}
	srv := dnstest.Start(t, z)
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func sign(msg []byte) ([]byte, error) {
	var b bytes.Buffer
	err := dkim.Sign(&b, bytes.NewReader(msg), &dkim.SignOptions{Domain: "mailprobe.test", Selector: "s1", Signer: dkimKey})
	return b.Bytes(), err
}

func startPair(t *testing.T, o capture.Options) *capture.Server {
	t.Helper()
	o.AuthNeedsTLS = true
	return startCapture(t, o)
}

// startCapture starts the capture server as startPair does, but with
// o.AuthNeedsTLS as given.
func startCapture(t *testing.T, o capture.Options) *capture.Server {
	t.Helper()
	o.Hostname = "mail.mailprobe.test"
	o.Resolver = senderResolver(t)
	o.CheckSPF = true
	if o.Users == nil {
		o.Users = map[string]string{user: password}
	}
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
	if st := stage(r, "wait"); st != "missing" {
		t.Errorf("waited for the message after RCPT was refused (%s)", st)
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

// smtpOnly runs the send part against a scripted server.
func smtpOnly(t *testing.T, srv testserver.SMTP, mod func(*resetmail.Options)) *report.Report {
	t.Helper()
	cert := testserver.NewCert(t, testserver.CertOptions{})
	if srv.Cert == nil {
		srv.Cert = &cert
	}
	if srv.Users == nil {
		srv.Users = map[string]string{user: password}
	}
	addr := testserver.Start(t, srv.Handler())
	host, port, _ := netx.SplitHostPort(addr, 0)
	o := resetmail.Options{
		Compose: resetmail.ComposeOptions{From: "App <no-reply@mailprobe.test>", To: user},
		SMTP: smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleSubmission, ServerName: "mail.test.example",
			RootCAs: srv.Cert.Pool, User: user, Password: password, RequireTLS: true,
			Timeouts: netx.Timeouts{Banner: 2 * time.Second, Command: 2 * time.Second, TLS: 2 * time.Second, Connect: 2 * time.Second, DNS: 2 * time.Second}},
	}
	if mod != nil {
		mod(&o)
	}
	r, err := resetmail.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every failure ends the run at its stage with the right finding and exit
// code, and no later stage runs.
func TestRun_stageFailures(t *testing.T) {
	selfSigned := testserver.NewCert(t, testserver.CertOptions{SelfSign: true})
	_, closedPort, _ := netx.SplitHostPort(testserver.ClosedPort(t), 0)
	cases := []struct {
		name  string
		srv   testserver.SMTP
		mod   func(*resetmail.Options)
		stage string
		code  string
		exit  int
	}{
		{"DNS failure", testserver.SMTP{}, func(o *resetmail.Options) { o.SMTP.Host = "no-such-host.invalid" }, "resolve", "smtp.resolve.failed", report.ExitIncomplete},
		{"connection refused", testserver.SMTP{}, func(o *resetmail.Options) { o.SMTP.Host, o.SMTP.Port = "127.0.0.1", closedPort }, "connect", "smtp.connect.failed", report.ExitIncomplete},
		{"banner 554", testserver.SMTP{Banner: []string{"554 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"}}, nil, "banner", "smtp.banner.rejected", report.ExitFindings},
		{"STARTTLS refused", testserver.SMTP{Reply: map[string][]string{"STARTTLS": {"454 4.7.0 TLS not available due to local problem"}}}, nil, "starttls", "smtp.starttls.rejected", report.ExitFindings},
		{"bad certificate", testserver.SMTP{Cert: &selfSigned}, func(o *resetmail.Options) { o.SMTP.RootCAs = nil }, "certificate", "cert.self-signed", report.ExitFindings},
		{"AUTH 535", testserver.SMTP{Users: map[string]string{user: "other"}}, nil, "auth", "smtp.auth.failed", report.ExitFindings},
		{"MAIL 553", testserver.SMTP{Reply: map[string][]string{"MAIL": {"553 5.7.1 <no-reply@mailprobe.test>: Sender address rejected: not owned by user"}}}, nil, "mail", "smtp.mail.rejected", report.ExitFindings},
		{"RCPT 550 5.1.1", testserver.SMTP{Reply: map[string][]string{"RCPT": {"550 5.1.1 <user@mailprobe.test>: Recipient address rejected: User unknown"}}}, nil, "rcpt", "smtp.rcpt.rejected", report.ExitFindings},
		{"RCPT 450 greylisting", testserver.SMTP{Reply: map[string][]string{"RCPT": {"450 4.2.0 <user@mailprobe.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/"}}}, nil, "rcpt", "smtp.reply.temporary", report.ExitFindings},
		{"DATA 554 5.7.26", testserver.SMTP{Hook: func(c *testserver.Conn, l string) bool {
			if l != "DATA" {
				return false
			}
			c.Send("354 go ahead")
			for {
				if x, err := c.Line(); err != nil || x == "." {
					break
				}
			}
			c.Send("550-5.7.26 This mail is unauthenticated, which poses a security risk to the", "550 5.7.26 sender and Gmail users, and has been blocked.")
			return true
		}}, nil, "data", "smtp.data.rejected", report.ExitFindings},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := smtpOnly(t, tc.srv, tc.mod)
			var f *report.Finding
			for i := range r.Findings {
				if r.Findings[i].Code == tc.code {
					f = &r.Findings[i]
				}
			}
			if f == nil {
				t.Fatalf("no %s; got %v", tc.code, r.Findings)
			}
			if f.Stage != tc.stage {
				t.Errorf("%s at stage %q, want %q", tc.code, f.Stage, tc.stage)
			}
			if got := r.ExitCode(report.Fail); got != tc.exit && !(tc.exit == report.ExitFindings && got == report.ExitIncomplete && tc.code == "smtp.reply.temporary") {
				t.Errorf("exit %d, want %d", got, tc.exit)
			}
			if st := stage(r, "queued"); st == report.StatusOK {
				t.Error("the run went on to queued after the failure")
			}
		})
	}
}

func TestRun_landsInJunk(t *testing.T) {
	s := startPair(t, capture.Options{Folder: "Junk"})
	r, _ := resetmail.Run(context.Background(), options(t, s, s, password))
	if !has(r, "reset.delivery.junk") || r.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("findings %+v", r.Findings)
	}
}

func TestRun_linkMangledByATracker(t *testing.T) {
	tracker := func(raw []byte) []byte {
		// A gateway that rewrites links through its redirector and
		// re-encodes the body.
		return bytes.ReplaceAll(raw, []byte("https://app.example/reset?token="), []byte("https://safelinks.example.net/?url=https%3A%2F%2Fapp.example%2Freset%3Ftoken%3D"))
	}
	s := startPair(t, capture.Options{Transform: tracker})
	r, _ := resetmail.Run(context.Background(), options(t, s, s, password))
	if !has(r, "reset.link.rewritten") {
		t.Errorf("rewrite not reported: %+v", r.Findings)
	}
}

// brokenIMAP is an IMAP server that logs in and then fails in the way
// given: "silent" (never answers SELECT), "bad-select" (BAD to SELECT),
// "close-after-login", or "close-in-idle" (accepts IDLE, then hangs up).
func brokenIMAP(t *testing.T, how string) (string, testserver.Cert) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	addr := testserver.Start(t, func(c *testserver.Conn) {
		c.Send("* OK [CAPABILITY IMAP4rev1 STARTTLS IDLE] ready")
		for {
			l, err := c.Line()
			if err != nil {
				return
			}
			tag, cmd, _ := strings.Cut(l, " ")
			switch {
			case strings.HasPrefix(cmd, "STARTTLS"):
				c.Send(tag + " OK go")
				if c.UpgradeTLS(cert.TLS) != nil {
					return
				}
			case strings.HasPrefix(cmd, "LOGIN"):
				c.Send(tag + " OK [CAPABILITY IMAP4rev1 IDLE] logged in")
				if how == "close-after-login" {
					return
				}
			case strings.HasPrefix(cmd, "CAPABILITY"):
				c.Send("* CAPABILITY IMAP4rev1 IDLE", tag+" OK")
			case strings.HasPrefix(cmd, "LIST"):
				c.Send(`* LIST () "/" INBOX`, tag+" OK")
			case strings.HasPrefix(cmd, "SELECT"), strings.HasPrefix(cmd, "EXAMINE"):
				switch how {
				case "silent":
				case "bad-select":
					c.Send(tag + " BAD no such thing")
				default:
					c.Send("* 0 EXISTS", "* OK [UIDVALIDITY 1] ok", tag+" OK [READ-ONLY] selected")
				}
			case strings.HasPrefix(cmd, "IDLE"):
				c.Send("+ idling")
				if how == "close-in-idle" {
					return
				}
			case strings.HasPrefix(cmd, "LOGOUT"):
				c.Send("* BYE", tag+" OK")
				return
			default:
				c.Send(tag + " OK")
			}
		}
	})
	return addr, cert
}

// A mailbox server that breaks after LOGIN is an IMAP finding, bounded by
// --wait and the command timeout, never "the email never arrived", and
// no duration printed is negative.
func TestRun_brokenIMAPServer(t *testing.T) {
	for _, how := range []string{"silent", "bad-select", "close-after-login", "close-in-idle"} {
		t.Run(how, func(t *testing.T) {
			s := startPair(t, capture.Options{})
			addr, cert := brokenIMAP(t, how)
			o := options(t, s, s, password)
			ih, ip, _ := netx.SplitHostPort(addr, 0)
			o.IMAP.Host, o.IMAP.Port, o.IMAP.RootCAs, o.IMAP.ServerName = ih, ip, cert.Pool, "mail.test.example"
			o.IMAP.Timeouts.Command = time.Second
			o.Wait = 2 * time.Second
			r, _ := resetmail.Run(context.Background(), o)
			if !has(r, "reset.imap.failed") || has(r, "reset.wait.timeout") {
				t.Errorf("findings %v", codesOf(r))
			}
			if r.ExitCode(report.Fail) != report.ExitIncomplete {
				t.Errorf("exit %d, want 3 (the mailbox stage could not complete)", r.ExitCode(report.Fail))
			}
			// The message was still sent and accepted.
			if stage(r, "queued") != report.StatusOK {
				t.Errorf("queued stage %s", stage(r, "queued"))
			}
			for _, st := range r.Stages {
				if st.Duration < 0 || negDuration.MatchString(st.Summary) {
					t.Errorf("stage %s: %v %q", st.Name, st.Duration, st.Summary)
				}
			}
			for _, f := range r.Findings {
				if negDuration.MatchString(f.Detail) {
					t.Errorf("negative duration: %s", f.Detail)
				}
			}
		})
	}
}

var negDuration = regexp.MustCompile(`(^|[ (])-[0-9.]+(ns|µs|ms|s|m)\b`)

func codesOf(r *report.Report) []string {
	var c []string
	for _, f := range r.Findings {
		c = append(c, f.Code)
	}
	return c
}

// --smtp mx asks the given resolver, and only it, for the recipient's MX.
func TestRun_mxLookupGoesThroughTheResolver(t *testing.T) {
	z := dnstest.NewZone().MustAdd(
		`null.example. 300 IN MX 0 .`, // RFC 7505: accepts no mail
		`nomx.example. 300 IN A 192.0.2.1`,
	)
	srv := dnstest.Start(t, z)
	r, err := resolver.New(resolver.Options{Server: srv.Addr, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ to, detail string }{
		{"user@null.example", "null MX"},
		{"user@nomx.example", "no MX record"},
		{"user@missing.example", "NXDOMAIN"},
	} {
		o := resetmail.Options{Compose: resetmail.ComposeOptions{From: "App <no-reply@mailprobe.test>", To: tc.to},
			SMTP: smtpprobe.Options{Host: "mx"}, Resolver: r}
		rep, err := resetmail.Run(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		domain := tc.to[5:]
		if srv.Count(domain, dns.TypeMX) != 1 {
			t.Errorf("%s: %d MX queries reached the named resolver, want 1", domain, srv.Count(domain, dns.TypeMX))
		}
		var detail string
		for _, f := range rep.Findings {
			if f.Code == "reset.mx.lookup-failed" {
				detail = f.Detail
			}
		}
		if !strings.Contains(detail, tc.detail) {
			t.Errorf("%s: reset.mx.lookup-failed detail %q, want it to mention %q", domain, detail, tc.detail)
		}
	}
	// No resolver: a clear finding, not the system resolver.
	rep, err := resetmail.Run(context.Background(), resetmail.Options{Compose: resetmail.ComposeOptions{From: "App <no-reply@mailprobe.test>", To: "user@null.example"},
		SMTP: smtpprobe.Options{Host: "mx"}})
	if err != nil || !has(rep, "reset.mx.lookup-failed") || stage(rep, "mx") != report.StatusError {
		t.Errorf("without a resolver: %v %+v", err, rep)
	}
}
