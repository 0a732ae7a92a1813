package smtpprobe_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/internal/testserver"
	"github.com/mailprobe/mailprobe/pkg/netx"
	"github.com/mailprobe/mailprobe/pkg/report"
	"github.com/mailprobe/mailprobe/pkg/smtpprobe"
)

// Ctrl-C while the greeting is awaited: the banner stage is interrupted
// (not a network error), the report says so, and the run ends at once.
func TestCheck_ctrlCInterruptsTheStage(t *testing.T) {
	addr := testserver.Start(t, testserver.Silent)
	host, port, _ := netx.SplitHostPort(addr, 25)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o := smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleMX, TLSMode: netx.TLSStartTLS,
		Progress: func(stage string) {
			if stage == "banner" {
				cancel()
			}
		}}
	start := time.Now()
	r, err := smtpprobe.Check(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("cancel did not stop the run: %v", time.Since(start))
	}
	if got := stageStatus(r, "banner"); got != report.StatusInterrupted {
		t.Fatalf("banner stage %s; findings %v", got, codesOf(r))
	}
	f := finding(r, report.CodeInterrupted)
	if f == nil || f.Stage != "banner" || !r.Interrupted {
		t.Fatalf("findings %v interrupted=%v", codesOf(r), r.Interrupted)
	}
	if finding(r, "smtp.conn.error") != nil || finding(r, "smtp.conn.timeout") != nil {
		t.Fatalf("an interruption reported as a network failure: %v", codesOf(r))
	}
}

// evidenceLines returns the transcript lines a finding's reply evidence
// cites.
func evidenceLines(t *testing.T, r *report.Report, f *report.Finding) []string {
	t.Helper()
	var out []string
	for _, ev := range f.Evidence {
		if ev.Kind != "reply" {
			continue
		}
		for _, seq := range ev.Seq {
			for _, e := range r.Transcript {
				if e.Seq == seq {
					out = append(out, e.Line)
				}
			}
		}
	}
	return out
}

// pipeliningServer answers MAIL/RCPT groups in one write and refuses
// one recipient.
func pipeliningServer(t *testing.T, seen *[]string) string {
	return testserver.Start(t, testserver.SMTP{Pipelining: true, Hook: func(c *testserver.Conn, line string) bool {
		*seen = append(*seen, line)
		if strings.HasPrefix(line, "RCPT TO:<nobody@") {
			c.Send("550 5.1.1 nobody: user unknown")
			return true
		}
		return false
	}}.Handler())
}

// With PIPELINING, MAIL and every RCPT go out as one group, and each
// finding cites the transcript lines of its own reply — not the lines of
// the whole group, and not none.
func TestCheck_pipelinedProbeCitesEachReplysOwnLines(t *testing.T) {
	var seen []string
	addr := pipeliningServer(t, &seen)
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.TLSMode = netx.TLSNone
		o.MailFrom = "probe@test.example"
		o.RcptTo = []string{"postmaster@test.example", "nobody@test.example"}
	})
	accepted := finding(r, "smtp.relay.accepted")
	refused := finding(r, "smtp.rcpt.rejected")
	if accepted == nil || refused == nil {
		t.Fatalf("findings %v", codesOf(r))
	}
	if got := evidenceLines(t, r, accepted); len(got) != 1 || got[0] != "250 2.1.5 Ok" {
		t.Errorf("accepted RCPT cites %q", got)
	}
	if got := evidenceLines(t, r, refused); len(got) != 1 || got[0] != "550 5.1.1 nobody: user unknown" {
		t.Errorf("refused RCPT cites %q", got)
	}
	// The group was sent before any reply was read: the server read MAIL
	// and both RCPTs before it answered (its replies wait for the group).
	var mailRcpt []string
	for _, l := range seen {
		if strings.HasPrefix(l, "MAIL") || strings.HasPrefix(l, "RCPT") || l == "RSET" {
			mailRcpt = append(mailRcpt, l)
		}
	}
	if len(mailRcpt) != 4 || mailRcpt[3] != "RSET" {
		t.Errorf("commands %q", mailRcpt)
	}
	if stageStatus(r, "rcpt") != report.StatusFail {
		t.Errorf("rcpt stage %s", stageStatus(r, "rcpt"))
	}
}

