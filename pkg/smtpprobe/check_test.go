package smtpprobe_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/dnstest"
	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/resolver"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

func check(t *testing.T, addr string, mod func(*smtpprobe.Options)) *report.Report {
	t.Helper()
	host, port, err := netx.SplitHostPort(addr, 25)
	if err != nil {
		t.Fatal(err)
	}
	o := smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleMX, ServerName: "mail.test.example",
		Timeouts: netx.Timeouts{Banner: 1500 * time.Millisecond, Command: 1500 * time.Millisecond, TLS: 2 * time.Second, Connect: 2 * time.Second}}
	if mod != nil {
		mod(&o)
	}
	r, err := smtpprobe.Check(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func finding(r *report.Report, code string) *report.Finding {
	for i := range r.Findings {
		if r.Findings[i].Code == code {
			return &r.Findings[i]
		}
	}
	return nil
}

func stageStatus(r *report.Report, name string) report.Status {
	for _, s := range r.Stages {
		if s.Name == name {
			return s.Status
		}
	}
	return "missing"
}

func codesOf(r *report.Report) []string {
	var c []string
	for _, f := range r.Findings {
		c = append(c, f.Code+"/"+f.Stage)
	}
	return c
}

// Every hostile server becomes a finding that names the stage, within the
// stage's deadline, and the run is "incomplete" (exit 3) or "findings"
// (exit 1), never a hang or a panic.
func TestCheck_hostileServers(t *testing.T) {
	goodCert := testserver.NewCert(t, testserver.CertOptions{})
	wrongName := testserver.NewCert(t, testserver.CertOptions{Names: []string{"other.example.net"}})
	expired := testserver.NewCert(t, testserver.CertOptions{NotBefore: time.Now().AddDate(-1, 0, 0), NotAfter: time.Now().AddDate(0, 0, -3)})
	roots := x509.NewCertPool()
	for _, c := range []testserver.Cert{goodCert, wrongName, expired} {
		roots.AddCert(c.CA)
	}
	cases := []struct {
		name    string
		handler testserver.Handler
		code    string // finding code
		stage   string
		exit    int
	}{
		{"silent", testserver.Silent, "smtp.conn.timeout", "banner", report.ExitIncomplete},
		{"garbage", testserver.Garbage, "smtp.reply.malformed", "banner", report.ExitIncomplete},
		{"endless line", testserver.EndlessLine, "smtp.reply.malformed", "banner", report.ExitIncomplete},
		{"endless multiline", testserver.EndlessMultiline, "smtp.reply.malformed", "banner", report.ExitIncomplete},
		{"slow drip", testserver.SlowDrip(100 * time.Millisecond), "smtp.conn.timeout", "banner", report.ExitIncomplete},
		{"reset after banner", testserver.ResetAfterBanner, "smtp.conn.reset", "ehlo", report.ExitIncomplete},
		{"tls alert", testserver.TLSAlertOnStartTLS, "smtp.starttls.failed", "starttls", report.ExitIncomplete},
		{"421 banner", testserver.SMTP{Banner: []string{"421 4.7.0 mail.test.example Too many connections, try later"}}.Handler(), "smtp.reply.temporary", "banner", report.ExitIncomplete},
		{"554 banner", testserver.SMTP{Banner: []string{"554 5.7.1 Your IP is listed at zen.spamhaus.org"}}.Handler(), "smtp.banner.rejected", "banner", report.ExitFindings},
		{"EHLO refused", testserver.SMTP{Reply: map[string][]string{"EHLO": {"550 5.7.1 Go away"}, "HELO": {"550 5.7.1 Go away"}}}.Handler(), "smtp.ehlo.rejected", "ehlo", report.ExitFindings},
		{"silent after EHLO", testserver.SMTP{Hook: func(c *testserver.Conn, l string) bool { return strings.HasPrefix(l, "EHLO") }}.Handler(), "smtp.conn.timeout", "ehlo", report.ExitIncomplete},
		{"closes on EHLO", testserver.SMTP{Hook: func(c *testserver.Conn, l string) bool { c.Close(); return true }}.Handler(), "smtp.conn.closed", "ehlo", report.ExitIncomplete},
		// The server closes its side after the banner and reads on: had it
		// closed the socket with the client's EHLO unread, the kernel would
		// answer with a reset or a FIN depending on which arrived first.
		{"banner then close", func(c *testserver.Conn) {
			c.Send("220 mail.test.example ESMTP")
			if tc, ok := c.Conn.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
				_, _ = io.Copy(io.Discard, tc)
			}
		}, "smtp.conn.closed", "ehlo", report.ExitIncomplete},
		{"malformed code", testserver.SMTP{Banner: []string{"2x0 mail.test.example ESMTP"}}.Handler(), "smtp.reply.malformed", "banner", report.ExitIncomplete},
		{"421 after EHLO", testserver.SMTP{Reply: map[string][]string{"EHLO": {"421 4.7.0 Too many errors, closing"}}}.Handler(), "smtp.reply.temporary", "ehlo", report.ExitIncomplete},
		{"reset after STARTTLS 220", testserver.SMTP{Cert: &goodCert, Hook: func(c *testserver.Conn, l string) bool {
			if strings.EqualFold(l, "STARTTLS") {
				c.Send("220 2.0.0 Ready")
				if tc, ok := c.Conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				c.Close()
				return true
			}
			return false
		}}.Handler(), "smtp.starttls.failed", "starttls", report.ExitIncomplete},
		{"wrong name", testserver.SMTP{Cert: &wrongName}.Handler(), "cert.name-mismatch", "certificate", report.ExitFindings},
		{"expired", testserver.SMTP{Cert: &expired}.Handler(), "cert.expired", "certificate", report.ExitFindings},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := testserver.Start(t, tc.handler)
			start := time.Now()
			r := check(t, addr, func(o *smtpprobe.Options) { o.RootCAs = roots })
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v: a stage deadline was not applied", d)
			}
			f := finding(r, tc.code)
			if f == nil {
				t.Fatalf("no %s finding; got %v", tc.code, codesOf(r))
			}
			if f.Stage != tc.stage {
				t.Errorf("%s names stage %q, want %q", tc.code, f.Stage, tc.stage)
			}
			if got := r.ExitCode(report.Fail); got != tc.exit {
				t.Errorf("exit %d, want %d (%v)", got, tc.exit, codesOf(r))
			}
			if f.Detail == "" {
				t.Error("finding has no detail")
			}
		})
	}
}

