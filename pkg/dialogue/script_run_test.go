package dialogue

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailprobe/mailprobe/pkg/report"
)

// run parses src and runs it against addr.
func run(t *testing.T, addr, src string, mod ...func(*RunOptions)) *report.Report {
	t.Helper()
	sc := mustParse(t, src)
	return runParsed(t, addr, sc, mod...)
}

func runParsed(t *testing.T, addr string, sc *Script, mod ...func(*RunOptions)) *report.Report {
	t.Helper()
	host, port := hostPort(t, addr)
	o := RunOptions{Host: host, Port: port, StepTimeout: 5 * time.Second, RootCAs: newTestCerts(t).pool,
		Vars: map[string]string{"FROM": "bob@test.local", "TO": testUser}}
	for _, m := range mod {
		m(&o)
	}
	o.Script = sc
	rep, err := RunScript(context.Background(), o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return rep
}

func withAuth(o *RunOptions) { o.User, o.Password = testUser, testPassword }

// problems lists the findings at or above warn, for failure messages.
func problems(rep *report.Report) string {
	var b strings.Builder
	for _, f := range rep.Findings {
		if f.Severity >= report.Warn {
			b.WriteString(f.Severity.String() + " " + f.Code + " [" + f.Stage + "] " + f.Detail + "\n")
		}
	}
	for _, s := range rep.Stages {
		b.WriteString("  stage " + string(s.Status) + " " + s.Name + ": " + s.Summary + "\n")
	}
	return b.String()
}

func requireGreen(t *testing.T, rep *report.Report) {
	t.Helper()
	if rep.Incomplete || rep.Worst() >= report.Warn {
		t.Fatalf("want a clean run, got:\n%s", problems(rep))
	}
}

func requireFinding(t *testing.T, rep *report.Report, code, stage string) report.Finding {
	t.Helper()
	for _, f := range rep.Findings {
		if f.Code == code && (stage == "" || f.Stage == stage) {
			return f
		}
	}
	t.Fatalf("want finding %s at %q, got:\n%s", code, stage, problems(rep))
	return report.Finding{}
}

func stageByName(t *testing.T, rep *report.Report, name string) report.Stage {
	t.Helper()
	s, ok := rep.Stage(name)
	if !ok {
		t.Fatalf("no stage %q in:\n%s", name, problems(rep))
	}
	return s
}

func loadExample(t *testing.T, name string) *Script {
	t.Helper()
	path := filepath.Join(examplesDir, name)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ParseScript(path, src)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// The example scripts run green against go-smtp as a well-behaved peer.
func TestExampleScripts_GoSMTP(t *testing.T) {
	cases := []struct {
		file string
		srv  smtpOpts
		mod  []func(*RunOptions)
		msgs int
	}{
		{"plain-send.script", smtpOpts{}, nil, 1},
		{"pipelining.script", smtpOpts{}, nil, 1},
		{"smtputf8.script", smtpOpts{SMTPUTF8: true}, nil, 1},
		{"relay-denied.script", smtpOpts{}, nil, 0},
		{"vrfy-probe.script", smtpOpts{}, nil, 0},
		{"auth-without-advertisement.script", smtpOpts{STARTTLS: true}, nil, 0},
		{"starttls-auth-send.script", smtpOpts{STARTTLS: true}, []func(*RunOptions){withAuth}, 1},
		{"implicit-tls-login.script", smtpOpts{Implicit: true}, []func(*RunOptions){withAuth}, 0},
		{"smuggling-probe.script", smtpOpts{}, []func(*RunOptions){func(o *RunOptions) { o.Vars["PROBE_WAIT"] = "150ms" }}, 0},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			t.Parallel()
			addr, be := startGoSMTP(t, c.srv)
			rep := runParsed(t, addr, loadExample(t, c.file), c.mod...)
			requireGreen(t, rep)
			if got := len(be.messages()); got != c.msgs {
				t.Errorf("server received %d messages, want %d", got, c.msgs)
			}
			for _, s := range rep.Stages {
				if !strings.HasPrefix(s.Name, "line ") {
					t.Errorf("stage %q does not name its line", s.Name)
				}
			}
		})
	}
}