// A pipelined send: MAIL, RCPT and DATA in one group, then the message.
func TestSend_pipelinedGroupEndsInData(t *testing.T) {
	var seen []string
	addr := pipeliningServer(t, &seen)
	host, port, _ := netx.SplitHostPort(addr, 25)
	r, err := smtpprobe.Check(context.Background(), smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleMX, TLSMode: netx.TLSNone,
		MailFrom: "app@test.example", RcptTo: []string{"user@test.example"}, Message: []byte("Subject: hi\r\n\r\nhello\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	q := finding(r, "smtp.data.queued")
	if q == nil {
		t.Fatalf("findings %v", codesOf(r))
	}
	if got := evidenceLines(t, r, q); len(got) != 1 || got[0] != "250 2.0.0 Ok: queued as 4TESTQ" {
		t.Errorf("queued cites %q", got)
	}
	if rc := finding(r, "smtp.rcpt.accepted"); rc == nil || strings.Join(evidenceLines(t, r, rc), "|") != "250 2.1.5 Ok" {
		t.Errorf("rcpt finding %+v", rc)
	}
	if r.Facts["queue_id"] != "4TESTQ" {
		t.Errorf("facts %v", r.Facts)
	}
}

// A pipelined send whose envelope is only partly accepted never sends the
// message: with two recipients and one refused, the server's 354 to the
// pipelined DATA is answered by hanging up.
func TestSend_pipelinedPartialEnvelopeSendsNothing(t *testing.T) {
	var seen []string
	addr := pipeliningServer(t, &seen)
	host, port, _ := netx.SplitHostPort(addr, 25)
	r, err := smtpprobe.Check(context.Background(), smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleMX, TLSMode: netx.TLSNone,
		MailFrom: "app@test.example", RcptTo: []string{"user@test.example", "nobody@test.example"}, Message: []byte("Subject: hi\r\n\r\nsecret body\r\n")})
	if err != nil {
		t.Fatal(err)
	}
	if finding(r, "smtp.data.queued") != nil || finding(r, "smtp.rcpt.rejected") == nil {
		t.Fatalf("findings %v", codesOf(r))
	}
	for _, e := range r.Transcript {
		if strings.Contains(e.Line, "secret body") {
			t.Fatalf("the message was sent to a partial envelope: %+v", e)
		}
	}
}

// implicitTLSServer speaks SMTP inside TLS from the first byte.
func implicitTLSServer(t *testing.T) (string, testserver.Cert) {
	cert := testserver.NewCert(t, testserver.CertOptions{})
	inner := testserver.SMTP{}.Handler()
	return testserver.Start(t, func(c *testserver.Conn) {
		if err := c.UpgradeTLS(cert.TLS); err != nil {
			return
		}
		inner(c)
	}), cert
}

// smtp check on a non-standard port that speaks implicit TLS, without any
// TLS flag: the silence is recognised, one info finding says so and names
// the flag, and the whole check runs over TLS — instead of waiting for
// the banner timeout.
func TestCheck_autoDetectsImplicitTLS(t *testing.T) {
	addr, cert := implicitTLSServer(t)
	host, port, _ := netx.SplitHostPort(addr, 25)
	start := time.Now()
	r, err := smtpprobe.Check(context.Background(), smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleMX,
		ServerName: "mail.test.example", RootCAs: cert.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	f := finding(r, "smtp.tls.implicit-detected")
	if f == nil || !strings.Contains(f.Fix, "--tls implicit") {
		t.Fatalf("findings %v", codesOf(r))
	}
	if stageStatus(r, "banner") != report.StatusOK || stageStatus(r, "ehlo") != report.StatusOK || stageStatus(r, "certificate") != report.StatusOK || finding(r, "smtp.tls.implicit") == nil {
		t.Fatalf("stages %+v; findings %v", r.Stages, codesOf(r))
	}
	if finding(r, "smtp.conn.timeout") != nil {
		t.Fatalf("a timeout was reported: %v", codesOf(r))
	}
	var inTLS bool
	for _, e := range r.Transcript {
		if strings.HasPrefix(e.Line, "220 mail.test.example") {
			inTLS = e.TLS
		}
	}
	if !inTLS {
		t.Fatal("the greeting was not read over TLS")
	}
}

// With an explicit --tls starttls on such a port, the finding says the
// port looks like implicit TLS and names --tls implicit.
func TestCheck_explicitSTARTTLSOnImplicitPortNamesTheFlag(t *testing.T) {
	addr, cert := implicitTLSServer(t)
	host, port, _ := netx.SplitHostPort(addr, 25)
	r, err := smtpprobe.Check(context.Background(), smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleMX,
		TLSMode: netx.TLSStartTLS, ServerName: "mail.test.example", RootCAs: cert.Pool})
	if err != nil {
		t.Fatal(err)
	}
	f := finding(r, "smtp.tls.implicit-expected")
	if f == nil || !strings.Contains(f.Detail+f.Fix, "--tls implicit") || f.Stage != "banner" {
		t.Fatalf("findings %v", codesOf(r))
	}
}

// The explicit modes still work: implicit from the start, and none.
func TestCheck_explicitTLSModes(t *testing.T) {
	addr, cert := implicitTLSServer(t)
	host, port, _ := netx.SplitHostPort(addr, 25)
	r, err := smtpprobe.Check(context.Background(), smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleMX,
		TLSMode: netx.TLSImplicit, ServerName: "mail.test.example", RootCAs: cert.Pool})
	if err != nil {
		t.Fatal(err)
	}
	if finding(r, "smtp.tls.implicit") == nil || finding(r, "smtp.tls.implicit-detected") != nil {
		t.Fatalf("implicit: %v", codesOf(r))
	}
	plain := testserver.Start(t, testserver.SMTP{}.Handler())
	host, port, _ = netx.SplitHostPort(plain, 25)
	r, err = smtpprobe.Check(context.Background(), smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleMX, TLSMode: netx.TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	if stageStatus(r, "starttls") != report.StatusSkipped || stageStatus(r, "ehlo") != report.StatusOK {
		t.Fatalf("none: %+v", r.Stages)
	}
}

// A multi-line reply whose lines disagree on the code: 250-ok then 550
// 5.7.1. The last line's code decides (RFC 5321 §4.2.1), so the relay
// is denied, not accepted; the disagreement is a protocol-violation
// finding, and its evidence is what the server sent, byte for byte.
func TestCheck_multiLineCodeMismatchLastLineDecides(t *testing.T) {
	for _, pipelining := range []bool{false, true} {
		caps := []string{"SIZE 10240000", "8BITMIME"}
		if pipelining {
			caps = append(caps, "PIPELINING")
		}
		srv := testserver.SMTP{Caps: caps, Reply: map[string][]string{"RCPT": {"250-ok", "550 5.7.1 Relay access denied"}}}
		addr := testserver.Start(t, srv.Handler())
		r := check(t, addr, func(o *smtpprobe.Options) {
			o.TLSMode = netx.TLSNone
			o.MailFrom = "probe@test.example"
			o.RcptTo = []string{"someone@elsewhere.example"}
		})
		if finding(r, "smtp.relay.accepted") != nil || finding(r, "smtp.rcpt.accepted") != nil {
			t.Fatalf("pipelining %v: the 550 was read as an acceptance: %v", pipelining, codesOf(r))
		}
		f := finding(r, "smtp.reply.code-mismatch")
		if f == nil || f.Stage != "rcpt" {
			t.Fatalf("pipelining %v: findings %v", pipelining, codesOf(r))
		}
		if got := strings.Join(evidenceLines(t, r, f), "|"); got != "250-ok|550 5.7.1 Relay access denied" {
			t.Errorf("cites %q", got)
		}
		if f.Evidence[0].Text != "250-ok\n550 5.7.1 Relay access denied" {
			t.Errorf("evidence %q is not what the server sent", f.Evidence[0].Text)
		}
		if finding(r, "smtp.relay.denied") == nil {
			t.Errorf("pipelining %v: findings %v", pipelining, codesOf(r))
		}
		for _, f := range r.Findings {
			for _, ev := range f.Evidence {
				if strings.Contains(ev.Text, "250 5.7.1") {
					t.Errorf("%s: evidence rewrites the server's lines: %q", f.Code, ev.Text)
				}
			}
		}

		// smtp send: the recipient was refused, so the message never goes.
		host, port, _ := netx.SplitHostPort(addr, 25)
		r, err := smtpprobe.Check(context.Background(), smtpprobe.Options{Host: host, Port: port, Role: smtpprobe.RoleMX, TLSMode: netx.TLSNone,
			MailFrom: "app@test.example", RcptTo: []string{"someone@elsewhere.example"}, Message: []byte("Subject: hi\r\n\r\nsecret body\r\n")})
		if err != nil {
			t.Fatal(err)
		}
		if finding(r, "smtp.data.queued") != nil || finding(r, "smtp.reply.code-mismatch") == nil {
			t.Fatalf("send, pipelining %v: findings %v", pipelining, codesOf(r))
		}
		for _, e := range r.Transcript {
			if strings.Contains(e.Line, "secret body") || (!pipelining && e.Line == "DATA") {
				t.Fatalf("send, pipelining %v: went on after a refused recipient: %+v", pipelining, e)
			}
		}
	}
}

// A greeting whose code is outside 2xx–5xx, or neither 220 nor a
// refusal, is a protocol error (exit 3) with its own finding, never
// "the server refused service" with the 554 fix (exit 1).
func TestCheck_invalidGreetingCodeIsAProtocolError(t *testing.T) {
	for _, greeting := range []string{"999 hi", "000 hi", "100 hi", "699 hi", "354 go ahead", "250 hello"} {
		addr := testserver.Start(t, testserver.SMTP{Banner: []string{greeting}}.Handler())
		r := check(t, addr, func(o *smtpprobe.Options) { o.TLSMode = netx.TLSNone })
		if finding(r, "smtp.banner.rejected") != nil || finding(r, "smtp.banner.invalid") == nil {
			t.Errorf("%q: findings %v", greeting, codesOf(r))
			continue
		}
		if stageStatus(r, "banner") != report.StatusError || r.ExitCode(report.Fail) != report.ExitIncomplete {
			t.Errorf("%q: banner %s, exit %d", greeting, stageStatus(r, "banner"), r.ExitCode(report.Fail))
		}
		if f := finding(r, "smtp.banner.invalid"); !strings.Contains(f.Detail, greeting[:3]) || strings.Contains(f.Fix, "554") {
			t.Errorf("%q: %+v", greeting, f)
		}
	}
	// A refusal is still a refusal.
	addr := testserver.Start(t, testserver.SMTP{Banner: []string{"554 5.7.1 go away"}}.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) { o.TLSMode = netx.TLSNone })
	if finding(r, "smtp.banner.rejected") == nil || finding(r, "smtp.banner.invalid") != nil || r.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("554: findings %v", codesOf(r))
	}
}