func TestCheck_goodServerWithSTARTTLSAndAUTH(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	addr := testserver.Start(t, testserver.SMTP{Cert: &cert, Users: map[string]string{"alice": "pa55-Wörd"}}.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.Role = smtpprobe.RoleSubmission
		o.RootCAs = cert.Pool
		o.User, o.Password = "alice", "pa55-Wörd"
		o.MailFrom, o.RcptTo = "alice@test.example", []string{"bob@test.example"}
	})
	for _, c := range []string{"smtp.starttls.ok", "cert.ok", "smtp.auth.ok"} {
		if finding(r, c) == nil {
			t.Errorf("no %s; got %v", c, codesOf(r))
		}
	}
	if code := r.ExitCode(report.Warn); code != 0 {
		t.Errorf("exit %d: %v", code, codesOf(r))
	}
	// The password, in any encoding, is nowhere in the transcript.
	for _, e := range r.Transcript {
		for _, secret := range []string{"pa55-Wörd", base64.StdEncoding.EncodeToString([]byte("\x00alice\x00pa55-Wörd")), base64.StdEncoding.EncodeToString([]byte("pa55-Wörd"))} {
			if strings.Contains(e.Line, secret) {
				t.Fatalf("transcript line %d leaks the password: %q", e.Seq, e.Line)
			}
		}
	}
}

func TestCheck_wrongPasswordIs535WithExplanation(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	addr := testserver.Start(t, testserver.SMTP{Cert: &cert, Users: map[string]string{"alice": "right"}}.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.Role = smtpprobe.RoleSubmission
		o.RootCAs = cert.Pool
		o.User, o.Password = "alice", "wrong"
	})
	f := finding(r, "smtp.auth.failed")
	if f == nil {
		t.Fatalf("no smtp.auth.failed: %v", codesOf(r))
	}
	if !strings.Contains(f.Evidence[0].Text, "535 5.7.8") || f.Fix == "" || f.Detail == "" {
		t.Errorf("finding %+v", f)
	}
	if r.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("exit %d", r.ExitCode(report.Fail))
	}
}