func TestRunScript_PlainSendDelivers(t *testing.T) {
	addr, be := startGoSMTP(t, smtpOpts{})
	rep := run(t, addr, `connect
expect 220 /mail.test.local/
ehlo client.example
require-capability PIPELINING
send MAIL FROM:<${FROM}>
expect 250 enhanced 2.0.0
send RCPT TO:<${TO}>
expect 250
data
Subject: dots
.leading dot survives
..two dots
.
quit
`)
	requireGreen(t, rep)
	msgs := be.messages()
	if len(msgs) != 1 {
		t.Fatalf("messages = %d", len(msgs))
	}
	m := msgs[0]
	if m.From != "bob@test.local" || len(m.To) != 1 || m.To[0] != testUser {
		t.Errorf("envelope = %+v", m)
	}
	if m.Data != "Subject: dots\r\n.leading dot survives\r\n..two dots\r\n" {
		t.Errorf("data = %q (dot-stuffing must be transparent)", m.Data)
	}
	if got := stageByName(t, rep, "line 3: ehlo client.example").Summary; !strings.Contains(got, "PIPELINING") {
		t.Errorf("ehlo summary = %q", got)
	}
	caps, _ := rep.Facts["capabilities"].([]string)
	if len(caps) == 0 {
		t.Errorf("capabilities fact missing: %v", rep.Facts)
	}
	replies, _ := rep.Facts["replies"].([]ReplyFact)
	if len(replies) != 7 { // banner, EHLO, MAIL, RCPT, 354, 250, 221
		t.Errorf("replies analysed = %d, want 7", len(replies))
	}
	for _, r := range replies {
		if r.Explanation.Summary == "" || r.Explanation.Class == "" {
			t.Errorf("reply %v not explained", r.Reply)
		}
	}
}

func TestRunScript_STARTTLSAndAuthMechanisms(t *testing.T) {
	for _, mech := range []string{"PLAIN", "LOGIN", "CRAM-MD5"} {
		t.Run(mech, func(t *testing.T) {
			addr, _ := startGoSMTP(t, smtpOpts{STARTTLS: true})
			rep := run(t, addr, "connect\nexpect 220\nehlo\nstarttls\nrequire-capability AUTH\nehlo\nrequire-capability AUTH "+mech+"\nauth "+mech+"\nquit\n", withAuth)
			// require-capability on line 5 fails: STARTTLS forgot the
			// capabilities (RFC 3207 §4.2), and the script stops there.
			f := requireFinding(t, rep, "script.capability.missing", "line 5: require-capability AUTH")
			if !strings.Contains(f.Detail, "no EHLO since TLS started") {
				t.Errorf("detail = %q", f.Detail)
			}
			if s := stageByName(t, rep, "line 8: auth "+mech); s.Status != report.StatusSkipped {
				t.Errorf("steps after the stop must be skipped: %+v", s)
			}

			rep = run(t, addr, "connect\nexpect 220\nehlo\nstarttls\nehlo\nrequire-capability AUTH "+mech+"\nauth "+mech+"\nquit\n", withAuth)
			requireGreen(t, rep)
			requireFinding(t, rep, "script.auth.ok", "line 7: auth "+mech)
			requireFinding(t, rep, "cert.ok", "line 4: starttls")
			requireFinding(t, rep, "script.tls.ok", "line 4: starttls")
			assertNoSecret(t, rep)
		})
	}
}

// assertNoSecret checks the whole report, as JSON, for the password and
// its encodings.
func assertNoSecret(t *testing.T, rep *report.Report) {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{testPassword,
		base64.StdEncoding.EncodeToString([]byte(testPassword)),
		base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword))} {
		if strings.Contains(string(b), s) {
			t.Fatalf("report contains the secret %q", s)
		}
	}
}

func TestRunScript_AuthFailure(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{STARTTLS: true})
	rep := run(t, addr, "connect\nexpect 220\nehlo\nstarttls\nehlo\nauth PLAIN\nquit\n", func(o *RunOptions) {
		o.User, o.Password = testUser, "wrong-password-123"
	})
	f := requireFinding(t, rep, "script.auth.failed", "line 6: auth PLAIN")
	if !strings.Contains(f.Detail, "535") || !strings.Contains(f.Detail, "expected 235") {
		t.Errorf("detail = %q", f.Detail)
	}
	if f.Fix == "" || len(f.Evidence) == 0 || !strings.Contains(f.Evidence[0].Text, "535 5.7.8") {
		t.Errorf("the finding must carry the explained reply: %+v", f)
	}
	if rep.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("exit = %d", rep.ExitCode(report.Fail))
	}
	b, _ := json.Marshal(rep)
	if strings.Contains(string(b), "wrong-password-123") {
		t.Fatal("the wrong password leaked")
	}
}