// A server that answers every AUTH step with another 334: the exchange
// is cancelled with "*" (RFC 4954 §4), the 501 read, and the report says
// the server kept asking; it is not "wrong password", and QUIT is never
// sent inside the SASL exchange.
func TestCheck_authThatNeverEnds(t *testing.T) {
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		var mu sync.Mutex
		var seen []string
		inAuth := false
		srv := testserver.SMTP{Caps: []string{"AUTH PLAIN LOGIN"}, Hook: func(c *testserver.Conn, line string) bool {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, line)
			switch {
			case line == "*" && inAuth:
				inAuth = false
				c.Send("501 5.7.0 Authentication cancelled")
			case inAuth || strings.HasPrefix(line, "AUTH "):
				inAuth = true
				c.Send("334 ")
			default:
				return false
			}
			return true
		}}
		addr := testserver.Start(t, srv.Handler())
		r := check(t, addr, func(o *smtpprobe.Options) {
			o.TLSMode = netx.TLSNone
			o.AllowPlaintextAuth = true
			o.User, o.Password, o.AuthMech = "user", "Zq9-Se-cr3t-Pw", mech
		})
		if finding(r, "smtp.auth.failed") != nil || finding(r, "smtp.auth.unfinished") == nil {
			t.Fatalf("%s: findings %v", mech, codesOf(r))
		}
		if stageStatus(r, "auth") != report.StatusError || r.ExitCode(report.Fail) != report.ExitIncomplete {
			t.Errorf("%s: auth %s exit %d", mech, stageStatus(r, "auth"), r.ExitCode(report.Fail))
		}
		if got := strings.Join(evidenceLines(t, r, finding(r, "smtp.auth.unfinished")), "|"); !strings.Contains(got, "334") || !strings.Contains(got, "501 5.7.0") {
			t.Errorf("%s: evidence %q", mech, got)
		}
		cancel := -1
		mu.Lock()
		defer mu.Unlock()
		for i, l := range seen {
			if l == "*" {
				cancel = i
			}
			if l == "QUIT" && cancel < 0 {
				t.Errorf("%s: QUIT sent inside the SASL exchange: %q", mech, seen)
			}
		}
		if cancel < 0 {
			t.Errorf("%s: the exchange was never cancelled: %q", mech, seen)
		}
		for _, e := range r.Transcript {
			if strings.Contains(e.Line, "Zq9-Se-cr3t-Pw") {
				t.Errorf("password in the transcript: %q", e.Line)
			}
		}
	}
}