func TestCheck_neverAuthenticatesOverAnUntrustedCertificate(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{SelfSign: true})
	var sawAuth bool
	addr := testserver.Start(t, testserver.SMTP{Cert: &cert, Users: map[string]string{"alice": "pw"},
		Hook: func(c *testserver.Conn, l string) bool {
			if strings.HasPrefix(strings.ToUpper(l), "AUTH") {
				sawAuth = true
			}
			return false
		}}.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.Role = smtpprobe.RoleSubmission
		o.User, o.Password = "alice", "pw" // system roots: the self-signed cert is untrusted
	})
	if sawAuth {
		t.Error("credentials were sent over a TLS session with an untrusted certificate")
	}
	if finding(r, "cert.self-signed") == nil && finding(r, "cert.untrusted") == nil {
		t.Errorf("no certificate finding: %v", codesOf(r))
	}
}

func TestCheck_authOfferedBeforeTLS(t *testing.T) {
	addr := testserver.Start(t, testserver.SMTP{Caps: []string{"AUTH PLAIN LOGIN", "SIZE 1000000"}}.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) { o.Role = smtpprobe.RoleSubmission })
	if finding(r, "smtp.auth.before-tls") == nil && finding(r, "smtp.auth.plaintext") == nil {
		t.Errorf("AUTH without TLS not reported: %v", codesOf(r))
	}
	if finding(r, "smtp.starttls.missing") == nil {
		t.Errorf("missing STARTTLS on submission not reported: %v", codesOf(r))
	}
}

// A server (or a man in the middle) that sends data after its 220 to
// STARTTLS and before the handshake could plant replies the client would
// read as coming from inside TLS; mailprobe discards them and says so.
func TestCheck_starttlsResponseInjection(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	for _, injected := range []string{"", "250-PLANTED\r\n250 AUTH PLAIN\r\n"} {
		addr := testserver.Start(t, testserver.SMTP{Cert: &cert, AfterStartTLS: injected}.Handler())
		r := check(t, addr, func(o *smtpprobe.Options) { o.RootCAs = cert.Pool })
		if got := finding(r, "smtp.starttls.injection") != nil; got != (injected != "") {
			t.Errorf("injected %q: finding present=%v (%v)", injected, got, codesOf(r))
		}
		if finding(r, "smtp.starttls.ok") == nil {
			t.Errorf("injected %q: TLS not established: %v", injected, codesOf(r))
		}
	}
}

func TestCheck_relay(t *testing.T) {
	denied := testserver.Start(t, testserver.SMTP{Reply: map[string][]string{"RCPT": {"554 5.7.1 <x@example.org>: Relay access denied"}}}.Handler())
	r := check(t, denied, func(o *smtpprobe.Options) { o.MailFrom, o.RcptTo = "a@test.example", []string{"x@example.org"} })
	if finding(r, "smtp.relay.denied") == nil {
		t.Errorf("relay denied not reported: %v", codesOf(r))
	}
	open := testserver.Start(t, testserver.SMTP{}.Handler())
	r = check(t, open, func(o *smtpprobe.Options) { o.MailFrom, o.RcptTo = "a@test.example", []string{"x@example.org"} })
	if finding(r, "smtp.relay.accepted") == nil {
		t.Errorf("open relay not reported: %v", codesOf(r))
	}
}

func TestCheck_connectRefusedIsIncomplete(t *testing.T) {
	r := check(t, testserver.ClosedPort(t), nil)
	if f := finding(r, "smtp.connect.failed"); f == nil || r.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("connect refused: %v exit %d", codesOf(r), r.ExitCode(report.Fail))
	}
	if stageStatus(r, "banner") != report.StatusSkipped {
		t.Errorf("banner stage %s, want skipped", stageStatus(r, "banner"))
	}
}

func TestCheck_sendQueues(t *testing.T) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	addr := testserver.Start(t, testserver.SMTP{Cert: &cert, Users: map[string]string{"a": "b"}}.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.Role = smtpprobe.RoleSubmission
		o.RootCAs = cert.Pool
		o.User, o.Password = "a", "b"
		o.MailFrom, o.RcptTo = "a@test.example", []string{"b@test.example"}
		o.Message = []byte("Subject: hi\r\n\r\n.leading dot\r\nbody\r\n")
	})
	if finding(r, "smtp.data.queued") == nil || r.Facts["queue_id"] != "4TESTQ" {
		t.Errorf("%v facts %v", codesOf(r), r.Facts)
	}
}