func TestRunScript_AuthRefusedWithoutTrustedTLS(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{STARTTLS: true, InsecureAuth: true})
	// Plain text: refused unless --allow-plaintext-auth.
	rep := run(t, addr, "connect\nexpect 220\nehlo\nauth PLAIN\nquit\n", withAuth)
	f := requireFinding(t, rep, "script.auth.not-attempted", "line 4: auth PLAIN")
	if !strings.Contains(f.Detail, "not encrypted") || !rep.Incomplete {
		t.Errorf("detail = %q, incomplete = %v", f.Detail, rep.Incomplete)
	}
	rep = run(t, addr, "connect\nexpect 220\nehlo\nauth PLAIN\nquit\n", withAuth, func(o *RunOptions) { o.AllowPlaintextAuth = true })
	requireGreen(t, rep)
	assertNoSecret(t, rep)

	// An untrusted certificate: refused unless --insecure.
	noCA := func(o *RunOptions) { o.RootCAs = x509EmptyPool() }
	rep = run(t, addr, "connect\nexpect 220\nehlo\nstarttls\nehlo\nauth PLAIN\nquit\n", withAuth, noCA)
	f = requireFinding(t, rep, "script.auth.not-attempted", "line 6: auth PLAIN")
	if !strings.Contains(f.Detail, "not trusted") {
		t.Errorf("detail = %q", f.Detail)
	}
	requireFinding(t, rep, "cert.untrusted", "line 4: starttls")
	rep = run(t, addr, "connect\nexpect 220\nehlo\nstarttls\nehlo\nauth PLAIN\nquit\n", withAuth, noCA, func(o *RunOptions) { o.Insecure = true })
	requireFinding(t, rep, "script.auth.ok", "")

	// A wrong server name is as untrusted as an unknown CA.
	rep = run(t, addr, "connect\nexpect 220\nehlo\nstarttls\nehlo\nauth PLAIN\n", withAuth, func(o *RunOptions) { o.ServerName = "other.example" })
	requireFinding(t, rep, "cert.name-mismatch", "line 4: starttls")
	requireFinding(t, rep, "script.auth.not-attempted", "")
}

// Silence: the timeout is a finding naming the step and line, found within
// the step's deadline, and the run is incomplete (exit 3).
func TestRunScript_SilentServerTimesOut(t *testing.T) {
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) { io.Copy(io.Discard, c) })
	start := time.Now()
	rep := run(t, addr, "connect\ntimeout 300ms\nexpect 220\nehlo\nquit\n")
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %s", el)
	}
	f := requireFinding(t, rep, "script.timeout", "line 3: expect 220")
	if !strings.Contains(f.Detail, "Line 3") || !strings.Contains(f.Detail, "300ms") {
		t.Errorf("detail = %q", f.Detail)
	}
	if s := stageByName(t, rep, "line 3: expect 220"); s.Status != report.StatusError {
		t.Errorf("status = %s", s.Status)
	}
	if s := stageByName(t, rep, "line 4: ehlo"); s.Status != report.StatusSkipped || !strings.Contains(s.Summary, "stopped at line 3") {
		t.Errorf("line 4 = %+v", s)
	}
	if rep.ExitCode(report.Fail) != report.ExitIncomplete {
		t.Errorf("exit = %d", rep.ExitCode(report.Fail))
	}

	// With --step-timeout instead of a timeout line.
	rep = run(t, addr, "connect\nexpect 220\n", func(o *RunOptions) { o.StepTimeout = 200 * time.Millisecond })
	requireFinding(t, rep, "script.timeout", "line 2: expect 220")

	// Silence the script expects.
	rep = run(t, addr, "connect\ntimeout 200ms\nexpect none\nclose\n")
	requireGreen(t, rep)
}