// A desynchronised server sends extra replies after its banner: every
// reply would answer the command before it, and a false
// smtp.starttls.missing followed. The extra bytes are seen before EHLO
// is sent: smtp.reply.unsolicited, and the run stops judging (exit 3).
func TestCheck_unsolicitedRepliesStopTheRun(t *testing.T) {
	addr := testserver.Start(t, func(c *testserver.Conn) {
		// One write: the extra replies are there when the banner is read.
		_, _ = c.Write([]byte("220 mail.test.example ESMTP\r\n250 ok\r\n250 ok\r\n"))
		for {
			line, err := c.Line()
			if err != nil {
				return
			}
			switch {
			case strings.HasPrefix(line, "EHLO"):
				c.Send("250-mail.test.example", "250 STARTTLS")
			case line == "QUIT":
				c.Send("221 bye")
				return
			default:
				c.Send("250 ok")
			}
		}
	})
	r := check(t, addr, func(o *smtpprobe.Options) { o.Role = smtpprobe.RoleSubmission; o.TLSMode = netx.TLSAuto })
	if finding(r, "smtp.starttls.missing") != nil {
		t.Fatalf("a reply judged against the wrong command: %v", codesOf(r))
	}
	f := finding(r, "smtp.reply.unsolicited")
	if f == nil || f.Stage != "ehlo" {
		t.Fatalf("findings %v", codesOf(r))
	}
	if len(f.Evidence) == 0 || !strings.Contains(f.Evidence[0].Text, "250 ok") {
		t.Errorf("evidence %+v", f.Evidence)
	}
	if stageStatus(r, "ehlo") != report.StatusError || r.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("ehlo %s exit %d", stageStatus(r, "ehlo"), r.ExitCode(report.Fail))
	}
	for _, e := range r.Transcript {
		if strings.HasPrefix(e.Line, "EHLO") {
			t.Errorf("EHLO was sent to a desynchronised server")
		}
	}
}