// The client must send exactly the commands of the dialogue file; the
// scripted server fails the test on any deviation.
func TestCheck_scriptedDialogue(t *testing.T) {
	addr := testserver.Start(t, testserver.Dialogue(t, "testdata/dialogues/mx-probe.txt"))
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.MailFrom, o.RcptTo, o.ProbeVRFY = "probe@test.example", []string{"someone@elsewhere.example"}, true
	})
	for _, c := range []string{"smtp.relay.denied", "smtp.vrfy.enabled", "smtp.starttls.missing", "smtp.banner.software"} {
		if finding(r, c) == nil {
			t.Errorf("no %s: %v", c, codesOf(r))
		}
	}
}

// BenchmarkCheck is a whole `smtp check` with STARTTLS and AUTH against an
// in-process server: connect, banner, EHLO, TLS handshake, certificate
// verification, EHLO, AUTH PLAIN, QUIT.
func BenchmarkCheck(b *testing.B) {
	cert := testserver.NewCert(b, testserver.CertOptions{})
	addr := testserver.Start(b, testserver.SMTP{Cert: &cert, Users: map[string]string{"a": "b"}}.Handler())
	host, port, _ := netx.SplitHostPort(addr, 0)
	o := smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleSubmission, ServerName: "mail.test.example",
		RootCAs: cert.Pool, User: "a", Password: "b"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r, err := smtpprobe.Check(context.Background(), o)
		if err != nil || finding(r, "smtp.auth.ok") == nil {
			b.Fatalf("check failed: %v %v", err, codesOf(r))
		}
	}
}

func TestCheck_reverseDNS(t *testing.T) {
	z := dnstest.NewZone().MustAdd(
		"1.0.0.127.in-addr.arpa. 300 IN PTR mail.test.example.",
		"mail.test.example. 300 IN A 127.0.0.1",
		"2.0.0.127.in-addr.arpa. 300 IN PTR other.test.example.",
	)
	dns := dnstest.Start(t, z)
	res, err := resolver.New(resolver.Options{Server: dns.Addr})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		banner   string
		mismatch bool
	}{
		{"220 mail.test.example ESMTP", false},
		{"220 localhost.localdomain ESMTP", true},
	} {
		addr := testserver.Start(t, testserver.SMTP{Banner: []string{tc.banner}}.Handler())
		r := check(t, addr, func(o *smtpprobe.Options) { o.Resolver, o.PTRPrivate = res, true })
		if finding(r, "ptr.ok") == nil {
			t.Errorf("%s: no ptr.ok: %v", tc.banner, codesOf(r))
		}
		if got := finding(r, "smtp.banner.ptr-mismatch") != nil; got != tc.mismatch {
			t.Errorf("%s: mismatch reported %v: %v", tc.banner, got, codesOf(r))
		}
	}
	// Without PTRPrivate a loopback server is not looked up.
	addr := testserver.Start(t, testserver.SMTP{}.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) { o.Resolver = res })
	if stageStatus(r, "ptr") != report.StatusSkipped {
		t.Errorf("ptr stage %s", stageStatus(r, "ptr"))
	}
}

func TestSend_neverOverUntrustedTLS(t *testing.T) {
	self := testserver.NewCert(t, testserver.CertOptions{SelfSign: true})
	var gotData bool
	addr := testserver.Start(t, testserver.SMTP{Cert: &self, Hook: func(c *testserver.Conn, l string) bool {
		if l == "DATA" {
			gotData = true
		}
		return false
	}}.Handler())
	for _, role := range []smtpprobe.Role{smtpprobe.RoleSubmission, smtpprobe.RoleMX} {
		gotData = false
		r := check(t, addr, func(o *smtpprobe.Options) {
			o.Role = role
			o.MailFrom, o.RcptTo = "a@test.example", []string{"b@test.example"}
			o.Message = []byte("Subject: x\r\n\r\nbody\r\n")
		})
		// Submission: refused. MX (opportunistic TLS, RFC 7435): sent.
		if want := role == smtpprobe.RoleMX; gotData != want || (finding(r, "smtp.send.tls-untrusted") != nil) == want {
			t.Errorf("%s: DATA sent %v, findings %v", role, gotData, codesOf(r))
		}
	}
}