func TestRunScript_GarbageReply(t *testing.T) {
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
		io.Copy(io.Discard, c)
	})
	rep := run(t, addr, "connect\nexpect 220\nquit\n")
	f := requireFinding(t, rep, "script.reply.malformed", "line 2: expect 220")
	if !strings.Contains(f.Detail, "HTTP/1.1") {
		t.Errorf("detail = %q", f.Detail)
	}
	if !rep.Incomplete {
		t.Error("a garbage reply leaves the run incomplete")
	}
}

func TestRunScript_ConnectionResetMidScript(t *testing.T) {
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "220 raw.test ESMTP\r\n")
		ehloOK(c, br)
		srvLine(br) // MAIL
		c.(*net.TCPConn).SetLinger(0)
		c.Close() // RST
	})
	rep := run(t, addr, "connect\nexpect 220\nehlo\nsend MAIL FROM:<a@b>\nexpect 250\nsend RCPT TO:<c@d>\nexpect 250\n")
	var found bool
	for _, f := range rep.Findings {
		if (f.Code == "script.connection-reset" || f.Code == "script.connection-closed") && f.Stage == "line 5: expect 250" {
			found = true
		}
	}
	if !found {
		t.Fatalf("want a reset/closed finding at line 5:\n%s", problems(rep))
	}
	if s := stageByName(t, rep, "line 6: send RCPT TO:<c@d>"); s.Status != report.StatusSkipped {
		t.Errorf("line 6 = %+v", s)
	}
	if !rep.Incomplete {
		t.Error("want incomplete")
	}
}

func TestRunScript_MalformedMultiline(t *testing.T) {
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "221-raw.test\r\n220 mixed codes\n") // the last line's code decides
		srvLine(br)
		io.WriteString(c, "250-first\r\nthis is not a reply line\r\n")
		io.Copy(io.Discard, c)
	})
	rep := run(t, addr, "connect\nexpect 220\nehlo\n")
	f := requireFinding(t, rep, "script.reply.nonconforming", "line 2: expect 220")
	if !strings.Contains(f.Detail, "code 221") || !strings.Contains(f.Detail, "bare LF") {
		t.Errorf("detail = %q", f.Detail)
	}
	requireFinding(t, rep, "script.reply.malformed", "line 3: ehlo")
}

func TestRunScript_421AtBanner(t *testing.T) {
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "421 4.7.0 mail.test.local Too many connections, try again later\r\n")
	})
	rep := run(t, addr, "connect\nexpect 220\nehlo\nquit\n")
	f := requireFinding(t, rep, "script.expect.mismatch", "line 2: expect 220")
	if !strings.Contains(f.Detail, "expected 220, got 421") || f.Fix == "" {
		t.Errorf("finding = %+v", f)
	}
	if s := stageByName(t, rep, "line 2: expect 220"); s.Status != report.StatusFail || !strings.Contains(s.Summary, "421 4.7.0") {
		t.Errorf("stage = %+v", s)
	}
	if rep.ExitCode(report.Fail) != report.ExitFindings {
		t.Errorf("exit = %d", rep.ExitCode(report.Fail))
	}

	// A script that expects the refusal and the hang-up passes.
	rep = run(t, addr, "connect\nexpect 4xx enhanced 4.7.0 /too many/i\nexpect-close\n")
	requireGreen(t, rep)
	// ... and one that expects the close after the server closed.
	rep = run(t, addr, "connect\nexpect 421\ntimeout 1s\nexpect close\nexpect-close\n")
	requireGreen(t, rep)
}

func TestRunScript_ElseLevelsAndMessages(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{})
	rep := run(t, addr, `connect
expect 220
ehlo
send VRFY root
expect 250 else warn "VRFY should confirm"
send NOOP
expect 500 else info
send NOOP
expect 500 else fail
quit
`)
	f := requireFinding(t, rep, "script.expect.mismatch", "line 5: expect 250")
	if f.Severity != report.Warn || !strings.HasPrefix(f.Detail, "VRFY should confirm. Line 5 (expect): expected 250, got 252") {
		t.Errorf("finding = %+v", f)
	}
	if s := stageByName(t, rep, "line 5: expect 250"); s.Status != report.StatusInfo {
		t.Errorf("a warned mismatch is not a failed stage: %+v", s)
	}
	if f := requireFinding(t, rep, "script.expect.mismatch", "line 7: expect 500"); f.Severity != report.Info {
		t.Errorf("severity = %s", f.Severity)
	}
	if f := requireFinding(t, rep, "script.expect.mismatch", "line 9: expect 500"); f.Severity != report.Fail {
		t.Errorf("severity = %s", f.Severity)
	}
	if s := stageByName(t, rep, "line 10: quit"); s.Status != report.StatusOK {
		t.Errorf("the script must go on after else: %+v", s)
	}
}