// One rule for "could not complete": a STARTTLS handshake that fails
// (the server answers the ClientHello with plaintext) leaves the verdict
// open, exit 3, as in imap audit, pop3 audit and tls.
func TestCheck_failedHandshakeIsIncomplete(t *testing.T) {
	srv := testserver.SMTP{Caps: []string{"STARTTLS"}, Hook: func(c *testserver.Conn, line string) bool {
		if line != "STARTTLS" {
			return false
		}
		c.Send("220 2.0.0 go ahead")
		_, _ = c.R.Peek(1) // the ClientHello has arrived
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		_ = c.Close()
		return true
	}}
	addr := testserver.Start(t, srv.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) { o.TLSMode = netx.TLSStartTLS })
	if finding(r, "smtp.starttls.failed") == nil || r.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Fatalf("exit %d, findings %v", r.ExitCode(report.Fail), codesOf(r))
	}
}

// Bytes out of turn in the middle of AUTH LOGIN stop the exchange before
// the password step, and nothing in the report names that step's text:
// neither the password nor any form of its base64.
func TestCheck_unsolicitedDuringAuthLeaksNothing(t *testing.T) {
	const pw = "Zq9-Se-cr3t-Pw"
	step := 0
	srv := testserver.SMTP{Caps: []string{"AUTH LOGIN"}, Hook: func(c *testserver.Conn, line string) bool {
		switch {
		case line == "AUTH LOGIN":
			step = 1
			c.Send("334 VXNlcm5hbWU6")
		case step == 1:
			step = 2
			_, _ = c.Write([]byte("334 UGFzc3dvcmQ6\r\n250 out of turn\r\n"))
		default:
			return false
		}
		return true
	}}
	addr := testserver.Start(t, srv.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.TLSMode = netx.TLSNone
		o.AllowPlaintextAuth = true
		o.User, o.Password, o.AuthMech = "user", pw, "LOGIN"
	})
	if f := finding(r, "smtp.reply.unsolicited"); f == nil || f.Stage != "auth" {
		t.Fatalf("findings %v", codesOf(r))
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(pw))
	out, _ := json.Marshal(r)
	for _, s := range []string{pw, b64, strings.ToUpper(b64), strings.ToLower(b64)} {
		if strings.Contains(string(out), s) {
			t.Fatalf("%q in the report", s)
		}
	}
}