func x509EmptyPool() *x509.CertPool { return x509.NewCertPool() }

func TestRunScript_BlocksAndLoops(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{STARTTLS: true})
	rep := run(t, addr, `connect
expect 220
ehlo
if-capability STARTTLS
  note has STARTTLS
else
  note no STARTTLS
end
if-capability !SMTPUTF8
  note no SMTPUTF8
end
repeat 3
  send NOOP ${ITER}
  expect 250
end
send AUTH LOGIN
expect any
if-reply 5xx enhanced 5.7.x
  note refused before TLS
else
  note unexpected
end
if-reply !5xx
  note never
end
quit
`)
	requireGreen(t, rep)
	stageByName(t, rep, "line 5: note")
	if _, ok := rep.Stage("line 7: note"); ok {
		t.Error("the else branch must not run")
	}
	stageByName(t, rep, "line 10: note")
	for _, i := range []string{"1/3", "2/3", "3/3"} {
		stageByName(t, rep, "line 13: send NOOP ${ITER} ["+i+"]")
	}
	if s := stageByName(t, rep, "line 13: send NOOP ${ITER} [3/3]"); !strings.Contains(s.Summary, "C: NOOP 3") {
		t.Errorf("ITER must expand: %q", s.Summary)
	}
	stageByName(t, rep, "line 19: note")
	if s := stageByName(t, rep, "line 18: if-reply 5xx enhanced 5.7.x"); !strings.Contains(s.Summary, "running the block") {
		t.Errorf("if-reply summary = %q", s.Summary)
	}
	if _, ok := rep.Stage("line 24: note"); ok {
		t.Error("negated if-reply ran")
	}
}

// A pipelined group reaches the server before any reply is sent: this
// server answers only after it has all three commands, so a client that
// waited for each reply would time out.
func TestRunScript_PipelineIsOneWrite(t *testing.T) {
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "220 raw.test ESMTP\r\n")
		ehloOK(c, br)
		var got []string
		for i := 0; i < 3; i++ {
			got = append(got, srvLine(br))
		}
		if strings.Join(got, "|") != "MAIL FROM:<a@b>|RCPT TO:<c@d>|DATA" {
			io.WriteString(c, "500 wrong order\r\n")
			return
		}
		io.WriteString(c, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n")
		var body []string
		for l := srvLine(br); l != "."; l = srvLine(br) {
			body = append(body, l)
		}
		io.WriteString(c, "250 2.0.0 queued\r\n")
		srvLine(br)
		io.WriteString(c, "221 bye\r\n")
	})
	rep := run(t, addr, `connect
expect 220
ehlo
timeout 2s
pipeline
  send MAIL FROM:<a@b>
  expect 250
  send RCPT TO:<c@d>
  expect 250
  send DATA
  expect 354
end
body
Subject: pipelined
.
expect 250
quit
`)
	requireGreen(t, rep)
	if s := stageByName(t, rep, "line 5: pipeline"); !strings.Contains(s.Summary, "3 commands in one write") {
		t.Errorf("summary = %q", s.Summary)
	}
	stageByName(t, rep, "line 11: expect 354")
}

// sendraw puts exact bytes on the wire: bare LF, bare CR, NUL.
func TestRunScript_SendRawBytes(t *testing.T) {
	got := make(chan string, 1)
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "220 raw.test ESMTP\r\n")
		b := make([]byte, 64)
		var all []byte
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for len(all) < 17 {
			n, err := c.Read(b)
			all = append(all, b[:n]...)
			if err != nil {
				break
			}
		}
		got <- string(all)
		io.WriteString(c, "250 ok\r\n")
	})
	rep := run(t, addr, "connect\nexpect 220\nsendraw a\\nb\\r.\\r\\n\\x00$$\\\\${HELO}\nexpect 250\n", func(o *RunOptions) { o.Helo = "h" })
	requireGreen(t, rep)
	if g := <-got; g != "a\nb\r.\r\n\x00$\\h" {
		t.Errorf("server got %q", g)
	}
	// The transcript shows the bytes, escaped.
	if s := stageByName(t, rep, `line 3: sendraw a\nb\r.\r\n\x00$$\\${HELO}`); !strings.Contains(s.Summary, `C: a\n`) || !strings.Contains(s.Summary, `\x00$\h (no line ending)`) {
		t.Errorf("summary = %q", s.Summary)
	}
}

// The classic injection: extra bytes after "220 ready" to STARTTLS, before
// the handshake (CVE-2011-0411's server-side mirror).
func TestRunScript_STARTTLSInjection(t *testing.T) {
	certs := newTestCerts(t)
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "220 raw.test ESMTP\r\n")
		ehloOK(c, br)
		srvLine(br)
		io.WriteString(c, "220 2.0.0 ready\r\n250 injected\r\n")
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{certs.server}})
		if tc.Handshake() != nil {
			return
		}
		br = bufio.NewReader(tc)
		srvLine(br)
		io.WriteString(tc, "250 raw.test\r\n")
		io.Copy(io.Discard, tc)
	})
	rep := run(t, addr, "connect\nexpect 220\nehlo\nstarttls\nehlo\n")
	requireFinding(t, rep, "script.starttls.injection", "line 4: starttls")
	if s := stageByName(t, rep, "line 5: ehlo"); s.Status != report.StatusOK {
		t.Errorf("the injected line must not be read as the EHLO reply: %+v", s)
	}
}

func TestRunScript_ConnectFailures(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := l.Addr().String()
	l.Close()
	rep := run(t, addr, "connect\nexpect 220\n")
	f := requireFinding(t, rep, "script.connect.failed", "line 1: connect")
	if !strings.Contains(f.Detail, "refused") || !rep.Incomplete {
		t.Errorf("detail = %q", f.Detail)
	}

	// Implicit TLS to a plaintext server.
	plain := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "220 raw.test ESMTP\r\n")
		io.Copy(io.Discard, c)
	})
	rep = run(t, plain, "connect tls\nexpect 220\n", func(o *RunOptions) { o.StepTimeout = time.Second })
	requireFinding(t, rep, "script.tls.failed", "line 1: connect tls")

	// Steps on a closed connection.
	rep = run(t, plain, "connect\nexpect 220\nclose\nsend NOOP\n")
	f = requireFinding(t, rep, "script.step.invalid", "line 4: send NOOP")
	if !strings.Contains(f.Detail, "the script closed it at line 3") {
		t.Errorf("detail = %q", f.Detail)
	}
}

func TestRunScript_OverallDeadline(t *testing.T) {
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) { io.Copy(io.Discard, c) })
	sc := mustParse(t, "connect\nexpect 220\n")
	host, port := hostPort(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	rep, err := RunScript(ctx, RunOptions{Script: sc, Host: host, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	f := requireFinding(t, rep, "script.interrupted", "line 2: expect 220")
	if !strings.Contains(f.Detail, "--timeout") {
		t.Errorf("detail = %q", f.Detail)
	}
}

func TestRunScript_PauseAndDataRefused(t *testing.T) {
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "220 raw.test ESMTP\r\n")
		srvLine(br)
		io.WriteString(c, "554 5.5.1 no valid recipients\r\n")
		if l := srvLine(br); l != "QUIT" {
			io.WriteString(c, "500 the body was sent: "+l+"\r\n")
			return
		}
		io.WriteString(c, "221 bye\r\n")
	})
	start := time.Now()
	rep := run(t, addr, "connect\nexpect 220\npause 50ms\ndata else warn\nSubject: x\n.\nquit\n")
	if time.Since(start) < 50*time.Millisecond {
		t.Error("pause did not wait")
	}
	f := requireFinding(t, rep, "script.expect.mismatch", "line 4: data")
	if f.Severity != report.Warn || !strings.Contains(f.Detail, "expected 354, got 554") {
		t.Errorf("finding = %+v", f)
	}
	if s := stageByName(t, rep, "line 7: quit"); s.Status != report.StatusOK {
		t.Errorf("quit = %+v\n%s", s, problems(rep))
	}
}