// A multi-line reply dripped one line every 20 ms never ends: the
// deadline bounds the whole reply (armed once), so the stage ends in a
// timeout, not after MaxReplyLines lines of per-line deadlines.
func TestCheck_drippedMultiLineReplyHitsTheDeadline(t *testing.T) {
	addr := testserver.Start(t, testserver.Drip("220 mail.test.example ESMTP", "250-mail.test.example", "250-STILL-HERE", 20*time.Millisecond))
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.TLSMode = netx.TLSNone
		o.Timeouts.Command = 300 * time.Millisecond
	})
	if f := finding(r, "smtp.conn.timeout"); f == nil || f.Stage != "ehlo" {
		t.Fatalf("findings %v", codesOf(r))
	}
	if r.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("exit %d", r.ExitCode(report.Fail))
	}
}

// Replies out of turn before a pipelined MAIL/RCPT group are caught
// too: they would be matched to the group's commands.
func TestCheck_unsolicitedBeforeAPipelinedGroup(t *testing.T) {
	srv := testserver.SMTP{Caps: []string{"PIPELINING"}, Hook: func(c *testserver.Conn, line string) bool {
		if !strings.HasPrefix(line, "EHLO") {
			return false
		}
		_, _ = c.Write([]byte("250-mail.test.example\r\n250 PIPELINING\r\n250 2.1.5 Ok\r\n"))
		return true
	}}
	addr := testserver.Start(t, srv.Handler())
	r := check(t, addr, func(o *smtpprobe.Options) {
		o.TLSMode = netx.TLSNone
		o.MailFrom = "probe@test.example"
		o.RcptTo = []string{"someone@elsewhere.example"}
	})
	if f := finding(r, "smtp.reply.unsolicited"); f == nil || f.Stage != "mail" {
		t.Fatalf("findings %v", codesOf(r))
	}
	if finding(r, "smtp.relay.accepted") != nil || finding(r, "smtp.rcpt.accepted") != nil {
		t.Fatalf("a reply out of turn judged as the RCPT's: %v", codesOf(r))
	}
}

// A code mismatch in the EHLO reply is one finding, not two: the
// nonconforming-syntax finding leaves it to smtp.reply.code-mismatch.
func TestCheck_codeMismatchReportedOnce(t *testing.T) {
	srv := testserver.SMTP{Reply: map[string][]string{"EHLO": {"250-mx.test.example", "550 5.7.1 go away"}}}
	r := check(t, testserver.Start(t, srv.Handler()), func(o *smtpprobe.Options) { o.TLSMode = netx.TLSNone })
	if f := finding(r, "smtp.reply.code-mismatch"); f == nil || f.Stage != "ehlo" {
		t.Fatalf("no code-mismatch at ehlo: %v", codesOf(r))
	}
	if f := finding(r, "smtp.reply.nonconforming"); f != nil && f.Stage == "ehlo" {
		t.Errorf("the mismatch is reported twice: %s", f.Detail)
	}
}