func TestRunScript_TranscriptRedactsHandTypedAuth(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{InsecureAuth: true})
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + testUser + "\x00" + testPassword))
	rep := run(t, addr, "connect\nexpect 220\nehlo\nsend AUTH PLAIN "+plain+"\nexpect 235\nquit\n")
	requireGreen(t, rep)
	assertNoSecret(t, rep)
}

// go-smtp takes MAIL before STARTTLS even when it offers STARTTLS: the
// script reports it as the warning it asks for, ends the transaction and
// goes on.
func TestExampleScripts_StartTLSRequiredWarns(t *testing.T) {
	addr, _ := startGoSMTP(t, smtpOpts{STARTTLS: true})
	rep := runParsed(t, addr, loadExample(t, "starttls-required.script"))
	var f report.Finding
	for _, x := range rep.Findings {
		if x.Code == "script.expect.mismatch" {
			f = x
		}
	}
	if f.Severity != report.Warn || !strings.Contains(f.Detail, "The server takes mail before STARTTLS.") {
		t.Fatalf("want the warning, got:\n%s", problems(rep))
	}
	if rep.Incomplete || rep.ExitCode(report.Fail) != report.ExitOK || rep.ExitCode(report.Warn) != report.ExitFindings {
		t.Errorf("exit codes: %d / %d\n%s", rep.ExitCode(report.Fail), rep.ExitCode(report.Warn), problems(rep))
	}
	requireFinding(t, rep, "script.tls.ok", "")
}

// A server that ends DATA at any line holding a single dot, whatever ends
// the line (old Postfix, CVE-2023-51764): the probes with <LF> report a
// warning each; the ones with a bare <CR> find nothing.
func TestExampleScripts_SmugglingProbeFindsLenientServer(t *testing.T) {
	addr := startRaw(t, func(c net.Conn, br *bufio.Reader) {
		io.WriteString(c, "220 lenient.test ESMTP\r\n")
		inData := false
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			switch {
			case inData && l == ".":
				inData = false
				io.WriteString(c, "250 2.0.0 queued\r\n")
			case inData:
			case strings.HasPrefix(l, "EHLO"):
				io.WriteString(c, "250-lenient.test\r\n250 PIPELINING\r\n")
			case l == "DATA":
				inData = true
				io.WriteString(c, "354 go ahead\r\n")
			default:
				io.WriteString(c, "250 ok\r\n")
			}
		}
	})
	rep := runParsed(t, addr, loadExample(t, "smuggling-probe.script"), func(o *RunOptions) { o.Vars["PROBE_WAIT"] = "150ms" })
	var warned []string
	for _, f := range rep.Findings {
		if f.Code == "script.expect.mismatch" && f.Severity == report.Warn {
			warned = append(warned, f.Stage+": "+f.Detail[:strings.Index(f.Detail, ": SMTP smuggling")])
		}
	}
	// The probes' expect lines, in file order.
	var lines []int
	loadExample(t, "smuggling-probe.script").Walk(func(s *Step) {
		if s.Kind == KindExpect && s.Expect.None {
			lines = append(lines, s.Line)
		}
	})
	if len(lines) != 5 {
		t.Fatalf("want 5 probes, found %d", len(lines))
	}
	want := []string{
		fmt.Sprintf("line %d: expect none|close|4xx|5xx: The server ended the message at <LF>.<LF>", lines[0]),
		fmt.Sprintf("line %d: expect none|close|4xx|5xx: The server ended the message at <LF>.<CR><LF>", lines[1]),
		fmt.Sprintf("line %d: expect none|close|4xx|5xx: The server ended the message at <CR><LF>.<LF>", lines[2]),
	}
	if strings.Join(warned, "\n") != strings.Join(want, "\n") || rep.Incomplete || rep.Worst() != report.Warn {
		t.Fatalf("warnings:\n%s\nwant:\n%s\n%s", strings.Join(warned, "\n"), strings.Join(want, "\n"), problems(rep))
	}
}
